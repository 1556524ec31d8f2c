"""The API documents' own curl examples, read from the documents at test time: the copies in
spec_documents/ beside this file (unchanged copies of ../shared/spec), or the folder
MAILGATE_SPEC_DIR names.

Each `curl` command of a document (backslash continuations, a quoted body over several lines)
is split with shlex and paired with the success response the document shows after it: the
first JSON block that follows, or, where several commands stand together (`smtprelay`), the
n-th block for the n-th command. `fill` puts a gateway's address and real keys, ids and
addresses where the example has placeholders and leaves everything else as written; `run`
sends it with the real `curl`; `shape_problems` compares an answer with the documented one by
keys and JSON types (values may differ). `error_examples` reads the error answers the
documents show after their success answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SPEC_DIR = Path(os.environ.get("MAILGATE_SPEC_DIR") or Path(__file__).parent / "spec_documents")
DOCUMENTS = {
    "000": "000_81994dc3cb1671fb.txt",
    "001": "001_4fc36e1c043d9886.txt",
    "004": "004_69d24044db6ba68d.txt",
}
# Lines that may stand between two commands shown together, or a command and its answer.
_MARKER = re.compile(r"\s*(```.*|bash|json|txt)?\s*")
# What is left of a placeholder after `fill`: a request still holding one was not filled in.
PLACEHOLDER = re.compile(
    r"\byour-[\w-]+|\bexample-[\w-]+-(id|key)\b|\{\w+\}|x{8,}|encrypted_tracking_id_string"
)
_ADDRESS = re.compile(r"(?<![\w.+-])([\w.+-]+)@example\.com\b", re.IGNORECASE)


class SpecFormatError(ValueError):
    """A document's example that cannot be read as a command with a documented answer."""


@dataclass(frozen=True)
class Example:
    document: str  # "001"
    line: int  # where `curl` stands, 1-based
    args: tuple[str, ...]  # the command's words after `curl`, as shlex splits them
    documented: Any  # the success response shown after it

    @property
    def url(self) -> str:
        return next(value for option, value in self.parts() if option is None)

    @property
    def method(self) -> str:
        given = [value for option, value in self.parts() if option in ("-X", "--request")]
        return given[0].upper() if given else ("POST" if self.data else "GET")

    @property
    def data(self) -> list[str]:
        return [value for option, value in self.parts() if option in ("-d", "--data")]

    @property
    def json_body(self) -> bool:
        """One `-d` holding a JSON object (with or without a JSON Content-Type)."""
        return len(self.data) == 1 and self.data[0].lstrip().startswith("{")

    @property
    def params(self) -> dict[str, Any]:
        """The body as the gateway reads it: a JSON object, or `-d Key=Value` form fields."""
        if self.json_body:
            return dict(json.loads(self.data[0]))
        return dict(item.partition("=")[::2] for item in self.data)

    @property
    def name(self) -> str:
        """The command (`emailgateway.adddomain`, as spelt) on /api.php, else `METHOD /path`."""
        path = urlsplit(self.url).path
        command = {k.lower(): v for k, v in self.params.items()}.get("command")
        return str(command) if path == "/api.php" and command else f"{self.method} {path}"

    def parts(self) -> Iterator[tuple[str | None, str]]:
        """(option, value) pairs; the URL comes with option None."""
        words = iter(self.args)
        for word in words:
            if word in ("-X", "--request", "-H", "--header", "-d", "--data"):
                yield word, next(words)
            elif word.startswith("-"):
                raise SpecFormatError(f"{self.document}:{self.line}: curl option {word} unknown")
            else:
                yield None, word


def _command_text(lines: list[str], start: int) -> tuple[str, int]:
    """The command starting at lines[start], up to its last line; and the next line's index."""
    end = start
    while True:
        text = "\n".join(lines[start : end + 1])
        if not text.endswith("\\"):
            try:
                shlex.split(text)
                return text.replace("\\\n", " "), end + 1
            except ValueError:  # a quote still open: the body goes on
                pass
        end += 1
        if end == len(lines):
            raise SpecFormatError(f"line {start + 1}: the curl command never ends")


