"""Asynchronous bounces and complaint reports that come back to Mailgate on port 25, read into
one `Report`.

The standard formats are read here: RFC 3464 DSNs (per recipient: action, status, diagnostic)
and RFC 5965 ARF complaints, plus Microsoft's JMRP complaints, which are not ARF. A bounce in
an MTA's home-made format is read next by its reader in `mta.feedback.formats` (address, reply,
status per recipient, as a DSN states them). Every other bounce is left to flufl.bounce, whose
detectors know the home-made formats of many MTAs; the diagnostic of each address it finds is
the text next to the address's mention. Every failure is
classified by `mta.feedback.bounce_classes.classify`, as synchronous replies are, so both kinds of
bounce mean the same thing. The message a report is about is named by its VERP envelope sender
(`mta.verp.verp_sender`).
"""

from __future__ import annotations

import email
import html
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from itertools import chain
from typing import Literal

import flufl.bounce

from mta.feedback.bounce_classes import classify
from mta.feedback.formats import read_failures
from mta.feedback.reasons import Reason
from mta.replies import ENHANCED_IN_TEXT, enhanced_code_of
from mta.verp import parse_verp

log = logging.getLogger("mailgate.bounces")

Kind = Literal["bounce", "complaint", "none"]
Action = Literal["failed", "delayed"]

MAX_DIAGNOSTIC = 1000

