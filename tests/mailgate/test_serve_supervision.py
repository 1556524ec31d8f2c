"""`mailgate serve`'s supervisor as an operator meets it: a worker that cannot start is started
again ever more slowly, saying why each time; /readyz lists what is wrong (answered by a
fallback on the HTTP port while the HTTP worker itself cannot start); an HTTP port that cannot
be bound stops `serve` unless partial service is allowed."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailgate.supervisor import HEALTHY_AFTER, Slot, restart_delay
from tests.conftest import Gateway, free_port, greeting, wait_until

Factory = Callable[..., Gateway]


def http_get(gateway: Gateway, path: str) -> httpx.Response | None:
    """The gateway's answer on its HTTP port; None while nothing answers there."""
    try:
        return httpx.get(f"http://127.0.0.1:{gateway.env['MAILGATE_HTTP_PORT']}{path}", timeout=5)
    except httpx.TransportError:
        return None


def lines(gateway: Gateway, pattern: str) -> list[str]:
    return [line for line in gateway.log().splitlines() if re.search(pattern, line)]


def exits(gateway: Gateway, name: str) -> list[str]:
    return lines(gateway, rf"worker exited unexpectedly .* name={name} ")


def stamp(line: str) -> datetime:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def worker_pid(gateway: Gateway, name: str) -> int:
    started = lines(gateway, rf"worker started .* name={name} ")[-1]
    match = re.search(r" pid=(\d+) name=", started)
    assert match is not None, started
    return int(match[1])


def failures_of(answer: httpx.Response, **match: Any) -> list[dict[str, Any]]:
    """The items of a /readyz answer whose fields include `match`."""
    return [item for item in answer.json()["failures"] if match.items() <= item.items()]


