"""The README's promise: its first two commands run the gateway and the tests on a fresh clone,
and CI runs exactly that test command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port, greeting, wait_until

ROOT = Path(__file__).resolve().parent.parent


def first_code_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "the README opens with a shell block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]


def test_readme_starts_with_run_and_test_and_ci_runs_the_test_command() -> None:
    assert first_code_block() == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test" in ci and "make lint" in ci
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_lists_every_refusal_reason_and_no_other() -> None:
    from mta.replies import Reason

    text = " ".join((ROOT / "README.md").read_text().split())
    listed = re.search(r"`reason` is one of: (.*?)\.", text)
    assert listed, "the README lists the refusal reasons"
    names = {name.strip().split(" ")[0] for name in listed.group(1).split(",")}
    assert names == {reason.value for reason in Reason}


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git repository to clone")
def test_make_run_on_a_fresh_clone_answers_smtp(tmp_path: Path) -> None:
    """`make run` in a fresh clone builds its own .venv, initialises ./data and serves SMTP.

    The clone is of the committed HEAD, as CI sees it. Ports are moved to free ones (the README
    shows how), so the test needs no root and cannot collide with anything else."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    ports = {"SMTP": free_port(), "SMTPS": free_port()}
    submission = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILGATE_", "VIRTUAL_ENV"))}
    env.update(
        MAILGATE_BIND="127.0.0.1",
        MAILGATE_SMTP_PORT=str(ports["SMTP"]),
        MAILGATE_SMTPS_PORT=str(ports["SMTPS"]),
        MAILGATE_SUBMISSION_PORTS=",".join(map(str, submission)),
        MAILGATE_HTTP_PORT=str(free_port()),
        MAILGATE_SMTP_PROCESSES="1",
    )
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError((tmp_path / "make-run.log").read_text())
        return greeting(ports["SMTP"]) and all(greeting(port) for port in submission)

    try:
        wait_until(serving, timeout=300, interval=0.5)
        assert (clone / "data" / "mailgate.toml").exists()
        assert (clone / "data" / "mailgate.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # make and the gateway, as Ctrl-C would
        process.wait(timeout=60)
    # The gateway shuts down cleanly on its own time, after make has gone.
    wait_until(lambda: "stopped" in (tmp_path / "make-run.log").read_text(), timeout=60)
    log.close()
    shutil.rmtree(clone)
