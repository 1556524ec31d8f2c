"""Per-user sending limits (recipients per hour and per day, `users.send_limit_*`).

The store is asked at most once a second per limited user (one summed index range per window,
counting what every node queued); what this process accepts in between is added locally. So a
limit holds exactly within one process and may be overshot by what other nodes accept within a
second. Users without limits cost nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from storage.domains import SenderContext
from storage.engine import Database
from storage.models import utcnow
from storage.sending import recipients_sent_since

REFRESH_SECONDS = 1.0
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass
class _Sent:
    fetched_at: float
    hour: int
    day: int
    local: int = 0  # accepted here since fetched_at


@dataclass
class SendingLimits:
    db: Database
    _sent: dict[int, _Sent] = field(default_factory=dict)

    async def reserve(self, sender: SenderContext, recipients: int) -> bool:
        """Count `recipients` against the sender's limits; False (nothing counted) when they
        would exceed one."""
        left = await self._left(sender)
        if left is not None:
            if recipients > left:
                return False
            self.note(sender, recipients)
        return True

    async def room(self, sender: SenderContext) -> int | None:
        """How many recipients the sender may still queue now; None without limits. For
        campaigns, which queue in batches and count them with `note`."""
        left = await self._left(sender)
        return None if left is None else max(0, left)

    def note(self, sender: SenderContext, recipients: int) -> None:
        """Count recipients queued outside `reserve` (a campaign's batch)."""
        sent = self._sent.get(sender.user_id)
        if sent is not None:
            sent.local += recipients

    async def _left(self, sender: SenderContext) -> int | None:
        """Recipients left under the tighter of the hourly and daily limits (negative when
        over); None without limits."""
        hourly, daily = sender.send_limit_hourly, sender.send_limit_daily
        if hourly is None and daily is None:
            return None
        sent = await self._current(sender.user_id)
        windows = ((hourly, sent.hour), (daily, sent.day))
        return min(limit - used - sent.local for limit, used in windows if limit is not None)

    def release(self, sender: SenderContext, recipients: int) -> None:
        """Give back a reservation whose message was not queued after all."""
        sent = self._sent.get(sender.user_id)
        if sent is not None:
            sent.local = max(0, sent.local - recipients)

    async def _current(self, user_id: int) -> _Sent:
        now = time.monotonic()
        sent = self._sent.get(user_id)
        if sent is None or now - sent.fetched_at >= REFRESH_SECONDS:
            wall = utcnow()
            hour = await recipients_sent_since(self.db, user_id, wall - HOUR)
            day = await recipients_sent_since(self.db, user_id, wall - DAY)
            sent = self._sent[user_id] = _Sent(now, hour, day)
        return sent
