"""003's SMS rules: which texts are GSM-7 and which "special", their limits in one, two and three
SMS (and with single=1), telephone numbers and sender names, each refusal with its code."""

from __future__ import annotations

import pytest

from mta.sms.text import (
    DEFAULT_TABLE,
    GSM_CHARACTERS,
    Alphabet,
    SmsCode,
    SmsError,
    check_number,
    check_request,
    check_sender_name,
    check_text,
    measure,
)

# 003's list of characters that are not special, as the document has it: ranges written out
# by us, and its "Ü§" restored (the document holds their Latin-1 bytes, read as U+0727).
DOCUMENT_LIST = "@£$¥èéùìòÇØøÅå_^{}\\[~]| ÆæßÉ!\"#¤%&'()*+,-./0-9:;<=>?A-ZÄÖÑÜ§¿a-zäöñüà"
DIGITS, UPPER, LOWER = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
SPECIAL = "ą"  # Polish: not in GSM 03.38


def refused(code: SmsCode, text: str | None, single: bool = False) -> None:
    with pytest.raises(SmsError) as caught:
        check_text(text, single)
    assert caught.value.code == code


def test_the_default_table_is_gsm_03_38_in_code_order() -> None:
    assert len(DEFAULT_TABLE) == 128
    codes = {0x00: "@", 0x0A: "\n", 0x10: "Δ", 0x1B: "\x1b", 0x24: "¤", 0x40: "¡", 0x5F: "§"}
    assert {code: DEFAULT_TABLE[code] for code in codes} == codes
    assert DEFAULT_TABLE[0x7F] == "à"


def test_every_character_the_document_lists_is_gsm_7() -> None:
    listed = DOCUMENT_LIST.replace("0-9", DIGITS).replace("A-Z", UPPER).replace("a-z", LOWER)
    assert GSM_CHARACTERS.issuperset(listed)
    # And what the document dropped (not Latin-1, or not printable) is GSM-7 too.
    assert measure("¡Δ ΦΓΛΩΠΨΣΘΞ €\nline\r\n").alphabet is Alphabet.GSM7


@pytest.mark.parametrize(
    ("length", "parts"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)]
)
def test_gsm_7_texts_fit_in_the_documents_parts(length: int, parts: int) -> None:
    _, found = check_text("a" * length)
    assert (found.alphabet, found.length, found.parts) == (Alphabet.GSM7, length, parts)


@pytest.mark.parametrize(
    ("length", "parts"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (200, 3)]
)
def test_texts_with_a_special_character_fit_in_the_documents_parts(length: int, parts: int) -> None:
    _, found = check_text("a" * (length - 1) + SPECIAL)
    assert (found.alphabet, found.length, found.parts) == (Alphabet.UCS2, length, parts)


def test_one_character_over_three_parts_is_too_long() -> None:
    refused(SmsCode.TOO_LONG, "a" * 460)
    refused(SmsCode.TOO_LONG_SPECIAL, "a" * 200 + SPECIAL)


def test_extension_characters_count_two_septets() -> None:
    assert check_text("[" * 80)[1].parts == 1  # 160 septets
    assert check_text("[" * 80 + "a")[1].parts == 2  # 161
    _, found = check_text("€" * 229 + "a")
    assert (found.alphabet, found.length, found.parts) == (Alphabet.GSM7, 459, 3)
    refused(SmsCode.TOO_LONG, "€" * 230)  # 230 characters, 460 septets


def test_characters_beyond_the_bmp_count_two_units() -> None:
    assert check_text("😀" * 35)[1] == measure("ą" * 70)
    assert check_text("😀" * 35 + "a")[1].parts == 2


def test_a_decomposed_accent_is_the_gsm_letter() -> None:
    text, found = check_text("caf" + "e\u0301" * 160)
    assert text == "caf" + "é" * 160
    assert (found.alphabet, found.length, found.parts) == (Alphabet.GSM7, 163, 2)