def test_restart_delays_double_up_to_a_minute() -> None:
    assert [restart_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_worker_that_has_run_healthily_starts_its_series_again() -> None:
    slot = Slot(0, "smtp", run=lambda: None, pid=10, started=0.0)
    assert slot.died(0.5, "exit status 1", "ValueError: bad") == 1
    slot.pid, slot.started = 11, 1.5
    assert slot.died(2.0, "signal SIGKILL", None) == 2
    assert slot.failure() == {
        "worker": "smtp",
        "index": 0,
        "reason": "signal SIGKILL",
        "exit": "signal SIGKILL",
        "restarts": 2,
    }
    slot.pid, slot.started = 12, 4.0
    assert not slot.recovered(4.0 + HEALTHY_AFTER - 0.1)
    assert slot.recovered(4.0 + HEALTHY_AFTER)
    assert slot.failure() is None  # /readyz no longer lists it
    slot.pid, slot.started = 13, 20.0
    assert slot.died(20.0 + HEALTHY_AFTER, "exit status 1", "ValueError: bad") == 1


def test_a_worker_that_cannot_start_is_retried_ever_more_slowly_and_readyz_says_why(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1")
    gateway.start()
    ready = wait_until(lambda: http_get(gateway, "/readyz"))
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

    cert = gateway.data_dir / "tls" / "cert.pem"
    good = cert.read_bytes()
    cert.write_text("not a certificate\n")  # as a botched renewal leaves it
    os.kill(worker_pid(gateway, "smtp"), signal.SIGKILL)  # the restarted worker reads it
    wait_until(lambda: len(exits(gateway, "smtp")) >= 3, timeout=30)

    first, second, third = exits(gateway, "smtp")[:3]
    assert "status='signal SIGKILL'" in first
    for line in (second, third):
        assert "status='exit status 1'" in line
        assert f"cannot load the TLS certificate {cert}" in line
        assert "MAILGATE_TLS_CERT" in line
    schedule = [
        re.findall(r"restarts=(\d+) restart_in=(\w+)", line)[0] for line in (first, second, third)
    ]
    assert schedule == [("1", "1s"), ("2", "2s"), ("3", "4s")]
    # The delays are kept: each start comes that long after the death before it.
    starts = lines(gateway, r"worker started index=0 .* name=smtp ")[1:]
    for died, restarted, delay in zip((first, second), starts, (1, 2), strict=False):
        assert delay - 0.01 <= (stamp(restarted) - stamp(died)).total_seconds() < delay + 0.5
    # The traceback of a failure that repeats is logged once; each attempt has its line.
    assert len(lines(gateway, "worker failed index=0 name=smtp")) == 1

    answer = wait_until(lambda: http_get(gateway, "/readyz"))
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    (failure,) = failures_of(answer, worker="smtp", index=0, exit="exit status 1")
    assert failure["restarts"] >= 3
    assert failure["reason"].startswith(f"StartError: cannot load the TLS certificate {cert}")

    cert.write_bytes(good)  # fixed: the next attempt (4 s later) serves again
    wait_until(lambda: greeting(gateway.ports["smtp"]), timeout=15)
    assert gateway.stop() == 0


@pytest.fixture
def broken_install(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of an install whose HTTP package lacks a module (as the wheel once did):
    a copy of `http_api` first on the path whose `app` imports a module that was not shipped.
    PYTHONSAFEPATH keeps the checkout (the working directory) off the path."""
    package = tmp_path / "broken-install" / "http_api"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text("import http_api.not_shipped  # left out of the install\n")
    yield {"PYTHONPATH": str(package.parent), "PYTHONSAFEPATH": "1"}


def test_while_the_http_worker_cannot_start_a_fallback_answers_with_what_is_wrong(
    gateway_factory: Factory, broken_install: dict[str, str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        gateway = gateway_factory(
            MAILGATE_SMTP_PROCESSES="1", MAILGATE_SUBMISSION_PORTS=f"{taken},{free_port()}"
        )
        gateway.ports.pop("submission")
        gateway.env.update(broken_install)
        gateway.start()  # SMTP serves

        def unavailable() -> httpx.Response | None:
            # The unbound listener alone answers 503 already: wait for the HTTP worker's death.
            answer = http_get(gateway, "/readyz")
            if answer is None or answer.status_code != 503:
                return None
            return answer if failures_of(answer, worker="http") else None

        answer = wait_until(unavailable)
        (failure,) = failures_of(answer, worker="http")
        assert failure["reason"] == "ModuleNotFoundError: No module named 'http_api.not_shipped'"
        (listener,) = failures_of(answer, listener="submission", port=taken)
        assert listener["setting"] == "submission_ports"
        assert listener["reason"].startswith("Address already in use")
        healthz = http_get(gateway, "/healthz")
        assert healthz is not None
        assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})

        # The HTTP worker is tried again (and fails again) while the fallback keeps answering.
        again = wait_until(lambda: failures_of(unavailable() or answer, worker="http", restarts=2))
        assert again[0]["exit"] == "exit status 1"
        assert "No module named 'http_api.not_shipped'" in exits(gateway, "http")[0]
        assert gateway.stop() == 0


def test_serve_exits_when_the_http_port_is_taken(gateway_factory: Factory) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        gateway = gateway_factory(MAILGATE_HTTP_PORT=str(taken))
        before = sorted(path.name for path in gateway.data_dir.iterdir())
        result = gateway.cli("serve", check=False)
    assert result.returncode == 1
    # A refused start leaves nothing behind (no run or metrics directory).
    assert sorted(path.name for path in gateway.data_dir.iterdir()) == before
    (line,) = [line for line in result.stderr.splitlines() if "role=http" in line]
    assert " ERROR " in line
    assert f"port={taken} setting=http_port (MAILGATE_HTTP_PORT)" in line
    assert "Address already in use" in line
    assert "allow_partial_service" in line
    assert "worker started" not in result.stderr


def test_with_partial_service_allowed_smtp_serves_without_the_http_port(
    gateway_factory: Factory,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        gateway = gateway_factory(
            MAILGATE_HTTP_PORT=str(taken), MAILGATE_ALLOW_PARTIAL_SERVICE="true"
        )
        gateway.start()  # every SMTP port answers with its banner
        (line,) = lines(gateway, "role=http")
        assert " WARNING " in line
        assert f"port={taken} setting=http_port (MAILGATE_HTTP_PORT)" in line
        assert "serving SMTP without the HTTP API" in line
        assert not lines(gateway, "name=http")  # no HTTP worker, no fallback: the port is taken
        assert gateway.stop() == 0
