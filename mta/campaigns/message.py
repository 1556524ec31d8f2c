"""A campaign's message: built once per run, personalised per recipient at delivery.

`build_run_message` reads the campaign and its email, fetches the HTML from `content_url` when the
email names one, checks the From address against the campaign owner's sender domains (the submission
path's own checks), composes the MIME (mta/submission/composition.py), adds Google Analytics
parameters to the links of the campaign's analytics domains, turns merge tags into placeholders
(mta/campaigns/merge_tags.py), adds the submission path's headers, and tracking with the unsubscribe
link and List-Unsubscribe (always, for a campaign: mta/tracking/rewrite.py). The result is stored
unsigned and marked for personalisation, with no recipients: the run queues them
(storage/campaigns/runs.py) and the delivery worker makes and signs each copy
(mta/outbound/delivery.py).

`send_test` sends copies to a few addresses, each built for its recipient with given (or
sampled) values, through the submission path as any of the owner's mail: Subject prefixed
`[TEST] `, tagged `test`, source `campaign-test`, and without `campaign_id`, so a campaign's
reports never count them.
"""

from __future__ import annotations

import dataclasses
import functools
import html as html_escape
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from mta.campaigns.merge_tags import HTML, TAG, TEXT, Template, TooManyTags, render
from mta.checked_http import CallFailed, HttpOptions, HttpSender, TooLarge
from mta.submission.assembly import HeaderSummary
from mta.submission.composition import Draft, InvalidContent, Mailbox, checked_address, compose
from mta.submission.policy import within_domain
from mta.submission.submit import (
    Gateway,
    Origin,
    SubmissionRefused,
    added_headers,
    check_content,
    sender_by_address,
    split_suppressed,
    submit,
    tracked,
)
from mta.tracking.html_rewrite import rewrite_html
from mta.tracking.mime_rewrite import rewrite_text_parts
from mta.tracking.rewrite import mark
from storage.campaigns.content import CampaignContent, campaign_content, sample_subscriber
from storage.domains import SenderContext
from storage.models import utcnow
from storage.queue import NewMessage, QueueWriteError

SOURCE = "campaign"
TEST_SOURCE = "campaign-test"
TEST_TAG = "test"
TEST_PREFIX = "[TEST] "
MAX_CONTENT = 2 * 1024 * 1024  # bytes of HTML fetched from a content URL
ORIGIN = Origin(helo="campaign", client_ip="127.0.0.1", protocol="LOCAL")


class CampaignContentError(Exception):
    """The campaign's message cannot be built; the text says why (kept as its last error)."""


async def build_run_message(
    gw: Gateway, campaign_id: int, http: HttpSender | None = None
) -> NewMessage:
    """The run's message, ready for `gw.writer.enqueue`. `http` fetches a content URL (a
    sender for public addresses only is made for the call when none is given)."""
    content = await _content(gw, campaign_id)
    sender = await campaign_sender(gw, content)
    page = await _page(content, http)
    template = _template(content.subject, page, content.text)
    raw = _template_message(content, page, template)
    queue_id = uuid.uuid4()
    summary = _checked(gw, sender, raw)
    message = added_headers(gw, sender, summary, ORIGIN, str(queue_id), utcnow()) + raw
    prepared = _tracked(gw, sender, message, queue_id, template.words())
    subject = content.subject if TAG.search(content.subject) else None
    return NewMessage(
        id=queue_id,
        mail_from=_from_address(content),
        recipients=[],
        raw=template.marked(prepared, subject),
        source=SOURCE,
        user_id=sender.user_id,
        sender_domain_id=sender.domain_id,
        header_from=summary.header_from,
        subject=content.subject,
        message_id_header=summary.message_id or f"<{queue_id}@{sender.domain}>",
        tags=list(content.tags),
        campaign_id=content.campaign_id,
        queue_deliveries=False,
    )


def _template_message(content: CampaignContent, page: str, template: Template) -> bytes:
    """The composed message with placeholders for the subject (when it has tags), the
    recipient and each tag in the text parts (then quoted-printable UTF-8)."""
    subject = template.subject if TAG.search(content.subject) else content.subject
    raw = _compose(content, page, subject, template.recipient)
    rewrites = {
        "text/html": functools.partial(template.replace, context=HTML),
        "text/plain": functools.partial(template.replace, context=TEXT),
    }
    return rewrite_text_parts(raw, rewrites, template.words()) or raw


