"""OCRIDs: what one seals, only the same key opens, unchanged; anything else is refused."""

from __future__ import annotations

import base64
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mta.tracking.ocrid import (
    InvalidOcrid,
    OcridFields,
    decode_key,
    new_key,
    open_ocrid,
    seal_ocrid,
)

KEY = secrets.token_bytes(32)
ids = st.integers(min_value=0, max_value=2**63 - 1)


def unpadded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def padded_b64decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@given(ids, st.none() | ids, st.none() | ids, ids, ids)
def test_what_is_sealed_opens_unchanged(
    user: int, campaign: int | None, autoresponder: int | None, subscriber: int, lst: int
) -> None:
    token = seal_ocrid(KEY, user, campaign, autoresponder, subscriber, lst)
    assert open_ocrid(KEY, token) == OcridFields(user, campaign, autoresponder, subscriber, lst)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_tokens_are_compact_and_never_repeat() -> None:
    tokens = {seal_ocrid(KEY, 7, 1234, None, 99, 3) for _ in range(50)}
    assert len(tokens) == 50  # a fresh nonce each time: equal ids do not give equal tokens
    assert all(len(token) <= 60 for token in tokens)  # fits in a link comfortably


def test_every_altered_byte_is_detected() -> None:
    token = seal_ocrid(KEY, 7, 1234, None, 99, 3)
    data = padded_b64decode(token)
    for index in range(len(data)):
        altered = bytearray(data)
        altered[index] ^= 0x01
        with pytest.raises(InvalidOcrid):
            open_ocrid(KEY, unpadded(bytes(altered)))


def test_a_truncated_or_extended_token_is_refused() -> None:
    data = padded_b64decode(seal_ocrid(KEY, 7, 1234, None, 99, 3))
    for changed in (data[:-1], data + b"\0", data[:27]):
        with pytest.raises(InvalidOcrid):
            open_ocrid(KEY, unpadded(changed))


def test_another_key_does_not_open_it() -> None:
    token = seal_ocrid(KEY, 7, None, 5, 99, 3)
    with pytest.raises(InvalidOcrid, match="another key"):
        open_ocrid(secrets.token_bytes(32), token)


@pytest.mark.parametrize(
    "garbage",
    ["", "x", "encrypted_tracking_id_string", "abc=", "not base64!", "é" * 40, "A" * 300,
     unpadded(b"\0" * 27)],
)  # fmt: skip
def test_garbage_is_refused_with_our_exception(garbage: str) -> None:
    with pytest.raises(InvalidOcrid):
        open_ocrid(KEY, garbage)


def test_invalid_ocrid_is_a_value_error() -> None:
    """Callers that parse input catch ValueError; an OCRID that does not open is one."""
    assert issubclass(InvalidOcrid, ValueError)


def test_ids_a_bigint_column_cannot_hold_are_not_sealed() -> None:
    for user in (-1, 2**63):
        with pytest.raises(ValueError, match=r"0\.\.2\*\*63-1"):
            seal_ocrid(KEY, user, None, None, 1, 1)


def test_new_keys_are_32_random_bytes_in_urlsafe_base64() -> None:
    first, second = new_key(), new_key()
    assert first != second
    assert len(decode_key(first)) == 32
    assert decode_key(first) == padded_b64decode(first)


def test_keys_are_read_padded_or_not_urlsafe_or_standard() -> None:
    key = bytes(range(250, 256)) + secrets.token_bytes(26)  # 0xfb.. gives '-'/'_' or '+'/'/'
    for text in (
        base64.urlsafe_b64encode(key).decode(),
        unpadded(key),
        base64.b64encode(key).decode(),
        f"  {unpadded(key)}\n",
    ):
        assert decode_key(text) == key


@pytest.mark.parametrize("text", ["", "short", unpadded(b"k" * 31), unpadded(b"k" * 33), "*" * 43])
def test_a_key_that_is_not_32_bytes_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        decode_key(text)
