"""Requests per key per window on /api/v1 (`api_rate_limit`, `N/SECONDS`), answered with 429
and Retry-After beyond it. One HTTP worker process serves the API, so a counter in memory is
exact; a fixed window keeps it O(1) per request."""

from __future__ import annotations

import hashlib
import time

from starlette.responses import JSONResponse, Response


class RateLimiter:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._windows: dict[str, tuple[float, int]] = {}

    def retry_after(self, key: str) -> float | None:
        """None when this request may go ahead; else the seconds until the window resets."""
        if not self.limit:
            return None
        now = time.monotonic()
        # Keys are held as digests: no secret lingers in memory longer than the request.
        slot = hashlib.sha256(key.encode()).hexdigest()
        started, count = self._windows.get(slot, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        if count >= self.limit:
            return self.window - (now - started)
        self._windows[slot] = (started, count + 1)
        if len(self._windows) > 100_000:  # forget windows that are over
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window}
        return None


def too_many(retry_after: float) -> Response:
    return JSONResponse(
        {"Errors": [{"Code": 429, "Message": "Too many requests"}]},
        status_code=429,
        headers={"Retry-After": str(max(1, round(retry_after)))},
    )
