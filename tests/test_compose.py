"""compose.yaml and the Dockerfile checked against the code they run: the settings they set,
the ports the gateway listens on, the commands they call. No Docker engine runs here, so they
are read, not run; tests/test_packaging.py runs the Dockerfile's CMD and HEALTHCHECK from an
installed wheel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from mailgate.config import Settings, load_settings
from mta.tracking.ocrid import decode_key, new_key
from tests.deployment import (
    ROOT,
    Dockerfile,
    instructions,
    listening_ports,
    mailgate_commands,
    read_dockerfile,
)

NODES = ("mailgate-a", "mailgate-b")
# What an operator's .env holds: the two variables compose.yaml requires.
DOT_ENV = {"MAILGATE_CONVERSION_KEY": new_key(), "POSTGRES_PASSWORD": "s3cret"}


class UnsetVariable(Exception):
    """A `${NAME:?message}` whose variable is unset: compose refuses the file."""


_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's substitution: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
    `${NAME:?error}`, `${NAME?error}` (with `:`, an empty value counts as unset)."""

    def value(match: re.Match[str]) -> str:
        if match[1]:
            return "$"
        name, operator, argument = match[2] or match[5], match[3] or "", match[4]
        current = variables.get(name)
        missing = current is None or (operator.startswith(":") and current == "")
        if missing and operator.endswith("?"):
            raise UnsetVariable(f"{name}: {argument}")
        if missing and operator.endswith("-"):
            return argument
        return current or ""

    return _VARIABLE.sub(value, text)


