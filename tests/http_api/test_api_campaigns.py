"""002's campaign commands (Campaign.*, Campaigns.*) and the Email.* and Segment.* commands over
real HTTP against `mailgate serve`: every documented error code in the shape the document shows,
the main flows (create, content, audience, schedules, Ready, approval, copy, pause, resume,
cancel, delete, listing) and one account never reaching another's campaigns."""

from __future__ import annotations

from typing import Any

import pytest

from http_api.api_php import Refused
from http_api.commands.campaigns import requested_status
from tests.http_api.conftest import Api, db

CONTENT = {
    "Subject": "Hello $$first_name$$",
    "HTMLContent": "<p>Hi</p>",
    "PlainContent": "Hi",
    "FromName": "Shop",
    "FromEmail": "news@shop.test",
    "ReplyToEmail": "help@shop.test",
}
FAR = {"ScheduleType": "Future", "SendDate": "2099-07-01", "SendTime": "10:00",
       "SendTimeZone": "Europe/Warsaw"}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def sender_domains(api: Api) -> None:
    """The owner sends from shop.test (CONTENT's From), the other account from theirs.test."""
    ok(api.call("emailgateway.adddomain", DomainName="shop.test"))
    ok(api.call("emailgateway.adddomain", key=api.other_key, DomainName="theirs.test"))


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["Success"] is True and answer["ErrorCode"] == 0, answer
    return answer


def code(answer: dict[str, Any]) -> Any:
    assert answer["Success"] is False, answer
    return answer["ErrorCode"]


def new_list(api: Api, name: str = "Newsletter", rest: Any = None) -> tuple[int, str]:
    """A list made over /rest: (its numeric id, its hash)."""
    client = rest or api.rest
    made = client.ok("/rest/subscribers_list/create", {"name": name, "custom_fields": [
        {"name": "First name", "tag": "first_name"}]})  # fmt: skip
    listed = {item["hash"]: item for item in client.ok("/rest/subscribers_list/lists")}
    return int(listed[made["hash"]]["id"]), str(made["hash"])


def new_campaign(api: Api, name: str = "Summer", key: str | None = None) -> int:
    return int(ok(api.call("Campaign.Create", key=key, CampaignName=name))["CampaignID"])


def shown(api: Api, campaign_id: int, key: str | None = None, **flags: Any) -> dict[str, Any]:
    return dict(ok(api.call("Campaign.Get", key=key, CampaignID=campaign_id, **flags))["Campaign"])


def sendable(api: Api, name: str = "Summer") -> int:
    list_id, _ = new_list(api)
    campaign_id = new_campaign(api, name)
    ok(api.call("Campaign.Update", CampaignID=campaign_id, RecipientListsAndSegments=str(list_id),
                **CONTENT))  # fmt: skip
    return campaign_id


def set_status(api: Api, campaign_id: int, status: str) -> None:
    """What the scheduler does when it starts a run (its own tests show that)."""
    with db(api) as conn:
        conn.execute("UPDATE campaigns SET status = ? WHERE id = ?", (status, campaign_id))


def test_create_and_get(api: Api) -> None:
    answer = api.call("Campaign.Create", CampaignName="Summer Sale Campaign")
    campaign_id = ok(answer)["CampaignID"]
    assert answer == {"Success": True, "ErrorCode": 0, "CampaignID": campaign_id}
    assert isinstance(campaign_id, int)
    got = api.call("Campaign.Get", campaignid=campaign_id, retrievetags="true")
    campaign = ok(got)["Campaign"]
    assert got["CampaignThroughput"] == {"EmailsPerSecond": 0}
    assert campaign["CampaignID"] == campaign_id
    assert campaign["Name"] == campaign["CampaignName"] == "Summer Sale Campaign"
    assert campaign["Status"] == campaign["CampaignStatus"] == "Draft"
    assert campaign["ScheduleType"] == "Not Scheduled" and campaign["Tags"] == []
    assert campaign["RelEmailID"] > 0 and campaign["Subject"] == ""
    assert len(campaign["CampaignHash"]) == 10
    assert "TotalSent" not in campaign
    # names are case-insensitive, and a form body works as a JSON one
    form = api.client.post("/api.php", data={"command": "campaign.get", "apikey": api.key,
                                             "CAMPAIGNID": str(campaign_id)})  # fmt: skip
    assert form.json()["Campaign"]["CampaignID"] == campaign_id


def test_create_and_get_errors(api: Api) -> None:
    assert api.call("Campaign.Create") == {
        "Success": False,
        "ErrorCode": 1,
        "ErrorMessage": "The campaign name is required.",
    }
    assert code(api.call("Campaign.Create", CampaignName="   ")) == 1
    assert code(api.call("Campaign.Create", CampaignName="x" * 256)) == 1
    assert api.call("Campaign.Get") == {
        "Success": False,
        "ErrorCode": 1,
        "ErrorMessage": "Required parameter 'campaignid' is missing.",
    }
    assert code(api.call("Campaign.Get", campaignid="12a")) == 2
    assert code(api.call("Campaign.Get", campaignid=99999999)) == 2
    others = new_campaign(api, "Theirs", key=api.other_key)
    assert code(api.call("Campaign.Get", campaignid=others)) == 2
    assert api.call("Campaign.Get", key="wrong", campaignid=others)["ErrorCode"] == 99998


