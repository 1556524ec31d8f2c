"""SMTP AUTH benchmark: AUTH PLAIN per second and the SMTP workers' memory under concurrent loops.

Builds a fresh data directory (SQLite durable, or MAILGATE_DATABASE_URL), a sender domain and
one SMTP credential, starts `mailgate serve` (two SMTP worker processes by default) on free
loopback ports, then runs two phases of `--loops` concurrent client loops, each for `--seconds`:
first the right password, then wrong ones (a new one at each attempt, as a guesser sends them).
Each attempt is one connection: greeting, EHLO, AUTH PLAIN, QUIT (as applications that connect
per message do). Plaintext AUTH is allowed on loopback so that the figures are AUTH's, not
TLS's. Each loop has a loopback address of its own (127.0.0.10, .11, ...), and the failure limit
is raised out of the way: the phases measure verification, not the lockout (the tests in
tests/mta/test_auth.py show that).

Prints, per phase, attempts per second, the server's CPU time per attempt (all its processes:
the figure a busy machine disturbs least), the replies by code, and each SMTP worker's resident
memory (VmRSS, sampled every 20 ms) at rest and at its peak.

    .venv/bin/python bench/auth.py [--loops 12] [--seconds 10] [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from smtp_ingest import ROOT, bench_env, enabled_domain, free_port, group_cpu_seconds, mailgate

DOMAIN = "bench.example"
SAMPLE_INTERVAL = 0.02


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class MemoryWatch:
    """The peak VmRSS of each process in `pids`, sampled from a thread while a phase runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = {pid: rss_kib(pid) for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_kib(pid))

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def read_reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if not line:
            return 0  # closed by the server
        if line[3:4] != b"-":
            return int(line[:3])


async def attempt(port: int, source: str, blob: str) -> int:
    """One connection with one AUTH PLAIN; the AUTH reply's code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        await read_reply(reader)
        writer.write(b"EHLO bench.client\r\n")
        await read_reply(reader)
        writer.write(f"AUTH PLAIN {blob}\r\n".encode())
        code = await read_reply(reader)
        if code:
            writer.write(b"QUIT\r\n")
            await read_reply(reader)
        return code
    finally:
        writer.close()


async def loop(
    port: int, source: str, blobs: Iterator[str], until: float, codes: collections.Counter
) -> None:
    while time.monotonic() < until:
        codes[await attempt(port, source, next(blobs))] += 1


async def phase(
    port: int, loops: int, seconds: float, username: str, password: str | None
) -> tuple[float, dict[int, int]]:
    """`loops` loops for `seconds`: with `password`, or (None) with a new wrong one each time,
    as a guesser sends them (the same wrong password at once would share one verification)."""
    codes: collections.Counter[int] = collections.Counter()
    started = time.monotonic()
    until = started + seconds

    def blobs(index: int) -> Iterator[str]:
        for attempt_number in itertools.count():
            guess = password or f"wrong-{index}-{attempt_number}"
            yield plain_blob(username, guess)

    await asyncio.gather(
        *(loop(port, f"127.0.0.{10 + i}", blobs(i), until, codes) for i in range(loops))
    )
    return time.monotonic() - started, dict(codes)


def plain_blob(username: str, password: str) -> str:
    return base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")


def smtp_worker_pids(log_path: Path, count: int) -> list[int]:
    """The SMTP workers, from their "worker ready" log lines (the HTTP worker's say "http")."""
    pattern = re.compile(r"pid=(\d+) worker ready index=")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [int(pid) for pid in pattern.findall(log_path.read_text())]
        if len(pids) >= count:
            return pids[:count]
        time.sleep(0.1)
    raise SystemExit(f"the SMTP workers did not start:\n{log_path.read_text()}")


def report(
    name: str, elapsed: float, codes: dict[int, int], cpu: float, rest: dict, peak: dict
) -> None:
    total = sum(codes.values())
    memory = " ".join(
        f"worker{index}_rss_mib={rest[pid] / 1024:.0f}->{peak[pid] / 1024:.0f}"
        for index, pid in enumerate(peak)
    )
    replies = ",".join(f"{code}:{count}" for code, count in sorted(codes.items()))
    print(
        f"auth phase={name} seconds={elapsed:.1f} attempts={total} "
        f"auth_per_s={total / elapsed:.1f} server_cpu_ms_per_auth={cpu * 1000 / total:.1f} "
        f"replies={replies} {memory}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="mailgate-bench-auth-"))
    port = free_port()
    env = bench_env(
        {
            "MAILGATE_DATA_DIR": str(data_dir),
            "MAILGATE_BIND": "127.0.0.1",
            "MAILGATE_HOSTNAME": "mailgate.bench",
            "MAILGATE_SMTP_PORT": "",
            "MAILGATE_SUBMISSION_PORTS": str(port),
            "MAILGATE_SMTPS_PORT": "",
            "MAILGATE_HTTP_PORT": str(free_port()),
            "MAILGATE_SMTP_PROCESSES": str(args.processes),
            "MAILGATE_DELIVERY_PROCESSES": "0",
            "MAILGATE_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK": "1",
            "MAILGATE_AUTH_FAILURE_LIMIT": "1000000000",
            "MAILGATE_AUTH_FAILURE_DELAY": "0",
        }
    )
    smtp = mailgate(env, "smtp", "add", "--domain", str(enabled_domain(env)))

    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailgate.cli", "serve"], env=env, cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        pids = smtp_worker_pids(log_path, args.processes)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.recv(64)
        username = smtp["SMTPUsername"]
        for name, password in (("right", smtp["SMTPPassword"]), ("wrong", None)):
            rest = {pid: rss_kib(pid) for pid in pids}
            cpu_before = sum(group_cpu_seconds(server.pid))
            with MemoryWatch(pids) as watch:
                elapsed, codes = asyncio.run(
                    phase(port, args.loops, args.seconds, username, password)
                )
            cpu = sum(group_cpu_seconds(server.pid)) - cpu_before
            report(name, elapsed, codes, cpu, rest, watch.peak)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
