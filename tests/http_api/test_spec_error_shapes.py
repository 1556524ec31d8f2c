"""Every /api.php command's error answers in the shape its document shows (spec README rule 4):
`ErrorCode` a number, a list (`[1]`: emailgateway.adddomain, addapi, addwebhook, Campaign.Copy)
or an object (`{"campaigns": 1}`: Campaigns.Delete) as the command's example writes it, the
example's other fields with their JSON types, and HTTP 200.

The documented examples are read from the documents (spec_examples.error_examples). For each
command, REQUESTS provokes its documented codes over real HTTP against `mailgate serve`; every
one of them must come in the example's ErrorCode type, and the example's own code in the
example's whole shape. For 004, the older edition, a field 001 also documents has 001's type
(rule 1): 004's `"ErrorCode": 1` for EmailGateway.AddAPI is 001's list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.http_api.conftest import Api
from tests.http_api.spec_examples import (
    ERROR_DOCUMENTS,
    ErrorExample,
    error_examples,
    json_type,
    shape_problems,
    with_primary_types,
)

UNKNOWN = 99999999  # an id nothing has
DOMAIN, HOOK = "{domain}", "https://example.com/webhooks/email-events"

# Command (lower case) -> documented code -> a request that gets it ({domain}: the owner's
# sender domain id). Codes left out need a state a single request cannot make (a domain limit
# reached, a campaign Sending); the command tests show them.
REQUESTS: dict[str, dict[int, dict[str, Any]]] = {
    "emailgateway.adddomain": {
        1: {},
        2: {"DomainName": "not a domain!"},
        4: {"DomainName": "shapes-four.test", "Subdomain": "not a label!"},
    },
    "emailgateway.getdomain": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.updatedomain": {
        1: {},
        5: {"DomainID": UNKNOWN},
        6: {"DomainID": DOMAIN, "LinkTracking": "maybe"},
    },
    "emailgateway.verifydomain": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.getdomains": {},  # documents no error but its shape ("ErrorCode": [])
    "emailgateway.deletedomain": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.cleardomainqueue": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.domainstats": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.addapi": {
        1: {"DomainID": DOMAIN},
        2: {"Description": "Production API Key"},
        3: {"Description": "Production API Key", "DomainID": UNKNOWN},
    },
    "emailgateway.getapis": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.deleteapi": {1: {}, 2: {"APIKeyID": UNKNOWN}},
    "emailgateway.addsmtp": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.getsmtps": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.deletesmtp": {1: {}, 2: {"SMTPID": UNKNOWN}},
    "emailgateway.resetsmtppassword": {1: {}, 2: {"SMTPID": UNKNOWN}},
    "emailgateway.addwebhook": {
        1: {"Event": "delivery", "WebhookURL": HOOK},
        2: {"DomainID": DOMAIN, "WebhookURL": HOOK},
        3: {"DomainID": DOMAIN, "Event": "nonsense", "WebhookURL": HOOK},
        4: {"DomainID": UNKNOWN, "Event": "delivery", "WebhookURL": HOOK},
        5: {"DomainID": DOMAIN, "Event": "delivery"},
    },
    "emailgateway.getwebhooks": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.deletewebhook": {
        1: {"DomainID": DOMAIN},
        2: {"WebhookID": UNKNOWN},
        3: {"WebhookID": UNKNOWN, "DomainID": UNKNOWN},
        4: {"WebhookID": UNKNOWN, "DomainID": DOMAIN},
    },
    "emailgateway.getevents": {
        1: {"StartFrom": 0, "RetrieveCount": 10},
        2: {"DomainID": UNKNOWN, "StartFrom": 0, "RetrieveCount": 10},
        4: {"DomainID": DOMAIN, "RetrieveCount": 10},
        5: {"DomainID": DOMAIN, "StartFrom": 0},
    },
    "emailgateway.aggrevents": {1: {}, 2: {"DomainID": UNKNOWN}},
    "emailgateway.smtprelay": {
        1: {"SMTPPassword": "x"},
        2: {"SMTPUsername": "x"},
        3: {
            "SMTPUsername": "nobody",
            "SMTPPassword": "wrong",
            "EmailFrom": "a@b.test",
            "EmailTo": "c@d.test",
            "EmailData": "Subject: x\r\n\r\nx",
        },
    },
    "sender.domains": {1: {"DomainsResponseFormat": "xml"}},
    "emailgateway.recipientdomainstats": {
        1: {"DomainID": DOMAIN},
        2: {"DomainID": UNKNOWN, "RecipientToDomain": "gmail.com"},
    },
    "internal.bounce.register": {0: {}},  # "Success": false with ErrorCode 0, as 000 shows
    "internal.s2spostback.register": {1: {}, 2: {"OCRID": "not-an-ocrid"}},
    "campaign.approve": {1: {}, 2: {"CampaignID": UNKNOWN}},
    "campaign.cancel": {1: {}, 2: {"CampaignID": UNKNOWN}},
    "campaign.copy": {1: {"CampaignID": UNKNOWN}},
    "campaign.create": {1: {}},
    "campaign.get": {1: {}, 2: {"campaignid": "abc"}},
    "campaign.pause": {1: {}, 2: {"CampaignID": UNKNOWN}},
    "campaign.resume": {1: {}, 2: {"CampaignID": UNKNOWN}},
    "campaign.update": {1: {}, 2: {"CampaignID": UNKNOWN}},
    "campaigns.delete": {1: {"Campaigns": "x"}},
}


# 001 shows sender.domains on its /api/v1 route; the section says /api.php serves it too.
ON_API_PHP = {"post /api/v1/sender.domains": "sender.domains"}


def _examples() -> list[ErrorExample]:
    """/api.php's error examples ({"Success": false, ...}; /api/v1's are {"Errors": [...]})."""
    found = [e for d in ERROR_DOCUMENTS for e in error_examples(d) if "Success" in e.documented]
    return [replace(e, name=ON_API_PHP.get(e.name.lower(), e.name)) for e in found]


EXAMPLES = _examples()


def primary(example: ErrorExample) -> Any:
    """The documented shape: 004's with 001's types where 001 shows the same command."""
    if example.document != "004":
        return example.documented
    name = example.name.lower()
    newer = [e.documented for e in EXAMPLES if e.document == "001" and e.name.lower() == name]
    return with_primary_types(example.documented, newer[0]) if newer else example.documented


def documented_code(example: ErrorExample) -> int | None:
    """The example's own code (the first of a list; None for an object or an empty list)."""
    code = primary(example)["ErrorCode"]
    if isinstance(code, list):
        return code[0] if code else None
    return code if isinstance(code, int) else None


