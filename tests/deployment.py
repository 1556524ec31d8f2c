"""Reading the deployment files as Docker reads them, for the tests that check them against the
code: the build context that .dockerignore leaves, and the Dockerfile's final stage (ENV, EXPOSE,
VOLUME, CMD, HEALTHCHECK). No Docker engine runs here, so these files are checked, not run."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mailgate.cli import parser
from mailgate.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _ignore_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore line as a regular expression over a path relative to the context: `**`
    spans folders, `*` and `?` stay within one, and a pattern matches from the root only."""
    parts = []
    for token in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        if token.startswith("**"):
            parts.append("(?:.*/)?" if token.endswith("/") else ".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def ignore_patterns(root: Path = ROOT) -> list[re.Pattern[str]]:
    lines = (root / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "exceptions (!) are not read here"
    return [_ignore_pattern(pattern) for pattern in patterns]


def build_context(root: Path = ROOT) -> list[str]:
    """The files (relative paths) Docker sends as the build context: each one that neither it
    nor a folder above it matches a .dockerignore pattern (ignored folders are not walked)."""
    patterns = ignore_patterns(root)

    def ignored(relative: str) -> bool:
        return any(pattern.fullmatch(relative) for pattern in patterns)

    kept = []
    for folder, folders, files in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        folders[:] = sorted(name for name in folders if not ignored(prefix + name))
        kept += [prefix + name for name in sorted(files) if not ignored(prefix + name)]
    return kept


def copy_build_context(target: Path, root: Path = ROOT) -> list[str]:
    """Copy the build context to `target` (what the Dockerfile's `COPY . .` gets)."""
    files = build_context(root)
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target / relative)
    return files


@dataclass
class Dockerfile:
    """The final stage of a Dockerfile: what the running image is made of."""

    env: dict[str, str] = field(default_factory=dict)
    exposed: set[int] = field(default_factory=set)
    volumes: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n(?:\s*#[^\n]*\n)*", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, arguments = line.partition(" ")
            pairs.append((name.upper(), arguments.strip()))
    return pairs


def _exec_form(arguments: str) -> list[str]:
    """`["a", "b"]` as it is; the shell form as Docker runs it, through `sh -c`."""
    if arguments.startswith("["):
        return list(json.loads(arguments))
    return ["/bin/sh", "-c", arguments]


def _env_pairs(arguments: str) -> dict[str, str]:
    words = shlex.split(arguments)
    if len(words) == 2 and "=" not in words[0]:  # the old `ENV NAME value` form
        return {words[0]: words[1]}
    return dict(word.split("=", 1) for word in words)


def read_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    image = Dockerfile()
    for name, arguments in instructions(path.read_text()):
        if name == "FROM":
            image = Dockerfile()
        elif name == "ENV":
            image.env.update(_env_pairs(arguments))
        elif name == "EXPOSE":
            image.exposed |= {int(port.split("/")[0]) for port in arguments.split()}
        elif name == "VOLUME":
            image.volumes += (
                _exec_form(arguments) if arguments.startswith("[") else arguments.split()
            )
        elif name == "CMD":
            image.cmd = _exec_form(arguments)
        elif name == "HEALTHCHECK":
            _, _, command = arguments.partition("CMD ")
            assert command, f"HEALTHCHECK without CMD: {arguments}"
            image.healthcheck = _exec_form(command.strip())
    return image


def shell_commands(argv: list[str]) -> list[list[str]]:
    """The commands a container's command runs: `sh -c "a && exec b"` is [a, b]."""
    if len(argv) == 3 and Path(argv[0]).name in ("sh", "bash") and argv[1] == "-c":
        pieces = re.split(r"&&|\|\||;", argv[2])
        words = [shlex.split(piece) for piece in pieces if piece.strip()]
        return [w[1:] if w[0] == "exec" else w for w in words]
    return [argv]


def mailgate_commands(argv: list[str]) -> list[list[str]]:
    """The `mailgate` invocations a container's command runs, each checked against the real
    command-line parser: an unknown command or option fails here with argparse's message."""
    invocations = [words for words in shell_commands(argv) if words[0] == "mailgate"]
    for words in invocations:
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                parsed = parser().parse_args(words[1:])
        except SystemExit:
            raise AssertionError(f"{shlex.join(words)}: {errors.getvalue().strip()}") from None
        assert callable(parsed.handler), shlex.join(words)
    return invocations


def listening_ports(settings: Settings) -> set[int]:
    """Every port `mailgate serve` listens on with these settings: SMTP and HTTP."""
    return set(settings.smtp_ports) | ({settings.http_port} if settings.http_port else set())