def _items(text: str) -> Iterator[tuple[str, int, Any, bool]]:
    """("curl", line, words, prose before it) and ("json", line, value, prose before it) in
    the order the document has them. `prose` says whether text other than code-block markers
    stood between this item and the one before."""
    lines = text.splitlines()
    index, prose = 0, False
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("curl "):
            command, index_after = _command_text(lines, index)
            yield "curl", index + 1, shlex.split(command)[1:], prose
        elif line.startswith("{"):
            rest = "\n".join(lines[index:])
            try:
                value, used = json.JSONDecoder().raw_decode(rest)
            except ValueError as error:
                raise SpecFormatError(f"line {index + 1}: not JSON: {error}") from None
            yield "json", index + 1, value, prose
            index_after = index + rest[:used].count("\n") + 1
        else:
            prose = prose or not _MARKER.fullmatch(line)
            index += 1
            continue
        index, prose = index_after, False


def examples(document: str) -> list[Example]:
    """Every curl example of the document, each with its documented success response."""
    return read_examples(document, (SPEC_DIR / DOCUMENTS[document]).read_text())


def read_examples(document: str, text: str) -> list[Example]:
    found: list[Example] = []
    waiting: list[tuple[int, tuple[str, ...]]] = []  # commands shown together, not yet paired
    for kind, line, value, prose in _items(text):
        if kind == "curl":
            if waiting and prose:
                raise SpecFormatError(f"{document}:{waiting[0][0]}: no documented response")
            waiting.append((line, tuple(value)))
        elif waiting:
            curl_line, args = waiting.pop(0)
            found.append(Example(document, curl_line, args, value))
    if waiting:
        raise SpecFormatError(f"{document}:{waiting[0][0]}: no documented response")
    return found


# The documents whose sections show error answers: the three above, and 002 (campaigns), whose
# success examples elide fields ("{...}") and so are not run as curl examples.
ERROR_DOCUMENTS = {**DOCUMENTS, "002": "002_a37561ece0525fe0.txt"}


@dataclass(frozen=True)
class ErrorExample:
    document: str
    line: int  # where the JSON block starts, 1-based
    name: str  # the command or route of the section, as Example.name gives it
    documented: Any  # {"Success": false, ...} or {"Errors": [...]}


def error_examples(document: str) -> list[ErrorExample]:
    """Each error answer a document shows, with the command of the curl example before it.
    JSON blocks that do not parse (002's elided success examples) are passed over."""
    lines = (SPEC_DIR / ERROR_DOCUMENTS[document]).read_text().splitlines()
    found: list[ErrorExample] = []
    index, name = 0, ""
    while index < len(lines):
        if lines[index].lstrip().startswith("curl "):
            command, after = _command_text(lines, index)
            name = Example(document, index + 1, tuple(shlex.split(command)[1:]), None).name
            index = after
            continue
        if lines[index].startswith("{"):
            rest = "\n".join(lines[index:])
            with contextlib.suppress(ValueError):
                value, used = json.JSONDecoder().raw_decode(rest)
                if isinstance(value, dict) and (value.get("Success") is False or "Errors" in value):
                    found.append(ErrorExample(document, index + 1, name, value))
                index += rest[:used].count("\n") + 1
                continue
        index += 1
    return found


def curl_lines(document: str) -> int:
    """How many lines of the document start a curl command, counted apart from the parser."""
    text = (SPEC_DIR / DOCUMENTS[document]).read_text()
    return sum(1 for line in text.splitlines() if line.lstrip().startswith("curl "))


# -- filling in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fills:
    """What replaces the placeholders of one example."""

    base_url: str  # http://127.0.0.1:PORT, for the example's scheme and host
    domain: str  # addresses @example.com become addresses @domain
    params: Mapping[str, Any]  # parameter (lower case) -> its real value, JSON or form
    bearer: Mapping[str, str]  # placeholder token -> real token
    query: Mapping[str, str] = field(default_factory=dict)  # query parameter -> real value
    # Parameters that only ever hold placeholders: one the example has must be in `params`.
    always: frozenset[str] = frozenset()


def _value(name: str | None, value: Any, fills: Fills) -> Any:
    key = (name or "").lower()
    if key in fills.params:
        real = fills.params[key]
        return str(real) if isinstance(value, str) else real  # "DomainID": "123" stays text
    if key in fills.always:
        raise KeyError(f"{name} of the example has no real value for this case")
    if isinstance(value, dict):
        return {k: _value(k, v, fills) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(None, item, fills) for item in value]
    if isinstance(value, str):
        return _ADDRESS.sub(lambda match: f"{match[1]}@{fills.domain}", value)
    return value


