"""`/rest/reports/...` (003): the account's sent campaigns, 25 a page, and a campaign's
aggregate report and its opens and clicks per ten minutes (storage/campaigns/reports.py says
how each number is counted).

Where the document is silent: the page is a whole number from 1 (1401 otherwise, and above
1,000,000); a page past the last answers an empty table; deleted campaigns are neither listed
nor reported (1402, as for another account's); a campaign not sent yet reports zeros; the
aggregate report's numbers are JSON numbers (the document shows no example), the time details'
are strings as its example shows; times are UTC.
"""

from __future__ import annotations

from typing import Any

from http_api.params import whole_number
from http_api.rest.protocol import RestCall, RestError, action
from http_api.rest.subscriber_lists import TIME_FORMAT, text
from storage.campaigns.reports import (
    campaign_statistics,
    campaigns_list,
    reported_campaign,
    time_details,
)

PAGE_LIMIT = 1_000_000
REPORTED = (
    "subscribers",
    "delivered",
    "hard_bounce",
    "soft_bounce",
    "opened",
    "clicked",
    "unique_opened",
    "unique_clicked",
    "resigned",
)
DETAILED = ("opened", "unique_opened", "clicked", "unique_clicked")


def page_number(call: RestCall) -> int:
    given = text(call.path[0]) if call.path else ""
    if given == "":
        return 1
    page = whole_number(given, 1, PAGE_LIMIT)
    if page is None:
        raise RestError(1401, "Incorrect page number")
    return page


async def campaign_of(call: RestCall) -> int:
    given = text(call.path[0]) if call.path else ""
    found = await reported_campaign(call.db, call.account.user_id, given) if given else None
    if found is None:
        raise RestError(1402, "Campaign with given id_hash does not exist")
    return found


@action("reports", "campaignsList", methods=("GET",))
async def sent_campaigns(call: RestCall) -> Any:
    rows = await campaigns_list(call.db, call.account.user_id, page_number(call))
    return [{**row, "sent": row["sent"].strftime(TIME_FORMAT)} for row in rows]


@action("reports", "campaign", methods=("GET",))
async def campaign_report(call: RestCall) -> Any:
    stats = await campaign_statistics(call.db, await campaign_of(call))
    return {name: stats[name] for name in REPORTED}


@action("reports", "campaignTimeDetails", methods=("GET",))
async def campaign_time_details(call: RestCall) -> Any:
    periods = await time_details(call.db, await campaign_of(call))
    return [
        {**{name: str(period[name]) for name in DETAILED}, "time": period["time"]}
        for period in periods
    ]