def test_update_content_audience_settings_and_statistics(api: Api) -> None:
    list_id, list_hash = new_list(api, "Customers")
    campaign_id = new_campaign(api)
    segment = ok(api.call("Segment.Create", SegmentName="Gmail", SegmentListID=list_id,
                          SegmentRulesJson={"operator": "or", "rules": [{"type": "fields",
                          "field_id": "EmailAddress", "operator": "contains",
                          "value": "@gmail"}]}))["SegmentID"]  # fmt: skip
    excluded_id, _ = new_list(api, "Blocked")
    ok(api.call(
        "Campaign.Update",
        CampaignID=campaign_id,
        CampaignName="Renamed",
        RecipientListsAndSegments=f"{list_hash},{list_id}:{segment}",
        Exclude_RecipientListsAndSegments=str(excluded_id),
        GoogleAnalyticsDomains="shop.test, blog.shop.test",
        PublishOnRSS="Enabled",
        S2SEnabled="true",
        ApprovalUserExplanation="Weekly news",
        Tags="Summer,Sale",
        **CONTENT,
    ))  # fmt: skip
    campaign = shown(api, campaign_id, retrievetags=1, retrievestatistics=True)
    assert campaign["Name"] == "Renamed"
    assert campaign["RecipientListsAndSegments"] == f"{list_id}:0,{list_id}:{segment}"
    assert campaign["Exclude_RecipientListsAndSegments"] == f"{excluded_id}:0"
    assert campaign["GoogleAnalyticsDomains"] == "shop.test,blog.shop.test"
    assert (campaign["PublishOnRSS"], campaign["S2SEnabled"]) == ("Enabled", True)
    assert campaign["ApprovalUserExplanation"] == "Weekly news"
    assert campaign["Tags"] == ["Summer", "Sale"]
    assert {key: campaign[key] for key in CONTENT} == CONTENT
    assert (campaign["TotalSent"], campaign["TotalHardBounces"]) == (0, 0)
    assert (campaign["HardBounceRatio"], campaign["SoftBounceRatio"]) == ("0.00", "0.00")
    assert campaign["Statistics"]["OpenStatistics"]["UniqueOpens"] == 0
    # RulesJsonBundle as 002 writes it (JSON text in a form)
    bundle = ('{"operator": "or", "criteria": [{"list_id": LIST, "operator": "and", "rules": '
              '[{"type": "fields", "field_id": "first_name", "operator": "equals", '
              '"value": "Ada"}]}]}').replace("LIST", str(list_id))  # fmt: skip
    ok(api.call("Campaign.Update", CampaignID=campaign_id, RulesJsonBundle=bundle))
    rules = shown(api, campaign_id)["RulesJsonBundle"]
    assert rules["criteria"][0]["list_id"] == list_id
    ok(api.call("Campaign.Update", CampaignID=campaign_id, RulesJsonBundle="", Tags=""))
    campaign = shown(api, campaign_id, retrievetags=True)
    assert (campaign["RulesJsonBundle"], campaign["Tags"]) == (None, [])
    # RelEmailID points the campaign at another of the user's emails
    email_id = ok(api.call("Email.Create", EmailName="Shared", Subject="Shared subject"))["EmailID"]
    ok(api.call("Campaign.Update", CampaignID=campaign_id, RelEmailID=email_id))
    campaign = shown(api, campaign_id)
    assert (campaign["RelEmailID"], campaign["Subject"]) == (email_id, "Shared subject")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, 1),
        ({"CampaignID": "abc"}, 2),
        ({"CampaignID": 99999999}, 2),
        ({"CampaignStatus": "Sending"}, 3),
        ({"CampaignStatus": "Nonsense"}, 3),
        ({"CampaignStatus": "Ready"}, 3),  # no content, no audience: it cannot be sent
        ({"RelEmailID": 99999999}, 4),
        ({"RecipientListsAndSegments": "99999999"}, 4),
        ({"Exclude_RecipientListsAndSegments": "nosuchhash"}, 4),
        ({"RulesJsonBundle": "{not json"}, 4),
        ({"RulesJsonBundle": {"operator": "or", "criteria": [{"list_id": 99999999,
          "operator": "and", "rules": []}]}}, 4),
        ({"PublishOnRSS": "Maybe"}, 4),
        ({"CampaignName": "x" * 256}, 4),
        ({"CampaignName": {}}, 4),  # AttributeError: an HTTP 500 (Schemathesis, issue 14)
        ({"ApprovalUserExplanation": ["x"]}, 4),
        ({"Subject": "x" * 999}, 4),
        ({"ScheduleType": "Sometimes"}, 5),
        ({"ScheduleType": "Future", "SendTime": "10:00", "SendTimeZone": "UTC"}, 6),
        ({"ScheduleType": "Future", "SendDate": "2099-02-30", "SendTime": "10:00",
          "SendTimeZone": "UTC"}, 6),
        ({"ScheduleType": "Future", "SendDate": "2099-07-01", "SendTimeZone": "UTC"}, 7),
        ({"ScheduleType": "Future", "SendDate": "2099-07-01", "SendTime": "10:00"}, 13),
        ({"ScheduleType": "Future", "SendDate": "2099-07-01", "SendTime": "10:00",
          "SendTimeZone": "Mars/Olympus"}, 13),
        ({"ScheduleType": "Recursive", "ScheduleRecMonths": "*", "ScheduleRecHours": "9",
          "ScheduleRecMinutes": "0", "ScheduleRecSendMaxInstance": 0, "SendTimeZone": "UTC"}, 8),
        ({"ScheduleType": "Recursive", "ScheduleRecDaysOfWeek": "1", "ScheduleRecHours": "9",
          "ScheduleRecMinutes": "0", "ScheduleRecSendMaxInstance": 0, "SendTimeZone": "UTC"}, 9),
        ({"ScheduleType": "Recursive", "ScheduleRecDaysOfWeek": "1", "ScheduleRecMonths": "*",
          "ScheduleRecMinutes": "0", "ScheduleRecSendMaxInstance": 0, "SendTimeZone": "UTC"}, 10),
        ({"ScheduleType": "Recursive", "ScheduleRecDaysOfWeek": "1", "ScheduleRecMonths": "*",
          "ScheduleRecHours": "9", "ScheduleRecSendMaxInstance": 0, "SendTimeZone": "UTC"}, 11),
        ({"ScheduleType": "Recursive", "ScheduleRecDaysOfWeek": "1", "ScheduleRecMonths": "*",
          "ScheduleRecHours": "9", "ScheduleRecMinutes": "0", "SendTimeZone": "UTC"}, 12),
        ({"ScheduleType": "Recursive", "ScheduleRecDaysOfWeek": "1", "ScheduleRecMonths": "*",
          "ScheduleRecHours": "9", "ScheduleRecMinutes": "0",
          "ScheduleRecSendMaxInstance": 0}, 13),
    ],
)  # fmt: skip
def test_update_errors(api: Api, params: dict[str, Any], expected: int) -> None:
    campaign_id = new_campaign(api, "Errors")
    body = {"CampaignID": campaign_id, **params} if params else {}
    answer = api.call("Campaign.Update", **body)
    assert code(answer) == expected
    assert answer["ErrorMessage"]
    after = shown(api, campaign_id)
    assert (after["Name"], after["Status"], after["ScheduleType"]) == (
        "Errors",
        "Draft",
        "Not Scheduled",
    )  # nothing changed


