"""`emailgateway.smtprelay`: an SMTP relay server in front of Mailgate checks a client's SMTP
credentials, and hands over a message, through the very submission path of Mailgate's own SMTP
server; the error codes are the policy's (`mta.policy.Refusal`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select

from http_api.api_php import Access, Call, command, failed
from http_api.metrics import note
from http_api.params import uuid_or_none
from mta.policy import Refusal
from mta.submission import (
    Origin,
    SubmissionRefused,
    sender_by_domain_id,
    split_suppressed,
    submit,
)
from storage.credentials import authenticate
from storage.models import Message
from storage.queue import QueueWriteError

# The domain whose message holds an id: a UUID names a retry only within its own domain.
_HOLDER = select(Message.sender_domain_id).where(Message.id == bindparam("id"))


def _refused(refusal: Refusal | None, reply: str) -> dict[str, Any]:
    code = refusal.error_code if refusal and refusal.error_code else 0
    return {"Success": False, "SMTPResponse": reply, "ErrorCode": code}


@command("emailgateway.smtprelay", Access.ADMIN)
async def smtp_relay(call: Call) -> dict[str, Any]:
    username, password = call.get("SMTPUsername"), call.get("SMTPPassword")
    if username is None:
        return failed(1, "Missing SMTPUsername")
    if password is None:
        return failed(2, "Missing SMTPPassword")
    credential = await authenticate(call.db, str(username), str(password))
    if credential is None:
        return _refused(Refusal.INVALID_CREDENTIALS, Refusal.INVALID_CREDENTIALS.reply())
    echo = {"SMTPUsername": username, "SMTPPassword": password}
    raw = call.get("RawEmail")
    if raw is None:  # a credentials check only
        return {"Success": True, "ErrorCode": 0, **echo}
    gateway = call.request.app.state.gateway
    mail_from = str(call.get("MailFrom") or "")
    recipients = [r.strip() for r in str(call.get("RcptTo") or "").split(",") if r.strip()]
    try:
        sender = await sender_by_domain_id(gateway, credential.domain_id, mail_from)
        accepted, suppressed = await split_suppressed(gateway, sender, recipients)
        if not accepted:
            reason = Refusal.RECIPIENT_SUPPRESSED if suppressed else None
            reply = reason.reply(", ".join(suppressed)) if reason else "554 5.5.1 No recipients"
            return _refused(reason, reply)
        named = uuid_or_none(call.get("UUID"))
        if named is not None:
            holder = await call.db.scalar(_HOLDER, {"id": named})
            if holder == credential.domain_id:
                return _queued(named, suppressed) | echo  # a retry of a call that succeeded
            if holder is not None:
                # Another domain's message has this id: queue under a new one, so the message
                # is stored and the caller learns nothing of the other.
                named = None
        queue_id = await submit(
            gateway,
            sender,
            mail_from,
            accepted,
            str(raw).replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"),
            Origin(
                helo="smtprelay",
                client_ip=call.request.client.host if call.request.client else "",
                protocol="HTTP",
            ),
            source="smtprelay",
            queue_id=named,
        )
    except SubmissionRefused as refused:
        return _refused(refused.refusal, refused.reply)
    except QueueWriteError:
        return _refused(None, "451 4.3.0 Temporary failure; try again")
    note(call.request, message_id=str(queue_id))
    return _queued(queue_id, suppressed) | echo


def _queued(queue_id: uuid.UUID, suppressed: list[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "Success": True,
        "ErrorCode": 0,
        "SMTPResponse": f"250 2.0.0 Ok: queued as {queue_id}",
    }
    if suppressed:
        answer["SuppressedRecipients"] = suppressed
    return answer
