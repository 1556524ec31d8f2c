"""The shipped install works: a wheel built from the Docker build context (the source tree less
.dockerignore), installed with its dependencies into a fresh virtual environment outside the
checkout, runs the Dockerfile's CMD, passes its HEALTHCHECK and answers on /api.php and /rest.

Slow on purpose (marked `packaging`; about 30 s of CPU, most of it pip): it builds a wheel and
installs every dependency into a new environment, as `pip install .` and the Dockerfile do. The
editable install the rest of the suite uses cannot see a package or data file the wheel lacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import gateway_settings, greeting, listener_ports, tls_greeting, wait_until
from tests.deployment import ROOT, Dockerfile, copy_build_context, read_dockerfile
from tests.http_api.conftest import RestClient

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(180)]


@dataclass
class Installed:
    venv: Path
    python: Path
    site_packages: Path
    context: list[str]
    package_files: set[str]  # in the checkout, when the context was copied


def run(*argv: str | Path, **options: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=150, **options
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel of the build context, installed with its dependencies into a new venv."""
    tmp = tmp_path_factory.mktemp("packaging")
    context, files = copy_build_context(tmp / "src"), package_files(ROOT)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", tmp / "wheels",
        tmp / "src")  # fmt: skip
    (wheel,) = (tmp / "wheels").glob("mailgate-*.whl")
    venv = tmp / "venv"
    # No pip inside: this environment's pip installs into it (`--python`), a few seconds less.
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-compile", wheel)
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    return Installed(venv, python, Path(purelib.stdout.strip()), context, files)


def clean_env(venv: Path, settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an operator's shell: the venv's scripts on PATH, no PYTHONPATH, no
    MAILGATE_* of the test run; then `settings`. Bytecode is written as modules are first
    imported: installed with --no-compile, since compiling every module of every dependency
    (as the image's pip does once) took longer here than all the rest of the test."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    env = inherited | dict(settings or {})
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def package_files(root: Path) -> set[str]:
    """Files of our top-level packages under `root`: each folder of the checkout holding an
    `__init__.py`, tests aside (found here, not taken from pyproject's list)."""
    packages = [p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"]
    return {
        path.relative_to(root).as_posix()
        for package in packages
        for path in (root / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_ships_every_package_and_data_file(installed: Installed) -> None:
    missing = installed.package_files - package_files(installed.site_packages)
    assert not missing, f"left out of the wheel: {sorted(missing)}"
    assert {"mailgate/config_template.toml", "storage/migrations/env.py"} <= installed.package_files


def test_the_build_context_leaves_out_the_checkouts_own_state(installed: Installed) -> None:
    tops = {path.split("/")[0] for path in installed.context}
    assert {"pyproject.toml", "README.md", "mailgate", "http_api"} <= tops
    assert not tops & {".git", ".venv", "data", "tests", "bench", ".env"}


def test_the_installed_modules_are_imported_outside_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    shown = run(
        installed.python, "-c",
        "import mailgate, http_api.commands, http_api.rest; print(mailgate.__file__)",
        cwd=tmp_path, env=clean_env(installed.venv),
    )  # fmt: skip
    imported = Path(shown.stdout.strip())
    assert imported.is_relative_to(installed.site_packages), imported
    assert not imported.is_relative_to(ROOT)


@pytest.fixture
def serving(installed: Installed, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The Dockerfile's CMD run from the installed venv, with its ENV and free loopback ports;
    yields the environment once every SMTP listener greets."""
    image = read_dockerfile()
    ports = listener_ports()
    settings = {
        **image.env,
        **gateway_settings(tmp_path / "data", ports),
        "MAILGATE_HOSTNAME": "mx.packaging.test",
        "MAILGATE_SMTP_PROCESSES": "1",
    }
    env = clean_env(installed.venv, settings)
    # As an operator would first; the CMD runs `mailgate init` again (it is idempotent).
    run("mailgate", "init", "--data-dir", tmp_path / "data", env=env, cwd=tmp_path)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            image.cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def up(port: int, role: str) -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the CMD exited early:\n{log_path.read_text()}")
        return tls_greeting(port) if role == "smtps" else greeting(port)

    try:
        for role, port in ports.items():
            wait_until(lambda port=port, role=role: up(port, role), timeout=30)
        yield env
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def healthy(image: Dockerfile, env: Mapping[str, str], cwd: Path) -> bool:
    """The image's HEALTHCHECK command passes, run as Docker runs it (the container's env)."""
    checked = subprocess.run(image.healthcheck, env=env, cwd=cwd, capture_output=True, timeout=30)
    return checked.returncode == 0


def test_the_installed_gateway_serves_its_api(
    installed: Installed, serving: dict[str, str], tmp_path: Path
) -> None:
    try:
        wait_until(lambda: healthy(read_dockerfile(), serving, tmp_path), timeout=30)
    except AssertionError:
        pytest.fail(
            f"the HEALTHCHECK never passed; serve's log:\n{(tmp_path / 'serve.log').read_text()}"
        )
    user = run("mailgate", "user", "add", "owner@packaging.test", env=serving, cwd=tmp_path)
    made = json.loads(user.stdout)
    base = f"http://127.0.0.1:{serving['MAILGATE_HTTP_PORT']}"
    with httpx.Client(base_url=base, timeout=10) as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        answer = client.post(
            "/api.php", json={"Command": "emailgateway.getdomains", "APIKey": made["APIKey"]}
        )
        assert answer.status_code == 200 and answer.json()["Success"] is True, answer.text
        rest = RestClient(client, made["RestApiKey"], made["RestApiSecret"]).get("/rest/ping")
        assert rest.json() == {"status": "OK", "data": "pong"}
