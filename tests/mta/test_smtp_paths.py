"""The fast path parser gives exactly what aiosmtpd's full parser gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mta.smtp.paths import parse_path, parse_path_fully

parts = st.sampled_from(
    ["a", "B7", "x.y", ".", "..", "-", "+tag", '"q"', " ", "@", "é", "[1.2.3.4]"]
)
paths = st.tuples(st.lists(parts, max_size=4), st.lists(parts, max_size=4), st.booleans()).map(
    lambda t: f"<{''.join(t[0])}@{''.join(t[1])}>" + (" SIZE=100" if t[2] else "")
)


@given(paths)
def test_fast_path_agrees_with_the_full_parser(path: str) -> None:
    assert parse_path(path) == parse_path_fully(path)


def test_common_forms() -> None:
    assert parse_path("<app@example.com> SIZE=5120") == ("app@example.com", "SIZE=5120")
    assert parse_path("<first.last+tag@sub.example.org>") == ("first.last+tag@sub.example.org", "")
    assert parse_path("") == ("", "")
    assert parse_path("<a@b") == parse_path_fully("<a@b")
