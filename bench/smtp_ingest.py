"""SMTP ingest benchmark: authenticated submission over STARTTLS into a real `mailgate serve`.

Builds a fresh data directory (SQLite, durable: synchronous=FULL), a user, an enabled sender
domain and SMTP credentials, starts `mailgate serve` on free loopback ports, then drives it with
concurrent sessions (STARTTLS, AUTH PLAIN, 5 KB messages, DKIM on, several messages per session)
and prints messages per second.

    .venv/bin/python bench/smtp_ingest.py [--sessions 20] [--messages 10000] [--size 5120]

Set MAILGATE_DATABASE_URL to measure on PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "bench.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mailgate(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "mailgate.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out) if out.strip() else {}


def bench_env(settings: dict[str, str]) -> dict[str, str]:
    """This environment without its MAILGATE_* settings (save the database URL), plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAILGATE_") or k == "MAILGATE_DATABASE_URL"
    }
    env.update(settings)
    return env


def enabled_domain(env: dict[str, str]) -> int:
    """Initialise the data directory and add DOMAIN, enabled, for a new user; its DomainID."""
    mailgate(env, "init")
    user = mailgate(env, "user", "add", f"bench@{DOMAIN}")
    domain = int(mailgate(env, "domain", "add", DOMAIN, "--user", str(user["UserID"]))["DomainID"])
    mailgate(env, "domain", "enable", str(domain))
    return domain


def group_cpu_seconds(pgid: int) -> tuple[float, float]:
    """User and system CPU time of the processes in the server's process group (from /proc)."""
    user = system = 0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            user += int(fields[11])
            system += int(fields[12])
    return user / ticks, system / ticks


def make_message(size: int, index: int) -> bytes:
    head = (
        f"From: Bench <app@{DOMAIN}>\r\nTo: rcpt@sink.example\r\n"
        f"Subject: benchmark message {index}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n"
    body = (line * (size // len(line) + 1))[: max(0, size - len(head) - 2)]
    return head + body + b"\r\n"


async def session(
    port: int, username: str | None, password: str, count: int, size: int, latencies: list[float]
) -> int:
    """One client connection sending `count` messages; no TLS/AUTH when `username` is None."""
    if username is None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await client.connect()
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=True, tls_context=context, timeout=60
        )
        await client.connect()
        await client.login(username, password)
    sent = 0
    for index in range(count):
        started = time.perf_counter()
        await client.sendmail(f"app@{DOMAIN}", ["rcpt@sink.example"], make_message(size, index))
        latencies.append(time.perf_counter() - started)
        sent += 1
    await client.quit()
    return sent


async def drive(
    port: int, username: str | None, password: str, args: argparse.Namespace, pgid: int
) -> None:
    per_session = [args.messages // args.sessions] * args.sessions
    for i in range(args.messages % args.sessions):
        per_session[i] += 1
    latencies: list[float] = []
    server_cpu = group_cpu_seconds(pgid)
    client_cpu = time.process_time()
    started = time.perf_counter()
    results = await asyncio.gather(
        *(session(port, username, password, n, args.size, latencies) for n in per_session)
    )
    elapsed = time.perf_counter() - started
    user, system = (b - a for a, b in zip(server_cpu, group_cpu_seconds(pgid), strict=True))
    client_cpu = time.process_time() - client_cpu
    total = sum(results)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    mode = "relay" if username is None else "starttls+auth"
    print(
        f"smtp_ingest mode={mode} messages={total} sessions={args.sessions} size={args.size} "
        f"seconds={elapsed:.2f} msgs_per_s={total / elapsed:.1f} "
        f"p50_ms={p50:.1f} p99_ms={p99:.1f} "
        f"server_cpu_ms_per_msg={(user + system) * 1000 / total:.2f} "
        f"(user={user * 1000 / total:.2f} sys={system * 1000 / total:.2f}) "
        f"client_cpu_ms_per_msg={client_cpu * 1000 / total:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--size", type=int, default=5120)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--relay",
        action="store_true",
        help="submit from a relay network instead: no TLS, no AUTH (as smtp-source does)",
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="mailgate-bench-"))
    port = free_port()
    env = bench_env(
        {
            "MAILGATE_DATA_DIR": str(data_dir),
            "MAILGATE_BIND": "127.0.0.1",
            "MAILGATE_HOSTNAME": "mailgate.bench",
            "MAILGATE_SMTP_PORT": str(port) if args.relay else "",
            "MAILGATE_SUBMISSION_PORTS": "" if args.relay else str(port),
            "MAILGATE_RELAY_NETWORKS": "127.0.0.0/8" if args.relay else "",
            "MAILGATE_SMTPS_PORT": "",
            "MAILGATE_HTTP_PORT": str(free_port()),
            "MAILGATE_SMTP_PROCESSES": str(args.processes),
            # Ingest alone: bench/delivery.py and compare_postfix.sh measure delivery.
            "MAILGATE_DELIVERY_PROCESSES": "0",
            "MAILGATE_LOG_LEVEL": "warning",
        }
    )
    smtp = mailgate(env, "smtp", "add", "--domain", str(enabled_domain(env)))

    server = subprocess.Popen(
        [sys.executable, "-m", "mailgate.cli", "serve"], env=env, cwd=ROOT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"220"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("mailgate serve did not start")
            time.sleep(0.1)
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        username = None if args.relay else smtp["SMTPUsername"]
        runner(drive(port, username, smtp["SMTPPassword"], args, server.pid))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
