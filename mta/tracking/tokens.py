"""The signed tokens of tracking URLs and unsubscribe addresses.

A recipient token names one delivery (one recipient of one message) for one purpose (open,
click, unsubscribe): the delivery id in 8 bytes and an HMAC-SHA256 of purpose and id cut to
96 bits, 20 bytes written as 32 characters of lower-case base32. Base32 because the same token
travels in a mailto local part (`unsubscribe+TOKEN@...`), which some software folds to lower
or upper case; it is read in either case. A token of one purpose never passes for another.

A click URL adds a link part: the link's URL itself, with an HMAC over the message id and the
URL (96 bits), in URL-safe base64. The redirect goes only to a URL that was in the message the
delivery belongs to, with no lookup table.

The tracking key is derived with HKDF-SHA256 from the conversion key `mailgate init` makes
(`conversion_key`), with its own label: one secret for operators to keep, and keys that are
independent for each use (an OCRID never opens as a tracking token, nor the reverse).
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import hmac
import uuid

from storage.tokens import derive_key

_MAC_BYTES = 12
_ID_BYTES = 8
RECIPIENT_TOKEN_LENGTH = 32  # base32 of 20 bytes, no padding
MAX_LINK = 2048  # longer URLs are left as they are (and their token would not fit a path)
_BASE64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Purpose(enum.StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"


class InvalidToken(ValueError):
    """Not a token signed with this key for this purpose: garbage, altered, or another key's."""


@functools.lru_cache(maxsize=4)
def tracking_key(conversion_key: bytes) -> bytes:
    """The tracking key: HKDF-SHA256 of the conversion key, under a label of its own."""
    return derive_key(conversion_key, b"mailgate tracking v1")


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"\0".join(parts), hashlib.sha256).digest()[:_MAC_BYTES]


def recipient_token(key: bytes, purpose: Purpose, delivery_id: int) -> str:
    number = delivery_id.to_bytes(_ID_BYTES, "big")
    raw = number + _mac(key, b"recipient", purpose.encode(), number)
    return base64.b32encode(raw).decode("ascii").lower()


def read_recipient_token(key: bytes, purpose: Purpose, token: str) -> int:
    """The delivery id in `token`; raises InvalidToken unless it is ours for `purpose`."""
    if len(token) != RECIPIENT_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("not a recipient token")
    try:
        raw = base64.b32decode(token.upper())
    except (binascii.Error, ValueError):
        raise InvalidToken("not base32") from None
    number, mac = raw[:_ID_BYTES], raw[_ID_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, b"recipient", purpose.encode(), number)):
        raise InvalidToken("the token was altered or signed with another key")
    return int.from_bytes(number, "big")


def link_part(key: bytes, message_id: uuid.UUID, url: str) -> str:
    """The signed URL of one link of one message, for a click token."""
    data = url.encode("utf-8")
    raw = _mac(key, b"link", message_id.bytes, data) + data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_link_part(key: bytes, message_id: uuid.UUID, part: str) -> str:
    """The URL a link part carries, if it was signed for this message; else InvalidToken."""
    data = part.encode("ascii", "replace")
    if not data or len(data) > MAX_LINK * 2 or not set(data) <= _BASE64URL:
        raise InvalidToken("not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not URL-safe base64") from None
    mac, url = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, b"link", message_id.bytes, url)):
        raise InvalidToken("the link was altered, or belongs to another message")
    try:
        return url.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidToken("not a URL") from None


def split_click_token(token: str) -> tuple[str, str]:
    """(recipient token, link part) of a click token `RECIPIENT.LINK`."""
    recipient, dot, link = token.partition(".")
    if not dot:
        raise InvalidToken("not a click token")
    return recipient, link
