"""The parameters and success answers of each `/api.php` command, as 000, 001, 002 and 004
document them (names in 001's spelling; 004's are accepted too, names in any case). `Command`
and the credentials (`APIKey`, `SessionID`, `AdminAPIKey`) are added by the document builder
from the registry's access."""

from __future__ import annotations

from dataclasses import dataclass

from http_api.openapi.schemas import (
    Param,
    Schema,
    array,
    email,
    flag,
    ident,
    integer,
    one_of_values,
    text,
)


@dataclass(frozen=True)
class CommandDoc:
    summary: str
    params: tuple[Param, ...] = ()
    answer: tuple[str, ...] = ()  # members of the success answer besides Success and ErrorCode
    errors: str = ""  # the document's error codes, as text
    plain_text: bool = False  # may answer text/plain (sender.domains' PowerMTA format)


def _id(name: str, required: bool = True, description: str = "") -> Param:
    return Param(name, ident(), required, description)


DOMAIN_ID = _id("DomainID", description="Sender domain ID")
CAMPAIGN_ID = _id("CampaignID", description="Campaign ID")
DATE = text(32, description="A date, YYYY-MM-DD (or with a time, HH:MM:SS)")
LABEL = text(32, pattern="^[A-Za-z0-9-]*$")
TRACK_MERGE = one_of_values("-", ".", "_")
EVENTS = one_of_values(
    "Delivered", "Bounced", "SoftBounced", "Opened", "Clicked", "Unsubscribed", "Complained"
)
WEBHOOK_EVENTS = one_of_values(
    "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained", "deferred"
)
DOMAIN_OPTIONS = (
    Param("Subdomain", LABEL),
    Param("TrackPrefix", LABEL),
    Param("TrackMerge", TRACK_MERGE),
    Param("TrackPrefixDisabled", flag()),
)
PERIOD = (Param("StartDate", DATE), Param("EndDate", DATE))
EMAIL_CONTENT = (
    Param("Subject", text(998)),
    Param("HTMLContent", text(100_000)),
    Param("PlainContent", text(100_000)),
    Param("FromName", text(255)),
    Param("FromEmail", email()),
    Param("ReplyToName", text(255)),
    Param("ReplyToEmail", email()),
    Param("FetchURL", text(2048, pattern="^https?://")),
)
SCHEDULE = (
    Param("CampaignStatus", one_of_values("Draft", "Ready", "Paused")),
    Param("CampaignName", text(255, 1)),
    Param("RelEmailID", ident()),
    Param("ScheduleType", one_of_values("Not Scheduled", "Immediate", "Future", "Recursive")),
    Param("SendDate", text(10, description="YYYY-MM-DD")),
    Param("SendTime", text(8, description="HH:MM or HH:MM:SS")),
    Param("SendTimeZone", text(64)),
    Param("ScheduleRecDaysOfWeek", text(64)),
    Param("ScheduleRecDaysOfMonth", text(128)),
    Param("ScheduleRecMonths", text(64)),
    Param("ScheduleRecHours", text(128)),
    Param("ScheduleRecMinutes", text(256)),
    Param("ScheduleRecSendMaxInstance", integer(0, 1_000_000)),
    Param("ApprovalUserExplanation", text(1000)),
    Param("GoogleAnalyticsDomains", text(1000)),
    Param("PublishOnRSS", one_of_values("Enabled", "Disabled")),
    Param("RecipientListsAndSegments", text(1000)),
    Param("Exclude_RecipientListsAndSegments", text(1000)),
    Param("S2SEnabled", one_of_values("Enabled", "Disabled")),
)
RULE: Schema = {"type": "object", "maxProperties": 8}

