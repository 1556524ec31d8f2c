"""The double opt-in mail: a subscriber added awaiting activation is asked, in a mail from the
list owner's sender domain, to follow a link that confirms the subscription.

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

from mta.composition import Draft, InvalidContent, Mailbox, compose
from mta.policy import sender_refusal
from mta.submission import (
    Gateway,
    Origin,
    SubmissionRefused,
    sender_for_domain,
    split_suppressed,
    submit,
)
from mta.tracking import TrackingRequest
from storage.domains import first_enabled_domain_id
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


async def send_confirmation(
    gw: Gateway, user_id: int, recipient: str, list_name: str, link: str, origin: Origin
) -> Confirmation:
    """Queue the confirmation mail to `recipient` on behalf of the account `user_id`."""
    domain_id = await first_enabled_domain_id(gw.db, user_id)
    sender = None if domain_id is None else await sender_for_domain(gw, domain_id)
    if sender is None:
        return _not_sent(user_id, recipient, "the account has no enabled sender domain")
    if sender_refusal(sender) is not None:
        return _not_sent(user_id, recipient, f"{sender.domain} may not send")
    accepted, _ = await split_suppressed(gw, sender, [recipient])
    if not accepted:
        return _not_sent(user_id, recipient, "the recipient is suppressed")
    mail_from = f"noreply@{sender.domain}"
    try:
        content = compose(confirmation_draft(mail_from, recipient, list_name, link))
        queued = await submit(gw, sender, mail_from, accepted, content, origin, SOURCE,
                              tracking=_UNTRACKED)  # fmt: skip
    except (InvalidContent, SubmissionRefused, QueueWriteError) as error:
        return _not_sent(user_id, recipient, str(error))
    return Confirmation(queued)


def _not_sent(user_id: int, recipient: str, reason: str) -> Confirmation:
    log.warning(
        "subscription confirmation not sent user_id=%s recipient=%s reason=%s",
        user_id, recipient, reason,
    )  # fmt: skip
    return Confirmation(None, reason)
