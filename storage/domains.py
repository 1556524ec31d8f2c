"""Sender domains: creation with their DKIM key, status changes, and lookups for the SMTP path."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storage.accounts import AlreadyExists
from storage.engine import Database, changed_rows
from storage.models import (
    DomainStatus,
    InboundRelayDomain,
    SenderDomain,
    User,
    UserStatus,
    utcnow,
)
from storage.queue_admin import fail_domain_mail
from storage.tokens import new_signing_key

DKIM_KEY_BITS = 2048


class LimitReached(Exception):
    """The user may not have more sender domains."""


class NotFound(Exception):
    """No such object, or it belongs to someone else."""


def new_dkim_key() -> str:
    """A fresh RSA-2048 private key in PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=DKIM_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def new_selector() -> str:
    return "mg" + secrets.token_hex(4)


def return_path_domain(domain: SenderDomain, default_subdomain: str) -> str:
    return f"{domain.custom_subdomain or default_subdomain}.{domain.name}"


async def add_domain(
    db: Database,
    user_id: int,
    name: str,
    default_subdomain: str,
    custom_subdomain: str | None = None,
    custom_track_prefix: str | None = None,
    track_merge: str | None = None,
    track_prefix_disabled: bool = False,
) -> SenderDomain:
    """Create a domain in `Approval Pending` with its DKIM key and return-path relay domain."""
    name = name.strip().lower().rstrip(".")
    # RSA key generation takes tens of milliseconds: in a thread, and before the transaction
    # (on SQLite its write lock would hold back every queue commit meanwhile).
    private_key = await asyncio.to_thread(new_dkim_key)

    def work(conn: Connection) -> SenderDomain:
        # A write to the user's row comes first: it takes the row lock on PostgreSQL and the write
        # lock on SQLite (where a SELECT ... FOR UPDATE means nothing), so concurrent adds for one
        # user run one after another and the domain limit holds.
        user = conn.execute(
            update(User)
            .where(User.id == user_id)
            .values(id=User.id)
            .returning(User.max_sender_domains)
        ).first()
        if user is None:
            raise NotFound(f"no user {user_id}")
        count = conn.scalar(
            select(func.count()).select_from(SenderDomain).where(SenderDomain.user_id == user_id)
        )
        if (count or 0) >= user.max_sender_domains:
            raise LimitReached(f"user {user_id} has reached {user.max_sender_domains} domains")
        if conn.scalar(select(SenderDomain.id).where(SenderDomain.name == name)):
            raise AlreadyExists(f"sender domain {name} exists")
        values = {
            "user_id": user_id,
            "name": name,
            "status": DomainStatus.APPROVAL_PENDING,
            # Stated here, not left to column defaults, so the returned object is complete.
            "link_tracking": True,
            "open_tracking": True,
            "unsubscribe_link": False,
            "custom_subdomain": custom_subdomain,
            "custom_track_prefix": custom_track_prefix,
            "track_merge": track_merge,
            "track_prefix_disabled": track_prefix_disabled,
            "dkim_selector": new_selector(),
            "dkim_private_key": private_key,
            "webhook_signing_key": new_signing_key(),
        }
        try:
            domain_id = conn.execute(
                SenderDomain.__table__.insert().values(**values).returning(SenderDomain.id)
            ).scalar_one()
        except IntegrityError:  # the same name added at the same moment by someone else
            raise AlreadyExists(f"sender domain {name} exists") from None
        domain = SenderDomain(id=domain_id, **values)
        conn.execute(
            InboundRelayDomain.__table__.insert().values(
                name=return_path_domain(domain, default_subdomain), sender_domain_id=domain_id
            )
        )
        return domain

    return await db.write(work)


async def get_domain(db: Database, domain_id: int, user_id: int | None = None) -> SenderDomain:
    """The domain, if it exists and (when `user_id` is given) belongs to that user."""
    query = select(SenderDomain).where(SenderDomain.id == domain_id)
    if user_id is not None:
        query = query.where(SenderDomain.user_id == user_id)
    row = await db.first(query)
    if row is None:
        raise NotFound(f"no sender domain {domain_id}")
    return SenderDomain(**row._mapping)


async def set_domain_status(db: Database, domain_id: int, status: DomainStatus) -> None:
    statement = update(SenderDomain).where(SenderDomain.id == domain_id).values(status=status)
    if await changed_rows(db, statement) != 1:
        raise NotFound(f"no sender domain {domain_id}")


