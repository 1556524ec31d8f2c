"""Issue 14: the HTTP surfaces do not import each other; what two of them share lives below
them. Read from the source with `ast` (every import, those inside functions included), so a
new import across surfaces fails here before anyone relies on it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "http_api"

# Each surface's modules and packages, by their names below http_api ("*" ends a prefix).
SURFACES = {
    "/api.php": ("api_php", "commands"),
    "/api/v1": ("v1_*", "sender_domains", "relay_check", "rate_limit"),
    "/rest": ("rest",),
    "pages": ("tracking", "subscriber_activation"),  # what recipients open from a mail
}
# Modules that assemble or describe every surface: they may import any of them.
WIRING = ("app", "openapi")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(
        name.startswith(p[:-1]) if p.endswith("*") else name == p or name.startswith(f"{p}.")
        for p in patterns
    )


def layer(name: str) -> str:
    """The surface a module belongs to, "wiring", or "shared" (below the surfaces)."""
    if _matches(name, WIRING):
        return "wiring"
    return next((s for s, patterns in SURFACES.items() if _matches(name, patterns)), "shared")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """The http_api modules `name` imports (names below http_api), wherever the import is."""
    found: set[str] = set()
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    package = f"http_api.{package}".rstrip(".")
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            inner = target.removeprefix("http_api.")
            if target.startswith("http_api.") and inner in MODULES:
                found.add(inner)
    return found


def test_the_layers_are_read_from_real_modules() -> None:
    """The patterns name modules that exist, and each surface has some: a rename that empties
    a surface would make the test below pass for nothing."""
    for surface, patterns in SURFACES.items():
        for pattern in patterns:
            assert any(_matches(name, (pattern,)) for name in MODULES), (surface, pattern)
    assert "rest.protocol" in imported("rest.mail")
    assert "commands.domains" in imported("commands.api_keys")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_surface_other_than_its_own(name: str) -> None:
    own = layer(name)
    if own == "wiring":
        return
    crossing = sorted(t for t in imported(name) if layer(t) not in (own, "shared"))
    assert not crossing, (
        f"http_api.{name} ({own}) imports {crossing} of another surface: move what they share "
        "to a module below the surfaces (and a module below them imports none)"
    )
