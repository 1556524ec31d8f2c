"""Mailgate's fast paths for dkimpy's relaxed canonicalisation give dkimpy's own bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mta.submission import dkim_signing

# Bodies made of the characters that matter: blanks, tabs, line ends, and text.
bodies = st.lists(st.sampled_from([b" ", b"\t", b"\r\n", b"a", b"bc", b"\r", b"\n"])).map(b"".join)


@given(bodies)
def test_strip_trailing_whitespace_matches_dkimpy(body: bytes) -> None:
    assert dkim_signing.strip_trailing_whitespace(body) == (
        dkim_signing._pure_strip_trailing_whitespace(body)
    )


@given(bodies)
def test_compress_whitespace_matches_dkimpy(body: bytes) -> None:
    assert dkim_signing.compress_whitespace(body) == dkim_signing._pure_compress_whitespace(body)
