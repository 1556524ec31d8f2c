"""`POST /rest/sms` (003, "SMS messages"): one SMS to `gsm` with `text`, from the sender name
`from` (PRO; it must be a confirmed name of the account) or from the provider's number (ECO),
limited to one SMS when `single` is 1. The rules and codes 1101-1109 are mta/sms/text's; 1150
when the gateway has no SMS provider (`sms_provider_url`).

The message is handed to the provider during the request, once: a provider that does not take
it is answered 500 (HTTP 502), and the client may send it again. The answer's data says where it
went and in how many SMS (the document names no fields). Every code answers 400, as the
protocol's own codes for actions do.
"""

from __future__ import annotations

import logging
from typing import Any

from http_api.context import context
from http_api.rest.protocol import SERVER_ERROR, RestCall, RestError, action
from mta.sms.text import Alphabet, Sms, SmsCode, SmsError, check_request
from mta.sms.transport import SendFailed, SmsTransport
from storage.sms_senders import SenderStatus, sender_status

log = logging.getLogger("mailgate.rest")

PARAMS = ("gsm", "text", "from", "single")
SENDER_CODES = {
    SenderStatus.UNKNOWN: (SmsCode.BAD_SENDER_NAME, "not a sender name of this account"),
    SenderStatus.UNCONFIRMED: (SmsCode.UNCONFIRMED_SENDER_NAME, ""),
}


def _text(call: RestCall, name: str) -> str | None:
    """A parameter as text: JSON numbers as their digits (`"gsm": 48600100200`); lists,
    objects, booleans and fractions are an error in the command's coding."""
    value = call.param(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise SmsError(SmsCode.BAD_CODING, f"{name} must be text")


async def _checked(call: RestCall) -> Sms:
    sms = check_request(*(_text(call, name) for name in PARAMS))
    if sms.sender is not None:
        status = await sender_status(call.db, call.account.user_id, sms.sender)
        if status in SENDER_CODES:
            raise SmsError(*SENDER_CODES[status])
    return sms


@action("sms")
async def send(call: RestCall) -> dict[str, Any]:
    transport: SmsTransport = context(call.request).sms_transport
    try:
        sms = await _checked(call)
        await transport.send(sms)
    except SmsError as error:
        raise RestError(error.code, error.message) from None
    except SendFailed as failure:
        log.warning("sms not sent user_id=%d reason=%s", call.account.user_id, failure.reason)
        later = " (try again later)" if failure.temporary else ""
        message = f"SMS not sent: the provider did not take it{later}"
        raise RestError(SERVER_ERROR, message, 502) from None
    special = sms.measure.alphabet is Alphabet.UCS2
    log.info(
        "sms sent user_id=%d parts=%s special=%s", call.account.user_id, sms.measure.parts, special
    )
    return {"gsm": sms.to, "parts": sms.measure.parts, "special": special}