def test_update_refuses_another_users_campaign_email_and_lists(api: Api) -> None:
    mine = new_campaign(api)
    theirs = new_campaign(api, "Theirs", key=api.other_key)
    assert code(api.call("Campaign.Update", CampaignID=theirs, CampaignName="Got it")) == 2
    their_email = ok(api.call("Email.Create", key=api.other_key, EmailName="E"))["EmailID"]
    assert code(api.call("Campaign.Update", CampaignID=mine, RelEmailID=their_email)) == 4
    their_list, their_hash = new_list(api, "Theirs", rest=api.other_rest)
    for item in (str(their_list), their_hash, f"{their_list}:0"):
        assert code(api.call("Campaign.Update", CampaignID=mine,
                             RecipientListsAndSegments=item)) == 4  # fmt: skip
    assert shown(api, theirs, key=api.other_key)["Name"] == "Theirs"


@pytest.mark.parametrize(
    "sender",
    [
        "news@theirs.test",  # another account's sender domain
        "news@mail.theirs.test",  # a subdomain of it
        "news@nobody.test",  # a domain nobody registered
        "news@own.shop.test",  # registered by the other account under the owner's domain
        "news@notshop.test",  # a name that only ends like the owner's
    ],
)
def test_from_outside_the_accounts_sender_domains_is_refused(api: Api, sender: str) -> None:
    """A From the campaign run would refuse (mta.campaigns.message.campaign_sender) is refused
    when it is given: Email.Create and Email.Update 3, Campaign.Update 4; nothing changes."""
    api.call("emailgateway.adddomain", key=api.other_key, DomainName="own.shop.test")
    email_id = ok(api.call("Email.Create", EmailName="From", FromEmail="a@shop.test"))["EmailID"]
    assert code(api.call("Email.Create", EmailName="E", FromEmail=sender)) == 3
    assert code(api.call("Email.Update", EmailID=email_id, FromEmail=sender)) == 3
    campaign_id = new_campaign(api, "From")
    answer = api.call("Campaign.Update", CampaignID=campaign_id, FromEmail=sender)
    assert code(answer) == 4 and "sender domain" in answer["ErrorMessage"]
    assert ok(api.call("Email.Get", EmailID=email_id))["Email"]["FromEmail"] == "a@shop.test"
    assert shown(api, campaign_id)["FromEmail"] == ""