def as_documented(code: int, documented: Any) -> Any:
    """`code` written as the example writes ErrorCode: a number, [code], or {"name": code}."""
    if isinstance(documented, list):
        return [code]
    if isinstance(documented, dict):
        return {key: code for key in documented}
    return code


@dataclass(frozen=True)
class Caller:
    api: Api
    admin_key: str
    domain_id: int


@pytest.fixture(scope="module")
def caller(api: Api) -> Iterator[Caller]:
    """The owner (its key, and the gateway's admin key for the commands that take one) and a
    sender domain of its own."""
    made = api.call("emailgateway.adddomain", DomainName="shapes.test")
    assert made["Success"] is True, made
    admin_key = api.gateway.json("admin-key")["AdminAPIKey"]
    yield Caller(api, str(admin_key), int(made["NewSenderDomainID"]))


def ask(caller: Caller, command: str, params: dict[str, Any]) -> tuple[int, Any]:
    filled = {k: caller.domain_id if v == DOMAIN else v for k, v in params.items()}
    body = {"Command": command, "APIKey": caller.api.key, "AdminAPIKey": caller.admin_key}
    answer = caller.api.client.post("/api.php", json=body | filled)
    return answer.status_code, answer.json()


def test_every_command_with_a_documented_error_has_requests() -> None:
    documented = {e.name.lower() for e in EXAMPLES}
    assert documented == set(REQUESTS)
    assert {e.document for e in EXAMPLES} == {"000", "001", "002", "004"}


@pytest.mark.parametrize(
    ("command", "code"),
    [(command, code) for command, codes in REQUESTS.items() for code in codes],
    ids=str,
)
def test_each_code_in_the_documented_error_code_type(
    caller: Caller, command: str, code: int
) -> None:
    status, answer = ask(caller, command, REQUESTS[command][code])
    for example in (e for e in EXAMPLES if e.name.lower() == command):
        documented = primary(example)["ErrorCode"]
        shown = f"{example.document}:{example.line} {example.documented} -> {answer}"
        assert status == 200, shown
        assert answer["Success"] is False, shown
        assert answer["ErrorCode"] == as_documented(code, documented), shown
        assert json_type(answer["ErrorCode"]) == json_type(documented), shown


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if documented_code(e) is not None],
    ids=lambda e: f"{e.document}:{e.line} {e.name}",
)
def test_the_examples_own_code_in_its_whole_shape(caller: Caller, example: ErrorExample) -> None:
    """Each key of the example with its JSON type (values may differ); 004's ErrorMessage
    included (rule 1: a field 004 names is carried)."""
    code = documented_code(example)
    assert code is not None
    requests = REQUESTS[example.name.lower()]
    assert code in requests, f"{example.document}:{example.line}: no request gets code {code}"
    status, answer = ask(caller, example.name, requests[code])
    shape = shape_problems(primary(example), answer)
    assert (status, shape.problems) == (200, []), f"{example.documented} -> {answer}"