def interpolated(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolated(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(item, variables) for key, item in node.items()}
    return node


def compose(variables: Mapping[str, str] = DOT_ENV) -> dict[str, Any]:
    return interpolated(yaml.safe_load((ROOT / "compose.yaml").read_text()), variables)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return compose()["services"]


@pytest.fixture(scope="module")
def image() -> Dockerfile:
    return read_dockerfile()


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, as a mapping or as a list of NAME=value."""
    given = service.get("environment") or {}
    if isinstance(given, list):
        given = dict(item.split("=", 1) for item in given)
    return {name: str(value) for name, value in given.items()}


def settings_of(env: Mapping[str, str], data_dir: Path) -> Settings:
    """The settings a container with `env` runs with, read by the gateway's own reader (which
    refuses unknown MAILGATE_* names and bad values); the data directory moved to `data_dir`,
    so no file on this machine decides."""
    return load_settings({**env, "MAILGATE_DATA_DIR": str(data_dir)})


def published(service: Mapping[str, Any]) -> dict[int, int]:
    """Container port -> host port, from the short (`[IP:]HOST:CONTAINER[/tcp]`) and the long
    (`target`/`published`) syntax."""
    ports = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports[int(entry["target"])] = int(entry["published"])
            continue
        *host, container = str(entry).split("/")[0].split(":")
        assert host, f"{entry}: no host port, Docker would pick a random one"
        ports[int(container)] = int(host[-1])
    return ports


def node_settings(services: Mapping[str, Any], image: Dockerfile, node: str, tmp: Path) -> Settings:
    return settings_of({**image.env, **environment(services[node])}, tmp)


@pytest.mark.parametrize("node", NODES)
def test_every_setting_a_node_gets_is_real_and_valid(
    services: dict[str, Any], image: Dockerfile, node: str, tmp_path: Path
) -> None:
    env = environment(services[node])
    assert {"MAILGATE_DATABASE_URL", "MAILGATE_CONVERSION_KEY", "MAILGATE_HOSTNAME"} <= set(env)
    settings = node_settings(services, image, node, tmp_path)
    assert settings.conversion_key == decode_key(DOT_ENV["MAILGATE_CONVERSION_KEY"])
    assert settings.sources["public_url"] == "MAILGATE_PUBLIC_URL"


@pytest.mark.parametrize("node", NODES)
def test_every_port_a_node_listens_on_is_published(
    services: dict[str, Any], image: Dockerfile, node: str, tmp_path: Path
) -> None:
    listening = listening_ports(node_settings(services, image, node, tmp_path))
    assert {25, 587, 2525, 465, 8080} <= listening
    unpublished = listening - set(published(services[node]))
    assert not unpublished, f"{node} does not publish {sorted(unpublished)}"


def test_the_nodes_publish_on_different_host_ports(services: dict[str, Any]) -> None:
    host_ports = [port for node in NODES for port in published(services[node]).values()]
    assert len(host_ports) == len(set(host_ports))


def test_the_nodes_share_the_postgres_service_and_the_conversion_key(
    services: dict[str, Any],
) -> None:
    postgres = environment(services["postgres"])
    for node in NODES:
        env = environment(services[node])
        url = make_url(env["MAILGATE_DATABASE_URL"])
        assert (url.drivername, url.host, url.port) == ("postgresql+asyncpg", "postgres", 5432)
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == postgres["POSTGRES_PASSWORD"] == DOT_ENV["POSTGRES_PASSWORD"]
        assert url.database == postgres["POSTGRES_DB"]
        assert env["MAILGATE_CONVERSION_KEY"] == DOT_ENV["MAILGATE_CONVERSION_KEY"]
    hostnames = {environment(services[node])["MAILGATE_HOSTNAME"] for node in NODES}
    assert len(hostnames) == len(NODES)


@pytest.mark.parametrize("missing", sorted(DOT_ENV))
def test_the_secrets_must_come_from_the_environment(missing: str) -> None:
    with pytest.raises(UnsetVariable, match=missing):
        compose({name: value for name, value in DOT_ENV.items() if name != missing})


def test_the_nodes_start_once_postgres_is_healthy(services: dict[str, Any]) -> None:
    test = services["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    assert services["postgres"]["image"].startswith("postgres:16")
    for node in NODES:
        assert services[node]["depends_on"]["postgres"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("node", NODES)
def test_a_node_is_built_from_the_dockerfile(services: dict[str, Any], node: str) -> None:
    build = services[node]["build"]
    context = ROOT / build["context"]
    assert (context / build.get("dockerfile", "Dockerfile")).is_file()
    assert (context / ".dockerignore").is_file()


def test_each_node_keeps_its_data_in_a_volume_of_its_own(
    services: dict[str, Any], image: Dockerfile
) -> None:
    data_dir = image.env["MAILGATE_DATA_DIR"]
    assert data_dir in image.volumes
    sources = []
    for node in NODES:
        mounts = [str(v).split(":") for v in services[node]["volumes"]]
        sources += [source for source, target, *_ in mounts if target == data_dir]
    assert len(sources) == len(set(sources)) == len(NODES)
    assert set(sources) <= set(compose()["volumes"])


@pytest.mark.parametrize("node", NODES)
def test_a_node_runs_real_commands_ending_in_serve(
    services: dict[str, Any], image: Dockerfile, node: str
) -> None:
    command = services[node].get("command") or image.cmd
    if isinstance(command, str):
        command = ["/bin/sh", "-c", command]
    invocations = mailgate_commands(command)
    assert invocations[-1][1:] == ["serve"]


def test_the_image_exposes_every_port_the_gateway_listens_on(
    image: Dockerfile, tmp_path: Path
) -> None:
    listening = listening_ports(settings_of(image.env, tmp_path))
    assert not listening - image.exposed, f"EXPOSE lacks {sorted(listening - image.exposed)}"


def test_the_image_runs_init_then_serve_and_checks_readiness(image: Dockerfile) -> None:
    assert [words[1] for words in mailgate_commands(image.cmd)] == ["init", "serve"]
    assert "/readyz" in " ".join(image.healthcheck)


def test_the_image_installs_the_whole_source_tree() -> None:
    copies = [
        args for name, args in instructions((ROOT / "Dockerfile").read_text()) if name == "COPY"
    ]
    sources = [args.split()[:-1] for args in copies if not args.startswith("--from=")]
    assert sources == [["."]], f"COPY of a hand-made list can go stale: {copies}"
