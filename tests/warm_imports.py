"""What the fork server of tests/cli_runner.py imports before it forks any `mailgate` process.

A cold `mailgate serve` spends about a second of CPU importing before it serves: the CLI,
SQLAlchemy and the models, alembic (its schema upgrade), aiosmtpd, dkimpy, Starlette, uvicorn
(its HTTP worker). The fork server imports all of that once, so that each process forked from it
starts warm; what it must not import is prometheus-client: `mailgate serve` sets
PROMETHEUS_MULTIPROC_DIR before anything imports it (mta/metrics.py), and prometheus-client
chooses its multiprocess mode at import. So the fork server imports `mailgate.cli` (which does
not reach the metrics) and every module outside our packages that their sources import (found
by reading them, not by importing ours), and nothing of ours that reaches the metrics; the
serving child imports our remaining modules in the order a cold start does.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUR_PACKAGES = ("mailgate", "mta", "http_api", "storage", "dns_tools")
HELD_BACK = "prometheus_client"
# Ours, and known not to import the metrics: what every command imports first.
OURS_PRELOADED = ("mailgate.cli",)


def _top(name: str) -> str:
    return name.partition(".")[0]


def imported_names(source: str) -> Iterator[str]:
    """Absolute module names a source file imports, anywhere in it (lazy imports inside
    functions included): `import a.b` gives a.b; `from a import b` gives a and a.b (b may be
    a module or a name in a)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def outside_modules(root: Path = ROOT) -> list[str]:
    """The modules outside our packages that our packages' sources import, sorted."""
    names: set[str] = set()
    for package in OUR_PACKAGES:
        for path in (root / package).rglob("*.py"):
            names.update(imported_names(path.read_text()))
    return sorted(
        name for name in names if _top(name) not in OUR_PACKAGES and _top(name) != HELD_BACK
    )


def preload() -> None:
    """Import what a `mailgate` process imports, but for prometheus-client and what reaches it.

    The fork server swallows an ImportError here but dies of any other error (and with it every
    command of the test run), so each import stands alone and a failing one is skipped: the
    child then imports that module itself, as a cold start would."""
    for name in (*OURS_PRELOADED, *outside_modules()):
        parent, _, last = name.rpartition(".")
        if name in sys.modules or hasattr(sys.modules.get(parent), last):
            continue  # imported already, or a name in its module rather than a module
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def check_held_back() -> None:
    """In a forked child, before `mailgate` runs: prometheus-client must not be imported yet."""
    if HELD_BACK in sys.modules:
        raise RuntimeError(
            f"{HELD_BACK} was imported by the fork server (tests/warm_imports.py): `mailgate "
            "serve` must set PROMETHEUS_MULTIPROC_DIR before it is imported"
        )


preload()
