"""Internal commands (000): for the mail infrastructure, callable from the trusted networks
only (the document shows no authentication; an open state-changing endpoint is not an option).
"""

from __future__ import annotations

from typing import Any

from http_api.api_php import Access, Call, command
from mta.bounce_classes import CATEGORIES
from mta.inbound import process_report


def _answer(ok: bool, text: str = "") -> dict[str, Any]:
    return {"Success": ok, "ErrorCode": 0, "ErrorText": text}


@command("internal.bounce.register", Access.TRUSTED)
async def register_bounce(call: Call) -> dict[str, Any]:
    """A bounce an MTA (PowerMTA, say) received for us, handed over as text: read and recorded
    as if it had arrived on port 25. `MailFrom` is the envelope it bounced to (our VERP
    address); `PowerMTABounceCategory` replaces Mailgate's own category when it is one."""
    message = call.get("EmailMessage")
    if message is None:
        return _answer(False, "Bounce processing error: EmailMessage is missing")
    mail_from = str(call.get("MailFrom") or "")
    category = str(call.get("PowerMTABounceCategory") or "").strip().lower()
    raw = str(message).replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "replace")
    settings = call.request.app.state.settings
    recorded = await process_report(
        call.db,
        None,
        raw,
        [mail_from] if mail_from else [],
        settings.soft_bounce_limit,
        category if category in CATEGORIES else None,
    )
    if recorded is None or not recorded.events:
        return _answer(False, "Bounce processing error")
    return _answer(True)
