"""`mailgate` commands for the tests, each in a process of its own, without paying the start-up.

The suite runs about a thousand commands; as `python -m mailgate.cli` each spends ~1.2 s of CPU
importing (SQLAlchemy and the models, mostly) before doing ~0.2 s of work. Here a fork server
imports `mailgate.cli` once per pytest worker, and each command is a fresh child forked from it:
its own process, its own environment (replaced whole), file descriptors 1 and 2 written to files,
and `mailgate.cli.main` run as the console script runs it. What the fork skips is the interpreter
start and the imports; tests that are about those (tests/mailgate/test_first_run.py, the wheel
test) start the real executable.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["mailgate.cli"])


def _run(argv: list[str], env: dict[str, str], out: str, err: str) -> None:
    """In the forked child: the environment and standard streams of a new process, then main."""
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's own stdout
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    from mailgate.cli import main

    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_cli(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`mailgate ARGV` with exactly `env`, as subprocess.run(capture_output=True, text=True)
    would answer it."""
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
