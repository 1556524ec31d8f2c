"""Secrets: generation, one-way storage and constant-time comparison.

API keys and session ids are high-entropy random tokens, so a SHA-256 digest is enough to store
them and lets a key be found by an indexed lookup. Passwords (users, SMTP credentials) are hashed
with argon2id, slow on purpose.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps the time of an unknown-username failure close to a wrong
    password's. Made on first use, not at import: every `mailgate` command imports this module,
    and an argon2 hash costs about 0.3 s of CPU."""
    return _hasher.hash(secrets.token_urlsafe(16))


def derive_key(secret: bytes, label: bytes) -> bytes:
    """A key of its own for one use of the server's secret (HKDF-SHA256 under `label`): one
    secret to keep and share between nodes, and no use's key tells anything of another's."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


def rest_secret(key: bytes, salt: str) -> str:
    """A REST account's 40-character ApiSecret. The REST scheme signs with the secret itself
    (sha1 of key, path, body and secret), so the server must know it; derived from a stored
    salt and the server's key, it is never stored, and a copy of the database alone does not
    reveal it. A new salt is a new secret."""
    return hmac.new(key, salt.encode("ascii"), hashlib.sha256).hexdigest()[:40]


ID_TOKEN_LENGTH = 32  # URL-safe base64 of 24 bytes: no padding
_ID_BYTES = 8
_ID_MAC_BYTES = 16


def id_token(key: bytes, number: int, bound: str) -> str:
    """A link's token naming one row: its id in 8 bytes and an HMAC-SHA256 (128 bits) of the id
    and `bound`, a value of that row another row given the same id later would not share (an
    address, a random hash), in URL-safe base64. Checked by making it again (same_secret)."""
    raw = number.to_bytes(_ID_BYTES, "big")
    mac = hmac.new(key, raw + b"\0" + bound.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw + mac[:_ID_MAC_BYTES]).decode("ascii")


def id_of_token(token: str) -> int | None:
    """The id an id_token names, not yet checked; None when `token` cannot be one (ids are
    signed 64-bit numbers in the database)."""
    if len(token) != ID_TOKEN_LENGTH or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _ID_BYTES + _ID_MAC_BYTES or raw[0] >= 0x80:
        return None
    return int.from_bytes(raw[:_ID_BYTES], "big")


def new_token(prefix: str = "", nbytes: int = 24) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def new_signing_key() -> str:
    """A webhook signing key as Standard Webhooks verifiers read it: `whsec_` and 24 random
    bytes in standard base64 (URL-safe base64 would be misread by their decoders)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def new_password(length: int = 24) -> str:
    """A generated password made of letters and digits only, so that it survives any client."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_hint(token: str) -> str:
    """What listings show of a secret: its start, never enough to use it."""
    return token[: min(12, len(token) // 3)] + "…"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; an unknown user (no hash) costs as much as a wrong password."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
