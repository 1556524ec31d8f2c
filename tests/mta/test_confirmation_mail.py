"""mta/campaigns/confirmation_mail.py on its own, with a real database (SQLite and PostgreSQL),
the real submission path and a real delivery worker to the SMTP sink: the double opt-in mail
goes from `noreply@` the account's oldest Enabled domain, signed, with its link exactly as
given (tracking off even on a tracked domain), and is not sent, with the reason, when the
account has no domain that may send or the recipient is suppressed."""

from __future__ import annotations

import html
import uuid

import pytest
from sqlalchemy import func, select

from mta.campaigns.confirmation_mail import Confirmation, confirmation_draft, send_confirmation
from mta.submission.composition import compose
from mta.submission.submit import Origin
from storage.accounts import set_user_status
from storage.domains import set_domain_status
from storage.models import Delivery, DomainStatus, Message, UserStatus
from storage.suppressions import add_suppression
from tests.mta import test_campaign_message as campaign_message
from tests.mta.test_campaign_message import DOMAIN, World, parsed, part

# The same world as the campaign message tests (an account with one Enabled, tracked domain,
# a real queue writer and sink): their fixtures, not a copy.
sink = campaign_message.sink
world = campaign_message.world

ORIGIN = Origin("api.test", "127.0.0.1", "HTTP")
LINK = "https://news.test/confirm?list=7&token=a%2Fb+c"


def recipient() -> str:
    return f"ok-{uuid.uuid4().hex[:10]}@dest.example"


async def test_the_confirmation_is_delivered_signed_with_its_link_as_given(world: World) -> None:
    to = recipient()
    sent = await send_confirmation(
        world.gw, world.user_id, to, "  Tom &\r\n <Jerry>  ", LINK, ORIGIN
    )
    assert sent.reason == "" and isinstance(sent.message_id, uuid.UUID)
    await world.deliver(sent.message_id, 1)

    received = world.received(to)
    assert received["From"] == f"noreply@{DOMAIN}"
    assert received["To"] == to
    assert received["Subject"] == "Confirm your subscription to Tom & <Jerry>"
    text, page = part(received, "text/plain"), part(received, "text/html")
    assert f"\n{LINK}\n" in text.replace("\r\n", "\n")
    assert f'<a href="{html.escape(LINK)}">Confirm my subscription</a>' in page
    assert "receive mail from Tom &amp; &lt;Jerry&gt;:" in page  # the owner's name, escaped
    assert "/t/c/" not in page and "/t/o/" not in page  # no tracking, on a tracked domain
    assert world.dkim_ok(to)
    source = await world.db.scalar(select(Message.source).where(Message.id == sent.message_id))
    assert source == "subscription"


@pytest.mark.parametrize(
    ("list_name", "shown"),
    [
        (" \t\r\n", "our list"),
        ("Zoë's\r\nŁist", "Zoë's Łist"),
        ("News\r\nBcc: victim@x.test", "News Bcc: victim@x.test"),
    ],
    ids=["unnamed", "non-ascii-on-two-lines", "no-header-injection"],
)
def test_the_list_name_is_one_line_of_the_subject(list_name: str, shown: str) -> None:
    draft = confirmation_draft("noreply@news.test", "a@dest.example", list_name, LINK)
    message = parsed(compose(draft))
    assert message["Subject"] == f"Confirm your subscription to {shown}"
    assert message["Bcc"] is None and message["To"] == "a@dest.example"
    assert f"mail from {shown}:" in part(message, "text/plain")


async def queued(world: World) -> int:
    """Deliveries queued for the world's account."""
    statement = (
        select(func.count())
        .select_from(Delivery)
        .join(Message, Message.id == Delivery.message_id)
        .where(Message.user_id == world.user_id)
    )
    return int(await world.db.scalar(statement))


async def test_without_a_domain_that_may_send_or_to_a_suppressed_recipient_nothing_is_sent(
    world: World,
) -> None:
    to = recipient()

    async def confirmation() -> Confirmation:
        world.gw.senders.clear()  # as a second later: the submission path caches senders 1 s
        return await send_confirmation(world.gw, world.user_id, to, "News", LINK, ORIGIN)

    await add_suppression(world.db, to, "bounce", "test", user_id=world.user_id)
    assert await confirmation() == Confirmation(None, "the recipient is suppressed")

    await set_user_status(world.db, world.user_id, UserStatus.DEACTIVATED)
    assert await confirmation() == Confirmation(None, f"{DOMAIN} may not send")

    await set_domain_status(world.db, world.domain.id, DomainStatus.DISABLED)
    assert await confirmation() == Confirmation(None, "the account has no enabled sender domain")
    assert await queued(world) == 0
