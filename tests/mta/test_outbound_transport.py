"""Outbound SMTP behind mta/outbound/transport.py's interface, as SessionPool implements it
against a real sink: one reply per recipient, sessions reused per host, and what a lost
connection or an unreachable host looks like to delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mta.outbound.sessions import SessionOptions, SessionPool
from mta.outbound.transport import Envelope, HostUnavailable, MailHost, needs_smtputf8
from tests.conftest import free_port
from tests.mta.sink import Sink

SENDER = "b.1234@bounces.shop.test"
CONTENT = b"From: shop@shop.test\r\nSubject: hi\r\n\r\nHello\r\n"


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with Sink() as started:
        yield started


@pytest.fixture
async def pool() -> AsyncIterator[SessionPool]:
    transport = SessionPool(SessionOptions("mx.mailgate.test", connect_timeout=5), 30.0)
    yield transport
    await transport.close()


def to(sink: Sink) -> MailHost:
    return MailHost("sink.test", sink.port, "127.0.0.1")


def envelope(*recipients: str, international: bool = False) -> Envelope:
    return Envelope(SENDER, recipients, CONTENT, international)


async def test_each_recipient_gets_its_own_reply_in_order(sink: Sink, pool: SessionPool) -> None:
    replies = await pool.send(
        to(sink), envelope("ok-a@x.test", "unknown-b@x.test", "busy-c@x.test", "ok-d@x.test")
    )
    assert [r.code for r in replies] == [250, 550, 451, 250]
    assert replies[0].text == "250 2.0.0 Ok: stored"  # DATA's reply, for each accepted
    assert replies[1].text.startswith("550 5.1.1 <unknown-b@x.test>")
    [received] = sink.transactions_to("ok-a@x.test")
    assert received.recipients == ("ok-a@x.test", "ok-d@x.test")
    assert received.mail_from == SENDER and received.content.endswith(b"Hello\r\n")


async def test_a_session_is_reused_for_the_next_envelope_to_the_host(
    sink: Sink, pool: SessionPool
) -> None:
    before = sink.handler.sessions
    for index in range(3):
        [reply] = await pool.send(to(sink), envelope(f"ok-reuse{index}@x.test"))
        assert reply.code == 250
    # Every recipient refused: no DATA, and the session is still good for the next one.
    assert [r.code for r in await pool.send(to(sink), envelope("unknown-e@x.test"))] == [550]
    [reply] = await pool.send(to(sink), envelope("ok-after@x.test"))
    assert reply.code == 250
    assert sink.handler.sessions - before == 1


async def test_a_connection_lost_in_the_transaction_is_no_reply(
    sink: Sink, pool: SessionPool
) -> None:
    """Recipients not yet answered get code 0 and our own 4.4.2 text (delivery defers them:
    the message may or may not have arrived)."""
    replies = await pool.send(to(sink), envelope("ok-f@x.test", "drop-g@x.test", "ok-h@x.test"))
    assert [r.code for r in replies] == [0, 0, 0]
    assert all(r.text.startswith("4.4.2 sink.test: connection lost") for r in replies)
    assert not sink.transactions_to("ok-f@x.test")
    [reply] = await pool.send(to(sink), envelope("ok-next@x.test"))  # a fresh session
    assert reply.code == 250


async def test_an_unreachable_host_sends_nothing(pool: SessionPool) -> None:
    closed = MailHost("gone.test", free_port(), "127.0.0.1")
    with pytest.raises(HostUnavailable) as raised:
        await pool.send(closed, envelope("ok-i@x.test"))
    assert raised.value.reply.startswith("4.4.1 connection to gone.test[127.0.0.1]")


async def test_an_international_envelope_asks_for_smtputf8(sink: Sink, pool: SessionPool) -> None:
    [reply] = await pool.send(to(sink), envelope("ok-straße@x.test", international=True))
    assert reply.code == 250
    [received] = sink.transactions_to("ok-straße@x.test")
    assert "SMTPUTF8" in received.mail_options


async def test_an_international_message_is_not_sent_where_smtputf8_is_not_offered(
    pool: SessionPool,
) -> None:
    """RFC 6531 3.4: refused here, permanently, without MAIL; the session stays usable."""
    with Sink(smtputf8=False) as plain:
        replies = await pool.send(
            to(plain), envelope("ok-j@x.test", "ok-k@x.test", international=True)
        )
        assert [r.code for r in replies] == [550, 550]
        assert replies[0].text.startswith("550 5.6.7 SMTPUTF8 is required")
        assert not plain.transactions_to("ok-j@x.test")
        [reply] = await pool.send(to(plain), envelope("ok-l@x.test"))
        assert (
            reply.code == 250
            and "SMTPUTF8" not in plain.transactions_to("ok-l@x.test")[0].mail_options
        )


def test_a_message_needs_smtputf8_for_a_utf8_address_or_header_section() -> None:
    ascii_head = b"From: a@x.test\r\nReply-To: b@x.test\r\n\r\nbody \xc3\x9f\r\n"
    utf8_head = "From: a@x.test\r\nReply-To: straße@x.test\r\n\r\nbody\r\n".encode()
    assert not needs_smtputf8("a@x.test", ("c@y.test",), ascii_head)  # an 8-bit body: 8BITMIME
    assert needs_smtputf8("a@x.test", ("c@y.test",), utf8_head)
    assert needs_smtputf8("a@x.test", ("straße@y.test",), ascii_head)
    assert needs_smtputf8("ß@x.test", ("c@y.test",), ascii_head)
