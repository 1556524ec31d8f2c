"""Open and click tracking, the unsubscribe link and the List-Unsubscribe header, in two steps.

A message has one stored body for all its recipients and tokens name one recipient, so:

1. At submission (`prepare`), once per message: the links of its HTML parts become click URLs
   and an open pixel is added (and the unsubscribe link, at the sender's tag or in a footer),
   and `List-Unsubscribe` / `List-Unsubscribe-Post` (RFC 8058) are added, all with a
   per-message placeholder where the recipient's token will be. The message is stored
   unsigned, its first line a marker that says it must be personalised.
2. At delivery (`personalise`), once per recipient: the marker goes, each placeholder becomes
   that delivery's signed token (the same length, so no encoding changes), and the delivery
   worker DKIM-signs that copy.

A message that asks for none of it is stored signed, exactly as before.

A campaign's message is always marked (`mark` when tracking adds nothing): its copies also get
the recipient's merge tags (mta/campaigns/merge_tags.py), whose placeholders `prepare` keeps whole.
"""

from __future__ import annotations

import functools
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from mta.tracking.html_rewrite import rewrite_html
from mta.tracking.mime_rewrite import rewrite_html_parts
from mta.tracking.tokens import MAX_LINK, Purpose, link_part, recipient_token, tracking_key
from storage.domains import SenderContext

MARKER = b"X-Mailgate-Personalise: "
_NONCE_CHARS = 28  # placeholder: "mgt", the purpose, the nonce: as long as a token (32)
_HTML = re.compile(rb"text/html", re.IGNORECASE)
_HTTP = ("http://", "https://")
ONE_CLICK = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
# Where a sender's HTML wants the unsubscribe link (Mailgun's tag): `<a href="%unsubscribe_url%">`.
UNSUBSCRIBE_TAG = "%unsubscribe_url%"
FOOTER = (
    '<p style="font-size:12px;color:#666666">If you no longer wish to receive these emails, '
    '<a href="{url}">unsubscribe</a>.</p>'
)


class TrackingSource(Protocol):
    """The settings `TrackingSettings` is made of (mailgate.config.Settings has them; read-only,
    so a frozen dataclass is one)."""

    @property
    def conversion_key(self) -> bytes | None: ...
    @property
    def public_url(self) -> str: ...
    @property
    def track_prefix(self) -> str: ...
    @property
    def return_path_subdomain(self) -> str: ...


@dataclass(frozen=True)
class TrackingSettings:
    """The gateway's side: the tracking key, and where tracking URLs point."""

    key: bytes | None = field(repr=False)
    public_url: str
    track_prefix: str
    return_path_subdomain: str

    @classmethod
    def of(cls, settings: TrackingSource) -> TrackingSettings:
        key = settings.conversion_key
        return cls(
            key=tracking_key(key) if key else None,
            public_url=settings.public_url,
            track_prefix=settings.track_prefix,
            return_path_subdomain=settings.return_path_subdomain,
        )

    def base_url(self, host: str) -> str:
        """The public URL's scheme, port and path, on the sender's tracking host."""
        parts = urlsplit(self.public_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme or 'http'}://{host}{port}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class TrackingRequest:
    """A message's own choice (`TrackLinks`, `TrackOpens`); None follows the domain's.
    `rebrand`: another sender domain whose tracking host the message's tracking and
    unsubscribe URLs use instead of its own domain's (/rest/mail's `domain`)."""

    links: bool | None = None
    opens: bool | None = None
    rebrand: SenderContext | None = None


@dataclass(frozen=True)
class Plan:
    links: bool
    opens: bool
    unsubscribe: bool
    base_url: str  # the sender's tracking host
    return_path: str  # the sender's return-path domain, for the mailto


def plan_for(
    settings: TrackingSettings, sender: SenderContext, request: TrackingRequest | None
) -> Plan | None:
    """What to do for a message of `sender`, or None for nothing."""
    request = request or TrackingRequest()
    links = sender.link_tracking if request.links is None else request.links
    opens = sender.open_tracking if request.opens is None else request.opens
    if settings.key is None or not (links or opens or sender.unsubscribe_link):
        return None
    return_path = _return_path(settings, sender)
    brand = request.rebrand or sender
    host = brand.tracking_host(settings.track_prefix) or _return_path(settings, brand)
    return Plan(links, opens, sender.unsubscribe_link, settings.base_url(host), return_path)


def _return_path(settings: TrackingSettings, sender: SenderContext) -> str:
    return f"{sender.custom_subdomain or settings.return_path_subdomain}.{sender.domain}"


