"""HTTP API benchmark: `POST /api/v1/email` and `GET /api/v1/inbound-relay-domain-check` on a
real `mailgate serve`, driven by wrk (Debian's package) over loopback, against a yardstick
measured in the same run: a Starlette + uvicorn app whose handler parses the same JSON body and
answers, doing nothing else (bench/noop_api.py), on as many processes as Mailgate's HTTP side.

Every /api/v1/email answer comes after the message is committed (SQLite, synchronous=FULL, DKIM
on, 5 KB HTML body); afterwards the benchmark checks that the store holds one message per 200.

    .venv/bin/python bench/api_send.py [--seconds 10] [--connections 32] [--http-processes 2]

Needs wrk (`apt-get install wrk`; run as root and it is installed). Set MAILGATE_DATABASE_URL
to measure on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from smtp_ingest import ROOT, bench_env, free_port, group_cpu_seconds, mailgate

DOMAIN = "bench.example"


def email_body(size: int) -> str:
    line = "<p>The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij</p>\n"
    html = (line * (size // len(line) + 1))[:size]
    return json.dumps(
        {
            "Subject": "Benchmark message",
            "ContentType": "html",
            "HTMLContent": html,
            "From": {"name": "Bench", "email": f"app@{DOMAIN}"},
            "To": [{"name": "Sink", "email": "rcpt@sink.example"}],
            "Tags": ["bench"],
        }
    )


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is needed: apt-get install wrk")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or "wrk"


def wrk(
    url: str, seconds: int, connections: int, headers: dict[str, str], body: str | None = None
) -> dict[str, float]:
    """Run wrk on one thread; returns requests/s, p50/p99 in ms and the non-2xx count."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    if body is not None:
        lines += ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    script.write_text("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        script.unlink()
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _millis(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _millis(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": float(m.group(1)) if (m := re.search(r"Non-2xx.*?(\d+)", out)) else 0.0,
    }


def _millis(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{url} did not answer")
        time.sleep(0.1)


def post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def yardstick(args: argparse.Namespace, body: str) -> dict[str, float]:
    port = free_port()
    noop = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "noop_api.py"), str(port), str(args.http_processes)],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", noop)
        return wrk(f"http://127.0.0.1:{port}/api/v1/email", args.seconds, args.connections,
                   {"Content-Type": "application/json"}, body)  # fmt: skip
    finally:
        stop(noop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--size", type=int, default=5120, help="HTML body size in bytes")
    parser.add_argument("--http-processes", type=int, default=2)
    args = parser.parse_args()
    ensure_wrk()
    body = email_body(args.size)

    data_dir = Path(tempfile.mkdtemp(prefix="mailgate-bench-api-"))
    http_port = free_port()
    env = bench_env(
        {
            "MAILGATE_DATA_DIR": str(data_dir),
            "MAILGATE_BIND": "127.0.0.1",
            "MAILGATE_HOSTNAME": "mailgate.bench",
            "MAILGATE_SMTP_PORT": str(free_port()),
            "MAILGATE_SUBMISSION_PORTS": "",
            "MAILGATE_SMTPS_PORT": "",
            "MAILGATE_HTTP_PORT": str(http_port),
            "MAILGATE_SMTP_PROCESSES": "1",
            "MAILGATE_HTTP_PROCESSES": str(args.http_processes),
            "MAILGATE_DELIVERY_PROCESSES": "0",  # acceptance alone; bench/delivery.py delivers
            "MAILGATE_API_RATE_LIMIT": "0",
            "MAILGATE_LOG_LEVEL": "warning",
        }
    )
    mailgate(env, "init")
    user = mailgate(env, "user", "add", f"bench@{DOMAIN}")
    domain = mailgate(env, "domain", "add", DOMAIN, "--user", str(user["UserID"]))
    mailgate(env, "domain", "enable", str(domain["DomainID"]))
    admin_key = mailgate(env, "admin-key")["AdminAPIKey"]
    base = f"http://127.0.0.1:{http_port}"

    peer = yardstick(args, body)
    server = subprocess.Popen(
        [sys.executable, "-m", "mailgate.cli", "serve"], env=env, cwd=ROOT, start_new_session=True
    )
    try:
        wait_http(f"{base}/readyz", server)
        added = post(f"{base}/api.php", {"Command": "emailgateway.addapi",
                                         "APIKey": user["APIKey"], "Description": "bench",
                                         "DomainID": domain["DomainID"]})  # fmt: skip
        key = added["APIKey"]["APIKey"]  # type: ignore[index]
        cpu_before = group_cpu_seconds(server.pid)
        email = wrk(f"{base}/api/v1/email", args.seconds, args.connections,
                    {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                    body)  # fmt: skip
        user_s, sys_s = (
            b - a for a, b in zip(cpu_before, group_cpu_seconds(server.pid), strict=True)
        )
        relay_domain = domain["ReturnPathDomain"]
        relay = wrk(f"{base}/api/v1/inbound-relay-domain-check?domain={relay_domain}",
                    args.seconds, args.connections,
                    {"Authorization": f"Bearer {admin_key}"})  # fmt: skip
    finally:
        stop(server)
    stored = _stored_messages(data_dir, env)
    accepted = email["requests"] - email["non_2xx"]
    print(
        f"api_send email rps={email['rps']:.1f} p50_ms={email['p50_ms']:.2f} "
        f"p99_ms={email['p99_ms']:.2f} non_2xx={email['non_2xx']:.0f} stored={stored} "
        f"accepted={accepted:.0f} server_cpu_ms_per_req={(user_s + sys_s) * 1000 / accepted:.2f}"
    )
    print(
        f"api_send yardstick (no-op Starlette, same body) rps={peer['rps']:.1f} "
        f"p99_ms={peer['p99_ms']:.2f} ratio={email['rps'] / peer['rps']:.3f}"
    )
    print(
        f"api_send relay-domain-check rps={relay['rps']:.1f} p50_ms={relay['p50_ms']:.2f} "
        f"p99_ms={relay['p99_ms']:.2f} non_2xx={relay['non_2xx']:.0f} "
        f"ratio={relay['rps'] / peer['rps']:.3f}"
    )
    if stored < accepted:
        raise SystemExit(f"only {stored} of {accepted:.0f} acknowledged messages are stored")


def _stored_messages(data_dir: Path, env: dict[str, str]) -> int:
    """Messages in the store, counted through the gateway's own storage (SQLite or PostgreSQL)."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select

    from storage.engine import Database
    from storage.models import Message

    url = env.get("MAILGATE_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'mailgate.db'}"

    async def count() -> int:
        db = Database(url)
        try:
            return int(await db.scalar(select(func.count(Message.id))) or 0)
        finally:
            await db.dispose()

    return asyncio.run(count())


if __name__ == "__main__":
    main()
