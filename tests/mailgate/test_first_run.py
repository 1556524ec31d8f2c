"""The first hour of an operator: options where they type them, one clear line (exit 2, nothing
created) when the data directory or the database cannot be opened, a start-up log that says
what `serve` runs on, and warnings for defaults that are wrong in production."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mailgate.config import load_settings
from mailgate.deployment_checks import deployment_warnings, is_public_dns_name
from tests.conftest import MAILGATE, Gateway, free_port, wait_until


def clean_env(data_dir: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    return base | {"MAILGATE_DATA_DIR": str(data_dir)} | env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILGATE, *args], env=env, capture_output=True, text=True, timeout=60)


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints (exit 2, nothing on stdout, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_global_options_work_after_the_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "after"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    made = run(env | {"MAILGATE_HOSTNAME": "mx.example.com"}, "init", "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    assert (data_dir / "mailgate.db").exists() and (data_dir / "conversion.key").exists()
    added = run(env, "user", "add", "first@example.com", "--data-dir", str(data_dir))
    assert added.returncode == 0, added.stderr
    before = run(env, "--data-dir", str(data_dir), "user", "add", "second@example.com")
    assert before.returncode == 0, before.stderr


@pytest.mark.parametrize(
    "command", [["serve"], ["worker"], ["user", "add", "a@example.com"], ["admin-key"]]
)
def test_a_missing_data_directory_is_one_line_and_nothing_is_created(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "not-there"
    line = refusal(run(clean_env(missing), *command))
    assert line == (
        f"mailgate: data directory {missing} does not exist (MAILGATE_DATA_DIR or --data-dir; "
        f"`mailgate init --data-dir {missing}` creates it)"
    )
    assert not missing.exists()


def test_a_missing_sqlite_database_is_one_line_and_serve_creates_nothing(tmp_path: Path) -> None:
    env = clean_env(tmp_path, MAILGATE_HOSTNAME="mx.example.com")
    assert run(env, "init").returncode == 0
    (tmp_path / "mailgate.db").unlink()
    before = sorted(p.name for p in tmp_path.iterdir())

    for command in (["serve"], ["user", "add", "a@example.com"]):
        line = refusal(run(env, *command))
        assert str(tmp_path / "mailgate.db") in line
        assert "database_url" in line and "run `mailgate init` first" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://mailgate:s3cret-pw@127.0.0.1:{free_port()}/mailgate"
    data_dir = tmp_path / "pg"
    env = clean_env(data_dir, MAILGATE_DATABASE_URL=url)

    def refused_naming_the_database(*command: str) -> None:
        line = refusal(run(env, *command))
        assert "s3cret-pw" not in line
        assert "cannot open the database postgresql+asyncpg://mailgate:***@127.0.0.1" in line
        assert "MAILGATE_DATABASE_URL" in line

    refused_naming_the_database("init")
    assert not data_dir.exists()
    data_dir.mkdir()
    refused_naming_the_database("serve")
    refused_naming_the_database("domain", "enable", "1")
    assert list(data_dir.iterdir()) == []


def test_serve_logs_what_it_runs_on_and_warns_about_production_defaults(
    gateway_factory: Any, postgres_url: str
) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:pw-not-logged@", 1)
    gateway: Gateway = gateway_factory(MAILGATE_DATABASE_URL=with_password)
    gateway.start()
    wait_until(lambda: "public_url is not set" in gateway.log())
    log = gateway.log()
    gateway.stop(signal.SIGTERM)

    assert f"config file {gateway.data_dir / 'mailgate.toml'}" in log
    assert f"data directory {gateway.data_dir}" in log
    assert "postgres:***@127.0.0.1" in log and "pw-not-logged" not in log
    assert "WARNING" in log
    assert "hostname is 'mx.mailgate.test', not a public DNS name" in log
    assert "set hostname (MAILGATE_HOSTNAME)" in log
    assert "set public_url (MAILGATE_PUBLIC_URL)" in log


@pytest.mark.parametrize(
    ("name", "public"),
    [
        ("mx.example.com", True),
        ("mail.example.co.uk.", True),
        ("vm", False),
        ("localhost", False),
        ("localhost.localdomain", False),
        ("box.local", False),
        ("gw.corp", False),
        ("mx.mailgate.test", False),
        ("192.0.2.7", False),
        ("[2001:db8::1]", False),
        ("relay.home.arpa", False),
    ],
)
def test_public_dns_names(name: str, public: bool) -> None:
    assert is_public_dns_name(name) is public


def warnings_for(tmp_path: Path, **env: str) -> list[str]:
    return deployment_warnings(load_settings({"MAILGATE_DATA_DIR": str(tmp_path), **env}))


def test_a_production_configuration_draws_no_warning(tmp_path: Path) -> None:
    assert (
        warnings_for(
            tmp_path,
            MAILGATE_HOSTNAME="mx.example.com",
            MAILGATE_PUBLIC_URL="https://t.example.com",
        )
        == []
    )


def test_plain_http_links_warn_only_off_loopback(tmp_path: Path) -> None:
    http = {"MAILGATE_HOSTNAME": "mx.example.com", "MAILGATE_PUBLIC_URL": "http://t.example.com"}
    [warning] = warnings_for(tmp_path, **http)
    assert "plain http" in warning and "MAILGATE_PUBLIC_URL" in warning
    assert warnings_for(tmp_path, MAILGATE_BIND="127.0.0.1", **http) == []


def test_an_unset_public_url_and_a_private_hostname_each_warn(tmp_path: Path) -> None:
    hostname, public_url = warnings_for(tmp_path, MAILGATE_HOSTNAME="vm")
    assert "hostname is 'vm'" in hostname and "MAILGATE_HOSTNAME" in hostname
    assert "http://vm:8080" in public_url and "MAILGATE_PUBLIC_URL" in public_url
