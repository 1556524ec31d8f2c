"""`internal.s2spostback.register` over a real socket against a running gateway: OCRIDs sealed
with the key `mailgate init` wrote into the data directory, every documented code, the
conversion row it stores, and the refusal from an untrusted network."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from decimal import Decimal
from typing import Any

import pytest

from mta.tracking.ocrid import decode_key, seal_ocrid
from storage.engine import Database
from storage.queue import NewMessage, insert_messages
from tests.http_api.conftest import Api, db, serving

COMMAND = "internal.s2spostback.register"
CAMPAIGN = 501  # the owner's messages carry it (see `campaign_message`)
USER_INVALID = "User is invalid or not found"
NO_VALID_SOURCE = "Campaign or autoresponder must be valid (both cannot be invalid)"


def gateway_key(api: Api) -> bytes:
    """The conversion key as the gateway reads it: from its data directory."""
    return decode_key((api.gateway.data_dir / "conversion.key").read_text())


def post(api: Api, **params: Any) -> dict[str, Any]:
    answer = api.client.post("/api.php", json={"Command": COMMAND, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def failed(ocrid: str, code: int, text: str) -> dict[str, Any]:
    return {"Success": False, "ocrid": ocrid, "ErrorCode": code, "ErrorText": text}


def succeeded(ocrid: str) -> dict[str, Any]:
    return {"Success": True, "ocrid": ocrid, "ErrorCode": 0, "ErrorText": ""}


def conversions(api: Api, subscriber_id: int) -> list[tuple[Any, ...]]:
    """The stored conversions, their value a Decimal read from its text (exact on SQLite, which
    keeps it as a float; PostgreSQL's text has all four places: '49.9900')."""
    with db(api) as conn:
        rows = conn.execute(
            "SELECT user_id, campaign_id, autoresponder_id, subscriber_id, list_id, channel,"
            " CAST(value AS TEXT), unit, created_at IS NOT NULL FROM conversions"
            " WHERE subscriber_id = ? ORDER BY id",
            (subscriber_id,),
        ).fetchall()
    return [(*row[:6], None if row[6] is None else Decimal(row[6]), *row[7:]) for row in rows]


def campaign_message(
    api: Api, user_id: int, campaign_id: int, sender_domain_id: int | None = None
) -> None:
    """A message of `user_id` in `campaign_id`, stored by the operation the SMTP path uses."""
    message = NewMessage(
        id=uuid.uuid4(),
        mail_from=f"news@campaign{campaign_id}.test",
        recipients=["reader@example.org"],
        raw=b"Subject: offer\r\n\r\nbody\r\n",
        source="test",
        user_id=user_id,
        sender_domain_id=sender_domain_id,
        campaign_id=campaign_id,
        queue_deliveries=False,
    )

    async def store() -> None:
        db = Database(api.gateway.database_url)
        try:
            await db.write(lambda conn: insert_messages(conn, [message]))
        finally:
            await db.dispose()

    asyncio.run(store())


@pytest.fixture(scope="module")
def campaign(api: Api) -> int:
    campaign_message(api, api.user_id, CAMPAIGN)
    return CAMPAIGN


def subscriber() -> int:
    """A subscriber id of its own for each test, so that each finds only its own rows."""
    return secrets.randbelow(2**40) + 1


def test_a_conversion_is_recorded_as_documented(api: Api, campaign: int) -> None:
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, None, sub, 4)
    answer = post(api, OCRID=ocrid, Channel="purchase", Value=49.99, Unit="USD")
    assert answer == succeeded(ocrid)
    assert conversions(api, sub) == [
        (api.user_id, campaign, None, sub, 4, "purchase", Decimal("49.99"), "USD", 1)
    ]


def test_channel_value_and_unit_are_optional(api: Api, campaign: int) -> None:
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, None, sub, 4)
    assert post(api, OCRID=ocrid) == succeeded(ocrid)
    assert conversions(api, sub) == [(api.user_id, campaign, None, sub, 4, "", None, "", 1)]


def test_a_form_body_with_names_in_any_case_is_read(api: Api, campaign: int) -> None:
    """As `curl -d` sends it: Value as text, kept to four decimal places."""
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, None, sub, 9)
    form = {"command": COMMAND, "ocrid": ocrid, "CHANNEL": "signup", "value": "12.34565"}
    answer = api.client.post("/api.php", data=form)
    assert answer.json() == succeeded(ocrid)
    assert conversions(api, sub) == [
        (api.user_id, campaign, None, sub, 9, "signup", Decimal("12.3456"), "", 1)
    ]


def test_each_postback_is_a_conversion_of_its_own(api: Api, campaign: int) -> None:
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, None, sub, 4)
    for value in (10, 20):
        assert post(api, OCRID=ocrid, Value=value, Unit="points") == succeeded(ocrid)
    assert [row[6] for row in conversions(api, sub)] == [Decimal(10), Decimal(20)]


def test_a_valid_campaign_is_enough_when_an_autoresponder_is_named_too(
    api: Api, campaign: int
) -> None:
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, 77, sub, 4)
    assert post(api, OCRID=ocrid, Channel="purchase") == succeeded(ocrid)
    assert conversions(api, sub) == [(api.user_id, campaign, 77, sub, 4, "purchase", None, "", 1)]


