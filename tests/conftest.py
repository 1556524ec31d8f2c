"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and real `mailgate`
processes on free loopback ports."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from storage.engine import Database, is_sqlite
from storage.migrate import upgrade_async
from tests import store_sql
from tests.cli_runner import MAILGATE as MAILGATE  # tests start the real executable with it
from tests.cli_runner import ForkedProcess, run_cli, start
from tests.dns_server import DnsServer

POSTGRES = os.environ.get("MAILGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# The modules whose gateways start as the real executable, because start-up is what they test;
# any other module can ask for it with `pytestmark = pytest.mark.cold_start`.
COLD_START_MODULES = {"test_serve.py", "test_serve_supervision.py", "test_first_run.py"}


@dataclass
class StartMode:
    """How Gateway.start runs `mailgate serve`: forked warm from the fork server of
    tests/cli_runner.py, or cold as the real executable (the tests marked cold_start, or every
    test with MAILGATE_TEST_COLD_START=1, to compare)."""

    cold: bool = os.environ.get("MAILGATE_TEST_COLD_START") == "1"


START_MODE = StartMode()


# Modules that hold one worker for a minute or more (a wheel built and installed in a new venv,
# `make run` on a fresh clone, rate windows waited out). Under pytest-xdist they are handed out
# first (the Makefile turns off xdist's own order, most tests first, which put them last), so
# that the short modules fill the other worker meanwhile instead of one long module ending the
# run alone.
LONG_MODULES = (
    "test_packaging.py",
    "test_readme.py",
    "test_openapi_fuzz.py",
    "test_parameter_types.py",
    "test_rate_limit.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in COLD_START_MODULES:
            item.add_marker(pytest.mark.cold_start)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        tests_in = collections.Counter(item.path for item in items)
        items.sort(key=lambda item: (_long_rank(item.path.name), -tests_in[item.path], item.path))


def _long_rank(module: str) -> int:
    return LONG_MODULES.index(module) if module in LONG_MODULES else len(LONG_MODULES)


@pytest.fixture(autouse=True)
def _start_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Gateways started during a cold_start test start as the real executable."""
    default = START_MODE.cold
    START_MODE.cold = default or request.node.get_closest_marker("cold_start") is not None
    try:
        yield
    finally:
        START_MODE.cold = default


def _postgres_reachable() -> bool:
    host_port = POSTGRES.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


POSTGRES_UP = _postgres_reachable()
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_copy(name: str, template: str) -> None:
    """A new database copied from `template`. PostgreSQL 15 copies through the WAL by default,
    about 300 ms for our schema; FILE_COPY takes about 65 ms (a checkpoint, cheap for a small
    database), which the suite pays once per PostgreSQL test."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES)
    try:
        version = conn.get_server_version()
        strategy = " STRATEGY FILE_COPY" if version.major >= 15 else ""
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
    finally:
        await conn.close()


# Empties a test's database for the next test: every table but alembic_version, foreign keys
# not checked (session_replication_role needs the superuser the suite connects as), every
# sequence from its start. About 30 ms, where copying the template again costs 300-600 ms.
_EMPTY = """
DO $$
DECLARE name text;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOR name IN SELECT tablename FROM pg_tables
              WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
    EXECUTE format('DELETE FROM %I', name);
  END LOOP;
  FOR name IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
    EXECUTE format('ALTER SEQUENCE %I RESTART', name);
  END LOOP;
END $$;
"""
# What a test could change besides rows: its relations, triggers and schema version.
_SHAPE = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'),
       (SELECT count(*) FROM pg_trigger),
       (SELECT string_agg(version_num, ',') FROM alembic_version)
"""


async def _pg_shape(name: str) -> tuple[Any, ...]:
    import asyncpg

    conn = await asyncpg.connect(_pg_url(name).replace("+asyncpg", ""))
    try:
        return tuple(await conn.fetchrow(_SHAPE))
    finally:
        await conn.close()


async def _pg_empty(name: str, shape: tuple[Any, ...]) -> None:
    """Empty a database a test used, as the template was; raises when the test changed more
    than rows (the database is then dropped rather than lent again)."""
    import asyncpg

    conn = await asyncpg.connect(_pg_url(name).replace("+asyncpg", ""))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        if tuple(await conn.fetchrow(_SHAPE)) != shape:
            raise RuntimeError(f"{name} changed shape")
        await conn.execute(_EMPTY)
    finally:
        await conn.close()


def _run_apart(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run in a thread of its own: the session fixtures below are first asked for from
    inside a test's event loop (db_url), where asyncio.run itself refuses to run."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema once per test run: each test's database is a
    copy of it (migrating costs ~0.1 s of CPU and ~0.5 s of fsyncs; copying, neither)."""
    path = tmp_path_factory.mktemp("migrated") / "template.db"
    _run_apart(upgrade_async(f"sqlite+aiosqlite:///{path}"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the file, none in -wal
    return path


@dataclass
class PostgresDatabases:
    """This test process's PostgreSQL databases copied from one template, migrated to the newest
    schema on first use (a file copy on the server instead of a migration, ~1-2 s there): each
    gateway's (make_gateway), and the tests' (db_url), which are emptied after each test and lent
    to the next. All are dropped at the end of the run, after every gateway stopped."""

    template: str | None = None
    made: list[str] = field(default_factory=list)
    free: list[str] = field(default_factory=list)  # tests' databases, emptied, to lend again
    shape: tuple[Any, ...] = ()

    def migrated(self) -> str:
        """The template (skips the test when PostgreSQL is not reachable)."""
        if not POSTGRES_UP:
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES}")
        if self.template is None:
            name = f"mailgate_template_{uuid.uuid4().hex[:12]}"
            _run_apart(_pg_admin(f'CREATE DATABASE "{name}"'))
            _run_apart(upgrade_async(_pg_url(name)))  # disposes its engine: no one stays on
            self.shape = _run_apart(_pg_shape(name))
            self.template = name
        return self.template

    async def lend(self) -> str:
        """A database at the newest schema with no rows, for one test."""
        template = self.migrated()
        if self.free:
            return self.free.pop()
        name = f"mailgate_test_{uuid.uuid4().hex[:12]}"
        await _pg_copy(name, template)
        self.made.append(name)
        return name

    async def give_back(self, name: str) -> None:
        try:
            await _pg_empty(name, self.shape)
        except Exception:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.made.remove(name)
        else:
            self.free.append(name)

    def for_gateway(self) -> str:
        """The URL of a new copy of the template, kept until the end of the run."""
        name = f"mailgate_gateway_{uuid.uuid4().hex[:12]}"
        _run_apart(_pg_copy(name, self.migrated()))
        self.made.append(name)
        return _pg_url(name)

    def drop(self) -> None:
        for name in [*self.made, *([self.template] if self.template else [])]:
            _run_apart(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.clear()
        self.free.clear()
        self.template = None


POSTGRES_DATABASES = PostgresDatabases()


@pytest.fixture(scope="session", autouse=True)
def _postgres_databases() -> Iterator[None]:
    yield
    POSTGRES_DATABASES.drop()


def _pg_url(name: str) -> str:
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database at the newest schema with no rows: a SQLite file copied from the migrated
    one, or a PostgreSQL database of this process's (a copy of the template, emptied after
    each test that used it)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = await POSTGRES_DATABASES.lend()
    try:
        yield _pg_url(name)
    finally:
        await POSTGRES_DATABASES.give_back(name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """The database every storage operation takes, on a fresh database."""
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one `mailgate` installation (skips the test when
    PostgreSQL is not reachable), dropped afterwards."""
    if not POSTGRES_UP:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES}")
    name = f"mailgate_serve_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one `mailgate` installation."""
    with postgres_database() as url:
        yield url


def _port_range() -> range:
    """Ports this test process hands out: below the kernel's ephemeral range (so no outgoing
    connection takes one meanwhile), a separate block per pytest-xdist worker, so two workers
    never pick the same port in the moment before a started gateway binds it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = 12000 + (index % 4) * 5000
    return range(start, start + 5000)


_PORTS = _port_range()
# A random start keeps two pytest runs on one machine (a developer's and a helper's) apart.
_next_port = itertools.count(random.randrange(len(_PORTS)))


def free_port() -> int:
    """A loopback port no socket holds now and this process has not handed out before."""
    for _ in range(len(_PORTS)):
        port = _PORTS[next(_next_port) % len(_PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORTS}")


# A condition that takes time to check (a query, an HTTP request, a log read) is not checked back
# to back: between two checks the wait is at least POLL_DUTY times what the last one took (so
# that a long wait costs at most a fifth of a core), but never more than POLL_PAUSE_MAX (a check
# that took long because it waited, for a banner say, is not answered with a long pause).
POLL_DUTY = 4
POLL_PAUSE_MAX = 0.2


def _pause(interval: float, took: float) -> float:
    return max(interval, min(POLL_DUTY * took, POLL_PAUSE_MAX))


def wait_until(condition: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns a truthy value; fail after `timeout` seconds. Polls
    `interval` apart, or further apart when a poll takes long (_pause)."""
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        value = condition()
        if value:
            return value
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(_pause(interval, now - started))


async def async_wait_until(condition: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        value = await condition()
        if value:
            return value
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        await asyncio.sleep(_pause(interval, now - started))


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def greeting(port: int) -> bool:
    """True once a worker answers on `port` with its 220 banner."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(512).startswith(b"220")
    except OSError:
        return False


def tls_greeting(port: int) -> bool:
    """True once the implicit-TLS port completes a handshake and sends its 220 banner."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw) as sock,
        ):
            return sock.recv(512).startswith(b"220")
    except OSError:
        return False


@dataclass
class Gateway:
    """A data directory and the `mailgate` commands run against it, as subprocesses."""

    data_dir: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | ForkedProcess | None = None
    log_path: Path | None = None

    def cli(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`mailgate ARGS` on this installation; `env` adds to or overrides its settings. Each
        command is a process of its own, forked from one that imported the CLI already
        (tests/cli_runner.py): the suite runs about a thousand of them."""
        result = run_cli(list(args), self.env | (env or {}))
        if check and result.returncode != 0:
            raise AssertionError(f"mailgate {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args).stdout)

    @property
    def database_url(self) -> str:
        default = f"sqlite+aiosqlite:///{self.data_dir / 'mailgate.db'}"
        return self.env.get("MAILGATE_DATABASE_URL", default)

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement on the installation's database, SQLite or PostgreSQL (committed),
        and return its rows: how tests look at, or set up, what the gateway stores."""
        return store_sql.sql(self.database_url, statement, params)

    @property
    def on_sqlite(self) -> bool:
        """Whether the store is SQLite: for the few statements that must differ."""
        return is_sqlite(self.database_url)

    def start(self) -> None:
        """`mailgate serve` in a session of its own, its output in a new log; returns once every
        listener answers. Forked warm (tests/cli_runner.py) unless START_MODE.cold."""
        assert self.process is None
        self.log_path = self.data_dir / f"serve-{time.monotonic_ns()}.log"
        self.process = start(["serve"], self.env, self.log_path, cold=START_MODE.cold)
        for role, port in self.ports.items():
            ready = tls_greeting if role == "smtps" else greeting
            wait_until(lambda port=port, ready=ready: ready(port) or self._died())

    def _died(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"mailgate serve exited early:\n{self.log()}")
        return False

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the whole process group (supervisor and workers) and wait for the exit."""
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        code = self.process.wait(timeout=timeout)
        if sig == signal.SIGKILL:
            wait_until(lambda: not any(port_open(p) for p in self.ports.values()))
        self.process = None
        return code


def listener_ports() -> dict[str, int]:
    """A free loopback port for each SMTP listener role a gateway opens."""
    return {"smtp": free_port(), "submission": free_port(), "smtps": free_port()}


def gateway_settings(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    """A test gateway's settings: loopback only, the listeners on `ports`, a free HTTP port."""
    return {
        "MAILGATE_DATA_DIR": str(data_dir),
        "MAILGATE_BIND": "127.0.0.1",
        "MAILGATE_HOSTNAME": "mx.mailgate.test",
        "MAILGATE_SMTP_PORT": str(ports["smtp"]),
        "MAILGATE_SUBMISSION_PORTS": str(ports["submission"]),
        "MAILGATE_SMTPS_PORT": str(ports["smtps"]),
        "MAILGATE_HTTP_PORT": str(free_port()),
        "MAILGATE_SMTP_PROCESSES": "2",
        # Ingest tests queue mail for real-looking domains; only delivery tests send it.
        "MAILGATE_DELIVERY_PROCESSES": "0",
    }


# The store of a gateway that make_gateway builds: SQLite in its data directory, or, with
# MAILGATE_TEST_GATEWAY_DB=postgresql, a new PostgreSQL database of its own (the gateway-level
# tests run on PostgreSQL so). A test can ask for either with make_gateway's `store`.
GATEWAY_DB = os.environ.get("MAILGATE_TEST_GATEWAY_DB", "sqlite")
# The stores of a gateway-level test that matters on both: the run's own and PostgreSQL, as
# `@pytest.mark.parametrize("<its gateway fixture>", STORES, indirect=True)`.
STORES = [
    pytest.param("", id="default-store"),
    pytest.param("postgresql", marks=pytest.mark.postgres, id="postgresql"),
]


def on_store(request: pytest.FixtureRequest, name: str) -> Any:
    """For a module whose gateway fixture `name` stands for `module_<name>` (the run's store)
    and `postgresql_<name>`: the one a test parametrised over STORES asked for."""
    store = getattr(request, "param", "")
    return request.getfixturevalue(f"{store or 'module'}_{name}")


def make_gateway(tmp: Path, joining: Gateway | None = None, store: str = "", **env: str) -> Gateway:
    """An initialised installation in `tmp`; `joining` makes it another node of that gateway's
    database, holding its conversion key as an operator adding a node copies it. Its store is
    `store` ("sqlite" or "postgresql"; GATEWAY_DB when not given) unless `env` names one."""
    own_store = joining is None and "MAILGATE_DATABASE_URL" not in env
    if own_store and (store or GATEWAY_DB) == "postgresql":
        env["MAILGATE_DATABASE_URL"] = POSTGRES_DATABASES.for_gateway()
    if joining is not None:
        env.setdefault("MAILGATE_DATABASE_URL", joining.database_url)
        (tmp / "conversion.key").write_bytes((joining.data_dir / "conversion.key").read_bytes())
        (tmp / "conversion.key").chmod(0o600)
    ports = listener_ports()
    base = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    base.update(gateway_settings(tmp, ports))
    base.update(env)
    gateway = Gateway(data_dir=tmp, env=base, ports=ports)
    gateway.cli("init")
    return gateway


@pytest.fixture
def gateway_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Build initialised gateways; any still running at the end are stopped."""
    made: list[Gateway] = []

    def build(joining: Gateway | None = None, store: str = "", **env: str) -> Gateway:
        gateway = make_gateway(tmp_path_factory.mktemp("gateway"), joining, store, **env)
        made.append(gateway)
        return gateway

    yield build
    for gateway in made:
        if gateway.process is not None:
            gateway.stop(signal.SIGKILL)


SPAMD = ("127.0.0.1", 783)


@pytest.fixture
def spamd() -> tuple[str, int]:
    """SpamAssassin's spamd on 127.0.0.1:783 (.ci/run starts it): a test that needs it skips
    without one, or fails when MAILGATE_REQUIRE_SPAMD=1."""
    try:
        with socket.create_connection(SPAMD, timeout=1):
            return SPAMD
    except OSError:
        message = f"spamd not answering on {SPAMD[0]}:{SPAMD[1]}"
    if os.environ.get("MAILGATE_REQUIRE_SPAMD") == "1":
        pytest.fail(message + " (MAILGATE_REQUIRE_SPAMD=1)")
    pytest.skip(message)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A running DNS server on loopback with an empty zone; tests publish what they need."""
    with DnsServer() as server:
        yield server