def _url(url: str, fills: Fills) -> str:
    parts = urlsplit(url)
    query = [(k, fills.query.get(k.lower(), v)) for k, v in parse_qsl(parts.query, True)]
    base = urlsplit(fills.base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, urlencode(query), parts.fragment))


def _header(header: str, fills: Fills) -> str:
    name, _, value = header.partition(":")
    scheme, _, token = value.strip().partition(" ")
    if name.strip().lower() != "authorization":
        return header
    if scheme.lower() != "bearer" or token not in fills.bearer:
        raise KeyError(f"no real value for the example's credential {value.strip()!r}")
    return f"{name}: {scheme} {fills.bearer[token]}"


def _data(data: str, body_is_json: bool, fills: Fills) -> str:
    if body_is_json:
        return json.dumps(_value(None, json.loads(data), fills))
    name, _, value = data.partition("=")
    return f"{name}={_value(name, value, fills)}"


def fill(example: Example, fills: Fills) -> list[str]:
    """The example's words with the placeholders filled in, everything else as written."""
    words: list[str] = []
    for option, value in example.parts():
        if option is None:
            words.append(_url(value, fills))
        elif option in ("-H", "--header"):
            words += [option, _header(value, fills)]
        elif option in ("-d", "--data"):
            words += [option, _data(value, example.json_body, fills)]
        else:
            words += [option, value]
    left = [word for word in words if PLACEHOLDER.search(word)]
    if left:
        raise KeyError(f"placeholders left in {left}")
    return words


@dataclass(frozen=True)
class Answer:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def run(words: list[str]) -> Answer:
    """`curl -sS -w '\\n%{http_code}'` with the example's words."""
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *words],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"curl failed ({done.returncode}): {done.stderr}"
    body, _, status = done.stdout.rpartition("\n")
    return Answer(int(status), body)


# -- comparing shapes --------------------------------------------------------------------------

# Objects whose keys are data (tag names, host names): each of their values has the shape of
# the documented one, whatever its key.
KEYED_BY_DATA = frozenset({"TagStats", "DNSVerificationResults"})
ELIDED = "..."  # a documented value "..." (004's `OtherSMTPInfo`) stands for "more fields"


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}[type(value)]


@dataclass
class Shape:
    problems: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # arrays/objects documented with items


def shape_problems(documented: Any, answer: Any) -> Shape:
    """Where `answer` lacks a documented key or has another JSON type: recursively for objects
    and for the first element of arrays. Empty arrays documented with items are listed apart."""
    shape = Shape()
    _compare(documented, answer, "", shape)
    return shape


def _compare(documented: Any, answer: Any, path: str, shape: Shape) -> None:
    here = path or "(answer)"
    if json_type(documented) != json_type(answer):
        shape.problems.append(f"{here}: {json_type(answer)}, documented {json_type(documented)}")
    elif isinstance(documented, list) and documented:
        if answer:
            _compare(documented[0], answer[0], f"{path}[0]", shape)
        else:
            shape.empty.append(path)
    elif isinstance(documented, dict) and path.rpartition(".")[2] in KEYED_BY_DATA:
        if documented and not answer:
            shape.empty.append(path)
        sample = next(iter(documented.values()), None)
        for key, value in answer.items():
            _compare(sample, value, f"{path}.{key}", shape)
    elif isinstance(documented, dict):
        for key, value in documented.items():
            if value == ELIDED:
                continue
            if key not in answer:
                shape.problems.append(f"{path}.{key}: missing" if path else f"{key}: missing")
            else:
                _compare(value, answer[key], f"{path}.{key}" if path else key, shape)


def with_primary_types(older: Any, primary: Any) -> Any:
    """An older edition's documented answer, with the primary edition's JSON type wherever both
    name the same field (spec README rule 1: 004's fields are carried, 001 decides types)."""
    if json_type(older) != json_type(primary):
        return primary
    if isinstance(older, dict):
        return {
            key: with_primary_types(value, primary[key]) if key in primary else value
            for key, value in older.items()
        }
    if isinstance(older, list) and older and primary:
        return [with_primary_types(older[0], primary[0])]
    return older
