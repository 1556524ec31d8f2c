"""The submission rules as tables, in process: every decision of mta/submission/policy.py, and the
rule functions of mta/submission/submit.py that decide from data alone (size, sender, recipient
count, content; admit and screen up to where they would ask the database). What needs the store
(relay domains, suppressions, sending limits) is covered against a real gateway in
test_sender_policy.py and test_submission_rules.py."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from mta.replies import SUBMISSION_REASONS, Reason
from mta.submission.policy import (
    address_refusal,
    in_networks,
    is_address,
    is_loopback,
    is_null_sender,
    recipient_count_refusal,
    sender_refusal,
    size_refusal,
    within_domain,
)
from mta.submission.submit import (
    Gateway,
    Recipients,
    SubmissionRefused,
    admit,
    check_content,
    check_recipient_count,
    check_sender,
    check_size,
    screen,
)
from storage.domains import SenderContext
from storage.engine import Database
from storage.models import DomainStatus, UserStatus
from storage.queue import QueueWriter
from tests.mta.support import ENABLED_SENDER as SENDER


def sender(**changes: object) -> SenderContext:
    return dataclasses.replace(SENDER, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    """A gateway whose database is never reached: the rules below decide from data alone (a
    rule that did query would fail on the missing schema, not pass)."""
    path: Path = tmp_path_factory.mktemp("policy") / "never-created.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    return Gateway(
        db, QueueWriter(db), "mx.mailgate.test", hop_limit=3, max_message_size=1000,
        max_recipients=3,
    )  # fmt: skip


def refusal_of(error: pytest.ExceptionInfo[SubmissionRefused]) -> tuple[Reason, str]:
    return error.value.reason, error.value.detail


# mta/submission/policy.py
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@b.test", True),
        ("first.last+tag@sub.example.org", True),
        ('"quoted local"@b.test', True),
        ("josé@exämple.test", True),  # non-ASCII is SMTPUTF8's question, not this one
        ("a@b", True),
        ("@b.test", False),  # no local part
        ("a@", False),  # no domain
        ("ab.test", False),  # no @
        ("", False),
        ("a\x00b@b.test", False),  # NUL
        ("a@b.test\r\n", False),  # a line break
        ("a\tb@b.test", False),  # any control character
        ("a\x7f@b.test", False),  # DEL
        ("a\udcff@b.test", False),  # a byte that was not UTF-8, as aiosmtpd keeps it
        ("a" * 64 + "@" + "d" * 189, True),  # 254 octets
        ("a" * 64 + "@" + "d" * 190, False),  # 255 octets
        ("é" * 126 + "@b", True),  # 252 + 2 octets of UTF-8
        ("é" * 127 + "@b", False),  # 254 + 2: octets count, not characters
    ],
)
def test_is_address(text: str, expected: bool) -> None:
    assert is_address(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"), [("", True), ("<>", True), ("< >", False), ("a@b.test", False)]
)
def test_is_null_sender(text: str, expected: bool) -> None:
    assert is_null_sender(text) is expected


@pytest.mark.parametrize(
    ("size", "limit", "expected"),
    [(0, 1000, None), (1000, 1000, None), (1001, 1000, Reason.SIZE), (10**9, 1000, Reason.SIZE)],
)
def test_size_refusal(size: int, limit: int, expected: Reason | None) -> None:
    assert size_refusal(size, limit) is expected


@pytest.mark.parametrize(
    ("count", "limit", "expected"),
    [
        (-1, 3, Reason.NO_RECIPIENTS),
        (0, 3, Reason.NO_RECIPIENTS),
        (1, 3, None),
        (3, 3, None),
        (4, 3, Reason.RECIPIENTS),
        (0, 0, Reason.NO_RECIPIENTS),  # none is refused as none, whatever the limit
    ],
)
def test_recipient_count_refusal(count: int, limit: int, expected: Reason | None) -> None:
    assert recipient_count_refusal(count, limit) is expected


@pytest.mark.parametrize(
    ("name", "parent", "expected"),
    [
        ("shop.test", "shop.test", True),
        ("mail.shop.test", "shop.test", True),
        ("a.b.shop.test", "shop.test", True),
        ("Mail.SHOP.test.", "shop.TEST", True),  # case and a trailing dot do not matter
        ("shop.test", "shop.test.", True),
        ("evilshop.test", "shop.test", False),  # a suffix is not a subdomain
        ("shop.test.evil", "shop.test", False),
        ("test", "shop.test", False),  # the parent's parent
        ("", "shop.test", False),
    ],
)
def test_within_domain(name: str, parent: str, expected: bool) -> None:
    assert within_domain(name, parent) is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"domain_status": DomainStatus.APPROVAL_PENDING}, Reason.DOMAIN_INACTIVE),
        ({"domain_status": DomainStatus.DISABLED}, Reason.DOMAIN_INACTIVE),
        ({"user_status": UserStatus.UNVERIFIED}, Reason.ACCOUNT_UNVERIFIED),
        ({"user_trusted": False}, Reason.ACCOUNT_UNTRUSTED),
        ({"user_status": UserStatus.DEACTIVATED}, Reason.ACCOUNT_DISABLED),
        # The order of the checks: the domain first, then the owner: unverified, trusted, active.
        (
            {"domain_status": DomainStatus.DISABLED, "user_status": UserStatus.UNVERIFIED},
            Reason.DOMAIN_INACTIVE,
        ),
        ({"user_status": UserStatus.UNVERIFIED, "user_trusted": False}, Reason.ACCOUNT_UNVERIFIED),
        ({"user_status": UserStatus.DEACTIVATED, "user_trusted": False}, Reason.ACCOUNT_UNTRUSTED),
    ],
)
def test_sender_refusal(changes: dict[str, object], expected: Reason | None) -> None:
    assert sender_refusal(sender(**changes)) is expected


def test_no_sender_domain_is_refused_as_such() -> None:
    assert sender_refusal(None) is Reason.SENDER_DOMAIN


@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        ([], None),
        (["shop.test"], None),
        (["news.shop.test", "SHOP.test"], None),
        (["other.test"], Reason.SENDER_ADDRESS),
        (["shop.test", "other.test"], Reason.SENDER_ADDRESS),  # every one of them
        (["notshop.test"], Reason.SENDER_ADDRESS),
    ],
)
def test_address_refusal(domains: list[str], expected: Reason | None) -> None:
    assert address_refusal(SENDER, domains) is expected


NETWORKS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.1.2.3", True),
        ("11.1.2.3", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:10.1.2.3", True),  # an IPv4 client on a dual-stack socket
        ("::ffff:11.1.2.3", False),
        ("", False),  # no peer address (a closed socket)
        ("not an ip", False),
        ("10.1.2.3%eth0", False),
    ],
)
def test_in_networks(ip: str, expected: bool) -> None:
    assert in_networks(ip, NETWORKS) is expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::2", False),
        ("", False),
    ],
)
def test_is_loopback(ip: str, expected: bool) -> None:
    assert is_loopback(ip) is expected


# mta/submission/submit.py's rules
# ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "refusal"),
    [(0, None), (1000, None), (1001, (Reason.SIZE, "1001 octets, at most 1000"))],
)
def test_check_size(gateway: Gateway, size: int, refusal: tuple[Reason, str] | None) -> None:
    if refusal is None:
        check_size(gateway, size)
        return
    with pytest.raises(SubmissionRefused) as error:
        check_size(gateway, size)
    assert refusal_of(error) == refusal


@pytest.mark.parametrize(
    ("count", "refusal"),
    [
        (0, (Reason.NO_RECIPIENTS, "0, at most 3")),
        (1, None),
        (3, None),
        (4, (Reason.RECIPIENTS, "4, at most 3")),
    ],
)
def test_check_recipient_count(
    gateway: Gateway, count: int, refusal: tuple[Reason, str] | None
) -> None:
    if refusal is None:
        check_recipient_count(gateway, count)
        return
    with pytest.raises(SubmissionRefused) as error:
        check_recipient_count(gateway, count)
    assert refusal_of(error) == refusal


@pytest.mark.parametrize(
    ("context", "addresses", "refusal"),
    [
        (SENDER, ["a@shop.test"], None),
        (SENDER, ["a@news.shop.test", "b@SHOP.test"], None),
        (SENDER, ["<>"], None),  # the null sender may send: bounces
        (SENDER, [""], None),
        (SENDER, [], None),
        (None, ["a@nowhere.test"], (Reason.SENDER_DOMAIN, "nowhere.test")),
        (None, ["a@x.test", "b@y.test"], (Reason.SENDER_DOMAIN, "x.test, y.test")),
        (
            sender(domain_status=DomainStatus.DISABLED),
            ["a@shop.test"],
            (Reason.DOMAIN_INACTIVE, "shop.test"),
        ),
        (
            sender(user_status=UserStatus.UNVERIFIED),
            ["a@shop.test"],
            (Reason.ACCOUNT_UNVERIFIED, "shop.test"),
        ),
        (sender(user_trusted=False), ["a@shop.test"], (Reason.ACCOUNT_UNTRUSTED, "shop.test")),
        (
            sender(user_status=UserStatus.DEACTIVATED),
            ["a@shop.test"],
            (Reason.ACCOUNT_DISABLED, "shop.test"),
        ),
        # The domain's state is checked before the addresses.
        (sender(user_trusted=False), ["a@other.test"], (Reason.ACCOUNT_UNTRUSTED, "shop.test")),
        (SENDER, ["shop.test"], (Reason.SENDER_SYNTAX, "shop.test")),
        (
            SENDER,
            ["a@shop.test", "b\x00@shop.test"],
            (Reason.SENDER_SYNTAX, "a@shop.test, b\x00@shop.test"),
        ),
        (SENDER, ["<>", "@shop.test"], (Reason.SENDER_SYNTAX, "@shop.test")),
        # Syntax before domain: a broken address is not "outside the domain".
        (SENDER, ["x@other.test", "bad"], (Reason.SENDER_SYNTAX, "x@other.test, bad")),
        (SENDER, ["a@other.test"], (Reason.SENDER_ADDRESS, "a@other.test not in shop.test")),
        (
            SENDER,
            ["a@shop.test", "b@evilshop.test"],
            (Reason.SENDER_ADDRESS, "a@shop.test, b@evilshop.test not in shop.test"),
        ),
    ],
)
def test_check_sender(
    context: SenderContext | None, addresses: list[str], refusal: tuple[Reason, str] | None
) -> None:
    if refusal is None:
        check_sender(context, addresses)
        return
    with pytest.raises(SubmissionRefused) as error:
        check_sender(context, addresses)
    assert refusal_of(error) == refusal


def headers(*lines: str, body: str = "Hello\r\n") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


FROM_SHOP = "From: Shop <news@shop.test>"
HOPS = [f"Received: from h{n} by h{n + 1}; Mon, 7 Dec 2026 10:00:00 +0000" for n in range(3)]


@pytest.mark.parametrize(
    ("context", "content", "reason"),
    [
        (SENDER, headers(FROM_SHOP, "Subject: hi"), None),
        (SENDER, headers(FROM_SHOP, "Sender: ops@mail.shop.test"), None),
        (None, headers("From: anyone@elsewhere.test"), None),  # inbound: no From rules
        (None, headers("Subject: no From at all"), None),
        (SENDER, headers(FROM_SHOP, body="bare\nLF\r\n"), Reason.LINE_ENDINGS),
        (None, headers(FROM_SHOP, body="bare\rCR\r\n"), Reason.LINE_ENDINGS),
        (SENDER, headers(FROM_SHOP, "no colon here"), Reason.HEADERS),
        (SENDER, headers(FROM_SHOP, "From: again@shop.test"), Reason.HEADERS),  # two From
        (SENDER, headers(*HOPS[:2], FROM_SHOP), None),  # 2 hops, the limit is 3
        (SENDER, headers(*HOPS, FROM_SHOP), Reason.LOOP),
        (None, headers(*HOPS, FROM_SHOP), Reason.LOOP),
        (SENDER, headers("Subject: no From"), Reason.FROM_HEADER),
        (SENDER, headers("From: undisclosed-recipients:;"), Reason.FROM_HEADER),
        (SENDER, headers("From: news@other.test"), Reason.SENDER_ADDRESS),
        (SENDER, headers(FROM_SHOP, "Sender: ops@other.test"), Reason.SENDER_ADDRESS),
        (sender(user_trusted=False), headers(FROM_SHOP), Reason.ACCOUNT_UNTRUSTED),
    ],
)
def test_check_content(
    gateway: Gateway, context: SenderContext | None, content: bytes, reason: Reason | None
) -> None:
    if reason is None:
        check_content(gateway, context, content)
        return
    with pytest.raises(SubmissionRefused) as error:
        check_content(gateway, context, content)
    assert error.value.reason is reason


@pytest.mark.parametrize(
    ("accepted", "address", "refusal"),
    [
        (["a@x.test"] * 3, "d@x.test", (Reason.RECIPIENTS, "4, at most 3")),
        ([], "not-an-address", (Reason.RECIPIENT_SYNTAX, "<not-an-address>")),
        (["a@x.test"], "b\x00@x.test", (Reason.RECIPIENT_SYNTAX, "<b\x00@x.test>")),
        # The count before the syntax: a fourth recipient is one too many whatever it is.
        (["a@x.test"] * 3, "nonsense", (Reason.RECIPIENTS, "4, at most 3")),
    ],
)
async def test_admit_refuses_before_asking_the_store(
    gateway: Gateway, accepted: list[str], address: str, refusal: tuple[Reason, str]
) -> None:
    recipients = Recipients(accepted=list(accepted))
    with pytest.raises(SubmissionRefused) as error:
        await admit(gateway, SENDER, recipients, address)
    assert refusal_of(error) == refusal
    assert recipients.accepted == accepted  # a refused recipient is not admitted


@pytest.mark.parametrize(
    ("addresses", "refusal"),
    [
        ([], (Reason.NO_RECIPIENTS, "0, at most 3")),
        (["a@x.test"] * 4, (Reason.RECIPIENTS, "4, at most 3")),
        (["bad", "a@x.test"], (Reason.RECIPIENT_SYNTAX, "<bad>")),
    ],
)
async def test_screen_refuses_before_asking_the_store(
    gateway: Gateway, addresses: list[str], refusal: tuple[Reason, str]
) -> None:
    with pytest.raises(SubmissionRefused) as error:
        await screen(gateway, SENDER, addresses)
    assert refusal_of(error) == refusal


def test_every_reason_a_rule_raises_is_a_submission_reason() -> None:
    """SubmissionRefused accepts only SUBMISSION_REASONS; the rules above raise these."""
    raised = {
        Reason.SIZE, Reason.RECIPIENTS, Reason.NO_RECIPIENTS, Reason.RECIPIENT_SYNTAX,
        Reason.SENDER_DOMAIN, Reason.DOMAIN_INACTIVE, Reason.ACCOUNT_UNVERIFIED,
        Reason.ACCOUNT_UNTRUSTED, Reason.ACCOUNT_DISABLED, Reason.SENDER_SYNTAX,
        Reason.SENDER_ADDRESS, Reason.LINE_ENDINGS, Reason.HEADERS, Reason.LOOP,
        Reason.FROM_HEADER,
    }  # fmt: skip
    assert raised <= SUBMISSION_REASONS
    with pytest.raises(ValueError):
        SubmissionRefused(Reason.SYNTAX)  # a protocol reason, not the submission path's
