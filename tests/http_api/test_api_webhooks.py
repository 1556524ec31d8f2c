"""Webhook management over /api.php (`emailgateway.addwebhook`, `getwebhooks`, `deletewebhook`)
and /api/v1/webhooks, against a running gateway whose resolver is a real DNS server on loopback.
Private targets are refused here (MAILGATE_ALLOW_PRIVATE_TARGETS=0, set explicitly) except in
the one test that starts a gateway allowing them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import make_gateway, wait_until
from tests.dns_server import DnsServer
from tests.http_api.conftest import Api, db, serving

PUBLIC_V4 = "93.184.216.34"
HOOK = "https://hooks.example.com/events"
RATE_LIMIT = 12
DELETED: dict[str, str] = {}  # 001 shows {} (004, the older edition, a Message)
SERIAL = itertools.count()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with DnsServer() as dns:
        dns.set("hooks.example.com", "A", 60, [PUBLIC_V4])
        dns.set("internal.example.com", "A", 60, ["10.20.30.40"])
        gateway = make_gateway(
            tmp_path_factory.mktemp("webhooks"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_NAMESERVERS=f"{dns.host}:{dns.port}",
            MAILGATE_ALLOW_PRIVATE_TARGETS="0",
            MAILGATE_API_RATE_LIMIT=f"{RATE_LIMIT}/60",
        )
        owner = gateway.json("user", "add", "owner@webhooks.test")
        other = gateway.json("user", "add", "other@webhooks.test")
        with serving(gateway) as client:
            api = Api.of(gateway, client, owner, other)
            with db(api) as conn:  # every test adds domains of its own
                conn.execute("UPDATE users SET max_sender_domains = 1000")
            yield api


def own_domain(api: Api, name: str, key: str | None = None) -> int:
    return int(api.call("emailgateway.adddomain", key=key, DomainName=name)["NewSenderDomainID"])


def domain_key(api: Api, domain_id: int, key: str | None = None) -> str:
    added = api.call("emailgateway.addapi", key=key, Description="hooks", DomainID=domain_id)
    return str(added["APIKey"]["APIKey"])


def add_hook(api: Api, domain_id: int, event: str, url: str = HOOK, key: str | None = None) -> Any:
    params = {"DomainID": domain_id, "Event": event, "WebhookURL": url}
    return api.call("emailgateway.addwebhook", key=key, **params)


def listed(api: Api, domain_id: int, key: str | None = None) -> list[dict[str, Any]]:
    answer = api.call("emailgateway.getwebhooks", key=key, DomainID=domain_id)
    assert answer["Success"] is True, answer
    return list(answer["Webhooks"])


def v1(api: Api, method: str, key: str, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return api.client.request(method, "/api/v1/webhooks", headers=headers, json=body or None)


def test_added_webhooks_are_listed_under_legacy_names_with_the_signing_key(api: Api) -> None:
    domain_id = own_domain(api, "hooks-list.example")
    added = add_hook(api, domain_id, "delivery")
    assert added["Success"] is True and added["ErrorCode"] == 0
    bounce = add_hook(api, domain_id, "BOUNCE", f"{HOOK}/b")["NewWebhookID"]
    opened = add_hook(api, domain_id, "opened", f"http://{PUBLIC_V4}/o")["NewWebhookID"]  # v1 name
    answer = api.call("emailgateway.getwebhooks", DomainID=domain_id)
    assert answer["Success"] is True and answer["ErrorCode"] == 0
    assert answer["SigningKey"].startswith("whsec_") and len(answer["SigningKey"]) > 20
    assert answer["Webhooks"] == [
        {
            "WebhookID": added["NewWebhookID"],
            "Event": "delivery",
            "WebhookURL": HOOK,
            "URL": HOOK,
            "Status": "Active",
            "Events": ["delivery"],
        },
        {
            "WebhookID": bounce,
            "Event": "bounce",
            "WebhookURL": f"{HOOK}/b",
            "URL": f"{HOOK}/b",
            "Status": "Active",
            "Events": ["bounce"],
        },
        {
            "WebhookID": opened,
            "Event": "open",
            "WebhookURL": f"http://{PUBLIC_V4}/o",
            "URL": f"http://{PUBLIC_V4}/o",
            "Status": "Active",
            "Events": ["open"],
        },
    ]
    # Each domain has its own signing key.
    other_domain = own_domain(api, "hooks-list-2.example")
    other = api.call("emailgateway.getwebhooks", DomainID=other_domain)
    assert other["Webhooks"] == [] and other["SigningKey"] != answer["SigningKey"]


def test_adding_the_same_webhook_again_returns_the_same_id(api: Api) -> None:
    domain_id = own_domain(api, "hooks-again.example")
    first = add_hook(api, domain_id, "click")["NewWebhookID"]
    assert add_hook(api, domain_id, "clicked")["NewWebhookID"] == first  # either spelling
    other_event = add_hook(api, domain_id, "complaint")["NewWebhookID"]
    assert other_event != first
    assert [hook["WebhookID"] for hook in listed(api, domain_id)] == [first, other_event]
    # One that deliveries disabled (its endpoint answered 410) is enabled by adding it again.
    with db(api) as conn:
        conn.execute("UPDATE webhooks SET disabled_at = created_at WHERE id = ?", (first,))
    assert [hook["Status"] for hook in listed(api, domain_id)] == ["Disabled", "Active"]
    assert add_hook(api, domain_id, "click")["NewWebhookID"] == first
    assert [hook["Status"] for hook in listed(api, domain_id)] == ["Active", "Active"]


def test_a_deleted_webhook_is_gone(api: Api) -> None:
    domain_id = own_domain(api, "hooks-delete.example")
    kept = add_hook(api, domain_id, "unsubscribe")["NewWebhookID"]
    gone = add_hook(api, domain_id, "complained")["NewWebhookID"]
    deleted = api.call("emailgateway.deletewebhook", WebhookID=gone, DomainID=domain_id)
    assert deleted == {"Success": True, "ErrorCode": 0}
    assert [hook["WebhookID"] for hook in listed(api, domain_id)] == [kept]
    again = api.call("emailgateway.deletewebhook", WebhookID=gone, DomainID=domain_id)
    assert (again["Success"], again["ErrorCode"]) == (False, 4)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"DomainID": None}, 1),
        ({"Event": None}, 2),
        ({"WebhookURL": None}, 5),
        ({"Event": "sent"}, 3),
        ({"Event": "deliveries"}, 3),
        ({"WebhookURL": "ftp://hooks.example.com/events"}, 3),
        ({"WebhookURL": "not a url"}, 3),
        ({"WebhookURL": "http://127.0.0.1:8080/hook"}, 3),
        ({"WebhookURL": "http://10.1.2.3/hook"}, 3),
        ({"WebhookURL": "http://169.254.169.254/latest/meta-data/"}, 3),
        ({"WebhookURL": "http://[::1]/hook"}, 3),
        ({"WebhookURL": "http://internal.example.com/hook"}, 3),  # resolves to 10.20.30.40
        ({"WebhookURL": "http://nowhere.example.com/hook"}, 3),  # does not resolve
        ({"WebhookURL": "https://hooks.example.com/" + "x" * 2048}, 3),
        ({"DomainID": 999999}, 4),
        ({"DomainID": "not-a-number"}, 4),
    ],
)
def test_addwebhook_errors(api: Api, params: dict[str, Any], code: int) -> None:
    domain_id = own_domain(api, f"hooks-add-{next(SERIAL)}.example")
    body = {"DomainID": domain_id, "Event": "delivery", "WebhookURL": HOOK} | params
    answer = api.call("emailgateway.addwebhook", **{k: v for k, v in body.items() if v is not None})
    assert answer["Success"] is False
    assert answer["ErrorCode"] == [code]  # a list, as 001's example shows
    assert listed(api, domain_id) == []


def test_getwebhooks_errors(api: Api) -> None:
    assert api.call("emailgateway.getwebhooks")["ErrorCode"] == 1
    assert api.call("emailgateway.getwebhooks", DomainID=999999)["ErrorCode"] == 2


def test_deletewebhook_errors(api: Api) -> None:
    domain_id = own_domain(api, "hooks-delete-errors.example")
    hook = add_hook(api, domain_id, "delivery")["NewWebhookID"]

    def code(**params: Any) -> int:
        answer = api.call("emailgateway.deletewebhook", **params)
        assert answer["Success"] is False
        return int(answer["ErrorCode"])

    assert code(DomainID=domain_id) == 1
    assert code(WebhookID=hook) == 2
    assert code(WebhookID=hook, DomainID=999999) == 3
    assert code(WebhookID=hook + 1000, DomainID=domain_id) == 4
    assert code(WebhookID="abc", DomainID=domain_id) == 4
    assert [item["WebhookID"] for item in listed(api, domain_id)] == [hook]


def test_another_users_domain_and_webhooks_are_out_of_reach(api: Api) -> None:
    mine = own_domain(api, "hooks-mine.example")
    hook = add_hook(api, mine, "delivery")["NewWebhookID"]
    theirs = own_domain(api, "hooks-theirs.example", key=api.other_key)
    stranger = api.other_key

    assert api.call("emailgateway.getwebhooks", key=stranger, DomainID=mine)["ErrorCode"] == 2
    assert add_hook(api, mine, "bounce", key=stranger)["ErrorCode"] == [4]
    by_my_domain = api.call(
        "emailgateway.deletewebhook", key=stranger, WebhookID=hook, DomainID=mine
    )
    assert by_my_domain["ErrorCode"] == 3
    by_their_domain = api.call(
        "emailgateway.deletewebhook", key=stranger, WebhookID=hook, DomainID=theirs
    )
    assert by_their_domain["ErrorCode"] == 4
    # Nor through a key of their own domain on /api/v1.
    their_key = domain_key(api, theirs, key=stranger)
    assert v1(api, "DELETE", their_key, WebhookID=hook).json()["Errors"][0]["Code"] == 4
    assert v1(api, "GET", their_key).json() == {"Webhooks": []}
    assert [item["WebhookID"] for item in listed(api, mine)] == [hook]
    assert listed(api, theirs, key=stranger) == []


def test_webhook_commands_need_the_manage_domain_permission(api: Api) -> None:
    user = api.gateway.json("user", "add", "hooks-limited@webhooks.test")
    domain_id = own_domain(api, "hooks-limited.example", key=user["APIKey"])
    revoke = ("--revoke", "EmailGateway.ManageDomain")
    api.gateway.json("user", "permissions", str(user["UserID"]), *revoke)
    for command in ("addwebhook", "getwebhooks", "deletewebhook"):
        body = {"Command": f"emailgateway.{command}", "APIKey": user["APIKey"]}
        body |= {"DomainID": domain_id, "Event": "delivery", "WebhookURL": HOOK, "WebhookID": 1}
        answer = api.client.post("/api.php", json=body)
        assert (answer.status_code, answer.json()["ErrorCode"]) == (403, 99999)


def test_v1_webhooks_add_list_and_delete(api: Api) -> None:
    domain_id = own_domain(api, "hooks-v1.example")
    key = domain_key(api, domain_id)
    created = v1(api, "POST", key, Event="delivered", WebhookURL=HOOK)
    assert created.status_code == 200
    delivered = created.json()["NewWebhookID"]
    assert set(created.json()) == {"NewWebhookID"}
    bounce = v1(api, "POST", key, Event="Bounce", WebhookURL=f"{HOOK}/b").json()["NewWebhookID"]
    again = v1(api, "POST", key, Event="DELIVERY", WebhookURL=HOOK).json()
    assert again == {"NewWebhookID": delivered}

    shown = v1(api, "GET", key)
    assert shown.status_code == 200
    assert shown.json() == {
        "Webhooks": [
            {
                "WebhookID": delivered,
                "Event": "delivered",
                "WebhookURL": HOOK,
                "URL": HOOK,
                "Status": "Active",
            },
            {
                "WebhookID": bounce,
                "Event": "bounced",
                "WebhookURL": f"{HOOK}/b",
                "URL": f"{HOOK}/b",
                "Status": "Active",
            },
        ]
    }
    # The same webhooks under the legacy names on /api.php.
    assert [hook["Event"] for hook in listed(api, domain_id)] == ["delivery", "bounce"]

    deleted = v1(api, "DELETE", key, WebhookID=delivered)
    assert (deleted.status_code, deleted.json()) == (200, DELETED)
    # 004's curl example: JSON sent with `-d` and no Content-Type, so labelled as a form.
    as_curl = api.client.request(
        "DELETE",
        "/api/v1/webhooks",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=f'{{"WebhookID":"{bounce}"}}',
    )
    assert (as_curl.status_code, as_curl.json()) == (200, DELETED)
    assert v1(api, "GET", key).json() == {"Webhooks": []}


def test_v1_key_in_the_body_instead_of_the_header(api: Api) -> None:
    domain_id = own_domain(api, "hooks-v1-body.example")
    key = domain_key(api, domain_id)
    body = {"SenderAPIKey": key, "Event": "clicked", "WebhookURL": HOOK}
    created = api.client.post("/api/v1/webhooks", json=body)
    assert created.status_code == 200
    shown = api.client.get("/api/v1/webhooks", params={"SenderAPIKey": key}).json()
    assert [hook["Event"] for hook in shown["Webhooks"]] == ["clicked"]


@pytest.mark.parametrize(
    ("method", "body", "status", "code"),
    [
        ("POST", {"WebhookURL": HOOK}, 400, 2),
        ("POST", {"Event": "delivered"}, 400, 5),
        ("POST", {"Event": "sent", "WebhookURL": HOOK}, 400, 3),
        ("POST", {"Event": "delivered", "WebhookURL": "http://127.0.0.1/hook"}, 400, 3),
        ("POST", {"Event": "delivered", "WebhookURL": "http://[::1]/hook"}, 400, 3),
        ("POST", {"Event": "delivered", "WebhookURL": "http://internal.example.com/"}, 400, 3),
        ("POST", {"Event": "opened", "WebhookURL": "http://169.254.169.254/"}, 400, 3),
        ("POST", {"Event": "opened", "WebhookURL": "mailto:hooks@example.com"}, 400, 3),
        ("DELETE", {}, 400, 1),
        ("DELETE", {"WebhookID": 999999}, 404, 4),
        ("DELETE", {"WebhookID": "abc"}, 404, 4),
    ],
)
def test_v1_errors(api: Api, method: str, body: dict[str, Any], status: int, code: int) -> None:
    domain_id = own_domain(api, f"hooks-v1-{next(SERIAL)}.example")
    key = domain_key(api, domain_id)
    answer = v1(api, method, key, **body)
    assert answer.status_code == status
    assert answer.json()["Errors"][0]["Code"] == code
    assert v1(api, "GET", key).json() == {"Webhooks": []}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_v1_refuses_a_missing_or_wrong_key(api: Api, method: str) -> None:
    # No key, an unknown one, and a user's APIKey (not a domain's).
    for token in ("", "Bearer eg_live_wrong", f"Bearer {api.key}"):
        headers = {"Authorization": token} if token else {}
        answer = api.client.request(method, "/api/v1/webhooks", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"Errors": [{"Code": 13, "Message": "Invalid SenderAPIKey"}]}


def test_v1_refuses_the_key_of_an_inactive_account(api: Api) -> None:
    user = api.gateway.json("user", "add", "hooks-gone@webhooks.test")
    domain_id = own_domain(api, "hooks-gone.example", key=user["APIKey"])
    key = domain_key(api, domain_id, key=user["APIKey"])
    assert v1(api, "GET", key).status_code == 200
    with db(api) as conn:
        conn.execute("UPDATE users SET status = 'deactivated' WHERE id = ?", (user["UserID"],))
    # The account's state is the submission path's, kept for a second; polled gently, as each
    # request counts against the key's rate limit of 12 a minute.
    wait_until(lambda: v1(api, "GET", key).status_code == 403, timeout=5, interval=0.5)
    for method, body in (("GET", {}), ("POST", {"Event": "delivered", "WebhookURL": HOOK}),
                         ("DELETE", {"WebhookID": 1})):  # fmt: skip
        answer = v1(api, method, key, **body)
        assert answer.status_code == 403
        assert answer.json() == {"Errors": [{"Code": 2, "Message": "Invalid user account"}]}


def test_v1_is_rate_limited_per_key(api: Api) -> None:
    domain_id = own_domain(api, "hooks-rate.example")
    key, spare = domain_key(api, domain_id), domain_key(api, domain_id)
    statuses = []
    while 429 not in statuses and len(statuses) <= 2 * RATE_LIMIT:
        statuses.append(v1(api, "GET", key).status_code)
    # A window may turn over once during the loop, so the limit may be met twice.
    assert 429 in statuses
    assert RATE_LIMIT <= statuses.index(429) <= 2 * RATE_LIMIT
    assert set(statuses[:-1]) == {200}
    refused = v1(api, "GET", key)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["Errors"][0]["Code"] == 429
    assert v1(api, "GET", spare).status_code == 200  # another key has its own count


def test_private_targets_when_the_configuration_allows_them(gateway_factory: Any) -> None:
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_ALLOW_PRIVATE_TARGETS="1")
    owner = gateway.json("user", "add", "owner@private.test")
    with serving(gateway) as client:
        local = Api.of(gateway, client, owner, owner)
        domain_id = own_domain(local, "hooks-private.example")
        for url in ("http://127.0.0.1:9000/hook", "http://[::1]:9000/hook", "http://localhost/h"):
            assert add_hook(local, domain_id, "delivery", url)["Success"] is True
        key = domain_key(local, domain_id)
        created = v1(local, "POST", key, Event="bounced", WebhookURL="http://10.0.0.7/hook")
        assert created.status_code == 200
        assert [hook["WebhookURL"] for hook in listed(local, domain_id)] == [
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
            "http://localhost/h",
            "http://10.0.0.7/hook",
        ]
        # Still only http and https.
        refused = add_hook(local, domain_id, "delivery", "file:///etc/passwd")
        assert refused["ErrorCode"] == [3]
