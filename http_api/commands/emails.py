"""`Email.Create`, `Email.Update`, `Email.Get`, `Email.Delete`: the email objects that 002's
`RelEmailID` names (a campaign's subject, sender, reply-to and content), in the style of the
other commands: 1 a required parameter missing, 2 no such email of the user, 3 a value the email
cannot take (too long, a From or Reply-To that is not an address, a From outside the account's
sender domains, a FetchURL that is not http(s)), and for Email.Delete 3 while a campaign (not
deleted) sends it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.formats import utc_text
from mta.campaigns.message import from_problem
from mta.submission.composition import checked_address
from storage import campaigns
from storage.domains import sender_for_address_domain

# The content parameters (Email.*, and Campaign.Update's for the campaign's own email) and the
# email values they set.
CONTENT_PARAMS = {
    "Subject": "subject",
    "HTMLContent": "html",
    "PlainContent": "text",
    "FromName": "from_name",
    "FromEmail": "from_email",
    "ReplyToName": "reply_to_name",
    "ReplyToEmail": "reply_to_email",
    "FetchURL": "content_url",
}
EMAIL_PARAMS = {"EmailName": "name", **CONTENT_PARAMS}


def email_view(email: campaigns.EmailView) -> dict[str, Any]:
    shown: dict[str, Any] = {"EmailID": email.id}
    shown |= {param: getattr(email, key) or "" for param, key in EMAIL_PARAMS.items()}
    shown |= {
        "CreateDateTime": utc_text(email.created_at),
        "UpdateDateTime": utc_text(email.updated_at),
    }
    return shown


def _checked_address(value: str, name: str, code: int) -> str | None:
    """The check a campaign's sender gets when it is sent (mta.submission.composition), made now:
    the address normalised, or None when none is given."""
    if not value.strip():
        return None
    address = checked_address(value.strip())[0]
    if address is None:
        raise Refused(failed(code, f"{name} is not an email address"))
    return address


async def _check_own_sender(call: Call, address: str, code: int) -> None:
    """The From must be in a sender domain of the account (or a subdomain of one), as a campaign
    run requires it: refused now with `code`, not when the run fails later. The domain that
    decides is the closest registered one; the rule is mta.campaigns.message.from_problem's."""
    assert call.caller is not None
    sender = await sender_for_address_domain(call.db, address.rpartition("@")[2])
    if from_problem(sender, call.caller.user_id, address) is not None:
        raise Refused(failed(code, f"FromEmail {address} is not in a sender domain of the account"))


async def checked_addresses(call: Call, values: Mapping[str, str | None], code: int) -> None:
    """From and Reply-To among email `values` (keys as CONTENT_PARAMS maps them) checked as
    sending checks them; Refused(`code`) for one that would fail."""
    _checked_address(str(values.get("reply_to_email") or ""), "ReplyToEmail", code)
    sender = _checked_address(str(values.get("from_email") or ""), "FromEmail", code)
    if sender is not None:
        await _check_own_sender(call, sender, code)


async def requested_values(call: Call) -> dict[str, str | None]:
    """The email values the request gives ("" included: it clears a value), checked."""
    values: dict[str, str | None] = {
        key: str(value)
        for param, key in EMAIL_PARAMS.items()
        if (value := call.raw(param)) is not None
    }
    await checked_addresses(call, values, 3)
    url = (values.get("content_url") or "").strip()
    if url and not url.lower().startswith(("http://", "https://")):
        raise Refused(failed(3, "FetchURL must be an http:// or https:// address"))
    return values


@command("email.create")
async def create(call: Call) -> dict[str, Any]:
    """1: no EmailName; 3: a value the email cannot take."""
    assert call.caller is not None
    if call.get("EmailName") is None:
        return failed(1, "Missing required parameter: EmailName")
    try:
        email = await campaigns.create_email(
            call.db, call.caller.user_id, await requested_values(call)
        )
    except campaigns.ContentTooLong as error:
        return failed(3, f"Invalid value: {error}")
    return {"Success": True, "ErrorCode": 0, "EmailID": email.id}


def _email_id(call: Call) -> int:
    return id_param(call, "EmailID", failed(1, "Missing required parameter: EmailID"))


NOT_FOUND = "Email not found or does not belong to the user"


@command("email.update")
async def update(call: Call) -> dict[str, Any]:
    """1: no EmailID; 2: no such email of the user; 3: a value the email cannot take."""
    assert call.caller is not None
    email_id = _email_id(call)
    try:
        email = await campaigns.update_email(
            call.db, call.caller.user_id, email_id, await requested_values(call)
        )
    except campaigns.ContentTooLong as error:
        return failed(3, f"Invalid value: {error}")
    if email is None:
        return failed(2, NOT_FOUND)
    return {"Success": True, "ErrorCode": 0}


@command("email.get")
async def get(call: Call) -> dict[str, Any]:
    """1: no EmailID; 2: no such email of the user."""
    assert call.caller is not None
    email = await campaigns.get_email(call.db, call.caller.user_id, _email_id(call))
    if email is None:
        return failed(2, NOT_FOUND)
    return {"Success": True, "ErrorCode": 0, "Email": email_view(email)}


@command("email.delete")
async def delete(call: Call) -> dict[str, Any]:
    """1: no EmailID; 2: no such email of the user; 3: a campaign still sends it."""
    assert call.caller is not None
    try:
        deleted = await campaigns.delete_email(call.db, call.caller.user_id, _email_id(call))
    except campaigns.EmailInUse:
        return failed(3, "The email is used by a campaign")
    if not deleted:
        return failed(2, NOT_FOUND)
    return {"Success": True, "ErrorCode": 0}
