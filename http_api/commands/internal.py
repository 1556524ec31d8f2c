"""Internal commands (000): for the mail infrastructure, callable from the trusted networks
only (the document shows no authentication; an open state-changing endpoint is not an option).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from http_api.api_php import Access, Call, command
from http_api.context import context
from mta.feedback.bounce_classes import CATEGORIES
from mta.feedback.inbound import process_report
from mta.tracking.ocrid import InvalidOcrid, OcridFields, open_ocrid
from storage.conversions import (
    CHANNEL_LENGTH,
    UNIT_LENGTH,
    VALUE_LIMIT,
    VALUE_PLACES,
    ConversionResult,
    NewConversion,
    record_conversion,
)


def _answer(ok: bool, text: str = "") -> dict[str, Any]:
    return {"Success": ok, "ErrorCode": 0, "ErrorText": text}


@command("internal.bounce.register", Access.TRUSTED)
async def register_bounce(call: Call) -> dict[str, Any]:
    """A bounce an MTA (PowerMTA, say) received for us, handed over as text: read and recorded
    as if it had arrived on port 25. `MailFrom` is the envelope it bounced to (our VERP
    address); `PowerMTABounceCategory` replaces Mailgate's own category when it is one."""
    message = call.get("EmailMessage")
    if message is None:
        return _answer(False, "Bounce processing error: EmailMessage is missing")
    mail_from = call.text("MailFrom")
    category = call.text("PowerMTABounceCategory").strip().lower()
    raw = str(message).replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "replace")
    settings = context(call.request).settings
    recorded = await process_report(
        call.db,
        None,
        raw,
        [mail_from] if mail_from else [],
        settings.soft_bounce_limit,
        category if category in CATEGORIES else None,
    )
    if recorded is None or not recorded.events:
        return _answer(False, "Bounce processing error")
    return _answer(True)


MISSING_OCRID = (1, "OCRID parameter is missing")
USER_INVALID = (2, "User is invalid or not found")
NO_VALID_SOURCE = (3, "Campaign or autoresponder must be valid (both cannot be invalid)")
_RESULT_ERRORS = {
    ConversionResult.USER_INVALID: USER_INVALID,
    ConversionResult.NO_VALID_SOURCE: NO_VALID_SOURCE,
}


def _postback(ocrid: str, error: tuple[int, str] | None = None) -> dict[str, Any]:
    code, text = error or (0, "")
    return {"Success": error is None, "ocrid": ocrid, "ErrorCode": code, "ErrorText": text}


@command("internal.s2spostback.register", Access.TRUSTED)
async def register_postback(call: Call) -> dict[str, Any]:
    """A conversion reported by the customer's server: the OCRID from a tracked link (who,
    which campaign or autoresponder, which subscriber and list), and what was converted."""
    raw = call.get("OCRID")
    ocrid = "" if raw is None else str(raw)
    if raw is None:
        return _postback(ocrid, MISSING_OCRID)
    fields = _opened(context(call.request).settings.conversion_key, ocrid)
    if fields is None:
        # The document has no code for an OCRID that does not open (garbage, altered, or
        # sealed with another key); what it would name is unknown, so: user invalid (2).
        return _postback(ocrid, USER_INVALID)
    try:
        conversion = NewConversion(
            fields.user_id,
            fields.campaign_id,
            fields.autoresponder_id,
            fields.subscriber_id,
            fields.list_id,
            _text(call, "Channel", CHANNEL_LENGTH),
            _value(call.get("Value")),
            _text(call, "Unit", UNIT_LENGTH),
        )
    except ValueError as error:
        # No code for a bad Channel, Value or Unit either: refused with 0, as 000's other
        # command reports a failure, rather than a conversion recorded without what was sent.
        return _postback(ocrid, (0, str(error)))
    outcome = await record_conversion(call.db, conversion)
    return _postback(ocrid, _RESULT_ERRORS.get(outcome))


def _opened(key: bytes | None, token: str) -> OcridFields | None:
    if key is None:  # `serve` does not start without one; an app built elsewhere may lack it
        return None
    try:
        return open_ocrid(key, token)
    except InvalidOcrid:
        return None


def _text(call: Call, name: str, limit: int) -> str:
    text = call.text(name).strip()
    if len(text) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return text


def _value(raw: Any) -> Decimal | None:
    """`Value`: a number (JSON) or its text, kept to 4 decimal places; absent is None."""
    if raw is None:
        return None
    try:
        value = Decimal(str(raw).strip())  # JSON true is "True", which is refused too
    except InvalidOperation:
        raise ValueError(f"Value is not a number: {str(raw)[:40]!r}") from None
    if value.is_finite() and abs(value) < VALUE_LIMIT:
        value = value.quantize(VALUE_PLACES, rounding=ROUND_HALF_EVEN)  # may round up to it
    if not value.is_finite() or abs(value) >= VALUE_LIMIT:
        raise ValueError(f"Value must be a number smaller than {VALUE_LIMIT:,} in magnitude")
    return value
