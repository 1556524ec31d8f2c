"""What `mailgate serve`'s supervisor knows about its workers, shared with whoever answers
/readyz.

Everything lives in the supervisor's run directory, `DATA_DIR/run/<supervisor pid>/` (so each
node, and each `serve` on one data directory, has its own view, on SQLite and PostgreSQL alike):

- `worker-<pid>.error`: a worker that fails leaves there, in one line, the error that ended it;
  the supervisor reads and removes it once it has reaped that process.
- `health.json`: what is wrong now (workers that died and have not run healthily since,
  listeners that could not be bound), replaced atomically by the supervisor whenever it changes;
  the HTTP workers read it for /readyz, and so does the fallback responder that answers on the
  HTTP port while no HTTP worker can.

Files rather than a pipe or a multiprocessing manager: they outlive any one worker, need no
process of their own, and every process reads them with nothing but `open`.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

log = logging.getLogger("mailgate.serve")

# One line in logs and in /readyz; a traceback stays in the worker's own log line.
REASON_LIMIT = 300
Failure = dict[str, Any]


def describe(error: BaseException) -> str:
    """An exception as the one line an operator reads: its type and message."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text[:REASON_LIMIT]


def exit_description(code: int) -> str:
    """`os.waitstatus_to_exitcode`'s result in words: a negative code is the killing signal."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def unbound_listener(role: str, port: int, setting: str, error: OSError) -> Failure:
    """A listener that could not be bound, as /readyz lists it."""
    reason = error.strerror or describe(error)
    return {"listener": role, "port": port, "setting": setting, "reason": reason}


def process_alive(pid_name: str) -> bool:
    """Whether the process named by `pid_name` (a directory named after its pid) still exists."""
    if not pid_name.isdigit():
        return False
    try:
        os.kill(int(pid_name), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class RunDirectory:
    """`DATA_DIR/run/<supervisor pid>/`: the supervisor's side of the files described above."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, data_dir: Path) -> RunDirectory:
        """This supervisor's directory, after removing those of supervisors that are gone
        (killed with SIGKILL: they could not remove their own)."""
        root = data_dir / "run"
        for stale in root.glob("*"):
            if not process_alive(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        path = root / str(os.getpid())
        shutil.rmtree(path, ignore_errors=True)  # a reused pid's leftovers
        path.mkdir(parents=True)
        return cls(path)

    @property
    def health(self) -> HealthFile:
        return HealthFile(self.path / "health.json")

    def _report_path(self, pid: int) -> Path:
        return self.path / f"worker-{pid}.error"

    def report(self, pid: int, reason: str) -> None:
        """Called in the failing worker: leave the reason for the supervisor."""
        try:
            self._report_path(pid).write_text(reason)
        except OSError as error:
            log.error("cannot leave the failure reason path=%s error=%r", self.path, error.strerror)

    def take_report(self, pid: int) -> str | None:
        """Called in the supervisor once `pid` is reaped: the reason it left, if any."""
        path = self._report_path(pid)
        try:
            reason = path.read_text()
        except OSError:
            return None
        path.unlink(missing_ok=True)
        return reason

    def publish(self, failures: list[Failure]) -> None:
        """Replace health.json atomically: a reader sees the old list or the new, never half."""
        temporary = self.path / "health.json.tmp"
        try:
            temporary.write_text(json.dumps({"failures": failures}))
            os.replace(temporary, self.health.path)
        except OSError as error:
            log.error("cannot write %s error=%r", self.health.path, error.strerror)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class HealthFile:
    """The readers' side of health.json."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def failures(self) -> list[Failure]:
        """What the supervisor lists as wrong; an unreadable file is itself a failure."""
        try:
            failures = json.loads(self.path.read_text())["failures"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            return [{"check": "supervisor", "reason": f"{self.path}: {describe(error)}"}]
        return list(failures)


def serve_fallback(sock: socket.socket, health: HealthFile) -> None:
    """Answer on the HTTP port while no HTTP worker can: /healthz 200 (the supervisor is up),
    anything else 503 with what is wrong, so operators and orchestrators see why. Stops when
    its supervisor is gone; the supervisor stops it with SIGTERM once an HTTP worker is back.
    Built on http.server alone: it must work when our HTTP package does not import."""
    server = _FallbackServer(sock, health)
    parent = os.getppid()
    log.info("http fallback answering port=%d", sock.getsockname()[1])
    while os.getppid() == parent:
        server.handle_request()  # returns after `server.timeout` when nobody calls


class _FallbackServer(http.server.HTTPServer):
    timeout = 1.0  # how often the orphan check above runs

    def __init__(self, sock: socket.socket, health: HealthFile) -> None:
        super().__init__(sock.getsockname()[:2], _FallbackHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock  # the supervisor's listening socket, already bound
        self.health = health


class _FallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _FallbackServer
    timeout = 5  # a client that sends nothing does not hold the only thread for long
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            self._answer(200, {"status": "ok"})
        else:
            failures = self.server.health.failures()
            self._answer(503, {"status": "unavailable", "failures": failures})

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")  # the request body, if any, is never read
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http fallback " + format, *args)
