"""The curl examples of the API documents 000, 001 and 004, run as written with the real `curl`
against a real `mailgate serve`, each answer compared with the document's success example.

Only what an example leaves to its reader is filled in (see spec_examples.fill): the host, the
keys and ids (a user made with `mailgate user add --password`, its session from User.Login,
its domain added over the API and enabled with `mailgate domain enable`, that domain's API
key, SMTP credentials and webhook, an OCRID sealed with the gateway's key), addresses
@example.com, which become addresses of that domain, and the domain the relay check asks about,
which becomes that domain's return-path domain. Methods, headers, field names, spellings and
encodings stay as the documents have them (a JSON body is sent as the same JSON, re-spaced).

An answer must have the documented HTTP status (200 for every success shown) and every key of
the documented success example with the same JSON type, recursively. For 004, the older
edition, the JSON type of a field 001 also documents is 001's (spec README, rule 1).

The gateway resolves names with a DNS server on loopback, where the webhook examples' hosts
(example.com, yourdomain.com) have a public address, so the URL guard passes as written; mail
goes to a sink on loopback.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mta.tracking.ocrid import seal_ocrid
from tests.conftest import make_gateway, wait_until
from tests.dns_server import DnsServer
from tests.http_api.conftest import Api, db, serving
from tests.http_api.spec_examples import (
    DOCUMENTS,
    SPEC_DIR,
    Example,
    Fills,
    SpecFormatError,
    curl_lines,
    examples,
    fill,
    read_examples,
    run,
    shape_problems,
    with_primary_types,
)
from tests.http_api.test_api_s2spostback import campaign_message, gateway_key
from tests.mta.sink import Sink

DOMAIN = "spec.mailgate.test"  # the test user's Enabled sender domain
EMAIL, PASSWORD = f"owner@{DOMAIN}", "correct horse battery staple"
HOOK_URL = "https://example.com/webhooks/email-events"  # 001's webhook URL
PUBLIC_V4 = "93.184.216.34"
WEBHOOK_HOSTS = ("example.com", "yourdomain.com")
CAMPAIGN = 7001

# Each command or route, and the fresh objects its examples need, made before and removed
# after the case: what the example deletes, changes or re-verifies is never the shared domain.
FRESH_DOMAIN, FRESH_KEY, FRESH_SMTP, FRESH_WEBHOOK = "domain", "api key", "smtp", "webhook"


@dataclass(frozen=True)
class Case:
    fresh: frozenset[str] = frozenset()
    adds_example_domain: bool = False  # adds example.com, which is removed again after


def _case(*fresh: str, adds_example_domain: bool = False) -> Case:
    return Case(frozenset(fresh), adds_example_domain)


CASES = {
    "emailgateway.adddomain": _case(adds_example_domain=True),
    "emailgateway.getdomain": _case(),
    "emailgateway.updatedomain": _case(FRESH_DOMAIN),  # changes settings, may reset Status
    # The records a fresh domain needs are not in the test's DNS, so it is not verified, but
    # the command still answers as documented, with the Domain and DNSVerificationResults.
    "emailgateway.verifydomain": _case(FRESH_DOMAIN),
    "emailgateway.getdomains": _case(),
    "emailgateway.deletedomain": _case(FRESH_DOMAIN),
    "emailgateway.cleardomainqueue": _case(FRESH_DOMAIN),
    "emailgateway.domainstats": _case(),
    "emailgateway.addapi": _case(),
    "emailgateway.getapis": _case(),
    "emailgateway.deleteapi": _case(FRESH_KEY),
    "emailgateway.addsmtp": _case(),
    "emailgateway.getsmtps": _case(),
    "emailgateway.deletesmtp": _case(FRESH_SMTP),
    "emailgateway.resetsmtppassword": _case(FRESH_SMTP),  # the shared one serves smtprelay
    "emailgateway.addwebhook": _case(),
    "emailgateway.getwebhooks": _case(),
    "emailgateway.deletewebhook": _case(FRESH_WEBHOOK),
    "emailgateway.getevents": _case(),
    "emailgateway.aggrevents": _case(),
    "emailgateway.recipientdomainstats": _case(),
    "emailgateway.smtprelay": _case(),
    "internal.bounce.register": _case(),
    "internal.s2spostback.register": _case(),
    "post /api/v1/webhooks": _case(),
    "get /api/v1/webhooks": _case(),
    "delete /api/v1/webhooks": _case(FRESH_WEBHOOK),
    "get /api/v1/events": _case(),
    "post /api/v1/email": _case(),
    "post /api/v1/sender.domains": _case(),
    "get /api/v1/inbound-relay-domain-check": _case(),
}

# Arrays (and data-keyed objects) documented with items that come back empty because of what
# the example asks, as written; each says why. Any other empty one fails its case.
EMPTY_AS_WRITTEN = {
    "001 emailgateway.domainstats": {"TagStats": "no tagged mail in January 2024"},
    "001 emailgateway.aggrevents": {"AggBuckets": "no events in January 2024"},
    "001 emailgateway.recipientdomainstats": {
        "SummaryStats": "no mail to gmail.com from 2026-01-01 to 2026-02-11",
        "DeliverySpeedHistogram.Sent": "the same",
        "DeliverySpeedHistogram.Failed": "the same",
    },
    "004 EmailGateway.GetEvents": {"Events": "no open events in January 2023"},
    "004 GET /api/v1/events": {"Events": "no open events of a message 12345"},
}

# Values an answer must have other than the documented success example's.
OTHER_VALUES = {
    # The example's EmailMessage is elided ("..."): it holds no report to register, so the
    # command answers with the document's failure example, which has the same shape.
    "000 internal.bounce.register": {"Success": False, "ErrorText": "Bounce processing error"},
}

# Fields of 004's answers that 001 contradicts, each with why: the spec's rule 1 carries 004's
# fields only where they do not contradict 001, so the shape check leaves these out.
CONTRADICTED_BY_001 = {
    "004 DELETE /api/v1/webhooks": {
        "Message": "001 shows the whole answer, {}: a Message beside it would not be that answer",
    },
}

# Parameters that hold only placeholders in the examples, and the tokens of Bearer headers.
ALWAYS_FILLED = frozenset(
    {
        "sessionid", "apikey", "adminapikey", "senderapikey", "domainid", "apikeyid", "smtpid",
        "webhookid", "smtpusername", "smtppassword", "ocrid",
    }
)  # fmt: skip
SENDER_KEY_TOKENS = (
    "eg_live_xxxxxxxxxxxx", "{sender_domain_api_key}", "{senderapikey}", "{SenderDomainAPIKey}",
)  # fmt: skip
ADMIN_KEY_TOKENS = ("your-admin-api-key",)


def _all_examples() -> list[Example]:
    if not SPEC_DIR.is_dir():  # a failure, never a skip: the documents come with the tests
        pytest.fail(f"the API documents are not at {SPEC_DIR} (MAILGATE_SPEC_DIR)", pytrace=False)
    return [example for document in DOCUMENTS for example in examples(document)]


ALL = _all_examples()


def case_id(example: Example) -> str:
    same = [e for e in ALL if (e.document, e.name) == (example.document, example.name)]
    suffix = f" #{same.index(example) + 1}" if len(same) > 1 else ""
    return f"{example.document} {example.name}{suffix}"


def documented_shape(example: Example) -> Any:
    """The success example; for 004, with 001's JSON types where 001 documents the field, and
    without the fields 001 contradicts."""
    if example.document != "004":
        return example.documented
    documented = example.documented
    for primary in ALL:
        if primary.document == "001" and primary.name.lower() == example.name.lower():
            documented = with_primary_types(example.documented, primary.documented)
            break
    contradicted = CONTRADICTED_BY_001.get(case_id(example), {})
    return {k: v for k, v in documented.items() if k not in contradicted}


# -- the gateway --------------------------------------------------------------------------------


@dataclass
class World:
    api: Api
    sink: Sink
    session: str
    admin_key: str
    domain_id: int
    domain_key: str
    smtp_username: str
    smtp_password: str
    relay_domain: str
    base_url: str
    serial: Iterator[int] = field(default_factory=itertools.count)

    def call(self, command: str, **params: Any) -> dict[str, Any]:
        answer = self.api.call(command, **params)
        assert answer["Success"] is True, (command, params, answer)
        return answer

    def add_domain(self) -> int:
        name = f"spec-{next(self.serial)}.{DOMAIN}"
        return int(self.call("emailgateway.adddomain", DomainName=name)["NewSenderDomainID"])

    def delete_domain(self, domain_id: int) -> None:
        self.api.call("emailgateway.deletedomain", DomainID=domain_id)  # gone already: fine

    @contextlib.contextmanager
    def fresh(self, case: Case) -> Iterator[dict[str, Any]]:
        """Parameters naming fresh objects for the case; fresh domains are removed after."""
        made: dict[str, Any] = {}
        on_main = {"DomainID": self.domain_id}
        if FRESH_DOMAIN in case.fresh:
            made["domainid"] = self.add_domain()
        if FRESH_KEY in case.fresh:
            added = self.call("emailgateway.addapi", Description="spec", **on_main)
            made["apikeyid"] = added["NewAPIKeyID"]
        if FRESH_SMTP in case.fresh:
            made["smtpid"] = self.call("emailgateway.addsmtp", **on_main)["NewSMTPID"]
        if FRESH_WEBHOOK in case.fresh:
            # A URL of its own: the same event and URL again would name the shared webhook.
            url = f"{HOOK_URL}/{next(self.serial)}"
            params = {"Event": "delivery", "WebhookURL": url, **on_main}
            made["webhookid"] = self.call("emailgateway.addwebhook", **params)["NewWebhookID"]
        try:
            yield made
        finally:
            if "domainid" in made:
                self.delete_domain(made["domainid"])
            if case.adds_example_domain:
                self.delete_example_domain()

    def delete_example_domain(self) -> None:
        """The examples add example.com; each finds it absent, so it is removed after each."""
        for domain in self.call("emailgateway.getdomains")["Domains"]:
            if domain["SenderDomain"] == "example.com":
                self.delete_domain(domain["DomainID"])

    def fills(self, fresh: dict[str, Any]) -> Fills:
        params = {
            "sessionid": self.session,
            "apikey": self.api.key,
            "adminapikey": self.admin_key,
            "senderapikey": self.domain_key,
            "domainid": self.domain_id,
            "smtpusername": self.smtp_username,
            "smtppassword": self.smtp_password,
            "ocrid": seal_ocrid(
                gateway_key(self.api), self.api.user_id, CAMPAIGN, None, next(self.serial), 4
            ),
            **fresh,
        }
        bearer = dict.fromkeys(SENDER_KEY_TOKENS, self.domain_key)
        bearer |= dict.fromkeys(ADMIN_KEY_TOKENS, self.admin_key)
        # The relay check's `domain` is the domain mail comes in for: the test domain's own
        # return-path domain (the one inbound relay domain it has), as an address would be.
        query = {"domain": self.relay_domain}
        return Fills(self.base_url, DOMAIN, params, bearer, query, ALWAYS_FILLED)


def _delivered_events(world: World) -> bool:
    answer = world.call(
        "emailgateway.getevents", DomainID=world.domain_id, StartFrom=0, RetrieveCount=10,
        Event="delivery",
    )  # fmt: skip
    return bool(answer["TotalRecords"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with DnsServer() as dns, Sink() as sink:
        for host in WEBHOOK_HOSTS:
            dns.set(host, "A", 60, [PUBLIC_V4])
        gateway = make_gateway(
            tmp_path_factory.mktemp("spec"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_NAMESERVERS=f"{dns.host}:{dns.port}",
        )
        user = gateway.json("user", "add", EMAIL, "--password", PASSWORD)
        admin_key = gateway.json("admin-key")["AdminAPIKey"]
        with serving(gateway) as client:
            api = Api.of(gateway, client, user, user)
            yield _populated(api, sink, admin_key)


def _populated(api: Api, sink: Sink, admin_key: str) -> World:
    """The user's session, its Enabled domain with a key, SMTP credentials, a webhook and one
    delivered message (for the events examples), and a campaign for the OCRIDs."""
    login = api.client.post(
        "/api.php", json={"Command": "User.Login", "Username": EMAIL, "Password": PASSWORD}
    ).json()
    assert login["Success"] is True, login
    added = api.call("emailgateway.adddomain", DomainName=DOMAIN)
    domain_id = int(added["NewSenderDomainID"])
    api.gateway.cli("domain", "enable", str(domain_id))
    key = api.call("emailgateway.addapi", Description="spec", DomainID=domain_id)
    smtp = api.call("emailgateway.addsmtp", DomainID=domain_id)["SMTP"]
    with db(api) as conn:
        [relay_domain] = conn.execute(
            "SELECT name FROM inbound_relay_domains WHERE sender_domain_id = ?", (domain_id,)
        ).fetchone()
    world = World(
        api, sink, login["SessionID"], admin_key, domain_id, key["APIKey"]["APIKey"],
        smtp["SMTPUsername"], smtp["SMTPPassword"], relay_domain, str(api.client.base_url),
    )  # fmt: skip
    world.call("emailgateway.addwebhook", DomainID=domain_id, Event="delivery", WebhookURL=HOOK_URL)
    sent = api.client.post(
        "/api/v1/email",
        headers={"Authorization": f"Bearer {world.domain_key}"},
        json={
            "Subject": "Setup", "ContentType": "plain", "PlainContent": "events to list",
            "From": {"name": "App", "email": f"app@{DOMAIN}"},
            "To": [{"name": "Setup", "email": f"setup@{DOMAIN}"}],
        },
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    wait_until(lambda: _delivered_events(world), timeout=30)
    campaign_message(api, api.user_id, CAMPAIGN)
    return world


# -- the examples -------------------------------------------------------------------------------


def _shown(words: list[str], status: int, body: str) -> str:
    return f"{shlex.join(['curl', *words])}\n-> HTTP {status}: {body}"


def _recipient(words: list[str]) -> str:
    body = json.loads(words[words.index("-d") + 1])
    return str(body["To"][0]["email"])


@pytest.mark.parametrize("example", ALL, ids=[case_id(example) for example in ALL])
def test_example_as_written(world: World, example: Example) -> None:
    name = case_id(example)
    case = CASES[example.name.lower()]
    with world.fresh(case) as fresh:
        words = fill(example, world.fills(fresh))
        answer = run(words)
        shown = _shown(words, answer.status, answer.body)
        assert answer.status == 200, shown
        body = answer.json()
    shape = shape_problems(documented_shape(example), body)
    assert not shape.problems, f"{shape.problems} in\n{shown}"
    empty_as_written = sorted(EMPTY_AS_WRITTEN.get(name, {}))
    assert sorted(shape.empty) == empty_as_written, f"empty: {shape.empty} in\n{shown}"
    documented = example.documented
    expected = {k: documented[k] for k in ("Success", "ErrorCode") if k in documented}
    expected |= OTHER_VALUES.get(name, {})
    assert {k: body.get(k) for k in expected} == expected, shown
    if "Success" not in documented:  # an /api/v1 answer: errors come as {"Errors": [...]}
        assert "Errors" not in body, shown
    if documented == {}:  # the whole answer, literally (DELETE /api/v1/webhooks)
        assert body == {}, shown
    if example.name == "POST /api/v1/email":  # the message reaches the recipient's MX
        assert wait_until(lambda: world.sink.transactions_to(_recipient(words)), timeout=30)


def test_every_example_of_the_documents_is_a_case() -> None:
    """Each document's curl commands are all read, each paired with a documented answer, and
    each has a case here: an example added to a document cannot go untested."""
    for document in DOCUMENTS:
        found = examples(document)
        assert len(found) == curl_lines(document) > 0, document
        unknown = [e.name for e in found if e.name.lower() not in CASES]
        assert unknown == [], f"{document}: examples without a case: {unknown}"
    names = {case_id(example) for example in ALL}
    assert set(EMPTY_AS_WRITTEN) | set(OTHER_VALUES) | set(CONTRADICTED_BY_001) <= names
    assert {e.name.lower() for e in ALL} == set(CASES)  # no case left without its example


def test_examples_are_read_with_their_answers_and_compared_by_shape() -> None:
    """The reader and the comparison themselves, on a document made up for the purpose."""
    document = "\n".join(
        [
            "bash",
            "curl -X POST https://example.com/api.php \\",
            "  -d 'Command=EmailGateway.GetDomain' \\",
            "  -d 'DomainID=123'",
            "bash",
            'curl "https://api.example.com/api/v1/events" -H "Authorization: Bearer {key}"',
            "json",
            '{"Success": true, "Domain": {"DomainID": 1, "Tags": ["a"]}, "More": "..."}',
            '{"Events": [], "TagStats": {"t": {"Sent": 1}}}',
            '{"Success": false}',
        ]
    )
    first, second = read_examples("xxx", document)
    assert (first.name, first.line, first.params) == (
        "EmailGateway.GetDomain", 2, {"Command": "EmailGateway.GetDomain", "DomainID": "123"},
    )  # fmt: skip
    assert (second.name, second.documented["Events"]) == ("GET /api/v1/events", [])
    shape = shape_problems(first.documented, {"Success": 1, "Domain": {"Tags": []}})
    assert shape.problems == ["Success: number, documented boolean", "Domain.DomainID: missing"]
    assert shape.empty == ["Domain.Tags"]
    keyed = shape_problems(second.documented, {"Events": [], "TagStats": {"u": {"Sent": "1"}}})
    assert keyed.problems == ["TagStats.u.Sent: string, documented number"]
    assert with_primary_types({"ID": "1", "URL": "u"}, {"ID": 1}) == {"ID": 1, "URL": "u"}
    with pytest.raises(SpecFormatError, match="no documented response"):
        read_examples("xxx", "curl https://example.com/a\nSome prose.\ncurl https://example.com/b")
