"""OCRIDs: the conversion tracking ids that tracked links carry, and that a customer's server
posts back (`internal.s2spostback.register`) when a reader converts.

An OCRID names a user, a campaign or an autoresponder, a subscriber and a list. It is sealed
with AES-256-GCM under the gateway's conversion key, so a client can neither read nor forge one:
a random 96-bit nonce, then the ciphertext and its tag, in URL-safe base64 without padding.
The plaintext is a version byte, a byte of flags (which optional ids are present) and the ids
as unsigned LEB128 varints, so a token for small ids is about 55 characters.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_VERSION = 1
_HAS_CAMPAIGN = 0x01
_HAS_AUTORESPONDER = 0x02
_PURPOSE = b"mailgate ocrid"  # associated data: a token sealed for another use never opens here
_MAX_TOKEN = 256  # five 63-bit ids need under 100 characters; longer is not ours
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


class InvalidOcrid(ValueError):
    """The token is not an OCRID sealed with this key: garbage, altered, or another key's."""


@dataclass(frozen=True)
class OcridFields:
    user_id: int
    campaign_id: int | None
    autoresponder_id: int | None
    subscriber_id: int
    list_id: int


def new_key() -> str:
    """A new conversion key as text: 32 random bytes, URL-safe base64 without padding."""
    return secrets.token_urlsafe(KEY_BYTES)


def decode_key(text: str) -> bytes:
    """The 32 bytes of a key written as URL-safe (or standard) base64, padded or not."""
    try:
        key = _b64decode(text.strip().replace("+", "-").replace("/", "_").rstrip("="))
    except InvalidOcrid:
        raise ValueError("expected 32 bytes in URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"expected 32 bytes in URL-safe base64, got {len(key)} bytes")
    return key


def seal_ocrid(
    key: bytes,
    user_id: int,
    campaign_id: int | None,
    autoresponder_id: int | None,
    subscriber_id: int,
    list_id: int,
) -> str:
    fields = OcridFields(user_id, campaign_id, autoresponder_id, subscriber_id, list_id)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, _pack(fields), _PURPOSE)
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")


def open_ocrid(key: bytes, token: str) -> OcridFields:
    """The fields sealed in `token`; raises InvalidOcrid unless it was sealed with `key`."""
    data = _b64decode(token)
    if len(data) < _NONCE_BYTES + _TAG_BYTES:
        raise InvalidOcrid("the OCRID is too short")
    nonce, sealed = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _PURPOSE)
    except InvalidTag:
        raise InvalidOcrid("the OCRID was altered or sealed with another key") from None
    return _unpack(plain)


def _b64decode(text: str) -> bytes:
    if not (0 < len(text) <= _MAX_TOKEN and _URLSAFE.fullmatch(text)):
        raise InvalidOcrid("not URL-safe base64 of a plausible length")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidOcrid("not URL-safe base64") from None


def _pack(fields: OcridFields) -> bytes:
    flags = (_HAS_CAMPAIGN if fields.campaign_id is not None else 0) | (
        _HAS_AUTORESPONDER if fields.autoresponder_id is not None else 0
    )
    ids = [fields.user_id, fields.campaign_id, fields.autoresponder_id]
    ids += [fields.subscriber_id, fields.list_id]
    return bytes([_VERSION, flags]) + b"".join(_varint(n) for n in ids if n is not None)


def _unpack(plain: bytes) -> OcridFields:
    # Only reached for authentic tokens, so a malformed one means a version we do not know.
    if len(plain) < 2 or plain[0] != _VERSION or plain[1] & ~0x03:
        raise InvalidOcrid("unknown OCRID version")
    flags, reader = plain[1], _Reader(plain[2:])
    user_id = reader.next()
    campaign_id = reader.next() if flags & _HAS_CAMPAIGN else None
    autoresponder_id = reader.next() if flags & _HAS_AUTORESPONDER else None
    fields = OcridFields(user_id, campaign_id, autoresponder_id, reader.next(), reader.next())
    reader.finish()
    return fields


def _varint(number: int) -> bytes:
    if not 0 <= number < 1 << 63:  # what a BIGINT id column holds
        raise ValueError(f"an OCRID id must be an integer 0..2**63-1, got {number}")
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def next(self) -> int:
        number, shift = 0, 0
        while self.at < len(self.data) and shift < 70:
            byte = self.data[self.at]
            self.at += 1
            number |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return number
            shift += 7
        raise InvalidOcrid("truncated OCRID")

    def finish(self) -> None:
        if self.at != len(self.data):
            raise InvalidOcrid("trailing bytes in the OCRID")
