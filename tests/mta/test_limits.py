"""Limits, on the shared gateway's small settings: message size (announced with SIZE= and
actual), recipients per message, and the hop count that stops mail loops."""

from __future__ import annotations

import pytest

from tests.mta.conftest import HOP_LIMIT, MAX_MESSAGE_SIZE, MAX_RECIPIENTS, Installation
from tests.mta.support import (
    expect,
    logged_in,
    marker,
    message,
    messages_containing,
    must_be_stored,
    queued_id,
    send,
)


def test_announced_size_over_the_limit_is_refused_at_mail(installation: Installation) -> None:
    alpha = installation.alpha
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        assert smtp.esmtp_features["size"] == str(MAX_MESSAGE_SIZE)
        expect(
            smtp.mail(alpha.address, [f"SIZE={MAX_MESSAGE_SIZE + 1}"]),
            "552 5.3.4 Error: message size exceeds fixed maximum message size",
        )
        expect(smtp.mail(alpha.address, ["SIZE=1000"]), "250 2.1.0")


def test_message_over_the_limit_is_refused_after_data(installation: Installation) -> None:
    alpha = installation.alpha
    token = marker()
    line = "x" * 70
    body = "\r\n".join([token, *[line] * (MAX_MESSAGE_SIZE // len(line))])
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        reply = send(smtp, alpha.address, message(alpha.address, body=body))
        expect(reply, "552 5.3.4")
        # The transaction is over; the next one in the same session works.
        small = message(alpha.address)
        queued_id(send(smtp, alpha.address, small))
    assert messages_containing(installation.gateway, token.encode()) == 0


def test_recipients_over_the_limit_get_452(installation: Installation) -> None:
    alpha = installation.alpha
    recipients = [f"r{i}@example.org" for i in range(MAX_RECIPIENTS)]
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        expect(smtp.mail(alpha.address), "250 2.1.0")
        for recipient in recipients:
            expect(smtp.rcpt(recipient), "250 2.1.5")
        expect(smtp.rcpt("one-too-many@example.org"), "452 4.5.3")
        reply = smtp.data(message(alpha.address))
    stored = must_be_stored(installation.gateway, queued_id(reply))
    assert [recipient for recipient, _ in stored.deliveries] == recipients


def received_lines(count: int) -> str:
    return "".join(
        f"Received: from hop{i}.example ([192.0.2.{i}])\r\n\tby relay{i}.example; "
        f"Mon, 1 Jan 2024 00:00:0{i % 10} +0000\r\n"
        for i in range(count)
    )


@pytest.mark.parametrize("hops", [HOP_LIMIT - 1, HOP_LIMIT + 1])
def test_mail_loop_is_refused_past_the_hop_limit(installation: Installation, hops: int) -> None:
    alpha = installation.alpha
    content = (
        received_lines(hops) + f"From: {alpha.address}\r\nSubject: loop\r\n\r\nx\r\n"
    ).encode()
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        reply = send(smtp, alpha.address, content)
    if hops > HOP_LIMIT:
        expect(reply, "554 5.4.6 Too many hops")
    else:
        assert must_be_stored(installation.gateway, queued_id(reply)).raw.endswith(content)


def test_received_lines_in_the_body_are_not_hops(installation: Installation) -> None:
    alpha = installation.alpha
    quoted = received_lines(HOP_LIMIT + 2)  # e.g. a forwarded bounce quoting the headers
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        reply = send(smtp, alpha.address, message(alpha.address, body=quoted))
    queued_id(reply)