# An SMTP reply inside prose: `550 5.1.1 ...`, `550-5.1.1 ...`, `554 delivery error: ...`.
REPLY = re.compile(r"(?<![\w.\-/:#\[])([245]\d\d)[ -](?=\S)")
INLINE_RETURN_PATH = re.compile(r"^\s*return-path:\s*(\S.*)$", re.IGNORECASE)
# What a mail system calls itself when it writes a bounce.
MAIL_SYSTEM_SENDER = re.compile(r"^(mailer[-_]?daemon|mail-daemon|postmaster)$", re.IGNORECASE)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|failure notice|mail delivery (failed|problem)|non-?delivery|"
    r"delivery (status|failure|has failed|notification)|could not be delivered|^rejected:",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a bounce reports, classified as a synchronous reply would be."""

    address: str  # lower-cased; the original recipient when the report names it
    hard: bool
    category: str  # from mta.feedback.bounce_classes.CATEGORIES
    enhanced_code: str | None
    reason: Reason  # mta/feedback/reasons.py
    diagnostic: str  # the remote server's words, at most MAX_DIAGNOSTIC characters
    action: Action


@dataclass(frozen=True)
class Report:
    """What came back: a bounce, a complaint or neither, and which Mailgate message it is about."""

    kind: Kind
    message_id: uuid.UUID | None
    recipients: tuple[FailedRecipient, ...] = ()
    complainant: str | None = None
    feedback_type: str | None = None  # ARF Feedback-Type: abuse, fraud, ...
    user_agent: str | None = None


def parse_report(raw: bytes, envelope_recipients: Sequence[str] = ()) -> Report:
    """Read a report that arrived on port 25. Never raises: what cannot be read is kind "none".

    `envelope_recipients` (RCPT TO) name the message best: the VERP address there is the one
    Mailgate sent from, while everything inside the report was written by someone else.
    """
    envelope_id = next(filter(None, map(_verp_id, envelope_recipients)), None)
    try:
        msg = email.message_from_bytes(raw)
        return _read(msg, envelope_id or _message_id_in(msg))
    except Exception:  # a parser's or our own bug must not fail the SMTP transaction
        log.exception("unreadable report (%d bytes)", len(raw))
        return Report("none", envelope_id)


def _read(msg: Message, message_id: uuid.UUID | None) -> Report:
    complaint = _arf(msg, message_id) or _jmrp(msg, message_id)
    if complaint is not None:
        return complaint
    lines = _text_lines(msg)
    recipients = _dsn_recipients(msg, lines)
    if recipients is None:
        recipients = _format_recipients(msg, lines)
    if recipients is None and _from_mail_system(msg):
        recipients = _detected_recipients(msg, lines)
    if recipients:
        return Report("bounce", message_id, tuple(recipients))
    return Report("none", message_id)


# -- which message ---------------------------------------------------------------------------


def _verp_id(address: str) -> uuid.UUID | None:
    local, at, _ = parseaddr(address)[1].rpartition("@")
    return parse_verp(local) if at else None


def _message_id_in(msg: Message) -> uuid.UUID | None:
    """The VERP address the report itself names: the original's envelope sender, as an ARF
    field or the enclosed message's Return-Path, else the report's own To."""
    candidates = chain(
        _all(_feedback_fields(msg), "original-mail-from"),
        (path for headers in _enclosed_headers(msg) for path in _all(headers, "return-path")),
        _inline_return_paths(msg),
        (address for _, address in getaddresses(_all(msg, "to"))),
    )
    return next(filter(None, map(_verp_id, candidates)), None)


def _inline_return_paths(msg: Message) -> Iterator[str]:
    """Return-Path lines of originals pasted into the text (qmail, Exim, Yahoo)."""
    for line in _text_lines(msg):
        if match := INLINE_RETURN_PATH.match(line):
            yield match.group(1)


# -- complaints ------------------------------------------------------------------------------


def _feedback_fields(msg: Message) -> Message | None:
    """The fields of an ARF report's message/feedback-report part; None when it is not ARF
    (Feedback-Type is its one field that RFC 5965 always requires)."""
    for part in _own_parts(msg):
        if part.get_content_type() == "message/feedback-report":
            fields = _fields(part)
            return fields if _field(fields, "feedback-type").strip() else None
    return None


def _arf(msg: Message, message_id: uuid.UUID | None) -> Report | None:
    """RFC 5965: the complainant is Original-Rcpt-To, else the To of the enclosed message."""
    fields = _feedback_fields(msg)
    if fields is None:
        return None
    enclosed = next(_enclosed_headers(msg), None)
    return Report(
        "complaint",
        message_id,
        complainant=_complainant(_all(fields, "original-rcpt-to"), _all(enclosed, "to")),
        feedback_type=_field(fields, "feedback-type").strip().lower() or None,
        user_agent=_field(fields, "user-agent").strip() or None,
    )


def _jmrp(msg: Message, message_id: uuid.UUID | None) -> Report | None:
    """Microsoft's JMRP: a plain multipart/mixed whose enclosed message names the complainant
    in X-HmXmrOriginalRecipient; flufl.bounce has no detector for it."""
    for headers in _enclosed_headers(msg):
        if headers.get("x-hmxmroriginalrecipient") is not None:
            complainant = _complainant(
                _all(headers, "x-hmxmroriginalrecipient"), _all(headers, "to")
            )
            return Report("complaint", message_id, complainant=complainant, feedback_type="abuse")
    return None


def _complainant(*candidates: list[str]) -> str | None:
    """The first address; AOL and others redact theirs as `redacted@...`, which names nobody."""
    for values in candidates:
        for _, address in getaddresses(values):
            local, at, _ = address.rpartition("@")
            if at and local and local.lower() != "redacted":
                return address.lower()
    return None


# -- RFC 3464 DSNs ---------------------------------------------------------------------------


def _dsn_recipients(msg: Message, lines: list[str]) -> list[FailedRecipient] | None:
    """The failed and delayed recipients of a DSN; None when there is no DSN to read."""
    blocks = [
        block
        for part in _own_parts(msg)
        if part.get_content_type() == "message/delivery-status"
        for block in _status_blocks(part)
        if _field(block, "action") and _dsn_address(block)
    ]
    if not blocks:
        return None
    found: dict[str, FailedRecipient] = {}
    for block in blocks:
        recipient = _dsn_recipient(block, lines)
        if recipient is not None and recipient.address not in found:
            found[recipient.address] = recipient
    return list(found.values())


def _dsn_recipient(block: Message, lines: list[str]) -> FailedRecipient | None:
    word = (_field(block, "action").split() or [""])[0].lower()
    if word not in ("failed", "delayed"):
        return None  # delivered, relayed, expanded: nothing went wrong
    action: Action = "failed" if word == "failed" else "delayed"
    address = _dsn_address(block)
    diagnostic = _reply_text(_diagnostic_lines(_field(block, "diagnostic-code")))
    if not diagnostic:
        diagnostic = _near(lines, address, set())
    return _failed_recipient(address, action, _status(block), diagnostic)


def _failed_recipient(
    address: str,
    action: Action,
    status: str | None,
    diagnostic: str,
    reply_code: int | None = None,
) -> FailedRecipient:
    """A recipient from what a report states: its status field (None when there is none), the
    remote server's reply as one line, and the reply code when stated apart from it."""
    detailed = _most_specific(diagnostic)
    if status is None or (
        detailed and detailed[0] == status[0] and _detail(detailed) > _detail(status)
    ):
        status = detailed or status  # `5.0.0` or `5.1.0` says less than the reply's `5.7.1`
    permanent = (status or ("5" if action == "failed" else "4")).startswith("5")
    code = reply_code or _reply_code(diagnostic) or (550 if permanent else 450)
    found = classify(code, diagnostic, status)
    return FailedRecipient(
        address=address,
        hard=action == "failed" and found.hard and not (status or "").startswith("4"),
        category=found.category,
        enhanced_code=found.enhanced_code,
        reason=found.reason,
        diagnostic=diagnostic[:MAX_DIAGNOSTIC],
        action=action,
    )


