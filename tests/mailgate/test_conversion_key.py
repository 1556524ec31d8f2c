"""The conversion key that seals OCRIDs: `mailgate init` makes one in the data directory, once;
the `conversion_key` setting overrides it; it never appears in output, errors or repr; and
`serve` does not start without one."""

from __future__ import annotations

import base64
import secrets
import stat
from pathlib import Path

from mta.tracking.ocrid import decode_key
from tests.conftest import make_gateway
from tests.mailgate.test_config import config_error, settings


def urlsafe(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def test_init_makes_a_private_key_once_and_keeps_it_out_of_its_output(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path / "data")
    key_file = gateway.data_dir / "conversion.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text().strip()
    key = decode_key(text)
    assert len(key) == 32
    assert settings(gateway.data_dir).conversion_key == key  # what `serve` will use

    again = gateway.cli("init")
    assert key_file.read_text().strip() == text  # never replaced: links depend on it
    assert "conversion key" not in again.stderr
    assert text not in again.stdout + again.stderr


def test_a_fresh_install_has_a_key_of_its_own(tmp_path: Path) -> None:
    first = make_gateway(tmp_path / "one").data_dir / "conversion.key"
    second = make_gateway(tmp_path / "two").data_dir / "conversion.key"
    assert first.read_text() != second.read_text()


def test_without_a_key_file_or_setting_there_is_no_key(tmp_path: Path) -> None:
    assert settings(tmp_path).conversion_key is None


def test_the_setting_overrides_the_key_file(tmp_path: Path) -> None:
    from_file, from_toml, from_env = (secrets.token_bytes(32) for _ in range(3))
    (tmp_path / "conversion.key").write_text(urlsafe(from_file) + "\n")
    assert settings(tmp_path).conversion_key == from_file
    toml = f'conversion_key = "{urlsafe(from_toml)}"\n'
    assert settings(tmp_path, toml).conversion_key == from_toml
    overridden = settings(tmp_path, toml, MAILGATE_CONVERSION_KEY=urlsafe(from_env).rstrip("="))
    assert overridden.conversion_key == from_env
    assert settings(tmp_path, 'conversion_key = ""\n').conversion_key == from_file


def test_an_invalid_key_setting_is_refused_without_echoing_it(tmp_path: Path) -> None:
    short = urlsafe(secrets.token_bytes(31))
    message = config_error(tmp_path, MAILGATE_CONVERSION_KEY=short)
    assert "invalid setting 'conversion_key' (MAILGATE_CONVERSION_KEY)" in message
    assert "32 bytes" in message
    assert short not in message


def test_a_damaged_key_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    damaged = "not-a-key-" + secrets.token_hex(8)
    (tmp_path / "conversion.key").write_text(damaged)
    message = config_error(tmp_path)
    assert f"{tmp_path / 'conversion.key'}: not a conversion key" in message
    assert damaged not in message


def test_the_key_is_not_in_the_settings_repr(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    got = settings(tmp_path, MAILGATE_CONVERSION_KEY=urlsafe(key))
    assert got.conversion_key == key
    assert "conversion_key" not in repr(got)
    assert repr(key) not in repr(got)


def test_serve_does_not_start_without_a_key(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path / "data")
    old = (gateway.data_dir / "conversion.key").read_text()
    (gateway.data_dir / "conversion.key").unlink()
    result = gateway.cli("serve", check=False)
    assert result.returncode == 2
    assert "no conversion key" in result.stderr
    assert "copy conversion.key from a node" in result.stderr
    assert not (gateway.data_dir / "conversion.key").exists()
    # With every copy lost, the operator may make a new one; the old one is then refused.
    gateway.cli("init", "--replace-conversion-key")
    assert gateway.cli("user", "add", "after@replace.test").returncode == 0
    refused = gateway.cli("serve", check=False, env={"MAILGATE_CONVERSION_KEY": old.strip()})
    assert refused.returncode == 2 and "is not the one the other nodes" in refused.stderr
