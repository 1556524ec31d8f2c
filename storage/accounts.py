"""Users, their API keys, and the gateway's admin key."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storage.engine import Database, changed_rows
from storage.models import ApiKey, KeyKind, LoginSession, SenderDomain, User, UserStatus, utcnow
from storage.tokens import (
    derive_key,
    hash_password,
    new_token,
    rest_secret,
    token_hash,
    token_hint,
    verify_password,
)

USER_KEY_PREFIX = "mg_"
ADMIN_KEY_PREFIX = "mgadmin_"


class AlreadyExists(Exception):
    """The object to create exists already (unique name or address)."""


@dataclass(frozen=True)
class NewUser:
    user_id: int
    api_key: str
    rest_api_key: str
    rest_secret_salt: str = field(repr=False)
    account_hash: str

    def rest_secret(self, server_key: bytes) -> str:
        return account_rest_secret(server_key, self.rest_secret_salt)


REST_SECRET_LABEL = b"mailgate rest secrets v1"


@functools.lru_cache(maxsize=4)
def _rest_key(server_key: bytes) -> bytes:
    return derive_key(server_key, REST_SECRET_LABEL)


def account_rest_secret(server_key: bytes, salt: str) -> str:
    """An account's ApiSecret, from its stored salt and the server's key (derived once)."""
    return rest_secret(_rest_key(server_key), salt)


def new_rest_credentials() -> dict[str, str]:
    """A REST key (32 characters), the salt of its secret, and the account's public hash."""
    return {
        "rest_api_key": secrets.token_hex(16),
        "rest_secret_salt": secrets.token_hex(16),
        "account_hash": secrets.token_hex(5),
    }


async def create_user(
    db: Database,
    email: str,
    password: str | None = None,
    *,
    status: UserStatus = UserStatus.ACTIVE,
    parent_user_id: int | None = None,
    first_name: str = "",
    last_name: str = "",
    company: str = "",
    phone: str = "",
) -> NewUser:
    """Create a user (active unless `status` says otherwise) with one API key, shown here once
    and stored hashed. `parent_user_id`: the primary account a sub account belongs to."""
    email = email.strip().lower()
    # argon2 is slow on purpose: off the event loop, and before the transaction opens.
    password_hash = await asyncio.to_thread(hash_password, password) if password else None
    key = new_token(USER_KEY_PREFIX)
    rest = new_rest_credentials()

    def work(conn: Connection) -> int:
        existing = conn.scalar(select(User.id).where(User.email == email))
        if existing is not None:
            raise AlreadyExists(f"user {email} exists (UserID {existing})")
        try:
            user_id = (
                conn.execute(
                    User.__table__.insert()
                    .values(
                        email=email,
                        password_hash=password_hash,
                        status=status,
                        parent_user_id=parent_user_id,
                        first_name=first_name,
                        last_name=last_name,
                        company=company,
                        phone=phone,
                        **rest,
                    )
                    .returning(User.id)
                )
            ).scalar_one()
        except IntegrityError:  # the same address added at the same moment elsewhere
            raise AlreadyExists(f"user {email} exists") from None
        conn.execute(
            ApiKey.__table__.insert().values(
                kind=KeyKind.USER,
                user_id=user_id,
                key_hash=token_hash(key),
                key_hint=token_hint(key),
                description="created with the user",
            )
        )
        return int(user_id)

    return NewUser(user_id=await db.write(work), api_key=key, **rest)


_USER_BY_EMAIL = select(User.id).where(User.email == bindparam("email")).limit(1)


async def email_taken(db: Database, email: str) -> bool:
    """Whether a user has this address already (compared as create_user stores it)."""
    return await db.scalar(_USER_BY_EMAIL, {"email": email.strip().lower()}) is not None


async def remove_unverified_user(db: Database, user_id: int) -> bool:
    """Undo the creation of an account that was never activated (its keys go with it); an
    active or deactivated account is never removed here."""
    statement = User.__table__.delete().where(
        User.id == user_id, User.status == UserStatus.UNVERIFIED
    )
    return await changed_rows(db, statement) == 1


_ACCOUNT_HASH = select(User.account_hash, User.status).where(User.id == bindparam("id"))


async def account_state(db: Database, user_id: int) -> tuple[str | None, UserStatus] | None:
    """A user's account hash and status, or None when there is no such user."""
    row = await db.first(_ACCOUNT_HASH, {"id": user_id})
    return None if row is None else (row.account_hash, row.status)