COMMANDS: dict[str, CommandDoc] = {
    "emailgateway.adddomain": CommandDoc(
        "Add a sender domain",
        (Param("DomainName", text(253, 1), True), *DOMAIN_OPTIONS),
        ("NewSenderDomainID", "Domain"),
        "[1] no DomainName, [2] invalid or taken, [3] limit reached, [4] bad subdomain/prefix",
    ),
    "emailgateway.getdomain": CommandDoc(
        "Get a sender domain", (DOMAIN_ID,), ("Domain",), "1 no DomainID, 2 not found"
    ),
    "emailgateway.getdomains": CommandDoc("List the sender domains", (), ("Domains",)),
    "emailgateway.deletedomain": CommandDoc(
        "Delete a sender domain", (DOMAIN_ID,), (), "1 no DomainID, 2 not found"
    ),
    "emailgateway.cleardomainqueue": CommandDoc(
        "Drop a domain's pending mail", (DOMAIN_ID,), (), "1 no DomainID, 2 not found"
    ),
    "emailgateway.updatedomain": CommandDoc(
        "Change a sender domain's settings",
        (
            DOMAIN_ID,
            Param("LinkTracking", flag()),
            Param("OpenTracking", flag()),
            Param("UnsubscribeLink", flag()),
            Param("HostingProvider", text(255)),
            *DOMAIN_OPTIONS,
        ),
        ("Domain", "SubdomainChanged"),
        "1 no DomainID, 5 not found, 6 invalid value",
    ),
    "emailgateway.verifydomain": CommandDoc(
        "Check a domain's DNS records",
        (DOMAIN_ID,),
        ("Domain", "DNSVerificationResults"),
        "1 no DomainID, 2 not found",
    ),
    "emailgateway.addapi": CommandDoc(
        "Add a sender API key to a domain",
        (Param("Description", text(255, 1), True), DOMAIN_ID),
        ("NewAPIKeyID", "APIKey"),
        "[1] missing parameter, [2] domain not found, [3] limit reached",
    ),
    "emailgateway.getapis": CommandDoc(
        "List a domain's API keys", (DOMAIN_ID,), ("APIKeys",), "1 no DomainID, 2 not found"
    ),
    "emailgateway.deleteapi": CommandDoc(
        "Delete an API key", (_id("APIKeyID"),), (), "1 no APIKeyID, 2 not found"
    ),
    "email.create": CommandDoc(
        "Create a campaign email",
        (Param("EmailName", text(255, 1), True), *EMAIL_CONTENT),
        ("EmailID",),
        "1 no EmailName, 3 invalid address or URL",
    ),
    "email.update": CommandDoc(
        "Change a campaign email",
        (_id("EmailID"), Param("EmailName", text(255, 1)), *EMAIL_CONTENT),
        (),
        "1 no EmailID, 2 not found, 3 invalid value",
    ),
    "email.get": CommandDoc(
        "Get a campaign email", (_id("EmailID"),), ("Email",), "1 no EmailID, 2 not found"
    ),
    "email.delete": CommandDoc(
        "Delete a campaign email", (_id("EmailID"),), (), "1 no EmailID, 2 not found"
    ),
    "campaign.create": CommandDoc(
        "Create a campaign",
        (Param("CampaignName", text(255, 1), True),),
        ("CampaignID",),
        "1 no CampaignName",
    ),
    "campaign.get": CommandDoc(
        "Get a campaign",
        (
            CAMPAIGN_ID,
            Param("RetrieveStatistics", {"type": "boolean"}),
            Param("RetrieveTags", {"type": "boolean"}),
        ),
        ("Campaign", "CampaignThroughput"),
        "1 no CampaignID, 2 not found",
    ),
    "campaigns.get": CommandDoc(
        "List campaigns",
        (
            Param("RecordsPerRequest", integer(0, 1000)),
            Param("RecordsFrom", integer(0, 1_000_000)),
            Param(
                "CampaignStatus",
                one_of_values("All", "Draft", "Ready", "Sending", "Paused", "Sent", "Failed"),
            ),
            Param("SearchKeyword", text(255)),
            Param("OrderField", one_of_values("CampaignID", "CampaignName", "CreateDateTime")),
            Param("OrderType", one_of_values("ASC", "DESC")),
            Param("RetrieveTags", {"type": "boolean"}),
            Param("Tags", text(255)),
            Param("RetrieveStatistics", {"type": "boolean"}),
        ),
        ("Campaigns", "TotalCampaigns"),
    ),
    "campaign.update": CommandDoc(
        "Change a campaign", (CAMPAIGN_ID, *SCHEDULE), (), "1 no CampaignID, 2 not found"
    ),
    "campaign.copy": CommandDoc(
        "Copy a campaign", (CAMPAIGN_ID,), ("NewCampaignID",), "1 no CampaignID, 2 not found"
    ),
    "campaigns.delete": CommandDoc(
        "Delete campaigns",
        (Param("Campaigns", text(1000, 1, pattern="^[0-9, ]+$"), True),),
        (),
        "1 no Campaigns, 2 not found",
    ),
    "campaign.approve": CommandDoc(
        "Approve a campaign (the gateway's AdminAPIKey)",
        (CAMPAIGN_ID,),
        (),
        "1 no CampaignID, 2 not found",
    ),
    "campaign.pause": CommandDoc("Pause a campaign", (CAMPAIGN_ID,), (), "1, 2 not found"),
    "campaign.resume": CommandDoc("Resume a campaign", (CAMPAIGN_ID,), (), "1, 2 not found"),
    "campaign.cancel": CommandDoc("Cancel a campaign", (CAMPAIGN_ID,), (), "1, 2 not found"),
    "emailgateway.getevents": CommandDoc(
        "A domain's events",
        (
            DOMAIN_ID,
            Param("StartFrom", integer(0, 2**31 - 1), True),
            Param("RetrieveCount", integer(1, 1000), True),
            *PERIOD,
            Param("Event", EVENTS),
            Param("Query", text(255)),
        ),
        ("Events", "TotalRecords"),
        "1 missing parameter, 2 not found, 3 invalid value",
    ),
    "emailgateway.getsuppressions": CommandDoc(
        "The account's suppression list, newest first",
        (
            Param("StartFrom", integer(0, 2**31 - 1), True),
            Param("RetrieveCount", integer(1, 1000), True),
            Param("Address", text(254), description="Only this address"),
            Param("Reason", text(64), description="Only entries with this reason"),
        ),
        ("Suppressions", "TotalRecords"),
        "3 invalid value, 4 no StartFrom, 5 no RetrieveCount",
    ),
    "emailgateway.deletesuppression": CommandDoc(
        "Take an address off the account's suppression list",
        (Param("Address", text(254, 1), True),),
        ("Removed",),
        "1 no Address, 2 not on the list, 3 invalid value",
    ),
    "emailgateway.domainstats": CommandDoc(
        "A domain's delivery statistics",
        (DOMAIN_ID, *PERIOD),
        ("Stats",),
        "1 no DomainID, 2 not found",
    ),
    "emailgateway.aggrevents": CommandDoc(
        "A domain's events counted by a field",
        (
            DOMAIN_ID,
            *PERIOD,
            Param("AggregatedField", one_of_values("Event", "RecipientDomain", "Date")),
            Param("AggregateSize", integer(1, 1000)),
        ),
        ("AggBuckets",),
        "1 no DomainID, 2 not found, 3 invalid value",
    ),
    "emailgateway.recipientdomainstats": CommandDoc(
        "A domain's statistics for one recipient domain",
        (DOMAIN_ID, Param("RecipientToDomain", text(253, 1), True), *PERIOD),
        ("SummaryStats",),
        "1 missing parameter, 2 not found",
    ),
    "internal.bounce.register": CommandDoc(
        "Register a bounce (trusted networks only)",
        (
            Param("EmailMessage", text(65_536, 1), True),
            Param("MailFrom", text(254)),
            Param("PowerMTABounceCategory", text(64)),
        ),
    ),
    "internal.s2spostback.register": CommandDoc(
        "Register a server-to-server postback (trusted networks only)",
        (
            Param("OCRID", text(64, 1), True),
            Param("Channel", text(64)),
            Param("Value", {"type": "number", "minimum": -1e9, "maximum": 1e9}),
            Param("Unit", text(16)),
        ),
    ),
    "emailgateway.smtprelay": CommandDoc(
        "Submit a raw message with SMTP credentials (the gateway's AdminAPIKey)",
        (
            Param("SMTPUsername", text(255, 1), True),
            Param("SMTPPassword", text(255, 1), True),
            Param("UUID", {"type": "string", "format": "uuid"}),
            Param("MailFrom", email()),
            Param("RcptTo", text(10_000)),
            Param("Subject", text(998)),
            Param("RawEmail", text(100_000)),
        ),
    ),
    "segment.create": CommandDoc(
        "Create a segment of a subscriber list",
        (
            Param("SegmentName", text(255, 1), True),
            _id("SegmentListID"),
            Param("SegmentOperator", one_of_values("and", "or")),
            Param("SegmentRulesJson", array(RULE, 20)),
        ),
        ("SegmentID", "SegmentHash"),
    ),
    "segment.update": CommandDoc(
        "Change a segment",
        (
            _id("SegmentID"),
            Param("SegmentName", text(255, 1)),
            _id("SegmentListID", False),
            Param("SegmentOperator", one_of_values("and", "or")),
            Param("SegmentRulesJson", array(RULE, 20)),
        ),
    ),
    "segment.get": CommandDoc("Get a segment", (_id("SegmentID"),), ("Segment",)),
    "segment.delete": CommandDoc("Delete a segment", (_id("SegmentID"),)),
    "emailgateway.addsmtp": CommandDoc(
        "Add SMTP credentials to a domain",
        (DOMAIN_ID,),
        ("NewSMTPID", "SMTP"),
        "1 no DomainID, 2 not found",
    ),
    "emailgateway.getsmtps": CommandDoc(
        "List a domain's SMTP credentials", (DOMAIN_ID,), ("SMTPs",), "1, 2 not found"
    ),
    "emailgateway.deletesmtp": CommandDoc(
        "Delete SMTP credentials", (_id("SMTPID"),), (), "1 no SMTPID, 2 not found"
    ),
    "emailgateway.resetsmtppassword": CommandDoc(
        "Give SMTP credentials a new password", (_id("SMTPID"),), (), "1, 2 not found"
    ),
    "user.login": CommandDoc(
        "Log in: a SessionID for the other commands",
        (Param("Username", text(254, 1), True), Param("Password", text(1024, 1), True)),
        ("SessionID", "UserID", "ExpiresAt"),
    ),
    "user.logout": CommandDoc("End a session", (), ("LoggedOut",)),
    "emailgateway.addwebhook": CommandDoc(
        "Add a webhook to a domain",
        (DOMAIN_ID, Param("Event", WEBHOOK_EVENTS, True), Param("WebhookURL", text(2048, 1), True)),
        ("NewWebhookID",),
    ),
    "emailgateway.getwebhooks": CommandDoc(
        "List a domain's webhooks", (DOMAIN_ID,), ("Webhooks", "SigningKey")
    ),
    "emailgateway.deletewebhook": CommandDoc("Delete a webhook", (_id("WebhookID"), DOMAIN_ID)),
    "sender.domains": CommandDoc(
        "Enabled sender domains, for PowerMTA (the gateway's AdminAPIKey)",
        (Param("DomainsResponseFormat", one_of_values("json", "powermta")),),
        ("Domains",),
        plain_text=True,
    ),
}