def test_from_in_the_accounts_sender_domains(api: Api) -> None:
    """The owner's domain and its subdomains (in any case); an address the run could not use
    at all is 3 / 4 as well, Reply-To included."""
    for sender in ("news@shop.test", "news@mail.shop.test", "News@SHOP.Test"):
        ok(api.call("Email.Create", EmailName="E", FromEmail=sender))
        ok(api.call("Campaign.Update", CampaignID=new_campaign(api), FromEmail=sender))
    campaign_id = new_campaign(api, "Addresses")
    for wrong in ({"FromEmail": "not an address"}, {"ReplyToEmail": "@x"}):
        assert code(api.call("Campaign.Update", CampaignID=campaign_id, **wrong)) == 4
        assert code(api.call("Email.Create", EmailName="E", **wrong)) == 3
    ok(api.call("Campaign.Update", CampaignID=campaign_id, FromEmail=""))  # "" clears it


def test_an_emails_stored_from_outside_the_accounts_domains_is_refused(api: Api) -> None:
    """An email whose From is no longer the account's (saved before the check, or its domain
    deleted since): pointing a campaign at it is 4, making Ready with it 3."""
    email_id = ok(api.call("Email.Create", EmailName="Old", Subject="S", HTMLContent="<p>x</p>",
                           FromEmail="a@shop.test"))["EmailID"]  # fmt: skip
    campaign_id = sendable(api, "Stale From")
    with db(api) as conn:
        conn.execute("UPDATE campaign_emails SET from_email = 'a@theirs.test' WHERE id IN (?, ?)",
                     (email_id, shown(api, campaign_id)["RelEmailID"]))  # fmt: skip
    answer = api.call("Campaign.Update", CampaignID=campaign_id, RelEmailID=email_id)
    assert code(answer) == 4 and "a@theirs.test" in answer["ErrorMessage"]
    answer = api.call("Campaign.Update", CampaignID=campaign_id, CampaignStatus="Ready", **FAR)
    assert code(answer) == 3 and "a@theirs.test" in answer["ErrorMessage"]
    assert shown(api, campaign_id)["Status"] == "Draft"
    ok(api.call("Campaign.Update", CampaignID=campaign_id, CampaignStatus="Ready",
                FromEmail="b@shop.test", **FAR))  # fmt: skip


def test_ready_future_recursive_and_draft(api: Api) -> None:
    campaign_id = sendable(api)
    ok(api.call("Campaign.Update", CampaignID=campaign_id, CampaignStatus="Ready", **FAR))
    campaign = shown(api, campaign_id)
    assert (campaign["Status"], campaign["ScheduleType"]) == ("Scheduled", "Future")
    assert (campaign["SendDate"], campaign["SendTime"], campaign["SendTimeZone"]) == (
        "2099-07-01",
        "10:00:00",
        "Europe/Warsaw",
    )
    assert campaign["NextSendDateTime"] == "2099-07-01T08:00:00Z"  # CEST
    ok(api.call("Campaign.Update", CampaignID=campaign_id, ScheduleType="Recursive",
                ScheduleRecDaysOfWeek="Mon,Fri", ScheduleRecMonths="*", ScheduleRecHours="9",
                ScheduleRecMinutes="0,30", ScheduleRecSendMaxInstance="10",
                SendTimeZone="America/New_York"))  # fmt: skip
    campaign = shown(api, campaign_id)
    assert campaign["Status"] == "Scheduled"
    assert (campaign["ScheduleRecDaysOfWeek"], campaign["ScheduleRecMinutes"]) == ("1,5", "0,30")
    assert (campaign["ScheduleRecMonths"], campaign["ScheduleRecSendMaxInstance"]) == ("*", 10)
    assert campaign["NextSendDateTime"] > "2000" and campaign["SendDate"] == ""
    ok(api.call("Campaign.Update", CampaignID=campaign_id, CampaignStatus="draft"))
    campaign = shown(api, campaign_id)
    assert (campaign["Status"], campaign["NextSendDateTime"]) == ("Draft", "")


def test_ready_immediate(api: Api) -> None:
    campaign_id = sendable(api, "Now")
    ok(api.call("Campaign.Update", CampaignID=campaign_id, CampaignStatus="Ready",
                ScheduleType="Immediate"))  # fmt: skip
    campaign = shown(api, campaign_id)
    assert campaign["ScheduleType"] == "Immediate"
    # Ready and due at once: the scheduler (tested with it) may have started it already
    assert campaign["Status"] in ("Ready", "Sending", "Sent", "Failed")