def _status_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part, as email.message parsed them."""
    if part.is_multipart():
        return [block for block in part.get_payload() if isinstance(block, Message)]
    # A transfer-encoded part stays one string: split its blocks ourselves.
    text = _decoded(part)
    return [HeaderParser().parsestr(chunk.strip()) for chunk in re.split(r"\n\s*\n", text)]


def _dsn_address(block: Message) -> str:
    """Original-Recipient when given (the address Mailgate sent to, before any forwarding or
    alias), else Final-Recipient; `rfc822; user@example.org`."""
    for name in ("original-recipient", "final-recipient"):
        value = _field(block, name)
        address = parseaddr(value.partition(";")[2] if ";" in value else value)[1]
        if "@" in address:
            return address.lower()
    return ""


def _detail(code: str) -> int:
    """How much a code says (RFC 3463): `x.0.0` nothing beyond its class, `x.y.0` its subject
    ("other" within it), `x.y.z` the exact condition."""
    _, subject, detail = code.split(".")
    return (subject != "0") + (detail != "0")


def _most_specific(text: str) -> str | None:
    """The first of a diagnostic's most detailed enhanced codes: a relay's `5.1.0 - Unknown
    address error 550-'5.7.1 ... Access denied'` is a 5.7.1."""
    codes = ENHANCED_IN_TEXT.findall(text)
    return max(codes, key=_detail, default=None)  # the first of the most detailed


def _status(block: Message) -> str | None:
    return enhanced_code_of(_field(block, "status"))


def _diagnostic_lines(value: str) -> list[str]:
    """A Diagnostic-Code's lines without its type (`smtp;`, `X-Postfix;`)."""
    kind, semicolon, rest = value.partition(";")
    if semicolon and kind.strip() and " " not in kind.strip():
        value = rest
    return value.strip().splitlines()


# -- home-made formats, through the per-format readers ----------------------------------------


def _format_recipients(msg: Message, lines: list[str]) -> list[FailedRecipient] | None:
    """The recipients of a bounce one of `mta.feedback.formats`' readers takes, read as a DSN's
    fields are; None when no reader takes the message."""
    taken = read_failures(msg, lines)
    if taken is None:
        return None
    found: dict[str, FailedRecipient] = {}
    for failure in taken[1]:
        diagnostic = _reply_text(_diagnostic_lines(failure.diagnostic))
        status = enhanced_code_of(failure.status or "")
        recipient = _failed_recipient(
            failure.address, failure.action, status, diagnostic, failure.reply_code
        )
        found.setdefault(recipient.address, recipient)
    return list(found.values())


# -- other formats, through flufl.bounce -----------------------------------------------------


def _from_mail_system(msg: Message) -> bool:
    """Whether the message presents itself as a mail system's report. flufl.bounce's looser
    detectors also fire on people's mail (LLNL takes any `, someone@example.org,`), and
    replies and auto-replies to the VERP address arrive here too."""
    name, address = parseaddr(_field(msg, "from"))
    return bool(
        MAIL_SYSTEM_SENDER.match(address.rpartition("@")[0])
        or re.search(r"mail delivery|mail system|postmaster", name, re.IGNORECASE)
        or msg.get("x-failed-recipients") is not None
        or msg.get_content_type() == "multipart/report"
        or BOUNCE_SUBJECT.search(_field(msg, "subject").strip())
    )


def _detected_recipients(msg: Message, lines: list[str]) -> list[FailedRecipient]:
    temporary, permanent = _flufl_failures(msg)
    actions: dict[str, Action] = dict.fromkeys(_addresses(temporary), "delayed")
    actions.update(dict.fromkeys(_addresses(permanent), "failed"))
    mentioned = {a: _mention(lines, a) for a in actions}
    order = sorted(actions, key=lambda a: (mentioned[a] is None, mentioned[a] or 0, a))
    return [_detected_recipient(a, actions[a], lines, set(actions) - {a}) for a in order]


