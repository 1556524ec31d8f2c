"""Password verification as a bounded, briefly remembering service of the process.

An argon2 verification allocates its whole memory cost (64 MiB with argon2-cffi's defaults) for
the quarter of a second it runs. Given a thread each, 12 concurrent AUTH loops took an SMTP
worker from 110 MB to 495 MB. Here at most `concurrency` verifications run at once (a pool of
that many threads: the memory is bounded by the pool, whatever the callers do), up to
`max_waiting` more wait their turn, and a caller beyond that gets `VerificationBusy` at once (SMTP
answers it with a temporary 454).

A successful verification is remembered for `remember_seconds`, under a keyed digest of the
owner (the credential), its stored hash and the given password: the password is never kept,
and a changed password (another stored hash) or a deleted credential (no hash to look up) is
never honoured from memory. Failures are never remembered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from storage.tokens import verify_password

CONCURRENCY = 2  # per process: two cores busy, at most 128 MiB of argon2 memory
MAX_WAITING = 32  # per process, about 4 s of verifications on two cores
REMEMBER_SECONDS = 10.0
MAX_REMEMBERED = 4096


class VerificationBusy(Exception):
    """Too many verifications are running or waiting in this process: try again later."""


class PasswordChecks:
    """Verifies passwords against stored argon2 hashes, `concurrency` at a time per process."""

    def __init__(
        self,
        concurrency: int = CONCURRENCY,
        max_waiting: int = MAX_WAITING,
        remember_seconds: float = REMEMBER_SECONDS,
        max_remembered: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.remember_seconds = remember_seconds
        self.max_remembered = max_remembered
        self.clock = clock
        self._digest_key = secrets.token_bytes(32)
        self._remembered: OrderedDict[bytes, float] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Task[bool]] = {}
        self._pending = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0

    async def verify(self, owner: str | None, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches `stored_hash`, the password of `owner` (None, with no hash:
        an unknown user, which costs as much as a wrong password and always fails). Callers
        asking the same at the same time share one verification: a client's pool of
        connections logging in at once costs one, not one each."""
        digest = self._digest(owner, stored_hash, password)
        if digest is None:
            return await self._verified(stored_hash, password)
        if self._recalls(digest):
            return True
        loop = asyncio.get_running_loop()
        shared = self._in_flight.get(digest)
        if shared is None or shared.get_loop() is not loop:
            shared = loop.create_task(self._verified(stored_hash, password))
            self._in_flight[digest] = shared
            shared.add_done_callback(lambda done: self._settle(digest, done))
        return await asyncio.shield(shared)  # a caller that gives up leaves it to the others

    @property
    def pending(self) -> int:
        """Verifications running or waiting for their turn in this process."""
        return self._pending

    async def _verified(self, stored_hash: str | None, password: str) -> bool:
        with self._turn():
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor(), verify_password, stored_hash, password
            )

    def _settle(self, digest: bytes, done: asyncio.Task[bool]) -> None:
        if self._in_flight.get(digest) is done:
            del self._in_flight[digest]
        if done.cancelled() or done.exception() is not None:
            return  # the exception (VerificationBusy) went to the callers still waiting
        if done.result():
            self._remember(digest)

    def _digest(self, owner: str | None, stored_hash: str | None, password: str) -> bytes | None:
        if owner is None or stored_hash is None:
            return None
        message = b"\0".join(
            part.encode("utf-8", "surrogatepass") for part in (owner, stored_hash, password)
        )
        return hmac.new(self._digest_key, message, hashlib.sha256).digest()

    def _recalls(self, digest: bytes) -> bool:
        expires = self._remembered.get(digest)
        if expires is None:
            return False
        if expires <= self.clock():
            self._remembered.pop(digest, None)
            return False
        return True

    def _remember(self, digest: bytes) -> None:
        self._remembered[digest] = self.clock() + self.remember_seconds
        self._remembered.move_to_end(digest)
        while len(self._remembered) > self.max_remembered:
            self._remembered.popitem(last=False)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """A place among the running and waiting verifications, or VerificationBusy."""
        with self._lock:
            if self._pending >= self.concurrency + self.max_waiting:
                raise VerificationBusy
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1

    def _executor(self) -> ThreadPoolExecutor:
        """The pool of this process (made on first use: a forked worker makes its own)."""
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="argon2")
            self._pool_pid = os.getpid()
        return self._pool


# The process's one instance: every verification of the process shares its bound.
PASSWORD_CHECKS = PasswordChecks()
