"""Subscriber states that follow what happened to the mail (003's status codes): when an event is
recorded (storage.event_log.record_events), the recipient's subscribers on the lists of the
event's account change state, in the event's transaction.

- a hard bounce about the address (one that suppresses it; not a block of the message): 8;
- a soft bounce that makes the address suppressed (several in a row, storage/feedback.py): 5
  (soft bounce), set where that decision is made, with `mark`;
- an unsubscribe: 4 (resigned);
- a complaint: 4 (resigned). 003 has no complaint state; the recipient has said, more loudly
  than by unsubscribing, that the mail is unwanted, and the address is suppressed as for an
  unsubscribe, so resigned is the nearest state.

A resigned subscriber stays resigned (the recipient's own wish outlasts what servers say), and a
soft bounce does not undo a hard one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from storage.event_names import EventType
from storage.event_payloads import is_bad_address
from storage.models import Subscriber, SubscriberList, SubscriberState, utcnow
from storage.suppressions import normalize_address

# The states each automatic change leaves as they are.
_KEPT = {
    SubscriberState.RESIGNED: [SubscriberState.RESIGNED],
    SubscriberState.HARD_BOUNCE: [SubscriberState.RESIGNED, SubscriberState.HARD_BOUNCE],
    SubscriberState.SOFT_BOUNCE: [
        SubscriberState.RESIGNED,
        SubscriberState.HARD_BOUNCE,
        SubscriberState.SOFT_BOUNCE,
    ],
}
_BY_TYPE: dict[str, SubscriberState] = {
    EventType.UNSUBSCRIBED: SubscriberState.RESIGNED,
    EventType.COMPLAINED: SubscriberState.RESIGNED,
}

# By address (ix_subscribers_email), on the account's lists only.
_UPDATE = (
    update(Subscriber)
    .where(
        Subscriber.email.in_(bindparam("b_emails", expanding=True)),
        Subscriber.list_id.in_(
            select(SubscriberList.id).where(SubscriberList.user_id == bindparam("b_user"))
        ),
        Subscriber.state.not_in(bindparam("b_kept", expanding=True)),
    )
    .values(state=bindparam("b_state"), updated_at=bindparam("b_now"))
    .execution_options(synchronize_session=False)
)


def state_after(event: Mapping[str, Any]) -> SubscriberState | None:
    """The state an event moves its recipient's subscribers to, if any."""
    kind = event.get("type")
    data = event.get("data") or {}
    if kind == EventType.BOUNCED and is_bad_address(data):
        return SubscriberState.HARD_BOUNCE  # the address is bad, not the message (a spam block)
    return _BY_TYPE.get(str(kind))


def follow_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Move the subscribers the events are about: one UPDATE per account and state."""
    changes: dict[tuple[int, SubscriberState], set[str]] = {}
    for event in events:
        state = state_after(event)
        user_id, recipient = event.get("user_id"), event.get("recipient")
        if state is not None and user_id is not None and recipient:
            changes.setdefault((user_id, state), set()).add(normalize_address(recipient))
    for (user_id, state), addresses in changes.items():
        mark(conn, user_id, addresses, state)


def mark(conn: Connection, user_id: int, addresses: Iterable[str], state: SubscriberState) -> int:
    """Set `state` on the subscribers with these addresses on the account's lists (those in a
    state it must not override aside); returns how many changed."""
    params = {
        "b_emails": sorted({normalize_address(address) for address in addresses}),
        "b_user": user_id,
        "b_kept": [int(kept) for kept in _KEPT[state]],
        "b_state": int(state),
        "b_now": utcnow(),
    }
    return int(conn.execute(_UPDATE, params).rowcount)