def _flufl_failures(msg: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """flufl.bounce's (temporary, permanent) failures; its heuristics raise on some malformed
    input, which then is no bounce it can read."""
    try:
        return flufl.bounce.all_failures(msg)
    except Exception:
        log.warning("flufl.bounce failed on a report", exc_info=True)
        return frozenset(), frozenset()


def _addresses(found: Iterable[bytes]) -> list[str]:
    """Detected addresses as text, without our own VERP sender that a detector may pick up."""
    addresses = (raw.decode("ascii", "replace").strip().lower() for raw in found)
    return [a for a in addresses if "@" in a and _verp_id(a) is None]


def _detected_recipient(
    address: str, action: Action, lines: list[str], others: set[str]
) -> FailedRecipient:
    diagnostic = _near(lines, address, others)
    default = 550 if action == "failed" else 450
    found = classify(_reply_code(diagnostic) or default, diagnostic)
    return FailedRecipient(
        address=address,
        hard=action == "failed" and found.hard,
        category=found.category,
        enhanced_code=found.enhanced_code,
        reason=found.reason,
        diagnostic=diagnostic[:MAX_DIAGNOSTIC],
        action=action,
    )


# -- the text next to an address -------------------------------------------------------------


def _near(lines: list[str], address: str, others: set[str]) -> str:
    """What a bounce's prose says about `address`: the SMTP reply in the lines that follow its
    mention (up to a blank line or another failed address), else those lines, else the lead-in
    of its paragraph (AOL: "... not accepting mail ...:" above a bare screen name)."""
    at = _mention(lines, address)
    if at is None:
        return ""
    block = [lines[at]]
    for line in lines[at + 1 :]:
        if not line.strip() or any(_mention([line], other) == 0 for other in others):
            break
        block.append(line)
    for i, line in enumerate(block):
        if match := REPLY.search(line):
            code = match.group(1)
            rest = [x for x in block[i + 1 :] if x.lstrip().startswith(code)]
            return _reply_text([line[match.start() :], *rest])
    said = [line for line in block if not _only_address(line, address)]
    if not said:
        start = at
        while start > 0 and lines[start - 1].strip():
            start -= 1
        said = [line for line in lines[start:at] if not _only_address(line, address)]
    return " ".join(" ".join(said).split())


def _mention(lines: list[str], address: str) -> int | None:
    """The index of the first line naming the address, or its bare local part (AOL's screen
    names) when the whole address appears nowhere."""
    for pattern in _address_patterns(address):
        for i, line in enumerate(lines):
            if pattern.search(line):
                return i
    return None


def _address_patterns(address: str) -> list[re.Pattern[str]]:
    local = address.rpartition("@")[0]
    return [
        re.compile(rf"(?<![\w.+-]){re.escape(address)}(?![\w-])", re.IGNORECASE),
        re.compile(rf"(?<![\w.+-]){re.escape(local)}(?![\w@.-])", re.IGNORECASE),
    ]


def _only_address(line: str, address: str) -> bool:
    for pattern in _address_patterns(address):
        line = pattern.sub("", line)
    return not line.strip(" \t<>:;,()")


def _reply_code(text: str) -> int | None:
    match = REPLY.match(text)
    return int(match.group(1)) if match else None


def _reply_text(lines: list[str]) -> str:
    """An SMTP reply on one line: `550-5.1.1 a` / `550-5.1.1 b` / `550 5.1.1 c` reads
    `550 5.1.1 a b c`, and folded lines are unfolded."""
    first = REPLY.match(lines[0].strip()) if lines else None
    parts = lines[:1]
    for line in lines[1:]:
        match = re.match(r"\s*(\d{3})[ -](?:[245]\.\d{1,3}\.\d{1,3}\s)?", line)
        same = first is not None and match is not None and match.group(1) == first.group(1)
        parts.append(line[match.end() :] if same and match else line)
    text = " ".join(" ".join(parts).split())
    return re.sub(r"^([245]\d\d)-", r"\1 ", text)


# -- reading the MIME structure --------------------------------------------------------------


def _own_parts(part: Message) -> Iterator[Message]:
    """The report's parts, without descending into the messages it encloses."""
    yield part
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _own_parts(sub)


def _enclosed_headers(msg: Message) -> Iterator[Message]:
    """The headers of the original message(s) a report encloses, whole or headers only."""
    for part in _own_parts(msg):
        kind = part.get_content_type()
        payload = part.get_payload()
        if kind == "message/rfc822" and isinstance(payload, list):
            yield from (sub for sub in payload[:1] if isinstance(sub, Message))
        elif kind == "text/rfc822-headers":
            yield HeaderParser().parsestr(_decoded(part))


def _fields(part: Message) -> Message:
    """The fields of a message/feedback-report part, which email parses as a headers-only
    message; a transfer-encoded one stays a string to parse."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return HeaderParser().parsestr(_decoded(part).strip())


def _text_lines(msg: Message) -> list[str]:
    """The report's human-readable text: its text/plain parts, else its HTML without tags."""
    parts = list(_own_parts(msg))
    texts = [_decoded(p) for p in parts if p.get_content_type() == "text/plain"]
    if not texts:
        html_parts = (p for p in parts if p.get_content_type() == "text/html")
        texts = [html.unescape(re.sub(r"<[^>]*>", " ", _decoded(p))) for p in html_parts]
    return "\n".join(texts).splitlines()


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    except (LookupError, ValueError):  # a charset Python does not know, or no name at all
        return payload.decode("utf-8", errors="replace")


def _field(msg: Message | None, name: str) -> str:
    value = None if msg is None else msg.get(name)
    return "" if value is None else str(value)


def _all(msg: Message | None, name: str) -> list[str]:
    return [] if msg is None else [str(v) for v in msg.get_all(name, [])]