def test_code_1_when_the_ocrid_is_missing(api: Api) -> None:
    missing = failed("", 1, "OCRID parameter is missing")
    assert post(api, Channel="purchase", Value=1) == missing
    assert post(api, OCRID="", Value=1) == missing


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda key, user: "encrypted_tracking_id_string", id="garbage"),
        pytest.param(
            lambda key, user: seal_ocrid(secrets.token_bytes(32), user, CAMPAIGN, None, 1, 4),
            id="another-key",
        ),
        pytest.param(
            lambda key, user: tampered(seal_ocrid(key, user, CAMPAIGN, None, 1, 4)),
            id="tampered",
        ),
        pytest.param(lambda key, user: seal_ocrid(key, 999_999, None, None, 1, 4), id="no-user"),
    ],
)
def test_code_2_when_the_ocrid_names_no_user_we_know(
    api: Api, campaign: int, make_token: Any
) -> None:
    ocrid = make_token(gateway_key(api), api.user_id)
    assert post(api, OCRID=ocrid, Value=5) == failed(ocrid, 2, USER_INVALID)
    assert conversions(api, 1) == []


def tampered(token: str) -> str:
    """The token with one character changed (the last one carries padding bits only)."""
    index = len(token) // 2
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]


def test_code_2_for_a_deactivated_user(api: Api) -> None:
    user = api.gateway.json("user", "add", "converted-gone@api.test")["UserID"]
    campaign_message(api, user, 601)
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), user, 601, None, sub, 4)
    assert post(api, OCRID=ocrid) == succeeded(ocrid)
    with db(api) as conn:
        conn.execute("UPDATE users SET status = 'deactivated' WHERE id = ?", (user,))
    assert post(api, OCRID=ocrid) == failed(ocrid, 2, USER_INVALID)
    assert len(conversions(api, sub)) == 1  # only the one from before


@pytest.mark.parametrize(
    ("campaign_id", "autoresponder_id"),
    [
        pytest.param(None, None, id="neither"),
        pytest.param(502, None, id="campaign-without-messages"),
        pytest.param(None, 77, id="autoresponder-alone"),  # no autoresponders exist yet
        pytest.param(502, 77, id="both-invalid"),
    ],
)
def test_code_3_when_neither_campaign_nor_autoresponder_is_valid(
    api: Api, campaign: int, campaign_id: int | None, autoresponder_id: int | None
) -> None:
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign_id, autoresponder_id, sub, 4)
    assert post(api, OCRID=ocrid, Value=5) == failed(ocrid, 3, NO_VALID_SOURCE)
    assert conversions(api, sub) == []


def test_code_3_for_another_users_campaign(api: Api, campaign: int) -> None:
    """The campaign exists, but its messages are not this user's."""
    other = api.gateway.json("user", "add", "converted-other@api.test")["UserID"]
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), other, campaign, None, sub, 4)
    assert post(api, OCRID=ocrid) == failed(ocrid, 3, NO_VALID_SOURCE)
    assert conversions(api, sub) == []


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"Value": "49,99"}, "Value is not a number: '49,99'"),
        ({"Value": "lots"}, "Value is not a number: 'lots'"),
        ({"Value": True}, "Value is not a number: 'True'"),
        ({"Value": "NaN"}, "Value must be a number smaller than 100,000,000,000 in magnitude"),
        ({"Value": 1e11}, "Value must be a number smaller than 100,000,000,000 in magnitude"),
        (
            {"Value": "99999999999.99999"},
            "Value must be a number smaller than 100,000,000,000 in magnitude",
        ),
        ({"Channel": "c" * 65}, "Channel is longer than 64 characters"),
        ({"Unit": "u" * 17}, "Unit is longer than 16 characters"),
    ],
)
def test_code_0_refusal_for_what_cannot_be_recorded_as_sent(
    api: Api, campaign: int, params: dict[str, Any], text: str
) -> None:
    """The document has no code for these: refused (Success false, code 0), not recorded
    without the value the caller meant to report."""
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, None, sub, 4)
    assert post(api, OCRID=ocrid, **params) == failed(ocrid, 0, text)
    assert conversions(api, sub) == []


def test_the_largest_value_and_a_negative_one_are_recorded_exactly(api: Api, campaign: int) -> None:
    sub = subscriber()
    ocrid = seal_ocrid(gateway_key(api), api.user_id, campaign, None, sub, 4)
    for value in ("99999999999.9999", "-12.5"):
        assert post(api, OCRID=ocrid, Value=value) == succeeded(ocrid)
    stored = [row[6] for row in conversions(api, sub)]
    assert stored == [Decimal("99999999999.9999"), Decimal("-12.5")]


def test_the_conversion_key_stays_out_of_the_log(api: Api) -> None:
    key_text = (api.gateway.data_dir / "conversion.key").read_text().strip()
    assert post(api, OCRID="x")["ErrorCode"] == 2  # the gateway has handled postbacks
    assert key_text not in api.gateway.log()


def test_untrusted_networks_are_refused(gateway_factory: Any) -> None:
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_TRUSTED_NETWORKS="10.9.0.0/16")
    key = decode_key((gateway.data_dir / "conversion.key").read_text())
    user = gateway.json("user", "add", "untrusted@api.test")["UserID"]
    ocrid = seal_ocrid(key, user, None, None, 1, 1)
    with serving(gateway) as client:
        answer = client.post("/api.php", json={"Command": COMMAND, "OCRID": ocrid})
    assert answer.status_code == 403
    assert answer.json() == {
        "Success": False,
        "ErrorCode": 99999,
        "ErrorText": "Not enough privileges",
    }