def placeholder(purpose: Purpose, nonce: str) -> str:
    return f"mgt{purpose.value}{nonce}"


def prepare(
    settings: TrackingSettings,
    plan: Plan,
    message: bytes,
    message_id: uuid.UUID,
    keep: Sequence[str] = (),
) -> bytes | None:
    """The message to store, marked for personalisation; None when nothing was added (no HTML
    part to track, no unsubscribe header to add): it is then signed and stored as it is.
    `keep`: other placeholders in the message (merge tags), never split by a re-encoding; a
    link with one in it is left untracked, to be personalised where it stands."""
    assert settings.key is not None
    nonce = secrets.token_hex(_NONCE_CHARS // 2)
    atoms = {purpose: placeholder(purpose, nonce) for purpose in Purpose}
    new = message
    if (plan.links or plan.opens or plan.unsubscribe) and _HTML.search(message):
        rewrite = functools.partial(_rewrite, settings.key, plan, atoms, message_id, keep)
        new = rewrite_html_parts(message, rewrite, [*atoms.values(), *keep]) or message
    if plan.unsubscribe and not _has_field(message, b"list-unsubscribe"):
        new = unsubscribe_fields(plan, atoms[Purpose.UNSUBSCRIBE]) + new
    if new is message:
        return None
    return MARKER + nonce.encode("ascii") + b"\r\n" + new


def mark(message: bytes) -> bytes:
    """`message` marked for personalisation with no tracking placeholder in it (a campaign's
    message that tracking left as it was: its copies still differ by recipient)."""
    nonce = secrets.token_hex(_NONCE_CHARS // 2)
    return MARKER + nonce.encode("ascii") + b"\r\n" + message


def _rewrite(
    key: bytes,
    plan: Plan,
    atoms: dict[Purpose, str],
    message_id: uuid.UUID,
    keep: Sequence[str],
    source: str,
) -> str:
    """One HTML part: links to click URLs, the unsubscribe tag's links to the unsubscribe page
    (or, without the tag, a footer with that link), the open pixel."""
    unsubscribe = f"{plan.base_url}/u/{atoms[Purpose.UNSUBSCRIBE]}"

    def link(url: str) -> str | None:
        if url == UNSUBSCRIBE_TAG:
            return unsubscribe if plan.unsubscribe else None
        if not plan.links or any(word in url for word in keep):
            return None
        return _click_url(key, plan, atoms[Purpose.CLICK], message_id, url)

    footer = None
    if plan.unsubscribe and UNSUBSCRIBE_TAG not in source:
        footer = FOOTER.format(url=unsubscribe)
    pixel = f"{plan.base_url}/t/o/{atoms[Purpose.OPEN]}" if plan.opens else None
    return rewrite_html(source, link, pixel, footer)


def _click_url(key: bytes, plan: Plan, atom: str, message_id: uuid.UUID, url: str) -> str | None:
    """The tracking URL of one link: http(s) links only, and never our own URLs (the
    unsubscribe page)."""
    if not url.lower().startswith(_HTTP) or len(url) > MAX_LINK:
        return None
    if url.startswith(plan.base_url + "/"):
        return None
    return f"{plan.base_url}/t/c/{atom}.{link_part(key, message_id, url)}"


def unsubscribe_fields(plan: Plan, atom: str) -> bytes:
    return (
        f"List-Unsubscribe: <{plan.base_url}/u/{atom}>,\r\n"
        f" <mailto:unsubscribe+{atom}@{plan.return_path}>\r\n"
    ).encode("ascii") + ONE_CLICK


def _has_field(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0]
    return any(line.lower().startswith(name + b":") for line in head.split(b"\r\n"))


def needs_personalising(raw: bytes) -> bool:
    """Only the submission path writes the first line of a stored message, so a message that
    starts with the marker was marked by it (a client's header never comes first)."""
    return raw.startswith(MARKER)


def personalise(raw: bytes, delivery_id: int, key: bytes) -> bytes:
    """The copy of a marked message for one delivery: the marker removed, each placeholder
    replaced by that delivery's token for its purpose. To be signed before it is sent."""
    end = raw.index(b"\r\n")
    nonce = raw[len(MARKER) : end].decode("ascii")
    message = raw[end + 2 :]
    for purpose in Purpose:
        token = recipient_token(key, purpose, delivery_id)
        message = message.replace(placeholder(purpose, nonce).encode(), token.encode())
    return message
