"""The suppression list: addresses that must not be mailed, per account, per domain or globally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import ReturningInsert

from storage.engine import Database
from storage.models import Suppression, SuppressionScope


def normalize_address(address: str) -> str:
    return address.strip().lower()


async def add_suppression(
    engine: AsyncEngine,
    address: str,
    reason: str,
    source: str,
    user_id: int | None = None,
    sender_domain_id: int | None = None,
) -> bool:
    """Suppress `address` in the narrowest scope given; False when it was suppressed already."""
    if sender_domain_id is not None:
        scope = SuppressionScope.DOMAIN
    elif user_id is not None:
        scope = SuppressionScope.ACCOUNT
    else:
        scope = SuppressionScope.GLOBAL
    values = {
        "address": normalize_address(address),
        "scope": scope,
        "user_id": user_id,
        "sender_domain_id": sender_domain_id,
        "reason": reason,
        "source": source,
    }
    async with engine.begin() as conn:
        inserted = await conn.execute(insert_unless_exists(conn.dialect.name, values))
        return inserted.first() is not None


def insert_unless_exists(
    dialect_name: str, values: Mapping[str, Any]
) -> ReturningInsert[tuple[int]]:
    """An INSERT of one entry that does nothing (and returns no row) when the entry exists, even
    when a concurrent transaction has just added it (the unique index decides, not a SELECT)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return insert(Suppression).values(**values).on_conflict_do_nothing().returning(Suppression.id)


# Built once: the hot path (every RCPT) only binds values.
_REASON = (
    select(Suppression.reason)
    .where(
        Suppression.address == bindparam("address"),
        or_(
            Suppression.scope == SuppressionScope.GLOBAL,
            and_(
                Suppression.scope == SuppressionScope.ACCOUNT,
                Suppression.user_id == bindparam("user_id"),
            ),
            and_(
                Suppression.scope == SuppressionScope.DOMAIN,
                Suppression.sender_domain_id == bindparam("domain_id"),
            ),
        ),
    )
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
