"""The suppression list: addresses that must not be mailed, per account, per domain or globally."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select, true
from sqlalchemy.engine import Connection

from storage.dialects import dialect_insert
from storage.engine import Database
from storage.models import DeadDomain, SenderDomain, Suppression, SuppressionScope

# Entries an account added itself (003's /rest/subscriber/addBlocks): the only ones it may take
# off again (removeBlocks). Bounces, complaints and unsubscribes have sources of their own.
BLOCK_REASON = "blocked"
BLOCK_SOURCE = "api-block"


def normalize_address(address: str) -> str:
    return address.strip().lower()


async def add_suppression(
    db: Database,
    address: str,
    reason: str,
    source: str,
    user_id: int | None = None,
    sender_domain_id: int | None = None,
) -> bool:
    """Suppress `address` in the narrowest scope given; False when it was suppressed already."""
    return await db.write(
        lambda conn: suppress(conn, address, reason, source, user_id, sender_domain_id)
    )


# Bounce reasons (mta/feedback/reasons.py) about the recipient's domain rather than its mailbox.
DOMAIN_REASONS = frozenset({"hostunknown", "notaccept"})
# A domain without mail service suppresses its addresses only when seen so twice at least this
# far apart: one lookup can meet a DNS outage or a domain not yet set up. A sighting older than
# FORGET_DEAD_DOMAIN starts the count again.
DEAD_DOMAIN_SPAN = timedelta(hours=1)
FORGET_DEAD_DOMAIN = timedelta(days=7)


def seen_dead_long_enough(conn: Connection, address: str, now: datetime) -> bool:
    """Record that the address's domain has no mail service now; whether it was already seen so
    at least DEAD_DOMAIN_SPAN ago (and since then within FORGET_DEAD_DOMAIN)."""
    domain = normalize_address(address).rpartition("@")[2]
    seen = conn.execute(
        select(DeadDomain.first_seen_at, DeadDomain.last_seen_at).where(DeadDomain.domain == domain)
    ).first()
    first = (
        now if seen is None or now - seen.last_seen_at > FORGET_DEAD_DOMAIN else seen.first_seen_at
    )
    insert = dialect_insert(conn)
    conn.execute(
        insert(DeadDomain)
        .values(domain=domain, first_seen_at=first, last_seen_at=now)
        .on_conflict_do_update(
            index_elements=[DeadDomain.domain],
            set_={"first_seen_at": first, "last_seen_at": now},
        )
    )
    return now - first >= DEAD_DOMAIN_SPAN


def suppress(
    conn: Connection,
    address: str,
    reason: str,
    source: str,
    user_id: int | None = None,
    sender_domain_id: int | None = None,
) -> bool:
    """`add_suppression` inside a caller's transaction (delivery outcomes, bounce reports).

    The INSERT does nothing when the entry exists, even when a concurrent transaction has just
    added it: the unique index decides, not a SELECT."""
    if sender_domain_id is not None:
        scope = SuppressionScope.DOMAIN
    elif user_id is not None:
        scope = SuppressionScope.ACCOUNT
    else:
        scope = SuppressionScope.GLOBAL
    insert = dialect_insert(conn)
    statement = (
        insert(Suppression)
        .values(
            address=normalize_address(address),
            scope=scope,
            user_id=user_id,
            sender_domain_id=sender_domain_id,
            reason=reason,
            source=source,
        )
        .on_conflict_do_nothing()
        .returning(Suppression.id)
    )
    return conn.execute(statement).first() is not None


def suppressed_for(address: Any, user_id: Any, sender_domain_id: Any) -> ColumnElement[bool]:
    """Suppression rows that stop mail to `address` from this sender: global, the account's,
    or the sender domain's (values or SQL expressions: the RCPT check binds them, a campaign
    batch tests each subscriber of its window)."""
    return and_(
        Suppression.address == address,
        or_(
            Suppression.scope == SuppressionScope.GLOBAL,
            and_(Suppression.scope == SuppressionScope.ACCOUNT, Suppression.user_id == user_id),
            and_(
                Suppression.scope == SuppressionScope.DOMAIN,
                Suppression.sender_domain_id == sender_domain_id,
            ),
        ),
    )


# Built once: the hot path (every RCPT) only binds values.
_REASON = (
    select(Suppression.reason)
    .where(suppressed_for(bindparam("address"), bindparam("user_id"), bindparam("domain_id")))
    .limit(1)
)


async def suppression_reason(
    db: Database, address: str, user_id: int | None, sender_domain_id: int | None
) -> str | None:
    """Why `address` is suppressed for this sender (global, account or domain), or None."""
    params = {
        "address": normalize_address(address),
        "user_id": user_id,
        "domain_id": sender_domain_id,
    }
    return await db.scalar(_REASON, params)


async def block(db: Database, user_id: int, addresses: Sequence[str]) -> int:
    """Add `addresses` to the account's suppression list as its own blocks, in one transaction;
    returns how many were not on it already (for whatever reason they were)."""
    return await db.write(
        lambda conn: sum(
            suppress(conn, address, BLOCK_REASON, BLOCK_SOURCE, user_id) for address in addresses
        )
    )


async def unblock(db: Database, user_id: int, addresses: Sequence[str]) -> int:
    """Take `addresses` off the account's suppression list where the account blocked them
    itself; entries a bounce, complaint or unsubscribe made stay. Returns how many went."""
    return await _remove(
        db,
        Suppression.scope == SuppressionScope.ACCOUNT,
        Suppression.user_id == user_id,
        Suppression.source == BLOCK_SOURCE,
        Suppression.address.in_(sorted({normalize_address(a) for a in addresses})),
    )


async def _remove(db: Database, *conditions: ColumnElement[bool]) -> int:
    statement = delete(Suppression).where(*conditions).returning(Suppression.id)
    return await db.write(lambda conn: len(conn.execute(statement).all()))


def of_account(user_id: int) -> ColumnElement[bool]:
    """Entries an account owns: its own and its sender domains'. Never a global entry (an
    operator's), nor another account's."""
    return or_(
        and_(Suppression.scope == SuppressionScope.ACCOUNT, Suppression.user_id == user_id),
        and_(
            Suppression.scope == SuppressionScope.DOMAIN,
            Suppression.sender_domain_id.in_(
                select(SenderDomain.id).where(SenderDomain.user_id == user_id)
            ),
        ),
    )


@dataclass(frozen=True)
class SuppressionFilter:
    """Which entries a listing shows. `user_id` None is an operator's view: every account's
    entries and the global ones; an account's view (an API caller) always names its account."""

    user_id: int | None = None
    address: str | None = None
    reason: str | None = None
    start: int = 0
    count: int = 100


