"""bench/bounce_corpus.py on a few corpus files: the counts it reports add up (the figures
themselves are the benchmark's business, recorded in bench/README.md)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# A complaint, an auto-reply, an RFC 3464 bounce, and a format that names more recipients
# than Sisimai finds (Zoho).
FILES = ["arf-01.eml", "rfc3834-01.eml", "lhost-postfix-01.eml", "lhost-zoho-01.eml"]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("bounce_corpus")


def test_counts_add_up(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    if not (bench.CORPUS / "expectations.json").is_file():
        pytest.skip(f"the bounce corpus is not at {bench.CORPUS}")
    bench.main(["--json", "--rounds", "1", *FILES])
    result = json.loads(capsys.readouterr().out)
    formats, total = result["formats"], result["total"]

    assert set(formats) == {"arf", "rfc3834", "lhost-postfix", "lhost-zoho"}
    counts = ("files", "recognised", "exact", "exact_of", "excluded", "agree", "agree_of")
    for name in (*counts, "reason", "bad_address"):
        assert total[name] == sum(figures[name] for figures in formats.values()), name
    for figures in [*formats.values(), total]:
        assert 0 <= figures["recognised"] <= figures["files"]
        assert 0 <= figures["exact"] <= figures["exact_of"]
        assert 0 <= figures["agree"] <= figures["agree_of"]
        assert 0 <= figures["reason"] <= figures["agree_of"]
        assert 0 <= figures["bad_address"] <= figures["agree_of"]
        assert figures["us_per_message"] > 0
    assert total["files"] == len(FILES)
    assert total["rates"]["recognised"] == pytest.approx(100 * total["recognised"] / len(FILES))

    # Every bounce entry is judged for agreement, and for its status unless Sisimai's is a
    # placeholder; complaints and auto-replies have no entries to judge.
    expectations = json.loads((bench.CORPUS / "expectations.json").read_text())["files"]
    entries = [expectations[f"maildir/bsd/{name}"]["entries"] for name in FILES]
    bounce_entries = sum(len(e) for e in entries if bench.expected_kind(e) == "bounce")
    assert total["agree_of"] == total["exact_of"] + total["excluded"] == bounce_entries
    assert formats["arf"]["agree_of"] == formats["rfc3834"]["agree_of"] == 0
    # A local delivery program's failure (procmail: "No such user", 5.1.1) is a mailer error,
    # not a bad address, and Zoho's "User Unknown" an unknown user, for Sisimai and Mailgate.
    for name in ("lhost-postfix", "lhost-zoho"):
        assert formats[name]["reason"] == formats[name]["bad_address"] == 1, name
    assert set(total["false_positives"]) <= {"maildir/bsd/rfc3834-01.eml"}


def test_skips_without_the_corpus(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench.main(["--corpus", str(tmp_path)])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bounce corpus not found" in captured.err