@dataclass(frozen=True)
class SenderContext:
    """What the submission path needs to know about a sender domain and its owner."""

    domain_id: int
    domain: str
    domain_status: DomainStatus
    user_id: int
    user_status: UserStatus
    user_trusted: bool
    dkim_selector: str
    dkim_private_key: str
    send_limit_hourly: int | None = None  # recipients per hour / day; None for no limit
    send_limit_daily: int | None = None
    # What message assembly adds (tracking, List-Unsubscribe) and the names it uses.
    link_tracking: bool = False
    open_tracking: bool = False
    unsubscribe_link: bool = False
    custom_subdomain: str | None = None
    custom_track_prefix: str | None = None
    track_merge: str | None = None
    track_prefix_disabled: bool = False

    def tracking_host(self, default_prefix: str) -> str | None:
        return _tracking_host(
            self.domain,
            self.custom_track_prefix,
            self.track_merge,
            self.track_prefix_disabled,
            default_prefix,
        )


_CONTEXT_COLUMNS = (
    SenderDomain.id,
    SenderDomain.name,
    SenderDomain.status,
    SenderDomain.user_id,
    User.status,
    User.trusted,
    SenderDomain.dkim_selector,
    SenderDomain.dkim_private_key,
    User.send_limit_hourly,
    User.send_limit_daily,
    SenderDomain.link_tracking,
    SenderDomain.open_tracking,
    SenderDomain.unsubscribe_link,
    SenderDomain.custom_subdomain,
    SenderDomain.custom_track_prefix,
    SenderDomain.track_merge,
    SenderDomain.track_prefix_disabled,
)


_SENDER_BY_ID = select(*_CONTEXT_COLUMNS).join(User).where(SenderDomain.id == bindparam("id"))
_SENDER_BY_NAMES = (
    select(*_CONTEXT_COLUMNS)
    .join(User)
    .where(SenderDomain.name.in_(bindparam("names", expanding=True)))
)
_RELAY_DOMAIN = (
    select(InboundRelayDomain.id).where(InboundRelayDomain.name == bindparam("name")).limit(1)
)


async def sender_by_domain_id(db: Database, domain_id: int) -> SenderContext | None:
    row = await db.first(_SENDER_BY_ID, {"id": domain_id})
    return SenderContext(*row) if row else None


def parent_domains(name: str) -> list[str]:
    """`a.b.example.com` -> [`a.b.example.com`, `b.example.com`, `example.com`, `com`]."""
    labels = name.lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


async def sender_for_address_domain(db: Database, name: str) -> SenderContext | None:
    """The registered sender domain that `name` is, or is a subdomain of (the closest one)."""
    rows = await db.rows(_SENDER_BY_NAMES, {"names": parent_domains(name)})
    if not rows:
        return None
    closest = max(rows, key=lambda row: len(row[1]))
    return SenderContext(*closest)


_FIRST_ENABLED = (
    select(SenderDomain.id)
    .where(
        SenderDomain.user_id == bindparam("user_id"), SenderDomain.status == DomainStatus.ENABLED
    )
    .order_by(SenderDomain.id)
    .limit(1)
)


async def first_enabled_domain_id(db: Database, user_id: int) -> int | None:
    """The account's oldest Enabled sender domain: what mail the gateway sends on the
    account's behalf (subscription confirmations) is sent from."""
    found = await db.scalar(_FIRST_ENABLED, {"user_id": user_id})
    return None if found is None else int(found)


async def is_inbound_relay_domain(db: Database, name: str) -> bool:
    return await db.scalar(_RELAY_DOMAIN, {"name": name.lower()}) is not None


async def list_domains(db: Database, user_id: int | None = None) -> list[SenderDomain]:
    """The user's sender domains (every user's when `user_id` is None), oldest first."""
    query = select(SenderDomain).order_by(SenderDomain.id)
    if user_id is not None:
        query = query.where(SenderDomain.user_id == user_id)
    return [SenderDomain(**row._mapping) for row in await db.rows(query)]


DELETED_DOMAIN_REASON = "the sender domain was deleted"


