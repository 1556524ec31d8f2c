"""Settings: TOML file, `MAILGATE_*` overrides, and errors that name the setting."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from mailgate.config import ConfigError, Settings, load_settings, machine_name
from tests.conftest import MAILGATE, make_gateway


def settings(data_dir: Path, toml: str = "", **env: str) -> Settings:
    """Settings for `data_dir` from an explicit environment, so the runner's own is ignored."""
    if toml:
        (data_dir / "mailgate.toml").write_text(toml)
    return load_settings({"MAILGATE_DATA_DIR": str(data_dir), **env})


def config_error(data_dir: Path, toml: str = "", **env: str) -> str:
    with pytest.raises(ConfigError) as raised:
        settings(data_dir, toml, **env)
    return str(raised.value)


def test_defaults_are_sqlite_in_the_data_directory_and_the_standard_ports(tmp_path: Path) -> None:
    got = settings(tmp_path)
    assert got.database_url == f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"
    assert (got.smtp_port, got.submission_ports, got.smtps_port) == (25, (587, 2525), 465)
    assert got.relay_networks == ()  # nobody may submit without AUTH unless configured
    assert not got.allow_plaintext_auth_on_loopback
    assert got.tls_cert == tmp_path / "tls" / "cert.pem"


def test_file_values_are_read_and_the_environment_overrides_them(tmp_path: Path) -> None:
    toml = 'hostname = "mx.file.example"\nsmtp_port = 2526\nsubmission_ports = [5870]\n'
    from_file = settings(tmp_path, toml)
    assert (from_file.hostname, from_file.smtp_port) == ("mx.file.example", 2526)
    assert from_file.submission_ports == (5870,)

    overridden = settings(tmp_path, toml, MAILGATE_SMTP_PORT="2527", MAILGATE_SMTPS_PORT="off")
    assert overridden.hostname == "mx.file.example"  # not overridden: still the file's
    assert (overridden.smtp_port, overridden.smtps_port) == (2527, None)