def test_approval(api: Api) -> None:
    child = api.gateway.json("user", "add", "child@api.test")
    child_id, child_key = int(child["UserID"]), str(child["APIKey"])
    with db(api) as conn:
        conn.execute("UPDATE users SET requires_campaign_approval = TRUE, parent_user_id = ? "
                     "WHERE id = ?", (api.user_id, child_id))  # fmt: skip
    list_id, _ = new_list(api, "Child's", rest=None)
    with db(api) as conn:
        conn.execute("UPDATE subscriber_lists SET user_id = ? WHERE id = ?", (child_id, list_id))
    ok(api.call("emailgateway.adddomain", key=child_key, DomainName="child.test"))
    campaign_id = new_campaign(api, "Needs approval", key=child_key)
    ok(api.call("Campaign.Update", key=child_key, CampaignID=campaign_id, CampaignStatus="Ready",
                RecipientListsAndSegments=str(list_id), **(CONTENT | {"FromEmail": "a@child.test"}),
                **FAR))  # fmt: skip
    assert shown(api, campaign_id, key=child_key)["Status"] == "Pending approval"
    # the account itself may not approve; its parent and the administrator may
    assert api.call("Campaign.Approve", key=child_key, CampaignID=campaign_id) == {
        "Success": False,
        "ErrorCode": 2,
        "ErrorMessage": "Campaign not found",
    }
    assert code(api.call("Campaign.Approve", key=api.other_key, CampaignID=campaign_id)) == 2
    assert code(api.call("Campaign.Approve")) == 1
    assert api.call("Campaign.Approve", key="", CampaignID=campaign_id)["ErrorCode"] == 99998
    ok(api.call("Campaign.Approve", CampaignID=campaign_id))
    assert shown(api, campaign_id, key=child_key)["Status"] == "Scheduled"
    assert code(api.call("Campaign.Approve", CampaignID=campaign_id)) == 2  # not pending now
    # new content asks for approval again; the gateway's administrator approves it
    ok(api.call("Campaign.Update", key=child_key, CampaignID=campaign_id, Subject="Changed"))
    assert shown(api, campaign_id, key=child_key)["Status"] == "Pending approval"
    admin_key = api.gateway.json("admin-key")["AdminAPIKey"]
    body = {"Command": "Campaign.Approve", "AdminAPIKey": admin_key, "CampaignID": campaign_id}
    assert api.client.post("/api.php", json=body).json() == {"Success": True, "ErrorCode": 0}
    assert shown(api, campaign_id, key=child_key)["Status"] == "Scheduled"


def test_copy(api: Api) -> None:
    campaign_id = sendable(api, "Original")
    ok(api.call("Campaign.Update", CampaignID=campaign_id, CampaignStatus="Ready", Tags="a",
                **FAR))  # fmt: skip
    answer = ok(api.call("Campaign.Copy", CampaignID=campaign_id))
    assert set(answer) == {"Success", "ErrorCode", "NewCampaignID"}
    assert isinstance(answer["NewCampaignID"], str)
    source = shown(api, campaign_id, retrievetags=True)
    copy = shown(api, int(answer["NewCampaignID"]), retrievetags=True)
    assert (copy["Status"], copy["ScheduleType"], copy["SendDate"], copy["NextSendDateTime"]) == (
        "Draft",
        "Not Scheduled",
        "",
        "",
    )
    same = ("Name", "RecipientListsAndSegments", "Tags", "Subject", "HTMLContent", "FromEmail")
    assert {k: copy[k] for k in same} == {k: source[k] for k in same}
    assert copy["RelEmailID"] != source["RelEmailID"]
    invalid = {"Success": False, "ErrorCode": [1], "ErrorText": ["Invalid source campaign"]}
    assert api.call("Campaign.Copy") == invalid
    assert api.call("Campaign.Copy", CampaignID=99999999) == invalid
    theirs = new_campaign(api, "Theirs", key=api.other_key)
    assert api.call("Campaign.Copy", CampaignID=theirs) == invalid


