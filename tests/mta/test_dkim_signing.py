"""mta/submission/dkim_signing.py on its own: the signature it makes is one dkimpy's verifier
accepts with the key the domain publishes (relaxed/relaxed, rsa-sha256), it covers the headers
it says it covers (From once more than present), survives what relaxed canonicalisation forgives
and fails for what it does not; dkimpy's own callers keep its pure-Python path."""

from __future__ import annotations

import re

import dkim  # type: ignore[import-untyped]  # dkimpy ships no type information
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from dns_tools.records import dkim_txt
from mta.submission.dkim_signing import OpenSSLKey, dkim_signature, load_key
from storage.domains import new_dkim_key

PEM = new_dkim_key()
OTHER_PEM = new_dkim_key()
SELECTOR = "mg1234"
DOMAIN = "shop.test"

MESSAGE = (
    b"From: Shop <news@shop.test>\r\nTo: friend@example.org\r\nSubject: Hello\r\n"
    b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@shop.test>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"X-Campaign: 7\r\n\r\nHello there.\r\nSecond line.\r\n"
)


class Published:
    """A `dnsfunc` for dkimpy: the TXT record of one selector, as `domain add` prints it."""

    def __init__(self, pem: str = PEM, name: str = f"{SELECTOR}._domainkey.{DOMAIN}") -> None:
        self.record = dkim_txt(pem).encode()
        self.name = name
        self.asked: list[str] = []

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        asked = name.decode().rstrip(".")
        self.asked.append(asked)
        return self.record if asked == self.name else None


def tags(signature: bytes) -> dict[str, str]:
    value = signature.decode().split(":", 1)[1]
    unfolded = re.sub(r"\s+", "", value)
    return dict(item.split("=", 1) for item in unfolded.split(";") if item)


def signed(message: bytes = MESSAGE, pem: str = PEM) -> bytes:
    return dkim_signature(message, DOMAIN, SELECTOR, pem) + message


def test_the_signature_verifies_with_the_published_key() -> None:
    signature = dkim_signature(MESSAGE, DOMAIN, SELECTOR, PEM)
    assert signature.startswith(b"DKIM-Signature: ") and signature.endswith(b"\r\n")
    published = Published()
    assert dkim.verify(signature + MESSAGE, dnsfunc=published) is True
    assert published.asked == [f"{SELECTOR}._domainkey.{DOMAIN}"]
    found = tags(signature)
    assert (found["v"], found["a"], found["c"]) == ("1", "rsa-sha256", "relaxed/relaxed")
    assert (found["d"], found["s"]) == (DOMAIN, SELECTOR)
    assert "l" not in found  # the whole body is signed


def test_the_signed_headers_are_the_recommended_ones_present_and_from_once_more() -> None:
    unsubscribing = MESSAGE.replace(
        b"X-Campaign: 7\r\n",
        b"List-Unsubscribe: <https://t.shop.test/u/x>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
    )
    signed_headers = tags(dkim_signature(unsubscribing, DOMAIN, SELECTOR, PEM))["h"]
    names = signed_headers.lower().split(":")
    assert names.count("from") == 2  # a From added after signing breaks the signature
    for name in ("to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in names
    assert "list-unsubscribe" in names and "list-unsubscribe-post" in names
    assert "x-campaign" not in tags(dkim_signature(MESSAGE, DOMAIN, SELECTOR, PEM))["h"].lower()
    assert "cc" not in names  # absent headers are not claimed


# What relaxed/relaxed canonicalisation forgives: the signature still holds.
FORGIVEN = [
    pytest.param(b"Subject: Hello\r\n", b"subject:   Hello  \r\n", id="header-case-and-blanks"),
    pytest.param(b"Subject: Hello\r\n", b"Subject: Hello\r\n\t\r\n", id="refolded-header"),
    pytest.param(b"Hello there.\r\n", b"Hello   there.  \r\n", id="body-blank-runs-and-trailing"),
    pytest.param(b"Second line.\r\n", b"Second line.\r\n\r\n\r\n", id="empty-lines-at-the-end"),
    pytest.param(b"X-Campaign: 7\r\n", b"X-Campaign: 8\r\n", id="an-unsigned-header"),
]  # fmt: skip

# What it does not: the signature fails.
BROKEN = [
    pytest.param(b"Hello there.", b"Hello There.", id="body-letter-case"),
    pytest.param(b"Hello there.", b"Hellothere.", id="body-blank-removed"),
    pytest.param(b"Subject: Hello", b"Subject: Hallo", id="signed-header-changed"),
    pytest.param(b"To: friend@", b"From: evil@attacker.test\r\nTo: friend@", id="second-from"),
    pytest.param(b"Second line.\r\n", b"Second line.\r\nAppended.\r\n", id="body-appended"),
]  # fmt: skip


@pytest.mark.parametrize(("before", "after"), FORGIVEN)
def test_what_relaxed_canonicalisation_forgives_still_verifies(before: bytes, after: bytes) -> None:
    message = signed()
    assert before in message
    assert dkim.verify(message.replace(before, after, 1), dnsfunc=Published()) is True


@pytest.mark.parametrize(("before", "after"), BROKEN)
def test_a_change_it_does_not_forgive_fails(before: bytes, after: bytes) -> None:
    message = signed()
    assert before in message
    assert dkim.verify(message.replace(before, after, 1), dnsfunc=Published()) is False


def test_another_key_or_selector_does_not_verify() -> None:
    assert dkim.verify(signed(pem=OTHER_PEM), dnsfunc=Published()) is False
    assert dkim.verify(signed(), dnsfunc=Published(name=f"other._domainkey.{DOMAIN}")) is False


def test_an_international_domain_is_signed_under_its_a_label() -> None:
    signature = dkim_signature(MESSAGE, "bücher.test", SELECTOR, PEM)
    assert tags(signature)["d"] == "xn--bcher-kva.test"
    published = Published(name=f"{SELECTOR}._domainkey.xn--bcher-kva.test")
    assert dkim.verify(signature + MESSAGE, dnsfunc=published) is True


def test_dkimpys_own_callers_keep_its_pure_python_path() -> None:
    """A PEM given to dkimpy directly is parsed and signed by dkimpy itself, and verifies."""
    signature = dkim.sign(MESSAGE, SELECTOR.encode(), DOMAIN.encode(), PEM.encode())
    assert dkim.verify(signature + MESSAGE, dnsfunc=Published()) is True
    assert not isinstance(dkim.parse_pem_private_key(PEM.encode()), OpenSSLKey)


def test_keys_are_parsed_once_and_only_rsa_keys_are_taken() -> None:
    assert load_key(PEM) is load_key(PEM)
    assert load_key(PEM) is not load_key(OTHER_PEM)
    for other in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())):
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        with pytest.raises(ValueError, match="RSA"):
            load_key(pem)
