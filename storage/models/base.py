"""The declarative base every model shares, its naming convention, and the column types the
models reuse (UTC times, BIGINT ids that are SQLite rowids, enums stored as their values).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Enum, Integer, MetaData, Table, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, mapped_column

# A BIGINT primary key that is still SQLite's autoincrementing rowid.
BigID = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_time(value: datetime | None) -> str | None:
    """A time as the CLI and operator views show it (ISO 8601), or None for no time."""
    return value.isoformat() if value is not None else None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


intpk = Annotated[int, mapped_column(BigID, primary_key=True, autoincrement=True)]


created = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, nullable=False)]


maybe_time = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    if TYPE_CHECKING:
        # Every model here is mapped to a Table (SQLAlchemy types it as any FromClause), so
        # `Model.__table__.insert()` and `.c.<name>.type` type-check without a cast at each use.
        __table__: ClassVar[Table]


def stored_enum(cls: type[enum.Enum]) -> Enum:
    """Store enums by value, as portable strings (no native ENUM types to migrate)."""
    return Enum(
        cls,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        length=32,
        validate_strings=True,
    )