def test_the_process_environment_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands call `load_settings()` without a mapping: it must read `os.environ`."""
    for name in [name for name in os.environ if name.startswith("MAILGATE_")]:
        monkeypatch.delenv(name)
    (tmp_path / "mailgate.toml").write_text("smtp_port = 2526\nlog_level = 'debug'\n")
    monkeypatch.setenv("MAILGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAILGATE_SMTP_PORT", "2600")
    got = load_settings()
    assert (got.data_dir, got.smtp_port, got.log_level) == (tmp_path, 2600, "debug")


def test_relative_tls_paths_are_resolved_in_the_data_directory(tmp_path: Path) -> None:
    got = settings(tmp_path, 'tls_cert = "certs/mx.pem"\n', MAILGATE_TLS_KEY="/etc/k.pem")
    assert (got.tls_cert, got.tls_key) == (tmp_path / "certs" / "mx.pem", Path("/etc/k.pem"))


def test_unknown_file_key_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, "smtp_prot = 25\n")
    assert "unknown setting(s): smtp_prot" in message


def test_unknown_environment_variable_is_refused(tmp_path: Path) -> None:
    assert "MAILGATE_SMTP_PROT" in config_error(tmp_path, MAILGATE_SMTP_PROT="25")


def test_spam_test_settings(tmp_path: Path) -> None:
    defaults = settings(tmp_path)
    assert (defaults.spamd_address, defaults.spam_test_daily_limit) == (("127.0.0.1", 783), 100)
    got = settings(
        tmp_path, MAILGATE_SPAMD_ADDRESS="[::1]:7830", MAILGATE_SPAM_TEST_DAILY_LIMIT="0"
    )
    assert (got.spamd_address, got.spam_test_daily_limit) == (("::1", 7830), 0)
    assert settings(tmp_path, 'spamd_address = "spamd.internal:783"\n').spamd_address == (
        "spamd.internal",
        783,
    )
    assert "expected host:port" in config_error(tmp_path, MAILGATE_SPAMD_ADDRESS="783")
    assert "MAILGATE_SPAM_TEST_DAILY_LIMIT" in config_error(
        tmp_path, MAILGATE_SPAM_TEST_DAILY_LIMIT="-1"
    )


def test_sms_provider_settings(tmp_path: Path) -> None:
    defaults = settings(tmp_path)
    assert (defaults.sms_provider_url, defaults.sms_provider_token) == ("", "")
    got = settings(
        tmp_path,
        MAILGATE_SMS_PROVIDER_URL="https://sms.example.net/send",
        MAILGATE_SMS_PROVIDER_TOKEN="tok-secret-91",
    )
    assert (got.sms_provider_url, got.sms_provider_token) == (
        "https://sms.example.net/send",
        "tok-secret-91",
    )
    assert "tok-secret-91" not in repr(got)
    for url in ("sms.example.net/send", "ftp://sms.example.net", "https://"):
        assert "MAILGATE_SMS_PROVIDER_URL" in config_error(tmp_path, MAILGATE_SMS_PROVIDER_URL=url)


def test_invalid_toml_is_refused_with_the_file_named(tmp_path: Path) -> None:
    assert f"{tmp_path / 'mailgate.toml'}: not valid TOML" in config_error(tmp_path, "smtp_port =")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("smtp_port", "abc"),
        ("smtp_port", "70000"),
        ("submission_ports", "587,x"),
        ("relay_networks", "10.0.0.0/33"),
        ("log_level", "loud"),
        ("max_recipients", "0"),
        ("allow_plaintext_auth_on_loopback", "perhaps"),
        ("return_path_subdomain", "bounces.example"),
        ("return_path_subdomain", "-bounces"),  # not a DNS label
        ("track_prefix", "lïnks"),  # not ASCII: the host name would not resolve
        ("smtp_timeout", "nan"),
        ("max_queue_lifetime", "inf"),  # would crash the expiry arithmetic of delivery
        ("routes", "example.com=nohost"),
    ],
)
def test_invalid_environment_value_names_the_setting_and_variable(
    tmp_path: Path, setting: str, value: str
) -> None:
    variable = f"MAILGATE_{setting.upper()}"
    message = config_error(tmp_path, **{variable: value})
    assert f"invalid setting '{setting}' ({variable}) from {variable}" in message
    assert repr(value) in message


def test_invalid_file_value_names_the_setting_and_the_file(tmp_path: Path) -> None:
    message = config_error(tmp_path, 'relay_networks = ["192.0.2.0/24", "bogus"]\n')
    assert "invalid setting 'relay_networks' (MAILGATE_RELAY_NETWORKS)" in message
    assert str(tmp_path / "mailgate.toml") in message


def test_data_dir_belongs_to_the_environment_not_the_file(tmp_path: Path) -> None:
    assert "MAILGATE_DATA_DIR" in config_error(tmp_path, 'data_dir = "/elsewhere"\n')


def test_serve_with_an_invalid_setting_stops_with_status_2(tmp_path: Path) -> None:
    """On an initialised data directory, so nothing but the bad setting can stop `serve`."""
    gateway = make_gateway(tmp_path / "data")
    result = subprocess.run(
        [*MAILGATE, "serve"],
        env={**gateway.env, "MAILGATE_SMTP_PORT": "twenty-five"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid setting 'smtp_port' (MAILGATE_SMTP_PORT)" in result.stderr
    assert "'twenty-five'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("value", "size"),
    [("26214400", 26214400), ("10MB", 10_000_000), ("512KiB", 524288), ("25mib", 26214400),
     ("1.5GB", 1_500_000_000), ("100 kB", 100_000)],
)  # fmt: skip
def test_sizes_take_units(tmp_path: Path, value: str, size: int) -> None:
    assert settings(tmp_path, MAILGATE_MAX_MESSAGE_SIZE=value).max_message_size == size


def test_a_size_in_the_file_may_be_a_number_or_text(tmp_path: Path) -> None:
    assert settings(tmp_path, "max_message_size = 1000\n").max_message_size == 1000
    assert settings(tmp_path, 'max_message_size = "2MiB"\n').max_message_size == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("max_message_size", "10 parsecs", "expected a size in bytes"),
        ("max_message_size", "0", "of at least 1 byte"),
        ("max_recipients", "10MB", "expected a whole number"),
        ("smtp_processes", "two", "expected a whole number"),
        ("smtp_port", "70000", "expected a port number 1-65535"),
        ("smtp_timeout", "soon", "expected a number"),
        ("max_queue_lifetime", "5 days", "expected a positive duration"),
    ],
)
def test_a_bad_number_says_which_setting_the_value_and_what_is_expected(
    tmp_path: Path, setting: str, value: str, expected: str
) -> None:
    message = config_error(tmp_path, **{f"MAILGATE_{setting.upper()}": value})
    assert f"invalid setting '{setting}'" in message and repr(value) in message
    assert expected in message
    assert "invalid literal" not in message and "could not convert" not in message


def test_the_source_of_each_setting_is_known(tmp_path: Path) -> None:
    got = settings(tmp_path, 'hostname = "mx.example.com"\n', MAILGATE_HTTP_PORT="8081")
    assert got.sources["hostname"] == str(tmp_path / "mailgate.toml")
    assert got.sources["http_port"] == "MAILGATE_HTTP_PORT"
    assert got.sources["bind"] == "default"
    assert got.explicit("hostname") and not got.explicit("public_url")


def test_the_hostname_defaults_to_the_machines_name_never_localhost(tmp_path: Path) -> None:
    name = settings(tmp_path).hostname
    assert name == machine_name()
    assert not name.lower().startswith("localhost")
    assert name.split(".")[0] == socket.gethostname().split(".")[0]


def test_a_config_file_named_but_missing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    message = config_error(tmp_path, MAILGATE_CONFIG=str(missing))
    assert str(missing) in message and "MAILGATE_CONFIG" in message
    # `mailgate init` writes it there.
    got = load_settings(
        {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_CONFIG": str(missing)},
        config_may_be_missing=True,
    )
    assert got.config_path == missing


def test_the_cli_refuses_a_missing_config_file_with_status_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    missing = tmp_path / "typo.toml"
    for args in (["--config", str(missing), "serve"], ["serve", "--config", str(missing)]):
        result = subprocess.run(
            [*MAILGATE, *args], env=env | {"MAILGATE_DATA_DIR": str(tmp_path)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"mailgate: {missing}: no such config file (named by MAILGATE_CONFIG or --config); "
            "fix the path, or run `mailgate init` to write one there"
        ]
