"""A tracked message's copy for one recipient, made at delivery: its tracking tokens (and a
campaign's merge values) filled in, then DKIM-signed with the sender domain's key, since the
stored message was left unsigned for this (mta/tracking/rewrite.py)."""

from __future__ import annotations

from mta.campaigns.merge_tags import merge, needs_merging
from mta.submission.dkim_signing import dkim_signature
from mta.tracking.rewrite import needs_personalising, personalise
from storage.outbound import OutboundMessage


class NoTrackingKey(Exception):
    """A tracked message cannot be personalised without the tracking key."""


def is_personal(message: OutboundMessage) -> bool:
    """Whether each recipient gets a copy of its own (and so a transaction of its own)."""
    return needs_personalising(message.raw)


def content_for(
    message: OutboundMessage,
    delivery_id: int,
    recipient: str,
    values: dict[str, str] | None,
    key: bytes | None,
) -> bytes:
    """What is sent to one recipient: the stored message, or for a tracked one that
    recipient's own copy, signed."""
    if not is_personal(message):
        return message.raw
    if key is None:
        raise NoTrackingKey("no conversion key to sign tracking tokens: run mailgate init")
    content = personalise(message.raw, delivery_id, key)
    if needs_merging(content):
        content = merge(content, recipient, values)
    if message.sender_domain and message.dkim_selector and message.dkim_private_key:
        signature = dkim_signature(
            content, message.sender_domain, message.dkim_selector, message.dkim_private_key
        )
        content = signature + content
    return content