async def _content(gw: Gateway, campaign_id: int) -> CampaignContent:
    content = await campaign_content(gw.db, campaign_id)
    if content is None:
        raise CampaignContentError(f"no campaign {campaign_id}")
    if content.email_id is None:
        raise CampaignContentError("the campaign has no email")
    if not content.subject.strip():
        raise CampaignContentError("the email has no subject")
    if not (content.html or content.text or content.content_url):
        raise CampaignContentError("the email has no content")
    return content


async def campaign_sender(gw: Gateway, content: CampaignContent) -> SenderContext:
    """The sender domain of the email's From address, checked as the submission path checks a
    sender (registered, Enabled, its owner active and trusted, the address within it), and the
    campaign owner's."""
    address = _from_address(content)
    try:
        sender = await sender_by_address(gw, address)
    except SubmissionRefused as refused:
        raise CampaignContentError(f"From address {address}: {refused.reply}") from None
    problem = from_problem(sender, content.user_id, address)
    if problem is not None:
        raise CampaignContentError(f"From address {address}: {problem}")
    return sender


def from_problem(sender: SenderContext | None, user_id: int, address: str) -> str | None:
    """Why `address` cannot be the From of account `user_id`'s campaigns, or None: the closest
    registered sender domain of its domain (`sender`) is the account's, and the address is
    within it. The one rule /api.php's FromEmail, /rest's send and every run apply; /rest's
    send and the run also ask that the domain may send now (campaign_sender)."""
    domain = address.rpartition("@")[2]
    if sender is None:
        return f"{domain} is not a registered sender domain"
    if sender.user_id != user_id:
        return f"{sender.domain} is not a sender domain of the account"
    if not within_domain(domain, sender.domain):
        return f"{address} is not within {sender.domain}"
    return None


def _from_address(content: CampaignContent) -> str:
    address, problem = checked_address(content.from_email.strip())
    if address is None:
        raise CampaignContentError(f"From address {content.from_email!r} is invalid: {problem}")
    return address


async def _page(content: CampaignContent, http: HttpSender | None) -> str:
    """The email's HTML: fetched from its content URL when it has one."""
    url = content.content_url
    if not url:
        return content.html
    own = http is None
    sender = http or HttpSender(HttpOptions())
    try:
        fetched = await sender.get(url, MAX_CONTENT)
    except TooLarge:
        raise CampaignContentError(f"content URL {url}: more than {MAX_CONTENT} bytes") from None
    except CallFailed as error:
        raise CampaignContentError(f"content URL {url}: {error}") from None
    finally:
        if own:
            await sender.close()
    if not 200 <= fetched.status < 300:
        raise CampaignContentError(f"content URL {url}: answered {fetched.status}")
    charset = _charset(fetched.content_type)
    try:
        return fetched.body.decode(charset, "replace")
    except LookupError:
        return fetched.body.decode("utf-8", "replace")


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip(' "'):
            return value.strip(' "')
    return "utf-8"


def _template(*texts: str) -> Template:
    try:
        return Template.of(*texts)
    except TooManyTags as error:
        raise CampaignContentError(str(error)) from None


def _compose(content: CampaignContent, page: str, subject: str, to: str) -> bytes:
    """The MIME message: From, Reply-To, Subject, To (the recipient's placeholder), the HTML
    with the campaign's analytics parameters, and the text."""
    reply_to = []
    if content.reply_to_email.strip():
        address, problem = checked_address(content.reply_to_email.strip())
        if address is None:
            raise CampaignContentError(f"Reply-To address is invalid: {problem}")
        reply_to.append(Mailbox(address, content.reply_to_name))
    draft = Draft(
        sender=Mailbox(_from_address(content), content.from_name),
        subject=subject,
        to=[Mailbox(to)],
        reply_to=reply_to,
        html=with_analytics(page, content.name, content.google_analytics_domains) or None,
        plain=content.text or None,
    )
    try:
        return compose(draft)
    except InvalidContent as error:
        raise CampaignContentError(str(error)) from None


def _checked(gw: Gateway, sender: SenderContext, raw: bytes) -> HeaderSummary:
    try:
        return check_content(gw, sender, raw)
    except SubmissionRefused as refused:
        raise CampaignContentError(refused.reply) from None


def _tracked(
    gw: Gateway, sender: SenderContext, message: bytes, queue_id: uuid.UUID, keep: list[str]
) -> bytes:
    """The message with tracking as its sender domain has it, and for a campaign always the
    unsubscribe link and List-Unsubscribe, marked for personalisation."""
    unsubscribing = dataclasses.replace(sender, unsubscribe_link=True)
    return tracked(gw, unsubscribing, message, queue_id, None, keep) or mark(message)


