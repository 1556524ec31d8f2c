"""Mail the gateway itself sends on an account's behalf, with a link to follow: the double
opt-in mail (a subscriber added awaiting activation is asked, in a mail from the list owner's
sender domain, to follow a link that confirms the subscription), and the activation mail of an
account made by /rest/account/create (http_api/rest/accounts.py).

The mail goes through the one submission path (policy, sending limits, suppressions, DKIM,
queue) as the account's own mail, from `noreply@` the account's oldest Enabled sender domain.
An account with no such domain, or whose domain may not send, or a suppressed recipient:
the mail is not sent and the reason is returned (and logged); the subscriber stays added,
awaiting activation. Link and open tracking are off: the link must reach the recipient as is.
"""

from __future__ import annotations

import html
import logging
import uuid
from dataclasses import dataclass

from mta.submission.composition import Draft, InvalidContent, Mailbox, compose
from mta.submission.policy import sender_refusal
from mta.submission.submit import (
    Gateway,
    Origin,
    SubmissionRefused,
    sender_for_domain,
    split_suppressed,
    submit,
)
from mta.tracking.rewrite import TrackingRequest
from storage.domains import SenderContext, first_enabled_domain_id
from storage.queue import QueueWriteError

log = logging.getLogger("mailgate.subscribers")

SOURCE = "subscription"
_UNTRACKED = TrackingRequest(links=False, opens=False)


@dataclass(frozen=True)
class Confirmation:
    message_id: uuid.UUID | None  # None: not sent, for `reason`
    reason: str = ""


def confirmation_draft(sender_address: str, recipient: str, list_name: str, link: str) -> Draft:
    name = " ".join(list_name.split()) or "our list"  # one line, whatever the owner named it
    plain = (
        f"Please confirm that you want to receive mail from {name}:\r\n\r\n{link}\r\n\r\n"
        "If you did not ask for this, ignore this message and you will not be subscribed.\r\n"
    )
    shown = html.escape(name)
    page = (
        f"<html><body><p>Please confirm that you want to receive mail from {shown}:</p>"
        f'<p><a href="{html.escape(link)}">Confirm my subscription</a></p>'
        "<p>If you did not ask for this, ignore this message and you will not be subscribed."
        "</p></body></html>"
    )
    return Draft(
        sender=Mailbox(sender_address),
        subject=f"Confirm your subscription to {name}",
        to=[Mailbox(recipient)],
        plain=plain,
        html=page,
    )


class NotSent(Exception):
    """Mail the gateway sends for an account cannot be sent; the text says why."""


def noreply_address(sender: SenderContext) -> str:
    return f"noreply@{sender.domain}"


async def default_sender(gw: Gateway, user_id: int) -> SenderContext | None:
    """The sender domain the account's mail goes out from when it names none: its oldest
    Enabled one."""
    domain_id = await first_enabled_domain_id(gw.db, user_id)
    return None if domain_id is None else await sender_for_domain(gw, domain_id)


async def account_sender(gw: Gateway, user_id: int, recipient: str) -> SenderContext:
    """The sender domain mail for the account `user_id` goes out from, able to mail
    `recipient` now; NotSent when there is none."""
    sender = await default_sender(gw, user_id)
    if sender is None:
        raise NotSent("the account has no enabled sender domain")
    if sender_refusal(sender) is not None:
        raise NotSent(f"{sender.domain} may not send")
    accepted, _ = await split_suppressed(gw, sender, [recipient])
    if not accepted:
        raise NotSent("the recipient is suppressed")
    return sender


async def send_untracked(
    gw: Gateway, sender: SenderContext, draft: Draft, origin: Origin, source: str
) -> uuid.UUID:
    """Compose `draft` and queue it through the submission path, its links as written (no
    tracking); NotSent when it is refused or cannot be queued."""
    try:
        content = compose(draft)
        return await submit(gw, sender, draft.sender.address, draft.recipients(), content,
                            origin, source, tracking=_UNTRACKED)  # fmt: skip
    except (InvalidContent, SubmissionRefused, QueueWriteError) as error:
        raise NotSent(str(error) or type(error).__name__) from None


async def send_confirmation(
    gw: Gateway, user_id: int, recipient: str, list_name: str, link: str, origin: Origin
) -> Confirmation:
    """Queue the confirmation mail to `recipient` on behalf of the account `user_id`."""
    try:
        sender = await account_sender(gw, user_id, recipient)
        draft = confirmation_draft(noreply_address(sender), recipient, list_name, link)
        return Confirmation(await send_untracked(gw, sender, draft, origin, SOURCE))
    except NotSent as error:
        return _not_sent(user_id, recipient, str(error))


def _not_sent(user_id: int, recipient: str, reason: str) -> Confirmation:
    log.warning(
        "subscription confirmation not sent user_id=%s recipient=%s reason=%s",
        user_id, recipient, reason,
    )  # fmt: skip
    return Confirmation(None, reason)
