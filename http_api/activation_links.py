"""The signed link of the double opt-in mail: /rest makes it when it adds a subscriber, the
activation page (http_api/subscriber_activation.py) checks it. Kept below both, so that neither
surface imports the other.

A token names one subscriber: its id in 8 bytes and an HMAC-SHA256 (128 bits) of the id and
the subscriber's address, URL-safe base64, under a key derived from the server's key with a
label of its own. The address is in the MAC so that a token never activates another
subscriber who got the same id after a deletion.
"""

from __future__ import annotations

import functools

from starlette.requests import Request

from http_api.context import context
from storage.tokens import derive_key, id_token

ROUTE = "/rest-activate/{token}"


@functools.lru_cache(maxsize=4)
def activation_key(conversion_key: bytes) -> bytes:
    return derive_key(conversion_key, b"mailgate subscriber activation v1")


def activation_token(key: bytes, subscriber_id: int, email: str) -> str:
    return id_token(key, subscriber_id, email.lower())


def activation_link(request: Request, subscriber_id: int, email: str) -> str | None:
    """The link for the confirmation mail, under the gateway's public URL; None when the
    server has no key to sign it with."""
    settings = context(request).settings
    if not settings.conversion_key:
        return None
    token = activation_token(activation_key(settings.conversion_key), subscriber_id, email)
    public_url: str = settings.public_url
    return public_url.rstrip("/") + ROUTE.format(token=token)