def test_single_allows_one_sms_only() -> None:
    assert check_text("a" * 160, single=True)[1].parts == 1
    refused(SmsCode.TOO_LONG_FOR_SINGLE, "a" * 161, single=True)
    refused(SmsCode.TOO_LONG_FOR_SINGLE, "[" * 80 + "a", single=True)
    assert check_text("a" * 69 + SPECIAL, single=True)[1].parts == 1
    refused(SmsCode.TOO_LONG_FOR_SINGLE_SPECIAL, "a" * 70 + SPECIAL, single=True)
    # Beyond three parts too, the limit asked for is one SMS.
    refused(SmsCode.TOO_LONG_FOR_SINGLE, "a" * 460, single=True)
    refused(SmsCode.TOO_LONG_FOR_SINGLE_SPECIAL, SPECIAL * 201, single=True)


@pytest.mark.parametrize("text", [None, "", " ", "\r\n\t"])
def test_no_content_is_missing_content(text: str | None) -> None:
    refused(SmsCode.TEXT_MISSING, text)


@pytest.mark.parametrize(
    ("given", "number"),
    [
        ("600100200", "600100200"),
        ("48600100200", "48600100200"),
        ("+48600100200", "+48600100200"),
        ("+600100200", "+600100200"),
        (" 600100200\n", "600100200"),
    ],
)
def test_numbers_of_9_or_11_digits(given: str, number: str) -> None:
    assert check_number(given) == number


@pytest.mark.parametrize(
    "number",
    [
        None,
        "",
        "60010020",  # 8
        "6001002001",  # 10
        "486001002001",  # 12
        "600 100 200",
        "600-100-200",
        "++48600100200",
        "48+600100200",
        "+48 600100200",
        "٦٠٠١٠٠٢٠٠",  # Arabic-Indic digits
        "".join(chr(0xFF10 + int(digit)) for digit in "600100200"),  # fullwidth
    ],
)
def test_other_numbers_are_refused(number: str | None) -> None:
    with pytest.raises(SmsError) as caught:
        check_number(number)
    assert caught.value.code == SmsCode.BAD_NUMBER


@pytest.mark.parametrize(
    "name", ["Shop", "My Shop", "ABCDEFGHIJK", "[Shop]", "ABCDEFGHI[", "€uro", "Øre"]
)
def test_sender_names(name: str) -> None:
    assert check_sender_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ABCDEFGHIJKL",  # 12 characters
        "ABCDEFGHIJ[",  # 11 characters, 12 septets
        " Shop",
        "Shop ",
        "Sklep ą",
        "Two\nlines",
        "Page\fbreak",
    ],
)
def test_sender_names_refused(name: str) -> None:
    with pytest.raises(SmsError) as caught:
        check_sender_name(name)
    assert caught.value.code == SmsCode.BAD_SENDER_NAME


def test_a_request_checked_whole() -> None:
    sms = check_request(b"+48600100200", "Hello", "Shop", "1")
    assert (sms.to, sms.text, sms.sender, sms.measure.parts) == ("+48600100200", "Hello", "Shop", 1)
    assert check_request("600100200", "Hello", "", "").sender is None  # an ECO message


@pytest.mark.parametrize(
    "params",
    [
        {"gsm": "600100200", "text": b"caf\xe9"},  # Latin-1, not UTF-8
        {"gsm": b"\xff600100200", "text": "Hello"},
        {"gsm": "600100200", "text": "Hello", "sender": b"Sh\xc3"},
        {"gsm": "600100200", "text": "caf\udce9"},  # what surrogateescape makes of bad bytes
        {"gsm": "600100200", "text": "caf\ufffd"},  # what errors="replace" makes of them
        {"gsm": "600100200", "text": "Hello", "single": "2"},
        {"gsm": "600100200", "text": "Hello", "single": "yes"},
        {"gsm": "bad", "text": b"\xff"},  # coding is checked before anything else
    ],
)
def test_bad_coding_is_an_error_in_the_command(params: dict[str, str | bytes]) -> None:
    with pytest.raises(SmsError) as caught:
        check_request(**params)  # type: ignore[arg-type]
    assert caught.value.code == SmsCode.BAD_CODING


def test_the_error_names_its_code_in_the_documents_words() -> None:
    with pytest.raises(SmsError, match=r"^1103 SMS content too long \(SMS without special") as e:
        check_text("a" * 460)
    assert e.value.message == (
        "SMS content too long (SMS without special characters): 460 septets, at most 459"
    )