# -- Google Analytics -----------------------------------------------------------------------


def analytics_parameters(campaign_name: str) -> list[tuple[str, str]]:
    return [("utm_source", "mailgate"), ("utm_medium", "email"), ("utm_campaign", campaign_name)]


def with_analytics(page: str, campaign_name: str, domains: Sequence[str]) -> str:
    """`page` with the Google Analytics parameters added to each http(s) link whose host is
    one of `domains` or within one; a parameter the link has already is left as it is."""
    names = [d.strip().lower().rstrip(".") for d in domains if d and d.strip()]
    if not names or not page:
        return page
    added = analytics_parameters(campaign_name)

    def link(url: str) -> str | None:
        address, hash_mark, fragment = url.partition("#")
        scheme, sep, rest = address.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            return None
        host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2].split(":", 1)[0]
        if not host or not any(within_domain(host, name) for name in names):
            return None
        query = address.partition("?")[2].lower()
        present = {pair.partition("=")[0] for pair in query.split("&")}
        extra = "&".join(f"{name}={_quote(value)}" for name, value in added if name not in present)
        if not extra:
            return None
        joiner = "" if address.endswith(("?", "&")) else ("&" if "?" in address else "?")
        return html_escape.escape(address + joiner + extra + hash_mark + fragment)

    return rewrite_html(page, link, None)


def _quote(value: str) -> str:
    return quote(value, safe="")


# -- test sends -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TestSend:
    """What `send_test` did: each address's message id, and the addresses not sent to because
    they are suppressed for the account."""

    sent: dict[str, uuid.UUID] = field(default_factory=dict)
    suppressed: list[str] = field(default_factory=list)


async def send_test(
    gw: Gateway,
    campaign_id: int,
    emails: Sequence[str],
    fields: Mapping[str, Any] | None,
    http: HttpSender | None = None,
) -> TestSend:
    """Personalised copies of the campaign's message to `emails`, with the merge values
    `fields` ({tag: value}; `$$email$$` is the address unless `fields` names it), or, when
    `fields` is None, the values of a random active subscriber of the campaign's first list.
    Queued through the submission path as the campaign owner's mail (sender policy, sending
    limits, suppressions, tracking, DKIM); CampaignContentError when they cannot be."""
    content = await _content(gw, campaign_id)
    sender = await campaign_sender(gw, content)
    addresses = [_test_address(e) for e in emails]
    if not addresses:
        raise CampaignContentError("no address to send the test to")
    values = await _test_values(gw, content, fields)
    page = await _page(content, http)
    accepted, suppressed = await split_suppressed(gw, sender, addresses)
    done = TestSend(suppressed=suppressed)
    for address in accepted:
        raw = _test_message(content, page, address, {"email": address, **values})
        try:
            done.sent[address] = await submit(gw, sender, _from_address(content), [address], raw,
                                              ORIGIN, TEST_SOURCE, tags=[TEST_TAG])  # fmt: skip
        except (SubmissionRefused, QueueWriteError) as error:
            raise CampaignContentError(f"test to {address}: {error}") from None
    return done


def _test_address(text: str) -> str:
    address, problem = checked_address(str(text).strip())
    if address is None:
        raise CampaignContentError(f"test address {text!r} is invalid: {problem}")
    return address


async def _test_values(
    gw: Gateway, content: CampaignContent, fields: Mapping[str, Any] | None
) -> dict[str, str]:
    if fields is not None:
        return {str(k).lower(): "" if v is None else str(v) for k, v in fields.items()}
    list_id = first_list(content.audience)
    sample = None if list_id is None else await sample_subscriber(gw.db, content.user_id, list_id)
    return sample or {}


def first_list(audience: Mapping[str, Any]) -> int | None:
    """The first list a campaign's audience names (its rules' first criteria when it has
    rules, as they replace the lists)."""
    rules = audience.get("rules")
    if isinstance(rules, Mapping):
        targets = rules.get("criteria") or []
    else:
        targets = audience.get("lists") or []
    for target in targets:
        if isinstance(target, Mapping) and str(target.get("list_id", "")).isdigit():
            return int(target["list_id"])
    return None


def _test_message(
    content: CampaignContent, page: str, address: str, values: Mapping[str, str]
) -> bytes:
    """The campaign's message as one recipient's: tags replaced, `[TEST] ` before the subject."""
    subject = TEST_PREFIX + " ".join(render(content.subject, values).split())
    rendered = dataclasses.replace(content, text=render(content.text, values))
    return _compose(rendered, render(page, values, escape=True), subject, address)
