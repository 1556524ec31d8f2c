"""What an SMS may hold, after 003's "SMS messages": the alphabet, the length limits, the
telephone number and the sender name, each refused with the document's error code.

Which characters are "special". The document lists the ones that are not, and that list is the
GSM 03.38 default alphabet written out in its table order, damaged in rendering: it lacks ¡, LF,
CR, Δ and the Greek capitals ΦΓΛΩΠΨΣΘΞ (not printable, or not in the Latin-1 it was typed in),
and "Ü§" arrives as one Syriac letter (U+0727: Latin-1 bytes DC A7 read as UTF-8). The
extension table's ^{}\\[~]| stand where the table's escape code does (between _ and Æ), € (not
Latin-1) missing. Read literally, a newline or "Ü" would make a message "special" and a Syriac
letter would not; no SMS network works that way. So "not special" here means what a network can
send in the GSM 7-bit alphabet: the whole default table and its extension table. Anything else
makes the message UCS-2, the document's "SMS with special characters".

What counts towards the limits. The document's numbers are those of the networks: a GSM-7 SMS
holds 160 septets, a part of a longer one 153 (2 x 153 = 306, 3 x 153 = 459); the extension
table's characters are sent as an escape and the character, two septets each, so "[" counts 2
although the document calls it non-special. UCS-2 counts UTF-16 code units: 70 in one SMS, 67
per part (2 x 67 = 134); for three parts the document says 200, not 201, and 200 it is. A
character beyond the Basic Multilingual Plane (most emoji) is two code units.

These are the document's per-part limits, not a segmenter: a network that will not split an
escape pair or a surrogate pair across parts may need a part more for a text at a boundary.

Texts are put in NFC first (a decomposed "é" is the GSM "é", not "e" and a combining accent), and
that form is what is sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum, StrEnum

# GSM 03.38 default alphabet, position = code; 0x1B is the escape to the extension table.
DEFAULT_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑ\u00dc\u00a7"  # Ü§
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPE = "\x1b"
GSM_DEFAULT = frozenset(DEFAULT_TABLE) - {ESCAPE}
# The extension table: form feed, ^ { } \ [ ~ ] | and €; each is sent as ESC + a septet.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM_CHARACTERS = GSM_DEFAULT | GSM_EXTENSION


class Alphabet(StrEnum):
    GSM7 = "gsm7"  # the document's "SMS without special characters"
    UCS2 = "ucs2"  # "SMS with special characters"


# The document's table: the longest text in 1, 2 and 3 SMS, in the alphabet's unit.
PART_LIMITS = {Alphabet.GSM7: (160, 306, 459), Alphabet.UCS2: (70, 134, 200)}

SENDER_NAME_SEPTETS = 11  # an alphanumeric originator address holds 11 septets
PHONE_NUMBER = re.compile(r"\+?(?:[0-9]{9}|[0-9]{11})")


class SmsCode(IntEnum):
    """003's error codes of POST /rest/sms."""

    BAD_NUMBER = 1101
    TEXT_MISSING = 1102
    TOO_LONG = 1103
    TOO_LONG_SPECIAL = 1104
    BAD_SENDER_NAME = 1105
    UNCONFIRMED_SENDER_NAME = 1106
    BAD_CODING = 1107
    TOO_LONG_FOR_SINGLE = 1108
    TOO_LONG_FOR_SINGLE_SPECIAL = 1109
    NOT_SENT = 1150


# The document's words for each code.
MESSAGES = {
    SmsCode.BAD_NUMBER: "Error in GSM number",
    SmsCode.TEXT_MISSING: "SMS content missing",
    SmsCode.TOO_LONG: "SMS content too long (SMS without special characters)",
    SmsCode.TOO_LONG_SPECIAL: "SMS content too long (SMS with special characters)",
    SmsCode.BAD_SENDER_NAME: "Sender name error",
    SmsCode.UNCONFIRMED_SENDER_NAME: "Unconfirmed sender name (awaiting verification)",
    SmsCode.BAD_CODING: "Error in coding of command",
    SmsCode.TOO_LONG_FOR_SINGLE: (
        "SMS content too long (SMS without special characters with single=1 option)"
    ),
    SmsCode.TOO_LONG_FOR_SINGLE_SPECIAL: (
        "SMS content too long (SMS with special characters with single=1 option)"
    ),
    SmsCode.NOT_SENT: "SMS not sent, awaiting final contract",
}


