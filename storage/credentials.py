"""SMTP credentials: a username and an argon2-hashed password, bound to one sender domain."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from storage.domains import NotFound
from storage.engine import Database
from storage.models import SenderDomain, SmtpCredential, utcnow
from storage.password_checks import PASSWORD_CHECKS, PasswordChecks
from storage.tokens import hash_password, new_password


@dataclass(frozen=True)
class NewCredential:
    credential_id: int
    username: str
    password: str


async def add_credential(db: Database, domain_id: int) -> NewCredential:
    """Create credentials for a domain; the password is returned here once, stored hashed."""
    password = new_password()
    password_hash = await asyncio.to_thread(hash_password, password)
    username = f"smtp_{domain_id}_{secrets.token_hex(5)}"

    def work(conn: Connection) -> int:
        if conn.scalar(select(SenderDomain.id).where(SenderDomain.id == domain_id)) is None:
            raise NotFound(f"no sender domain {domain_id}")
        inserted = conn.execute(
            SmtpCredential.__table__.insert()
            .values(domain_id=domain_id, username=username, password_hash=password_hash)
            .returning(SmtpCredential.id)
        )
        return int(inserted.scalar_one())

    return NewCredential(await db.write(work), username, password)


@dataclass(frozen=True)
class AuthenticatedCredential:
    credential_id: int
    username: str
    domain_id: int


_BY_USERNAME = select(
    SmtpCredential.id,
    SmtpCredential.domain_id,
    SmtpCredential.password_hash,
    SmtpCredential.last_used_at,
).where(SmtpCredential.username == bindparam("username"))

# How stale `last_used_at` may be: a credential used all day long is written once a minute, not
# at every AUTH.
LAST_USED_PRECISION = timedelta(minutes=1)


async def authenticate(
    db: Database, username: str, password: str, checks: PasswordChecks = PASSWORD_CHECKS
) -> AuthenticatedCredential | None:
    """Check a username and password. The argon2 verification runs in `checks`' bounded pool
    (it may raise VerificationBusy), and a success is remembered there for a few seconds; an
    unknown username costs as much as a wrong password."""
    row = await db.first(_BY_USERNAME, {"username": username})
    if row is None:
        await checks.verify(None, None, password)
        return None
    if not await checks.verify(f"smtp_credential:{row.id}", row.password_hash, password):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        # Through the writer (on SQLite, the thread that takes turns with the queue's commits).
        used = update(SmtpCredential).where(SmtpCredential.id == row.id).values(last_used_at=now)
        await db.write(lambda conn: conn.execute(used))
    return AuthenticatedCredential(row.id, username, row.domain_id)


@dataclass(frozen=True)
class CredentialView:
    """A credential as listings show it: never its password or the password's hash."""

    credential_id: int
    username: str
    domain_id: int
    created_at: datetime
    last_used_at: datetime | None


def _owned(credential_id: int, user_id: int | None) -> Any:
    """The credential, if it is of one of the user's domains (of any when `user_id` is None:
    the operator)."""
    query = (
        select(SmtpCredential.id, SmtpCredential.username, SmtpCredential.domain_id)
        .join(SenderDomain, SenderDomain.id == SmtpCredential.domain_id)
        .where(SmtpCredential.id == credential_id)
    )
    return query if user_id is None else query.where(SenderDomain.user_id == user_id)


async def list_credentials(db: Database, domain_id: int) -> list[CredentialView]:
    query = (
        select(
            SmtpCredential.id,
            SmtpCredential.username,
            SmtpCredential.domain_id,
            SmtpCredential.created_at,
            SmtpCredential.last_used_at,
        )
        .where(SmtpCredential.domain_id == domain_id)
        .order_by(SmtpCredential.id)
    )
    return [CredentialView(*row) for row in await db.rows(query)]


async def delete_credential(db: Database, credential_id: int, user_id: int | None = None) -> None:
    """Remove a credential of one of the user's domains (any when `user_id` is None); NotFound
    for anyone else's. AUTH with it fails from now on; a session that authenticated before
    may go on sending."""

    def work(conn: Connection) -> None:
        if conn.execute(_owned(credential_id, user_id)).first() is None:
            raise NotFound(f"no SMTP credential {credential_id}")
        conn.execute(SmtpCredential.__table__.delete().where(SmtpCredential.id == credential_id))

    await db.write(work)


async def reset_password(db: Database, credential_id: int, user_id: int) -> NewCredential:
    """A new generated password, shown once; the old one stops working at once."""
    password = new_password()
    password_hash = await asyncio.to_thread(hash_password, password)

    def work(conn: Connection) -> str:
        row = conn.execute(_owned(credential_id, user_id)).first()
        if row is None:
            raise NotFound(f"no SMTP credential {credential_id}")
        conn.execute(
            update(SmtpCredential)
            .where(SmtpCredential.id == credential_id)
            .values(password_hash=password_hash)
        )
        return str(row.username)

    return NewCredential(credential_id, await db.write(work), password)