def test_pause_resume_cancel(api: Api) -> None:
    campaign_id = sendable(api, "Running")
    missing = {
        "Campaign.Pause": "Missing required parameter: CampaignID",
        "Campaign.Resume": "Missing required parameter: CampaignID",
        "Campaign.Cancel": "Missing required field: CampaignID",  # 002's words for each
    }
    for command in ("Campaign.Pause", "Campaign.Resume", "Campaign.Cancel"):
        assert api.call(command) == {
            "Success": False,
            "ErrorCode": 1,
            "ErrorMessage": missing[command],
        }
        assert code(api.call(command, CampaignID=99999999)) == 2
    theirs = new_campaign(api, "Theirs", key=api.other_key)
    for command in ("Campaign.Pause", "Campaign.Resume", "Campaign.Cancel"):
        assert code(api.call(command, CampaignID=theirs)) == 2
    assert code(api.call("Campaign.Pause", CampaignID=campaign_id)) == 3  # a Draft
    assert code(api.call("Campaign.Resume", CampaignID=campaign_id)) == 3
    set_status(api, campaign_id, "Sending")
    assert code(api.call("Campaign.Resume", CampaignID=campaign_id)) == 3
    ok(api.call("Campaign.Pause", CampaignID=campaign_id))
    assert shown(api, campaign_id)["Status"] == "Paused"
    assert code(api.call("Campaign.Pause", CampaignID=campaign_id)) == 3
    ok(api.call("Campaign.Resume", CampaignID=campaign_id))
    assert shown(api, campaign_id)["Status"] == "Sending"
    ok(api.call("Campaign.Cancel", CampaignID=campaign_id))
    assert shown(api, campaign_id)["Status"] == "Canceled"
    ok(api.call("Campaign.Cancel", CampaignID=campaign_id))  # again: nothing left to do
    draft = new_campaign(api, "Draft")
    ok(api.call("Campaign.Cancel", CampaignID=draft))
    assert shown(api, draft)["Status"] == "Canceled"
    sent = new_campaign(api, "Sent")
    set_status(api, sent, "Sent")
    assert code(api.call("Campaign.Cancel", CampaignID=sent)) == 2


def test_delete(api: Api) -> None:
    first, second = new_campaign(api, "One"), new_campaign(api, "Two")
    running = new_campaign(api, "Running")
    set_status(api, running, "Sending")
    assert api.call("Campaigns.Delete", Campaigns=f"{first},{running}") == {
        "Success": True,
        "ErrorCode": 0,
        "ErrorText": "",
    }
    assert code(api.call("Campaign.Get", campaignid=first)) == 2
    assert code(api.call("Campaign.Get", campaignid=running)) == 2
    with db(api) as conn:
        row = conn.execute("SELECT status, deleted_at FROM campaigns WHERE id = ?", (running,))
        status, deleted_at = row.fetchone()
    assert status == "Canceled" and deleted_at is not None  # canceled, then deleted
    assert shown(api, second)["Name"] == "Two"
    for bad in ({}, {"Campaigns": ""}, {"Campaigns": "1,x"}, {"Campaigns": " , "},
                {"Campaigns": ",".join(["1"] * 1001)}):  # fmt: skip
        assert api.call("Campaigns.Delete", **bad) == {
            "Success": False,
            "ErrorCode": {"campaigns": 1},
        }


def test_delete_refuses_ids_that_are_not_the_users_campaigns(api: Api) -> None:
    """Another account's campaign (or an unknown or deleted one) among the ids: the request is
    refused and nothing is deleted (it answered Success and passed over it)."""
    mine = new_campaign(api, "Mine")
    theirs = new_campaign(api, "Theirs", key=api.other_key)
    gone = new_campaign(api, "Gone")
    ok(api.call("Campaigns.Delete", Campaigns=str(gone)))
    for ids in (f"{mine},{theirs}", f"{theirs}", f"{mine},99999999", f"{mine},{gone}",
                f"{mine},{2**63}", f"{mine},{2**64}", f"{mine},\u00b2"):  # fmt: skip
        assert api.call("Campaigns.Delete", Campaigns=ids) == {
            "Success": False,
            "ErrorCode": {"campaigns": 1},
        }, ids
    assert shown(api, mine)["Name"] == "Mine"
    assert shown(api, theirs, key=api.other_key)["Name"] == "Theirs"


def test_listing(api: Api) -> None:
    key = api.gateway.json("user", "add", "lister@api.test")["APIKey"]
    ids = [new_campaign(api, name, key=key) for name in ("Summer sale", "Winter", "summer news")]
    ok(api.call("Campaign.Update", key=key, CampaignID=ids[0], Tags="Sale,Q3"))
    set_status(api, ids[1], "Pending approval")

    def listed(**params: Any) -> tuple[int, list[str]]:
        answer = ok(api.call("Campaigns.Get", key=key, **params))
        assert answer["ErrorText"] == ""
        return answer["TotalCampaigns"], [c["CampaignName"] for c in answer["Campaigns"]]

    assert listed() == (3, ["summer news", "Winter", "Summer sale"])
    assert listed(OrderField="CampaignName", OrderType="ASC") == (
        3,
        ["summer news", "Summer sale", "Winter"],  # without regard to case
    )
    assert listed(RecordsFrom=1, RecordsPerRequest=1, OrderType="asc") == (3, ["Winter"])
    assert listed(SearchKeyword="SUMMER", OrderField="CampaignID", OrderType="ASC") == (
        2,
        ["Summer sale", "summer news"],
    )
    assert listed(CampaignStatus="Pending") == (1, ["Winter"])
    assert listed(CampaignStatus="Draft", Tags="q3,other") == (1, ["Summer sale"])
    assert listed(CampaignStatus="All", OrderField="DROP TABLE", RecordsPerRequest="x")[0] == 3
    answer = ok(api.call("Campaigns.Get", key=key, Tags="Sale", RetrieveTags="true",
                         RetrieveStatistics="true"))  # fmt: skip
    [campaign] = answer["Campaigns"]
    assert campaign["CampaignID"] == str(ids[0])  # text, as 002's example
    assert campaign["Tags"] == ["Sale", "Q3"] and campaign["TotalSent"] == 0
    assert "Tags" not in ok(api.call("Campaigns.Get", key=key))["Campaigns"][0]
    everyone_else = ok(api.call("Campaigns.Get", RecordsPerRequest="1000"))["Campaigns"]
    assert not {c["CampaignID"] for c in everyone_else} & {str(i) for i in ids}  # theirs only


