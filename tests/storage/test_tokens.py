"""Signed id tokens of links (activation links): they name one row and are bound to it."""

from __future__ import annotations

from storage.tokens import ID_TOKEN_LENGTH, id_of_token, id_token, same_secret


def test_an_id_token_names_its_row_and_is_bound_to_it() -> None:
    key = b"k" * 32
    token = id_token(key, 42, "ada@example.com")
    assert len(token) == ID_TOKEN_LENGTH and token.isascii()
    assert id_of_token(token) == 42
    assert id_token(key, 42, "ada@example.com") == token  # checked by making it again
    assert not same_secret(token, id_token(key, 42, "bob@example.com"))  # another row's value
    assert not same_secret(token, id_token(b"x" * 32, 42, "ada@example.com"))  # another key
    assert id_of_token(id_token(key, 43, "ada@example.com")) == 43


def test_what_cannot_be_an_id_token_names_nothing() -> None:
    token = id_token(b"k" * 32, 7, "x")
    for bad in ("", token[:-1], token + "A", "é" * 32, "*" * 32):
        assert id_of_token(bad) is None, bad
    too_large = id_token(b"k" * 32, 2**63, "x")  # not an id a database row can have
    assert id_of_token(too_large) is None
