"""Secrets that every node sharing a database must hold alike, checked through the database.

The database keeps a fingerprint of each (an HMAC under the secret itself, so it reveals
nothing), never the secret: the first node to record one sets it, and any node holding another
learns so before it serves, instead of answering 401 to signatures the other nodes accept.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from storage.dialects import dialect_insert
from storage.engine import Database
from storage.models import ClusterSecret, utcnow

_LABEL = b"mailgate cluster secret fingerprint v1"


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, _LABEL, hashlib.sha256).hexdigest()


class Agreement(enum.Enum):
    RECORDED = "recorded"  # the database had none; this secret is now the cluster's
    SAME = "same"  # the database holds this secret's fingerprint
    DIFFERENT = "different"  # the database holds another secret's fingerprint


_FINGERPRINT = select(ClusterSecret.fingerprint).where(ClusterSecret.name == bindparam("name"))


async def recorded_fingerprint(db: Database, name: str) -> str | None:
    return await db.scalar(_FINGERPRINT, {"name": name})


async def agree(db: Database, name: str, secret: bytes) -> Agreement:
    """Record `secret`'s fingerprint under `name` unless one is recorded, and say whether the
    recorded one is this secret's. Two nodes racing on a new database: one records, the other
    is told DIFFERENT (the insert does nothing on conflict, then both read the same row)."""
    mine = fingerprint(secret)

    def work(conn: Connection) -> tuple[int, str | None]:
        insert = dialect_insert(conn)(ClusterSecret).values(
            name=name, fingerprint=mine, recorded_at=utcnow()
        )
        inserted = conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
        return int(inserted.rowcount), conn.scalar(_FINGERPRINT, {"name": name})

    inserted, stored = await db.write(work)
    if not hmac.compare_digest(str(stored), mine):
        return Agreement.DIFFERENT
    return Agreement.RECORDED if inserted == 1 else Agreement.SAME


async def replace(db: Database, name: str, secret: bytes) -> None:
    """Make `secret` the cluster's, whatever was recorded: for an operator who lost every copy
    of the old one and accepts what was derived from it stops working."""

    def work(conn: Connection) -> None:
        conn.execute(ClusterSecret.__table__.delete().where(ClusterSecret.name == name))
        conn.execute(
            ClusterSecret.__table__.insert().values(
                name=name, fingerprint=fingerprint(secret), recorded_at=utcnow()
            )
        )

    await db.write(work)