def test_emails(api: Api) -> None:
    answer = ok(api.call("Email.Create", EmailName="Welcome", Subject="Hi", FromEmail="a@shop.test",
                         HTMLContent="<b>x</b>", FetchURL=""))  # fmt: skip
    email_id = answer["EmailID"]
    ok(api.call("Email.Update", EmailID=email_id, PlainContent="x", ReplyToName="Desk"))
    email = ok(api.call("Email.Get", EmailID=email_id))["Email"]
    assert (email["EmailID"], email["EmailName"], email["Subject"]) == (email_id, "Welcome", "Hi")
    assert (email["HTMLContent"], email["PlainContent"], email["ReplyToName"]) == (
        "<b>x</b>",
        "x",
        "Desk",
    )
    assert code(api.call("Email.Create", Subject="no name")) == 1
    assert code(api.call("Email.Create", EmailName="E", FromEmail="not an address")) == 3
    assert code(api.call("Email.Create", EmailName="E", FetchURL="file:///etc/passwd")) == 3
    assert code(api.call("Email.Create", EmailName="E", Subject="x" * 999)) == 3
    for command in ("Email.Update", "Email.Get", "Email.Delete"):
        assert code(api.call(command)) == 1
        assert code(api.call(command, EmailID=99999999)) == 2
        assert code(api.call(command, key=api.other_key, EmailID=email_id)) == 2
    assert code(api.call("Email.Update", EmailID=email_id, ReplyToEmail="@x")) == 3
    campaign_id = new_campaign(api, "Uses it")
    ok(api.call("Campaign.Update", CampaignID=campaign_id, RelEmailID=email_id))
    assert code(api.call("Email.Delete", EmailID=email_id)) == 3
    ok(api.call("Campaigns.Delete", Campaigns=str(campaign_id)))
    ok(api.call("Email.Delete", EmailID=email_id))
    assert code(api.call("Email.Get", EmailID=email_id)) == 2


def test_segment_update_keeps_its_list(api: Api) -> None:
    """SegmentListID in Segment.Update: another account's list is 2 (it answered success and
    ignored it), another of the user's lists 3 (a segment stays in its list), its own list by
    id or hash is accepted."""
    list_id, list_hash = new_list(api, "Kept")
    other_list, _ = new_list(api, "Other of mine")
    their_list, their_hash = new_list(api, "Theirs", rest=api.other_rest)
    segment_id = ok(api.call("Segment.Create", SegmentName="Seg", SegmentListID=list_id))[
        "SegmentID"
    ]
    for theirs in (their_list, their_hash, 99999999, str(2**64), "\u00b2"):
        answer = api.call("Segment.Update", SegmentID=segment_id, SegmentListID=theirs,
                          SegmentName="Moved")  # fmt: skip
        assert code(answer) == 2, theirs
    assert code(api.call("Segment.Update", SegmentID=segment_id, SegmentListID=other_list)) == 3
    for own in (list_id, list_hash):
        ok(api.call("Segment.Update", SegmentID=segment_id, SegmentListID=own, SegmentName="S"))
    segment = ok(api.call("Segment.Get", SegmentID=segment_id))["Segment"]
    assert (segment["SegmentListID"], segment["SegmentName"]) == (list_id, "S")


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        ("Campaign.Get", {"campaignid": str(2**63)}, 2),
        ("Campaign.Get", {"campaignid": str(2**64)}, 2),
        ("Campaign.Get", {"campaignid": "\u00b2"}, 2),
        ("Campaign.Update", {"RelEmailID": str(2**64)}, 4),
        ("Campaign.Update", {"RelEmailID": "\u00b2"}, 4),
        ("Campaign.Update", {"RecipientListsAndSegments": str(2**64)}, 4),
        ("Campaign.Update", {"RecipientListsAndSegments": f"1:{2**63}"}, 4),
        ("Campaign.Update", {"Exclude_RecipientListsAndSegments": "\u00b2"}, 4),
        ("Campaign.Update", {"RulesJsonBundle": {"operator": "or", "criteria": [
            {"list_id": 2**63 - 1, "operator": "and", "rules": []}]}}, 4),
        ("Campaign.Update", {"RulesJsonBundle": {"operator": "or", "criteria": [
            {"list_id": str(2**63), "operator": "and", "rules": []}]}}, 4),
        ("Segment.Create", {"SegmentName": "S", "SegmentListID": str(2**64)}, 2),
        ("Segment.Create", {"SegmentName": "S", "SegmentListID": " 0019"}, 2),
    ],
)  # fmt: skip
def test_ids_no_row_can_have_name_nothing(
    api: Api, command: str, params: dict[str, Any], expected: int
) -> None:
    """Ids of 2**63 and more as text (JSON numbers that large are the reader's 400), digits
    that are not ASCII, and ids no row has: documented errors, not an OverflowError in the
    query or a ValueError (HTTP 500)."""
    if command == "Campaign.Update":
        params = {"CampaignID": new_campaign(api, "Ids"), **params}
    assert code(api.call(command, **params)) == expected