async def activate_user(db: Database, user_id: int, account_hash: str) -> bool:
    """UNVERIFIED to ACTIVE for the account with this id and hash; False when it is not an
    account awaiting activation (already active, deactivated, or another account)."""
    statement = (
        update(User)
        .where(
            User.id == user_id,
            User.account_hash == account_hash,
            User.status == UserStatus.UNVERIFIED,
        )
        .values(status=UserStatus.ACTIVE)
    )
    return await changed_rows(db, statement) == 1


@dataclass(frozen=True)
class UserListing:
    """What an operator's list shows of an account: never its password hash or key material."""

    user_id: int
    email: str
    status: UserStatus
    trusted: bool
    permissions: list[str]
    parent_user_id: int | None
    send_limit_hourly: int | None
    send_limit_daily: int | None
    created_at: datetime


_USER_LISTING = select(
    User.id,
    User.email,
    User.status,
    User.trusted,
    User.permissions,
    User.parent_user_id,
    User.send_limit_hourly,
    User.send_limit_daily,
    User.created_at,
).order_by(User.id)


async def list_users(db: Database) -> list[UserListing]:
    """Every account, oldest first."""
    return [UserListing(*row) for row in await db.rows(_USER_LISTING)]


async def set_user_status(db: Database, user_id: int, status: UserStatus) -> bool:
    statement = update(User).where(User.id == user_id).values(status=status)
    return await changed_rows(db, statement) == 1


async def change_permissions(
    db: Database, user_id: int, grant: Iterable[str] = (), revoke: Iterable[str] = ()
) -> list[str] | None:
    """Grant and revoke permissions; returns the user's permissions after, None if no user.
    The row is written first (with its own value) so that it is locked before it is read."""

    def work(conn: Connection) -> list[str] | None:
        touched = conn.execute(
            update(User).where(User.id == user_id).values(permissions=User.permissions)
        )
        if touched.rowcount != 1:
            return None
        held = conn.execute(select(User.permissions).where(User.id == user_id)).scalar()
        after = sorted((set(held or ()) | set(grant)) - set(revoke))
        conn.execute(update(User).where(User.id == user_id).values(permissions=after))
        return after

    return await db.write(work)


async def set_send_limits(
    db: Database, user_id: int, hourly: int | None, daily: int | None
) -> bool:
    """Recipients the user may send per hour and per day (None: no limit); False if no user."""
    statement = (
        update(User)
        .where(User.id == user_id)
        .values(send_limit_hourly=hourly, send_limit_daily=daily)
    )
    return await changed_rows(db, statement) == 1


async def create_admin_key(db: Database) -> str:
    """A new admin key, replacing any earlier one; the caller keeps the only plain copy."""
    key = new_token(ADMIN_KEY_PREFIX, 32)

    def work(conn: Connection) -> None:
        conn.execute(ApiKey.__table__.delete().where(ApiKey.kind == KeyKind.ADMIN))
        conn.execute(
            ApiKey.__table__.insert().values(
                kind=KeyKind.ADMIN,
                key_hash=token_hash(key),
                key_hint=token_hint(key),
                description="admin",
            )
        )

    await db.write(work)
    return key


_ANY_ADMIN_KEY = select(ApiKey.id).where(ApiKey.kind == KeyKind.ADMIN).limit(1)


async def has_admin_key(db: Database) -> bool:
    return await db.scalar(_ANY_ADMIN_KEY) is not None


async def is_admin_key(db: Database, key: str) -> bool:
    """Whether `key` is the admin key, counted as a use of it."""
    statement = (
        update(ApiKey)
        .where(ApiKey.kind == KeyKind.ADMIN, ApiKey.key_hash == token_hash(key))
        .values(last_used_at=utcnow())
    )
    return await changed_rows(db, statement) == 1


_ADMIN_BY_HASH = (
    select(ApiKey.id)
    .where(ApiKey.kind == KeyKind.ADMIN, ApiKey.key_hash == bindparam("key_hash"))
    .limit(1)
)


async def admin_key_is_current(db: Database, key: str) -> bool:
    """Whether `key` is the admin key now, without counting it as a use."""
    return await db.scalar(_ADMIN_BY_HASH, {"key_hash": token_hash(key)}) is not None


async def admin_key_matches(db: Database, key: str) -> bool:
    """A read-only check of the admin key, for hot paths (an MX asks for every message); the
    key is compared by its SHA-256 digest through the unique index."""
    if not key:
        return False
    return await db.scalar(_ADMIN_BY_HASH, {"key_hash": token_hash(key)}) is not None


@dataclass(frozen=True)
class Caller:
    """Who an API request acts for."""

    user_id: int
    status: UserStatus
    permissions: frozenset[str] = frozenset()


