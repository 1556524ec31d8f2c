"""Bounce corpus benchmark: how Mailgate reads real bounces, against Sisimai's expected results.

Reads every message of ../shared/bounce-corpus (Sisimai's `set-of-emails`: 316 bounces,
complaints and auto-replies of about 60 formats; see its README) with
`mta.feedback.bounce_parser.parse_report`, the parser port 25 uses, and compares the `Report`
with `expectations.json`, one entry per failed recipient: [enhanced status, SMTP reply code,
reason, hardbounce, feedback type]. Per format (the file name's engine part, `lhost-postfix`):

- recognised: files read as the right kind. Sisimai's reason `feedback` is a complaint,
  `vacation` and `delivered` (and a file without entries) are not a bounce, the rest a bounce.
- exact: bounce entries whose enhanced status is the one Mailgate found for that recipient.
  Sisimai's entries do not name the address, so the n-th entry is compared with the n-th
  recipient of the report (both in the order the message lists them). Entries with Sisimai's
  own `x.0.9xx` codes (no code in the message) are left out and counted as excluded.
- agree: bounce entries where Mailgate's suppress decision equals Sisimai's `hardbounce`; a
  recipient Mailgate did not find is not suppressed. The decision is the one
  `mta.feedback.inbound.process_report` makes, `suppresses` of the recipient's classification.
  Complaints are left out: Mailgate suppresses a complainant by design, which Sisimai's
  `hardbounce` (the address is bad) does not speak of.
- reason: bounce entries whose reason (`mta.feedback.reasons.reason_of` of what the parser read
  for that recipient: its enhanced status, the reply code its diagnostic starts with, the
  diagnostic) is Sisimai's; a recipient Mailgate did not find has reason `undefined`.
- bad address: bounce entries where `is_bad_address` of that reason equals Sisimai's
  `hardbounce`: the suppression that issue 16 asks for, beside today's decision (agree).
- false positives: files that are not a bounce (auto-replies, delivery notices) read as a
  bounce or a complaint. `--json` also lists every file read as the wrong kind.

Formats are printed worst first (the mean of their rates), then the totals against issue
16's targets, and the parse time per message (the fastest of `--rounds` parses of each file).

    .venv/bin/python bench/bounce_corpus.py [--json] [--rounds 3] [--corpus DIR] [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from smtp_ingest import ROOT

sys.path.insert(0, str(ROOT))

from mta.feedback.bounce_classes import Classification, suppresses
from mta.feedback.bounce_parser import Kind, Report, parse_report
from mta.feedback.reasons import Reason, is_bad_address

CORPUS = ROOT.parent / "shared" / "bounce-corpus"
# Issue 16's targets, in percent; false positives must be none.
TARGETS = {"recognised": 97.0, "exact": 90.0, "agree": 95.0, "bad_address": 95.0}
# Sisimai's own statuses for a message that holds none (5.0.910 filtered, 4.0.947 expired ...).
PLACEHOLDER = re.compile(r"^[245]\.0\.9\d\d$")
NOT_A_BOUNCE = {"vacation", "delivered"}


@dataclass
class Figures:
    """The counts of one format, or of the whole corpus."""

    files: int = 0
    recognised: int = 0
    exact: int = 0
    exact_of: int = 0  # bounce entries with a real status
    excluded: int = 0  # bounce entries with a Sisimai placeholder status
    agree: int = 0
    agree_of: int = 0  # bounce entries
    reason: int = 0  # bounce entries whose reason is Sisimai's
    bad_address: int = 0  # bounce entries where is_bad_address(reason) is Sisimai's hardbounce
    misread: list[str] = field(default_factory=list)  # `path: bounce read as none`
    false_positives: list[str] = field(default_factory=list)
    parse_ns: int = 0

    def add(self, other: Figures) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def rates(self) -> dict[str, float | None]:
        """Percentages; None where nothing was counted."""
        pairs = {
            "recognised": (self.recognised, self.files),
            "exact": (self.exact, self.exact_of),
            "agree": (self.agree, self.agree_of),
            "reason": (self.reason, self.agree_of),
            "bad_address": (self.bad_address, self.agree_of),
        }
        return {name: 100 * n / of if of else None for name, (n, of) in pairs.items()}

    def score(self) -> float:
        """The mean of the rates there are: the order of the per-format lines."""
        rates = [rate for rate in self.rates().values() if rate is not None]
        return sum(rates) / len(rates)

    def us_per_message(self) -> float:
        return self.parse_ns / 1000 / self.files if self.files else 0.0


def expected_kind(entries: list[list[object]]) -> Kind:
    reasons = {str(entry[2]) for entry in entries}
    if not reasons or reasons <= NOT_A_BOUNCE:
        return "none"
    return "complaint" if reasons == {"feedback"} else "bounce"


def suppress_decisions(report: Report) -> list[bool]:
    """Mailgate's decision per recipient of a bounce, as `process_report` makes it."""
    if report.kind != "bounce":
        return []
    return [
        suppresses(
            Classification(failed.hard, failed.category, failed.enhanced_code, failed.reason)
        )
        for failed in report.recipients
    ]


