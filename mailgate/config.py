"""Settings: one TOML file, overridden by MAILGATE_* environment variables.

Every setting is declared once in SETTINGS with its parser, so the TOML reader, the environment
reader and the error messages agree. Unknown keys are refused: a typo must not silently fall back
to a default on a mail server.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dns_tools.names import dns_label
from mta.tracking.ocrid import decode_key

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The conversion key `mailgate init` writes, used when the `conversion_key` setting is empty.
CONVERSION_KEY_FILE = "conversion.key"


class ConfigError(Exception):
    """An invalid setting; the message names the setting and the environment variable."""


def _whole(value: Any, expected: str) -> int:
    """An integer from TOML or text; anything else is refused with what was `expected` (not
    Python's "invalid literal for int()", which names neither the setting nor the form)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}")
    if isinstance(value, int):
        return value
    text = str(value).strip().replace("_", "")
    if not text.lstrip("+-").isdigit():
        raise ValueError(f"expected {expected}")
    return int(text)


def _real(value: Any, expected: str) -> float:
    """A finite number from TOML or text, else a ValueError saying what was `expected`."""
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected {expected}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected {expected}")
    return number


def _port(value: Any) -> int:
    port = _whole(value, "a port number 1-65535")
    if not 1 <= port <= 65535:
        raise ValueError("expected a port number 1-65535")
    return port


def _optional_port(value: Any) -> int | None:
    """An empty string, `off` or 0 disables a listener."""
    if value in ("", "off", "none", 0, "0", None, False):
        return None
    return _port(value)


def _port_list(value: Any) -> tuple[int, ...]:
    items = _split(value)
    return tuple(_port(item) for item in items)


def _split(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _networks(value: Any) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in _split(value))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected a boolean (1/0, true/false)")


def _positive_int(value: Any) -> int:
    number = _whole(value, "a whole number of 1 or more")
    if number < 1:
        raise ValueError("expected a whole number of 1 or more")
    return number


def _non_negative_float(value: Any) -> float:
    number = _real(value, "a number of 0 or more")
    if number < 0:
        raise ValueError("expected a number of 0 or more")
    return number


_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_SIZE_EXPECTED = (
    "a size in bytes, or with a unit: 10MB, 512KiB (kB/MB/GB are 1000s, KiB/MiB/GiB 1024s)"
)


def _size(value: Any) -> int:
    """Bytes: `26214400`, `25MiB`, `10MB`, `512KiB` (case does not matter)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _SIZE.fullmatch(str(value).strip().lower())
        if match is None or match.group(2) not in _SIZE_UNITS:
            raise ValueError(f"expected {_SIZE_EXPECTED}")
        number = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    if number < 1:
        raise ValueError(f"expected {_SIZE_EXPECTED}, of at least 1 byte")
    return number


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_EXPECTED = "a positive duration such as 90, 5m, 4h or 5d"


def _duration(value: Any) -> float:
    """Seconds, or a number with a unit: `90`, `90s`, `5m`, `4h`, `5d`."""
    text = str(value).strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    seconds = _real(text[:-1] if unit else text, _DURATION_EXPECTED) * (unit or 1.0)
    if not seconds > 0:
        raise ValueError(f"expected {_DURATION_EXPECTED}")
    return seconds


def _durations(value: Any) -> tuple[float, ...]:
    items = tuple(_duration(item) for item in _split(value))
    if not items:
        raise ValueError("expected at least one duration")
    return items


def _non_negative_int(value: Any) -> int:
    number = _whole(value, "a whole number of 0 or more")
    if number < 0:
        raise ValueError("expected a whole number of 0 or more")
    return number


def _rate_limit(value: Any) -> tuple[int, int]:
    """`N/SECONDS`, or `0` for no limit."""
    text = str(value).strip()
    if text == "0":
        return (0, 0)
    count, sep, seconds = text.partition("/")
    expected = "N/SECONDS with N >= 0 and SECONDS >= 1, e.g. 100/60, or 0"
    if not sep:
        raise ValueError(f"expected {expected}")
    limit = (_whole(count, expected), _whole(seconds, expected))
    if limit[0] < 0 or limit[1] < 1:
        raise ValueError(f"expected {expected}")
    return limit


def _routes(value: Any) -> dict[str, tuple[str, int]]:
    """`domain=host:port` pairs; `*` matches every domain."""
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        pairs = []
        for item in _split(value):
            domain, sep, target = item.partition("=")
            if not sep:
                raise ValueError("expected domain=host:port")
            pairs.append((domain, target))
    routes: dict[str, tuple[str, int]] = {}
    for domain, target in pairs:
        host, sep, port = target.strip().rpartition(":")
        if not sep or not host:
            raise ValueError(f"route target {target!r} must be host:port")
        routes[domain.strip().lower()] = (host.strip("[]"), _port(port))
    return routes


def _host_port(value: Any) -> tuple[str, int]:
    """`host:port`, the host a name or an address (IPv6 in brackets)."""
    host, sep, port = str(value).strip().rpartition(":")
    if not sep or not host.strip("[]"):
        raise ValueError("expected host:port")
    return host.strip("[]"), _port(port)


def _nameservers(value: Any) -> tuple[tuple[str, int], ...]:
    servers = []
    for item in _split(value):
        host, port = item, 53
        if item.count(":") == 1 or item.startswith("["):
            host, _, port_text = item.rpartition(":")
            host, port = host.strip("[]"), _port(port_text)
        ipaddress.ip_address(host)
        servers.append((host, port))
    return tuple(servers)


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return parse


def _text(value: Any) -> str:
    return str(value).strip()


def _optional_http_url(value: Any) -> str:
    """An http or https URL, or empty for none."""
    text = str(value).strip()
    parts = urlsplit(text)
    if text and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError("expected an http:// or https:// URL, or empty for none")
    return text


def _optional_key(value: Any) -> bytes | None:
    """32 bytes in URL-safe base64; empty means the data directory's key file."""
    text = str(value).strip()
    return decode_key(text) if text else None


def machine_name() -> str:
    """The machine's fully qualified name when it has one, else its host name.

    `socket.getfqdn()` alone is not it: it takes the first dotted name the resolver gives for
    the host's address, and on hosts whose /etc/hosts lists the name beside 127.0.0.1 that is
    `localhost`, which a gateway must never announce in its banner, EHLO or SPF records."""
    name = socket.gethostname()
    if "." in name:
        return name
    fqdn = socket.getfqdn(name)
    if "." in fqdn and not fqdn.lower().startswith("localhost"):
        return fqdn
    return name


@dataclasses.dataclass(frozen=True)
class Settings:
    """The gateway's settings. Paths are resolved against the data directory."""

    data_dir: Path
    database_url: str
    hostname: str
    bind: str
    smtp_port: int | None
    submission_ports: tuple[int, ...]
    smtps_port: int | None
    http_port: int | None
    allow_partial_service: bool
    public_url: str
    routes: dict[str, tuple[str, int]]
    nameservers: tuple[tuple[str, int], ...]
    trusted_networks: tuple[IPNetwork, ...]
    relay_networks: tuple[IPNetwork, ...]
    api_rate_limit: tuple[int, int]
    allow_private_targets: bool
    tls_cert: Path
    tls_key: Path
    allow_plaintext_auth_on_loopback: bool
    max_message_size: int
    max_recipients: int
    hop_limit: int
    smtp_processes: int
    smtp_timeout: float
    auth_failure_delay: float
    auth_failure_limit: int
    auth_lockout_seconds: float
    return_path_subdomain: str
    track_prefix: str
    delivery_processes: int
    http_processes: int
    retry_schedule: tuple[float, ...]
    webhook_retry_schedule: tuple[float, ...]
    max_queue_lifetime: float
    delivery_lease: float
    delivery_port: int
    destination_concurrency: int
    destination_rate_limit: int
    connection_idle_timeout: float
    soft_bounce_limit: int
    campaign_batch: int
    spamd_address: tuple[str, int]
    spam_test_daily_limit: int
    sms_provider_url: str
    sms_provider_token: str = dataclasses.field(repr=False)
    log_format: str
    log_level: str
    # Seals OCRIDs; None only before `mailgate init`. Kept out of repr so it never reaches a log.
    conversion_key: bytes | None = dataclasses.field(repr=False)
    # Where each setting came from: the environment variable's name, the config file's path,
    # or "default"; so start-up advice can tell a chosen value from a guessed one.
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    # The TOML file read (or, for `mailgate init`, to be written): MAILGATE_CONFIG or the default.
    config_path: Path = Path("mailgate.toml")

    def explicit(self, name: str) -> bool:
        """True when the operator set `name` (in the file or the environment)."""
        return self.sources.get(name, "default") != "default"

    @property
    def smtp_ports(self) -> list[int]:
        """The ports applications may submit on, as shown with SMTP credentials."""
        ports = [port for port in (self.smtp_port, *self.submission_ports) if port]
        return ports + ([self.smtps_port] if self.smtps_port else [])

    @property
    def conversion_key_path(self) -> Path:
        return self.data_dir / CONVERSION_KEY_FILE


# name -> (parser, default or a function of the partially built settings)
Default = Any
SETTINGS: dict[str, tuple[Callable[[Any], Any], Default]] = {
    "database_url": (_text, lambda s: f"sqlite+aiosqlite:///{s['data_dir'] / 'mailgate.db'}"),
    "hostname": (_text, lambda s: machine_name()),
    "bind": (_text, "0.0.0.0"),  # noqa: S104 - a mail server listens on all interfaces by default
    "smtp_port": (_optional_port, 25),
    "submission_ports": (_port_list, (587, 2525)),
    "smtps_port": (_optional_port, 465),
    "http_port": (_optional_port, 8080),
    "allow_partial_service": (_bool, False),
    "public_url": (_text, lambda s: f"http://{s['hostname']}:{s['http_port'] or 8080}"),
    "routes": (_routes, {}),
    "nameservers": (_nameservers, ()),
    "trusted_networks": (_networks, "127.0.0.0/8,::1/128"),
    "relay_networks": (_networks, ()),
    "api_rate_limit": (_rate_limit, "100/60"),
    "allow_private_targets": (_bool, False),
    "tls_cert": (Path, lambda s: s["data_dir"] / "tls" / "cert.pem"),
    "tls_key": (Path, lambda s: s["data_dir"] / "tls" / "key.pem"),
    "allow_plaintext_auth_on_loopback": (_bool, False),
    "max_message_size": (_size, 25 * 1024 * 1024),
    "max_recipients": (_positive_int, 1000),
    "hop_limit": (_positive_int, 50),
    "smtp_processes": (_positive_int, lambda s: os.cpu_count() or 1),
    "smtp_timeout": (_non_negative_float, 300.0),
    "auth_failure_delay": (_non_negative_float, 1.0),
    "auth_failure_limit": (_positive_int, 10),
    "auth_lockout_seconds": (_non_negative_float, 600.0),
    "return_path_subdomain": (dns_label, "bounces"),
    "track_prefix": (dns_label, "links"),
    "delivery_processes": (_non_negative_int, 1),
    "http_processes": (_positive_int, 1),
    "retry_schedule": (_durations, "5m,10m,20m,40m,1h,2h,4h,8h"),
    "webhook_retry_schedule": (_durations, "5s,5m,30m,2h,5h,10h,10h"),
    "max_queue_lifetime": (_duration, "5d"),
    "delivery_lease": (_duration, "15m"),
    "delivery_port": (_port, 25),
    "destination_concurrency": (_positive_int, 20),
    "destination_rate_limit": (_non_negative_int, 0),
    "connection_idle_timeout": (_non_negative_float, 5.0),
    "soft_bounce_limit": (_positive_int, 3),
    "campaign_batch": (_positive_int, 2000),
    "spamd_address": (_host_port, "127.0.0.1:783"),
    "spam_test_daily_limit": (_non_negative_int, 100),
    "sms_provider_url": (_optional_http_url, ""),
    "sms_provider_token": (_text, ""),
    "log_format": (_choice("text", "json"), "text"),
    "log_level": (_choice("debug", "info", "warning", "error"), "info"),
    "conversion_key": (_optional_key, ""),
}

# Settings whose value must not appear in error messages.
SECRETS = {"conversion_key", "sms_provider_token"}


def env_name(setting: str) -> str:
    return "MAILGATE_" + setting.upper()


def load_settings(
    environ: Mapping[str, str] | None = None, config_may_be_missing: bool = False
) -> Settings:
    """Read the TOML file and the environment; raise ConfigError on bad values.

    The default file (DATA_DIR/mailgate.toml) may be absent: defaults and the environment then
    decide. A file named by MAILGATE_CONFIG must exist (a typo there must not silently run on
    defaults), except for `mailgate init`, which writes it (`config_may_be_missing`)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("MAILGATE_DATA_DIR", "./data")).resolve()
    config_path = Path(env.get("MAILGATE_CONFIG", data_dir / "mailgate.toml"))
    if "MAILGATE_CONFIG" in env and not config_may_be_missing and not config_path.exists():
        raise ConfigError(
            f"{config_path}: no such config file (named by MAILGATE_CONFIG or --config); "
            "fix the path, or run `mailgate init` to write one there"
        )
    file_values = _read_toml(config_path)
    if "data_dir" in file_values:
        raise ConfigError(
            f"{config_path}: 'data_dir' cannot be set in the file; use MAILGATE_DATA_DIR"
        )
    unknown = sorted(set(file_values) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"{config_path}: unknown setting(s): {', '.join(unknown)}")
    for key in env:
        if key.startswith("MAILGATE_") and key not in _KNOWN_ENV:
            raise ConfigError(f"unknown environment variable {key}")

    values: dict[str, Any] = {"data_dir": data_dir}
    sources: dict[str, str] = {}
    for name, (parse, default) in SETTINGS.items():
        source, raw = _pick(name, env, file_values, config_path)
        if raw is None:
            raw = default(values) if callable(default) else default
            source = "default"
        sources[name] = source
        try:
            values[name] = parse(raw)
        except (ValueError, TypeError) as error:
            got = "" if name in SECRETS else f" (got {raw!r})"
            raise ConfigError(
                f"invalid setting '{name}' ({env_name(name)}) from {source}: {error}{got}"
            ) from None
    for name in ("tls_cert", "tls_key"):
        if not values[name].is_absolute():
            values[name] = data_dir / values[name]
    if values["conversion_key"] is None:
        values["conversion_key"] = _read_key_file(data_dir / CONVERSION_KEY_FILE)
        if values["conversion_key"] is not None:
            sources["conversion_key"] = str(data_dir / CONVERSION_KEY_FILE)
    return Settings(**values, sources=sources, config_path=config_path)


def _read_key_file(path: Path) -> bytes | None:
    """The key `mailgate init` wrote; None when there is none yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the conversion key: {error.strerror}") from None
    try:
        return decode_key(text)
    except ValueError as error:
        raise ConfigError(f"{path}: not a conversion key: {error}") from None


_KNOWN_ENV = {env_name(name) for name in SETTINGS} | {"MAILGATE_DATA_DIR", "MAILGATE_CONFIG"}


def _pick(
    name: str, env: Mapping[str, str], file_values: Mapping[str, Any], path: Path
) -> tuple[str, Any]:
    if env_name(name) in env:
        return env_name(name), env[env_name(name)]
    if name in file_values:
        return str(path), file_values[name]
    return "default", None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
