"""VERP return paths: each transaction's envelope sender names its message (and, for one
recipient, its delivery), so that a bounce sent to it maps back to what bounced
(mta/feedback/bounce_parser.py, mta/feedback/inbound.py)."""

from __future__ import annotations

import uuid

from storage.outbound import OutboundMessage


def verp_sender(
    message: OutboundMessage, default_subdomain: str, delivery_id: int | None = None
) -> str:
    """`b.<message id>.<delivery id>@<return-path domain>` for a transaction with one
    recipient, `b.<message id>@...` for several (a DSN then names its recipient): a bounce to
    it maps back to the message and recipient. Mail without a sender domain keeps its sender."""
    if message.sender_domain is None:
        return message.mail_from
    subdomain = message.return_path_subdomain or default_subdomain
    token = message.id.hex if delivery_id is None else f"{message.id.hex}.{delivery_id}"
    return f"b.{token}@{subdomain}.{message.sender_domain}"


def parse_verp(local_part: str) -> uuid.UUID | None:
    """The message id in a VERP local part, or None when it is not one of ours."""
    prefix, _, token = local_part.partition(".")
    if prefix.lower() != "b":
        return None
    try:
        return uuid.UUID(hex=token.split(".", 1)[0])
    except ValueError:
        return None


def parse_verp_delivery(address: str) -> int | None:
    """The delivery id in a VERP address (`b.<message>.<delivery>@...`), when it names one."""
    local = address.rpartition("@")[0]
    if parse_verp(local) is None:
        return None
    parts = local.split(".")
    return int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None