@dataclass(frozen=True)
class SuppressionRow:
    address: str
    scope: SuppressionScope
    user_id: int | None
    sender_domain_id: int | None
    sender_domain: str | None
    reason: str
    source: str
    created_at: datetime


def _conditions(selection: SuppressionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if selection.user_id is not None:
        conditions.append(of_account(selection.user_id))
    if selection.address:
        conditions.append(Suppression.address == normalize_address(selection.address))
    if selection.reason:
        conditions.append(Suppression.reason == selection.reason)
    return conditions


async def list_suppressions(
    db: Database, selection: SuppressionFilter
) -> tuple[int, list[SuppressionRow]]:
    """(how many entries match, the page asked for), newest first."""
    conditions = _conditions(selection)
    total = select(func.count()).select_from(Suppression).where(*conditions)
    page = (
        select(
            Suppression.address,
            Suppression.scope,
            Suppression.user_id,
            Suppression.sender_domain_id,
            SenderDomain.name.label("sender_domain"),
            Suppression.reason,
            Suppression.source,
            Suppression.created_at,
        )
        .outerjoin(SenderDomain, SenderDomain.id == Suppression.sender_domain_id)
        .where(*conditions)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .offset(selection.start)
        .limit(selection.count)
    )
    counted, rows = await db.read(  # the count and the page in one snapshot, one hop
        lambda conn: (int(conn.scalar(total) or 0), conn.execute(page).all())
    )
    return counted, [SuppressionRow(**row._mapping) for row in rows]


async def remove_suppression(db: Database, address: str, user_id: int | None = None) -> int:
    """Take `address` off the suppression list, whatever suppressed it: an account's own and
    its domains' entries (`user_id`), or every entry, global ones included (an operator, with
    None). Returns how many entries went; mail to it is accepted at once (RCPT reads the table,
    uncached)."""
    owned = true() if user_id is None else of_account(user_id)
    return await _remove(db, Suppression.address == normalize_address(address), owned)
