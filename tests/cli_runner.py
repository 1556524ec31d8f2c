"""`mailgate` processes for the tests, each a process of its own, without paying the start-up.

The suite runs about a thousand commands and a few hundred `mailgate serve`; started as
`python -m mailgate.cli` each spends about a second of CPU importing (SQLAlchemy and the models,
alembic, aiosmtpd, Starlette, uvicorn ...) before it does its work. Here a fork server imports
all that once per pytest worker (tests/warm_imports.py: everything but prometheus-client, which
`serve` must import after it has set PROMETHEUS_MULTIPROC_DIR), and each command or gateway is a
fresh child forked from it: its own process (a session of its own for `serve`, as the tests'
Popen gave it), its own environment (replaced whole), file descriptors 1 and 2 written to files,
and `mailgate.cli.main` run as the console script runs it. What the fork skips is the
interpreter start and the imports; tests that are about those (tests/mailgate/test_first_run.py,
test_serve*.py, the wheel test) start the real executable.

A fork inherits the modules as they were imported, in the fork server's environment: a library
may read a variable as it is imported (aiohttp makes its TLS context then, from SSL_CERT_FILE).
Ours read only MAILGATE_* (when the settings are loaded). So a process whose environment differs
from the fork server's in anything else starts cold, as the real executable.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from multiprocessing import forkserver
from multiprocessing.process import BaseProcess
from pathlib import Path

MAILGATE = [sys.executable, "-m", "mailgate.cli"]

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["tests.warm_imports"])
# Set by pytest for each phase of each test; nothing imported reads it.
_PER_TEST = {"PYTEST_CURRENT_TEST"}


def _beyond_ours(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("MAILGATE_") and k not in _PER_TEST}


@functools.cache
def _server_environment() -> dict[str, str]:
    """The fork server's environment beyond ours; it is started here, so that the environment
    it inherits is the one recorded."""
    environment = _beyond_ours(os.environ)
    forkserver.ensure_running()
    return environment


def forks_warm(env: dict[str, str]) -> bool:
    """Whether a process with `env` may be forked from the fork server (see above)."""
    return _beyond_ours(env) == _server_environment()


def _become(env: dict[str, str], out: str, err: str) -> None:
    """In the forked child: the environment and standard streams of a new process."""
    from tests.warm_imports import check_held_back

    check_held_back()
    os.environ.clear()
    os.environ.update(env)
    targets = {path: os.open(path, os.O_WRONLY | os.O_TRUNC) for path in {out, err}}
    for fd, path in ((1, out), (2, err)):
        os.dup2(targets[path], fd)
    for target in targets.values():
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's own stdout
    # As Python opens its stderr: a line at a time, and never failing on what it cannot encode.
    sys.stderr = open(2, "w", closefd=False, errors="backslashreplace", buffering=1)  # noqa: SIM115


def _main(argv: list[str]) -> int:
    from mailgate.cli import main

    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        return exit_.code if isinstance(exit_.code, int) else 1


def _exit(code: int) -> None:
    """End the child as the interpreter would at exit (logging flushed), without running what
    the fork server registered for its own exit."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run(argv: list[str], env: dict[str, str], out: str, err: str) -> None:
    _become(env, out, err)
    _exit(_main(argv))


def run_cli(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`mailgate ARGV` with exactly `env`, as subprocess.run(capture_output=True, text=True)
    would answer it."""
    if not forks_warm(env):
        return subprocess.run(
            [*MAILGATE, *argv], env=env, capture_output=True, text=True, timeout=timeout
        )
    with tempfile.TemporaryDirectory(prefix="mailgate-cli-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        out.touch()
        err.touch()
        child = _CONTEXT.Process(target=_run, args=(argv, env, str(out), str(err)))
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["mailgate", *argv], timeout, err.read_text())
        assert child.exitcode is not None
        return subprocess.CompletedProcess(
            ["mailgate", *argv], child.exitcode, out.read_text(), err.read_text()
        )


def start(
    argv: list[str], env: dict[str, str], log: Path, cold: bool = False
) -> subprocess.Popen[bytes] | ForkedProcess:
    """`mailgate ARGV` running in a session of its own with exactly `env`, its standard output
    and error in `log` (created or emptied): forked warm unless `cold` or forks_warm says no."""
    if cold or not forks_warm(env):
        with log.open("wb") as output:
            return subprocess.Popen(
                [*MAILGATE, *argv], env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
    log.write_bytes(b"")
    return ForkedProcess(argv, env, log)


def _start(argv: list[str], env: dict[str, str], log: str) -> None:
    os.setsid()  # as Popen(start_new_session=True): the tests signal the whole group
    _run(argv, env, log, log)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


class ForkedProcess:
    """A long-running `mailgate` (serve) forked from the fork server, with the part of
    subprocess.Popen that the tests use: pid, returncode, poll, wait, send_signal, kill."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.args = ["mailgate", *argv]
        # daemon: one still running when pytest exits is sent SIGTERM rather than waited for.
        self._child: BaseProcess = _CONTEXT.Process(
            target=_start, args=(argv, env, str(log)), daemon=True
        )
        self._child.start()
        assert self._child.pid is not None
        self.pid: int = self._child.pid
        while self.poll() is None and _group_of(self.pid) != self.pid:
            time.sleep(0.001)  # until the child has called setsid: Popen returns after it

    @property
    def returncode(self) -> int | None:
        return self._child.exitcode

    def poll(self) -> int | None:
        return self._child.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._child.join(timeout)
        if self._child.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._child.exitcode

    def send_signal(self, sig: int) -> None:
        if self._child.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