def test_paging_beyond_any_row(api: Api) -> None:
    """The last offset a row could have is an empty page; numbers beyond it, or digits that
    are not ASCII, mean nothing and fall back to the defaults (Campaigns.Get has no codes)."""
    last = ok(api.call("Campaigns.Get", RecordsFrom=2**63 - 1, RecordsPerRequest=str(2**64)))
    assert last["Campaigns"] == [] and last["TotalCampaigns"] > 0
    first = ok(api.call("Campaigns.Get"))["Campaigns"]
    for start in (str(2**63), str(2**64), "\u00b2", "-1"):
        assert ok(api.call("Campaigns.Get", RecordsFrom=start))["Campaigns"] == first


def test_segments(api: Api) -> None:
    list_id, list_hash = new_list(api, "Segmented")
    rules = [{"type": "fields", "field_id": "first_name", "operator": "starts-with",
              "value": "A"}]  # fmt: skip
    answer = ok(api.call("Segment.Create", SegmentName="A names", SegmentListID=list_hash,
                         SegmentOperator="or", SegmentRulesJson=rules))  # fmt: skip
    segment_id = answer["SegmentID"]
    segment = ok(api.call("Segment.Get", SegmentID=segment_id))["Segment"]
    assert (segment["SegmentName"], segment["SegmentListID"], segment["SegmentOperator"]) == (
        "A names",
        list_id,
        "or",
    )
    assert segment["SegmentRulesJson"]["rules"][0]["field_id"] == "first_name"
    ok(api.call("Segment.Update", SegmentID=segment_id, SegmentName="Renamed",
                SegmentOperator="and"))  # fmt: skip
    segment = ok(api.call("Segment.Get", SegmentID=segment_id))["Segment"]
    assert (segment["SegmentName"], segment["SegmentOperator"]) == ("Renamed", "and")
    assert code(api.call("Segment.Create", SegmentListID=list_id)) == 1
    assert code(api.call("Segment.Create", SegmentName="S")) == 1
    assert code(api.call("Segment.Create", SegmentName="S", SegmentListID=99999999)) == 2
    their_list, _ = new_list(api, "Theirs", rest=api.other_rest)
    assert code(api.call("Segment.Create", SegmentName="S", SegmentListID=their_list)) == 2
    unknown_field = {"type": "fields", "field_id": "nosuchfield", "operator": "is", "value": "x"}
    for wrong in ("{not json", [unknown_field], {"operator": "xor", "rules": []}):
        assert code(api.call("Segment.Create", SegmentName="S", SegmentListID=list_id,
                             SegmentRulesJson=wrong)) == 3  # fmt: skip
        assert code(api.call("Segment.Update", SegmentID=segment_id,
                             SegmentRulesJson=wrong)) == 3  # fmt: skip
    for command in ("Segment.Update", "Segment.Get", "Segment.Delete"):
        assert code(api.call(command)) == 1
        assert code(api.call(command, SegmentID=99999999)) == 2
        assert code(api.call(command, key=api.other_key, SegmentID=segment_id)) == 2
    campaign_id = new_campaign(api, "Segment user")
    ok(api.call("Campaign.Update", CampaignID=campaign_id,
                Exclude_RecipientListsAndSegments=f"{list_id}:{segment_id}"))  # fmt: skip
    assert code(api.call("Segment.Delete", SegmentID=segment_id)) == 3
    ok(api.call("Campaigns.Delete", Campaigns=str(campaign_id)))
    ok(api.call("Segment.Delete", SegmentID=segment_id))
    assert code(api.call("Segment.Get", SegmentID=segment_id)) == 2


@pytest.mark.parametrize("given", ["Draft", " ready ", "READY"])
def test_requested_status(given: str) -> None:
    """Campaign.Update's CampaignStatus sets Draft or Ready, in any case (in process)."""
    assert str(requested_status(given)).lower() == given.strip().lower()


@pytest.mark.parametrize("given", ["Sending", "Paused", "Sent", "Pending approval", "whatever"])
def test_requested_status_refused(given: str) -> None:
    """The other statuses come from sending and the other commands: 3."""
    with pytest.raises(Refused) as refused:
        requested_status(given)
    assert refused.value.answer["ErrorCode"] == 3