def reasons(report: Report) -> list[Reason]:
    """The reason the parser gave each recipient of a bounce (what its event records)."""
    if report.kind != "bounce":
        return []
    return [failed.reason for failed in report.recipients]


def timed_parse(raw: bytes, rounds: int) -> tuple[Report, int]:
    """The report and the fastest of `rounds` parses, in nanoseconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        report = parse_report(raw)
        times.append(time.perf_counter_ns() - started)
    return report, min(times)


def measure(path: str, raw: bytes, entries: list[list[object]], rounds: int) -> Figures:
    """The figures of one file."""
    report, elapsed = timed_parse(raw, rounds)
    kind = expected_kind(entries)
    figures = Figures(files=1, recognised=int(report.kind == kind), parse_ns=elapsed)
    if report.kind != kind:
        figures.misread.append(f"{path}: {kind} read as {report.kind}")
    if kind == "none" and report.kind != "none":
        figures.false_positives.append(path)
    if kind != "bounce":
        return figures
    found = report.recipients if report.kind == "bounce" else ()
    decisions = suppress_decisions(report)
    found_reasons = reasons(report)
    for index, (status, _code, expected_reason, hardbounce, *_) in enumerate(entries):
        figures.agree_of += 1
        figures.agree += int((index < len(decisions) and decisions[index]) == hardbounce)
        reason = found_reasons[index] if index < len(found_reasons) else Reason.UNDEFINED
        figures.reason += int(reason == expected_reason)
        figures.bad_address += int(is_bad_address(reason) == hardbounce)
        if PLACEHOLDER.match(str(status)):
            figures.excluded += 1
            continue
        figures.exact_of += 1
        figures.exact += int(index < len(found) and found[index].enhanced_code == status)
    return figures


def engine(path: str) -> str:
    """`maildir/bsd/lhost-postfix-01.eml` is `lhost-postfix`."""
    return Path(path).stem.rsplit("-", 1)[0]


def run(corpus: Path, names: Sequence[str], rounds: int) -> dict[str, Figures]:
    """The figures per format of the corpus's files (those named, or all)."""
    expectations = json.loads((corpus / "expectations.json").read_text())["files"]
    chosen = {path for path in expectations if not names or Path(path).name in names}
    if missing := set(names) - {Path(path).name for path in chosen}:
        raise SystemExit(f"not in the corpus: {', '.join(sorted(missing))}")
    formats: dict[str, Figures] = {}
    for path in sorted(chosen):
        raw = (corpus / path).read_bytes()
        figures = measure(path, raw, expectations[path]["entries"], rounds)
        formats.setdefault(engine(path), Figures()).add(figures)
    return formats


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}%"


def print_text(formats: dict[str, Figures], total: Figures) -> None:
    print(
        f"{'format':<24} {'files':>5} {'recognised':>10} {'exact':>9} {'agree':>9} "
        f"{'reason':>9} {'bad addr':>9} {'us/msg':>7}"
    )
    for name, figures in sorted(formats.items(), key=lambda item: item[1].score()):
        bounces = figures.agree_of
        print(
            f"{name:<24} {figures.files:>5} {figures.recognised:>6}/{figures.files:<3} "
            f"{figures.exact:>5}/{figures.exact_of:<3} {figures.agree:>5}/{bounces:<3} "
            f"{figures.reason:>5}/{bounces:<3} {figures.bad_address:>5}/{bounces:<3} "
            f"{figures.us_per_message():>7.0f}"
        )
    rates = total.rates()
    print(f"\ntotal: {total.files} files, {len(formats)} formats")
    for name, (count, of) in {
        "recognised": (total.recognised, total.files),
        "exact": (total.exact, total.exact_of),
        "agree": (total.agree, total.agree_of),
        "reason": (total.reason, total.agree_of),
        "bad_address": (total.bad_address, total.agree_of),
    }.items():
        target = f"  target {TARGETS[name]}%" if name in TARGETS else "  no target"
        print(f"  {name:<16} {count:>4}/{of:<4} {percent(rates[name]):>7}{target}")
    print(f"  false positives  {len(total.false_positives):>4}       target 0")
    for path in total.false_positives:
        print(f"    {path}")
    print(f"  exact excludes {total.excluded} entries with Sisimai's x.0.9xx placeholder status")
    print(f"  parse time       {total.us_per_message():.0f} us per message")


def as_json(formats: dict[str, Figures], total: Figures) -> dict[str, object]:
    def figures_json(figures: Figures) -> dict[str, object]:
        return {
            **asdict(figures),
            "rates": figures.rates(),
            "us_per_message": round(figures.us_per_message(), 1),
        }

    return {
        "formats": {name: figures_json(figures) for name, figures in formats.items()},
        "total": figures_json(total),
        "targets": {**TARGETS, "false_positives": 0},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="file names to read (default: all)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=3, help="parses per file, fastest counts")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if not (args.corpus / "expectations.json").is_file():
        print(f"bounce corpus not found at {args.corpus}: skipped", file=sys.stderr)
        return
    formats = run(args.corpus, args.files, max(1, args.rounds))
    total = Figures()
    for figures in formats.values():
        total.add(figures)
    if args.json:
        print(json.dumps(as_json(formats, total), indent=2))
    else:
        print_text(formats, total)


if __name__ == "__main__":
    main()
