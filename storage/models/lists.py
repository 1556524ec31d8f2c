"""Subscriber lists, their custom fields, their subscribers and saved segments."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created, intpk, maybe_time


class SubscriberState(enum.IntEnum):
    """The documented subscriber states of /rest/subscriber (003)."""

    ACTIVE = 1
    AWAITING_ACTIVATION = 2
    INACTIVE = 3
    RESIGNED = 4
    SOFT_BOUNCE = 5
    HARD_BOUNCE = 8


class SubscriberList(Base):
    """A subscriber list: `/rest/subscribers_list`, and what campaigns and /api/v1/email's
    ListID / TargetListID name (by `id` or by `hash`)."""

    __tablename__ = "subscriber_lists"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[created]


class ListField(Base):
    """A custom field of a list: its values are the subscribers' `custom_fields` under `tag`."""

    __tablename__ = "list_fields"
    __table_args__ = (UniqueConstraint("list_id", "tag"),)

    id: Mapped[intpk]
    list_id: Mapped[int] = mapped_column(ForeignKey("subscriber_lists.id", ondelete="CASCADE"))
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(64))
    numeric: Mapped[bool] = mapped_column(default=False)  # type 1; 0 is text
    created_at: Mapped[created]


class Subscriber(Base):
    """One address on one list, its state and its custom field values (by tag)."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("list_id", "email"),
        Index("ix_subscribers_list_state", "list_id", "state"),
        Index("ix_subscribers_email", "email"),
        # A list's subscribers in id order: a campaign run queues them in batches after a cursor.
        Index("ix_subscribers_list_id", "list_id", "id"),
    )

    id: Mapped[intpk]
    list_id: Mapped[int] = mapped_column(ForeignKey("subscriber_lists.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    state: Mapped[int] = mapped_column(Integer, default=SubscriberState.AWAITING_ACTIVATION)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[created]
    updated_at: Mapped[maybe_time]
    confirmed_at: Mapped[maybe_time]


class Segment(Base):
    """A saved audience inside one list (REST's "group"): RulesJson criteria, evaluated in SQL
    when a campaign run starts."""

    __tablename__ = "segments"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber_lists.id", ondelete="CASCADE"), index=True
    )
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {operator, rules}
    created_at: Mapped[created]
