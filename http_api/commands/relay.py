"""`emailgateway.smtprelay`: an SMTP relay server in front of Mailgate checks a client's SMTP
credentials, and hands over a message, through the very submission path of Mailgate's own SMTP
server (sender, recipients and their count, suppression, size, content: `submit` decides).

A refusal answers `{"Success": false, "SMTPResponse": ..., "ErrorCode": ...}` as 001 shows it:
the SMTP reply Mailgate's SMTP server gives for the same reason (the relay server hands it to
its client, so its 4xx or 5xx says whether to retry), and 001's ErrorCode for the reason
(`ANSWERS`). Where 001 lists no code for a reason (size, recipient count, message syntax, the
sending limit) the ErrorCode is 0 and the SMTPResponse alone says what was refused."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select

from http_api.api_php import Access, Call, command, failed
from http_api.context import context
from http_api.item_lists import split_items
from http_api.metrics import note
from http_api.networks import client_host
from http_api.params import uuid_or_none
from mta import replies
from mta.replies import Reason, Refused
from mta.submission.submit import (
    Origin,
    SubmissionRefused,
    screen,
    sender_by_domain_id,
    submit,
)
from storage.credentials import authenticate
from storage.models import Message
from storage.password_checks import VerificationBusy
from storage.queue import QueueWriteError

# The domain whose message holds an id: a UUID names a retry only within its own domain.
_HOLDER = select(Message.sender_domain_id).where(Message.id == bindparam("id"))


INVALID_CREDENTIALS = 3
INVALID_CREDENTIALS_REPLY = "535 5.7.8 Invalid SMTP credentials"
# The whole message is refused, after its data: a permanent reply, where SMTP's RCPT answers
# the one recipient too many with 452 (try it in another transaction).
TOO_MANY_RECIPIENTS = Refused("552 5.5.3 Too many recipients for one message", Reason.RECIPIENTS)

# This surface's one table: a submission refusal's ErrorCode (001's 4-8; 0 where 001 has none),
# and the reply where it is not the SMTP server's (replies.SUBMISSION_REPLIES).
ANSWERS: dict[Reason, tuple[int, Refused | None]] = {
    Reason.SENDER_SYNTAX: (4, None),
    Reason.SENDER_DOMAIN: (4, None),
    Reason.SENDER_ADDRESS: (4, None),
    Reason.DOMAIN_INACTIVE: (5, None),
    Reason.ACCOUNT_UNVERIFIED: (6, None),
    Reason.ACCOUNT_UNTRUSTED: (7, None),
    Reason.ACCOUNT_DISABLED: (7, None),
    Reason.SUPPRESSED: (8, None),
    Reason.RECIPIENTS: (0, TOO_MANY_RECIPIENTS),
    Reason.RECIPIENT_SYNTAX: (0, None),
    Reason.NO_RECIPIENTS: (0, None),
    Reason.RELAY_DENIED: (0, None),
    Reason.SEND_LIMIT: (0, None),
    Reason.SIZE: (0, None),
    Reason.LOOP: (0, None),
    Reason.LINE_ENDINGS: (0, None),
    Reason.HEADERS: (0, None),
    Reason.FROM_HEADER: (0, None),
}


def _refused(code: int, reply: str) -> dict[str, Any]:
    return {"Success": False, "SMTPResponse": reply, "ErrorCode": code}


def _answer(refused: SubmissionRefused) -> dict[str, Any]:
    code, reply = ANSWERS[refused.reason]
    return _refused(code, reply.detailed(refused.detail) if reply else refused.reply)


@command("emailgateway.smtprelay", Access.ADMIN)
async def smtp_relay(call: Call) -> dict[str, Any]:
    username, password = call.get("SMTPUsername"), call.get("SMTPPassword")
    if username is None:
        return failed(1, "Missing SMTPUsername")
    if password is None:
        return failed(2, "Missing SMTPPassword")
    username, password = call.text("SMTPUsername"), call.text("SMTPPassword")
    try:
        credential = await authenticate(call.db, username, password) if username else None
    except VerificationBusy:  # this process's password checks are all taken: try again
        return _refused(0, replies.AUTH_BUSY)
    if credential is None:
        return _refused(INVALID_CREDENTIALS, INVALID_CREDENTIALS_REPLY)
    echo = {"SMTPUsername": username, "SMTPPassword": password}
    raw = call.get("RawEmail")
    if raw is None:  # a credentials check only
        return {"Success": True, "ErrorCode": 0, **echo}
    gateway = context(call.request).gateway
    mail_from = call.text("MailFrom")
    recipients = split_items(call.text("RcptTo"))
    try:
        sender = await sender_by_domain_id(gateway, credential.domain_id, mail_from)
        screened = await screen(gateway, sender, recipients)
        named = uuid_or_none(call.get("UUID"))
        if named is not None:
            holder = await call.db.scalar(_HOLDER, {"id": named})
            if holder == credential.domain_id:
                # a retry of a call that succeeded
                return _queued(named, screened.suppressed) | echo
            if holder is not None:
                # Another domain's message has this id: queue under a new one, so the message
                # is stored and the caller learns nothing of the other.
                named = None
        queue_id = await submit(
            gateway,
            sender,
            mail_from,
            screened,
            str(raw).replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"),
            Origin(
                helo="smtprelay",
                client_ip=client_host(call.request),
                protocol="HTTP",
            ),
            source="smtprelay",
            queue_id=named,
        )
    except SubmissionRefused as refused:
        return _answer(refused)
    except QueueWriteError:
        return _refused(0, replies.TEMPORARY_FAILURE)
    note(call.request, message_id=str(queue_id))
    return _queued(queue_id, screened.suppressed) | echo


def _queued(queue_id: uuid.UUID, suppressed: list[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "Success": True,
        "ErrorCode": 0,
        "SMTPResponse": f"250 2.0.0 Ok: queued as {queue_id}",
    }
    if suppressed:
        answer["SuppressedRecipients"] = suppressed
    return answer
