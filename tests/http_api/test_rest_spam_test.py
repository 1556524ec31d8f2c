"""`/rest/spam_test/check` over real HTTP against `mailgate serve`, scored by a real spamd:
the answer's score and tests, and every error code of 003's "Spamtests" (1901, 1902, 1904,
1906, 1907)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.http_api.conftest import Api, running_api

PATH = "/rest/spam_test/check"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
NOTE = {"subject": "Lunch on Friday", "text": "Shall we meet at noon on Friday?"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One test a day per account: the owner's first test passes, the next is refused."""
    with running_api(
        tmp_path_factory.mktemp("spam"), "spam.test", MAILGATE_SPAM_TEST_DAILY_LIMIT="1"
    ) as api:
        yield api


def test_a_message_gets_its_score_and_tests_then_the_daily_limit(
    api: Api, spamd: tuple[str, int]
) -> None:
    data = api.rest.ok(PATH, {**NOTE, "html": f"<p>{GTUBE}</p>", "from": "anna@spam.test"})
    assert data["score"] >= 1000
    gtube = [test for test in data["tests"] if test["name"] == "GTUBE"]
    assert gtube == [{"name": "GTUBE", "score": 1000.0, "description": gtube[0]["description"]}]
    assert "Unsolicited Bulk Email" in gtube[0]["description"]
    assert api.rest.error(PATH, NOTE) == (400, [1907])
    # The limit is the account's: the other account still has its test.
    assert api.other_rest.ok(PATH, NOTE)["score"] < 5


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"text": "Hi"}, 1901),
        ({"subject": " ", "text": "Hi"}, 1901),
        ({**NOTE, "from": "not an address"}, 1902),
        ({**NOTE, "from": "anna@localhost"}, 1902),
        ({"subject": "Hi"}, 1904),
        ({"subject": "Hi", "html": "", "text": "  "}, 1904),
    ],
)
def test_fields_that_make_no_message_are_refused_without_counting(
    api: Api, data: dict[str, str], code: int
) -> None:
    for _ in range(2):  # twice, over a daily limit of one: refusals are not counted
        assert api.rest.error(PATH, data) == (400, [code])


def test_form_data_is_read_like_json(api: Api) -> None:
    answer = api.rest.post_form(PATH, [("subject", "Hi"), ("from", "nope")])
    assert answer.status_code == 400
    assert [error["code"] for error in answer.json()["errors"]] == [1902]


def test_spamd_out_of_reach_is_an_error_in_the_verification_system(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    env = {"MAILGATE_SPAMD_ADDRESS": closed, "MAILGATE_SPAM_TEST_DAILY_LIMIT": "1"}
    with running_api(tmp_path_factory.mktemp("spam"), "spam.test", **env) as api:
        # Twice over a limit of one: a test spamd could not score is given back.
        assert api.rest.error(PATH, NOTE) == (400, [1906])
        assert api.rest.error(PATH, NOTE) == (400, [1906])
        assert "spam test failed" in api.gateway.log()
