"""The wait a rate-limited key is told, below the surfaces so the app's shared context can name
it (http_api.context) while the limiter itself stays with /api/v1 (http_api.rate_limit)."""

from __future__ import annotations


class RetryAfter(float):
    """Seconds until the key's window resets, carrying the requests the next window allows."""

    attempts: int

    def __new__(cls, seconds: float, attempts: int) -> RetryAfter:
        wait = super().__new__(cls, seconds)
        wait.attempts = attempts
        return wait
