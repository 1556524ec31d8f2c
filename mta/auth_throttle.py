"""Slowing and then refusing clients that keep failing SMTP AUTH (password guessing).

After a few failures from one address each further failure is answered more slowly (a tarpit,
like Postfix's smtpd_error_sleep_time); after `limit` failures within the window the address is
refused for `lockout` seconds. Counts are kept per process, in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

FREE_FAILURES = 2
MAX_DELAY = 5.0


@dataclass
class _Record:
    failures: int = 0
    first_failure: float = 0.0
    locked_until: float = 0.0


@dataclass
class AuthThrottle:
    limit: int
    lockout: float
    delay_step: float
    clock: object = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict)

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator, no-any-return]

    def is_locked(self, ip: str) -> bool:
        record = self._records.get(ip)
        return record is not None and record.locked_until > self._now()

    def failed(self, ip: str) -> float:
        """Record a failure; returns how long to wait before answering it."""
        now = self._now()
        record = self._records.get(ip)
        if record is None or now - record.first_failure > self.lockout:
            record = self._records[ip] = _Record(first_failure=now)
        record.failures += 1
        if record.failures >= self.limit:
            record.locked_until = now + self.lockout
        self._prune(now)
        extra = record.failures - FREE_FAILURES
        return min(MAX_DELAY, extra * self.delay_step) if extra > 0 else 0.0

    def succeeded(self, ip: str) -> None:
        self._records.pop(ip, None)

    def _prune(self, now: float) -> None:
        if len(self._records) < 10_000:
            return
        for ip, record in list(self._records.items()):
            if now - record.first_failure > self.lockout and record.locked_until < now:
                del self._records[ip]