_USER_BY_KEY = (
    select(User.id, User.status, User.permissions)
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(ApiKey.kind == KeyKind.USER, ApiKey.key_hash == bindparam("key_hash"))
)
_USER_BY_SESSION = (
    select(User.id, User.status, User.permissions)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(
        LoginSession.token_hash == bindparam("key_hash"),
        LoginSession.expires_at > bindparam("now"),
    )
)


async def caller_for(db: Database, api_key: str = "", session_id: str = "") -> Caller | None:
    """The active user a user API key or an unexpired login session belongs to."""
    for secret, query in ((api_key, _USER_BY_KEY), (session_id, _USER_BY_SESSION)):
        if not secret:
            continue
        row = await db.first(query, {"key_hash": token_hash(secret), "now": utcnow()})
        if row is not None and row.status == UserStatus.ACTIVE:
            return Caller(row.id, row.status, frozenset(row.permissions or ()))
    return None


DOMAIN_KEY_PREFIX = "eg_live_"


@dataclass(frozen=True)
class DomainKey:
    key_id: int
    domain_id: int
    description: str
    shown: str  # the key itself when just created, else its masked hint
    created_at: datetime
    last_used_at: datetime | None


async def create_domain_key(db: Database, domain_id: int, description: str) -> DomainKey:
    """A sender domain's API key (Bearer on /api/v1), shown here once and stored hashed."""
    key = new_token(DOMAIN_KEY_PREFIX)
    insert = (
        ApiKey.__table__.insert()
        .values(
            kind=KeyKind.DOMAIN,
            domain_id=domain_id,
            key_hash=token_hash(key),
            key_hint=token_hint(key),
            description=description[:255],
        )
        .returning(ApiKey.id, ApiKey.created_at)
    )
    row = await db.write(lambda conn: conn.execute(insert).one())
    return DomainKey(row.id, domain_id, description[:255], key, row.created_at, None)


async def list_domain_keys(db: Database, domain_id: int) -> list[DomainKey]:
    query = (
        select(
            ApiKey.id,
            ApiKey.description,
            ApiKey.key_hint,
            ApiKey.created_at,
            ApiKey.last_used_at,
        )
        .where(ApiKey.kind == KeyKind.DOMAIN, ApiKey.domain_id == domain_id)
        .order_by(ApiKey.id)
    )
    return [
        DomainKey(key_id, domain_id, description, hint, created_at, last_used_at)
        for key_id, description, hint, created_at, last_used_at in await db.rows(query)
    ]


async def delete_domain_key(db: Database, key_id: int, user_id: int) -> bool:
    """Delete a key of one of the user's domains; False when there is no such key of theirs."""
    owned = select(SenderDomain.id).where(SenderDomain.user_id == user_id)
    statement = ApiKey.__table__.delete().where(
        ApiKey.id == key_id, ApiKey.kind == KeyKind.DOMAIN, ApiKey.domain_id.in_(owned)
    )
    return await changed_rows(db, statement) == 1


SESSION_PREFIX = "mgs_"


@dataclass(frozen=True)
class NewSession:
    session_id: str
    user_id: int
    expires_at: datetime


_LOGIN = select(User.id, User.status, User.password_hash).where(User.email == bindparam("email"))


async def login(db: Database, email: str, password: str, lifetime: timedelta) -> NewSession | None:
    """A session for an active user whose password matches; None otherwise (an unknown user
    costs as much time as a wrong password)."""
    row = await db.first(_LOGIN, {"email": email.strip().lower()})
    stored = row.password_hash if row is not None else None
    if not await asyncio.to_thread(verify_password, stored, password) or row is None:
        return None
    if row.status != UserStatus.ACTIVE:
        return None
    session_id = new_token(SESSION_PREFIX, 32)
    expires_at = utcnow() + lifetime
    insert = LoginSession.__table__.insert().values(
        user_id=row.id, token_hash=token_hash(session_id), expires_at=expires_at
    )
    await db.write(lambda conn: conn.execute(insert))
    return NewSession(session_id, row.id, expires_at)


async def logout(db: Database, session_id: str) -> bool:
    statement = LoginSession.__table__.delete().where(
        LoginSession.token_hash == token_hash(session_id)
    )
    return await changed_rows(db, statement) == 1


_DOMAIN_BY_KEY = select(ApiKey.domain_id).where(
    ApiKey.kind == KeyKind.DOMAIN, ApiKey.key_hash == bindparam("key_hash")
)


async def domain_for_key(db: Database, key: str) -> int | None:
    """The sender domain a domain API key (`eg_live_...`) belongs to."""
    if not key:
        return None
    return await db.scalar(_DOMAIN_BY_KEY, {"key_hash": token_hash(key)})
