"""Issue 15: the house shows the data flow. What each folder may import, read from the source
with `ast` (imports inside functions and under TYPE_CHECKING included), and the size of every
product module; docs/architecture.md ("Packages and what they hold") states the same rules."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mailgate", "http_api", "mta", "storage", "dns_tools")
MAX_LINES = 600

# The stages of mta/, in the order mail flows through them, and what each may import besides
# storage, dns_tools and mta's shared modules. A stage never imports one later in this table,
# so the graph has no cycle: the front door asks submission; campaigns submit; delivery sends
# what was submitted and campaigns' copies; feedback reads what comes back.
STAGES: dict[str, set[str]] = {
    "worker": set(),
    "tracking": set(),
    "sms": set(),
    "notify": {"worker"},
    "feedback": {"tracking"},
    "submission": {"feedback", "tracking"},
    "campaigns": {"submission", "tracking", "worker"},
    "outbound": {"campaigns", "submission", "feedback", "tracking", "worker"},
    "smtp": {"submission", "feedback"},
}
# Modules at mta's root: vocabularies every stage speaks. They import no stage.
SHARED = {"replies", "verp", "metrics", "checked_http"}
# Which top-level packages each may import (beside itself).
ALLOWED = {
    "dns_tools": set(),
    "storage": set(),
    "mta": {"storage", "dns_tools"},
    "http_api": {"mta", "storage", "dns_tools"},
    "mailgate": {"http_api", "mta", "storage", "dns_tools"},
}


def product_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module name of ours that `path` imports, wherever the import stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in PACKAGES)
    return found


def mta_unit(name: str) -> str:
    """The stage (`mta.outbound`) or shared module (`mta.replies`) a name of mta belongs to."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


MODULES = product_modules()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_product_module_is_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_package_imports_go_downwards(path: Path) -> None:
    own = module_name(path).split(".")[0]
    foreign = {name.split(".")[0] for name in imports_of(path)} - {own}
    assert foreign <= ALLOWED[own], f"{module_name(path)} imports {sorted(foreign)}"


MTA_MODULES = [path for path in MODULES if module_name(path).startswith("mta.")]


@pytest.mark.parametrize("path", MTA_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mta_stages_follow_the_flow(path: Path) -> None:
    unit = mta_unit(module_name(path))
    used = {mta_unit(name) for name in imports_of(path) if name.startswith("mta.")} - {unit}
    shared = {f"mta.{name}" for name in SHARED}
    if unit in shared:
        allowed = shared
    else:
        stage = unit.removeprefix("mta.")
        assert stage in STAGES, f"{unit} is neither a stage nor a shared module of mta"
        allowed = shared | {f"mta.{s}" for s in STAGES[stage]}
    assert used <= allowed, f"{module_name(path)} imports {sorted(used - allowed)}"


def test_every_stage_is_a_package() -> None:
    """The table above names what is on disk: no stage missing, no module left at mta's root
    that is not a shared vocabulary."""
    on_disk = {p.name for p in (ROOT / "mta").iterdir() if (p / "__init__.py").exists()}
    root_modules = {p.stem for p in (ROOT / "mta").glob("*.py")} - {"__init__"}
    assert on_disk == set(STAGES)
    assert root_modules == SHARED


def test_the_reader_finds_imports() -> None:
    """The reader sees what a module imports (so the rules above cannot pass by reading nothing)."""
    module = ROOT / "mta" / "outbound" / "delivery.py"
    assert "mta.worker.leased_worker" in imports_of(module)
    assert any(name.startswith("storage") for name in imports_of(module))