class SmsError(Exception):
    """A request the document refuses: `code` is its error code, `detail` says what was wrong."""

    def __init__(self, code: SmsCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        self.message = MESSAGES[code] + (f": {detail}" if detail else "")
        super().__init__(f"{code.value} {self.message}")


@dataclass(frozen=True)
class Measure:
    alphabet: Alphabet
    length: int  # septets (GSM7) or UTF-16 code units (UCS2)
    parts: int | None  # SMS by the document's table; None: longer than three allow


@dataclass(frozen=True)
class Sms:
    """A message that passed every check of this module, ready for a transport."""

    to: str  # the number as given, without surrounding spaces
    text: str  # in NFC
    sender: str | None  # a sender name (PRO), or None: the network's number (ECO)
    measure: Measure


# -- the text ----------------------------------------------------------------------------------


def alphabet(text: str) -> Alphabet:
    return Alphabet.GSM7 if GSM_CHARACTERS.issuperset(text) else Alphabet.UCS2


def septets(text: str) -> int:
    """GSM-7 length: extension characters cost two septets. Only for GSM-7 texts."""
    return len(text) + sum(1 for char in text if char in GSM_EXTENSION)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def measure(text: str) -> Measure:
    kind = alphabet(text)
    length = septets(text) if kind is Alphabet.GSM7 else ucs2_units(text)
    limits = PART_LIMITS[kind]
    parts = next((count for count, most in enumerate(limits, 1) if length <= most), None)
    return Measure(kind, length, parts)


def check_text(text: str | None, single: bool = False) -> tuple[str, Measure]:
    """The text in NFC and its measure; SmsError when it is missing (empty or only white
    space), longer than one SMS when `single` (1108/1109, whatever its length: one SMS is the
    limit the request asked for), or longer than three (1103/1104)."""
    if text is None or not text.strip():
        raise SmsError(SmsCode.TEXT_MISSING)
    text = unicodedata.normalize("NFC", text)
    found = measure(text)
    gsm7 = found.alphabet is Alphabet.GSM7
    unit = "septets" if gsm7 else "UTF-16 code units"
    limits = PART_LIMITS[found.alphabet]
    if single and found.parts != 1:
        code = SmsCode.TOO_LONG_FOR_SINGLE if gsm7 else SmsCode.TOO_LONG_FOR_SINGLE_SPECIAL
        raise SmsError(code, f"{found.length} {unit}, at most {limits[0]} with single=1")
    if found.parts is None:
        code = SmsCode.TOO_LONG if gsm7 else SmsCode.TOO_LONG_SPECIAL
        raise SmsError(code, f"{found.length} {unit}, at most {limits[-1]}")
    return text, found


# -- the number and the sender name -------------------------------------------------------------


def check_number(value: str | None) -> str:
    """9 or 11 digits, optionally after "+". Spaces around it are dropped; inside it (and
    dashes, brackets, other scripts' digits) they are refused rather than guessed at."""
    number = (value or "").strip()
    if not PHONE_NUMBER.fullmatch(number):
        raise SmsError(SmsCode.BAD_NUMBER, "expected 9 or 11 digits, optionally after +")
    return number


def check_sender_name(value: str) -> str:
    """A sender name as phones show it: GSM characters without line breaks or form feeds, 11
    septets at most (so "[" counts 2), no space at either end (it would not show, and a name
    must match its confirmed spelling exactly); spaces inside are allowed."""
    if not value or value != value.strip():
        raise SmsError(SmsCode.BAD_SENDER_NAME, "empty, or spaces at an end")
    if not GSM_CHARACTERS.issuperset(value) or any(char in "\n\r\f" for char in value):
        raise SmsError(SmsCode.BAD_SENDER_NAME, "special characters or line breaks")
    if septets(value) > SENDER_NAME_SEPTETS:
        raise SmsError(SmsCode.BAD_SENDER_NAME, f"more than {SENDER_NAME_SEPTETS} characters")
    return value


# -- a request --------------------------------------------------------------------------------


REPLACEMENT = "\ufffd"  # what a decoder that replaces (a URL-encoded form's) puts for bad bytes


def decoded(value: str | bytes | None) -> str | None:
    """A parameter as text: bytes must be UTF-8 (the document's coding); text must hold no
    lone surrogate (undecodable bytes escaped) and no U+FFFD, the mark undecodable bytes leave
    where they were replaced (a form's percent-escapes in Latin-1, say). An SMS that really
    means to show U+FFFD is not worth sending a phone mojibake for."""
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        if text is not None:
            text.encode("utf-8")
    except UnicodeError:
        raise SmsError(SmsCode.BAD_CODING, "not valid UTF-8") from None
    if text is not None and REPLACEMENT in text:
        raise SmsError(SmsCode.BAD_CODING, "not valid UTF-8 (U+FFFD where bytes were replaced)")
    return text


def check_single(value: str | None) -> bool:
    """`single`: 0 or 1, empty for 0; anything else is an error in the command."""
    text = (value or "").strip()
    if text not in ("", "0", "1"):
        raise SmsError(SmsCode.BAD_CODING, "single must be 0 or 1")
    return text == "1"


def check_request(
    gsm: str | bytes | None,
    text: str | bytes | None,
    sender: str | bytes | None = None,
    single: str | bytes | None = None,
) -> Sms:
    """POST /rest/sms's parameters, checked for coding first, then the number, the text and
    the sender name (an empty `from` is none). Whether the name is confirmed is the caller's
    check, and whether there is a transport to send with."""
    values = [decoded(value) for value in (gsm, text, sender, single)]
    one = check_single(values[3])
    number = check_number(values[0])
    content, found = check_text(values[1], one)
    name = values[2]
    return Sms(number, content, check_sender_name(name) if name else None, found)