async def delete_domain(db: Database, domain_id: int, user_id: int | None = None) -> int:
    """Remove a domain (a user's, or any when `user_id` is None: the operator) with its keys,
    SMTP credentials, webhooks, domain suppressions and return-path relay domain (by cascade),
    and mark its pending mail failed in the same transaction: mail is not sent for a domain
    that no longer exists. Its messages and events stay, without the domain, for the
    statistics. Returns how many pending recipients were failed."""
    this = [SenderDomain.id == domain_id]
    if user_id is not None:
        this.append(SenderDomain.user_id == user_id)

    def work(conn: Connection) -> int:
        # A write first, so that SQLite's write lock is held from here on; on PostgreSQL, FOR
        # UPDATE waits for messages being queued for the domain now and holds back new ones.
        found = conn.execute(update(SenderDomain).where(*this).values(id=SenderDomain.id))
        if found.rowcount != 1:
            raise NotFound(f"no sender domain {domain_id}")
        conn.execute(select(SenderDomain.id).where(*this).with_for_update())
        failed = fail_domain_mail(conn, domain_id, DELETED_DOMAIN_REASON)
        conn.execute(SenderDomain.__table__.delete().where(*this))
        return failed

    return await db.write(work)


@dataclass(frozen=True)
class DomainChanges:
    """What `updatedomain` may change; None leaves a field as it is, "" resets an override."""

    link_tracking: bool | None = None
    open_tracking: bool | None = None
    unsubscribe_link: bool | None = None
    hosting_provider: str | None = None
    custom_subdomain: str | None = None
    custom_track_prefix: str | None = None
    track_merge: str | None = None
    track_prefix_disabled: bool | None = None


async def update_domain(
    db: Database,
    domain_id: int,
    user_id: int,
    changes: DomainChanges,
    default_subdomain: str,
) -> tuple[SenderDomain, bool]:
    """Apply `changes`; returns the domain and whether its return-path subdomain changed (the
    relay domain row follows it, so bounces to the new name are accepted)."""
    values = {
        name: (None if value == "" else value)
        for name, value in vars(changes).items()
        if value is not None
    }

    def work(conn: Connection) -> tuple[SenderDomain, bool]:
        row = conn.execute(
            select(SenderDomain).where(
                SenderDomain.id == domain_id, SenderDomain.user_id == user_id
            )
        ).first()
        if row is None:
            raise NotFound(f"no sender domain {domain_id}")
        before = SenderDomain(**row._mapping)
        if values:
            conn.execute(update(SenderDomain).where(SenderDomain.id == domain_id).values(**values))
        after = SenderDomain(**{**row._mapping, **values})
        old_name = return_path_domain(before, default_subdomain)
        new_name = return_path_domain(after, default_subdomain)
        if new_name != old_name:
            conn.execute(
                update(InboundRelayDomain)
                .where(InboundRelayDomain.sender_domain_id == domain_id)
                .values(name=new_name)
            )
        return after, new_name != old_name

    return await db.write(work)


async def enabled_domain_names(db: Database) -> list[str]:
    """Every Enabled sender domain (what may send through the gateway), by name."""
    query = (
        select(SenderDomain.name)
        .where(SenderDomain.status == DomainStatus.ENABLED)
        .order_by(SenderDomain.name)
    )
    return [name for (name,) in await db.rows(query)]


async def relay_domain_names(db: Database) -> list[str]:
    """Every inbound relay (return-path) domain: where bounces for our mail arrive."""
    query = select(InboundRelayDomain.name).order_by(InboundRelayDomain.name)
    return [name for (name,) in await db.rows(query)]


def tracking_host(domain: SenderDomain, default_prefix: str) -> str | None:
    """`links.example.com` (prefix, merge character, domain), or None when the domain's
    tracking uses the return-path domain instead (`TrackPrefixDisabled`)."""
    return _tracking_host(
        domain.name,
        domain.custom_track_prefix,
        domain.track_merge,
        domain.track_prefix_disabled,
        default_prefix,
    )


def _tracking_host(
    name: str, prefix: str | None, merge: str | None, disabled: bool, default_prefix: str
) -> str | None:
    if disabled:
        return None
    return f"{prefix or default_prefix}{merge or '.'}{name}"


async def record_verification(
    db: Database, domain_id: int, results: dict[str, Any], verified: bool
) -> SenderDomain:
    """Store a DNS check; a pending domain whose required records all hold becomes Enabled
    (an Enabled or Disabled domain keeps its status: checks never disable mail on their own).
    Returns the domain as it is stored now."""
    values: dict[str, Any] = {"dns_results": results}
    this = SenderDomain.id == domain_id

    def work(conn: Connection) -> SenderDomain:
        status = conn.scalar(select(SenderDomain.status).where(this))
        if verified:
            values["verified_at"] = utcnow()
            if status == DomainStatus.APPROVAL_PENDING:
                values["status"] = DomainStatus.ENABLED
        conn.execute(update(SenderDomain).where(this).values(**values))
        return SenderDomain(**conn.execute(select(SenderDomain).where(this)).one()._mapping)

    return await db.write(work)
