"""Sender domain commands of the Email Gateway API (001, with 004's spellings and fields)."""

from __future__ import annotations

from typing import Any

from dns_tools.names import InvalidDomain, dns_label, normalize_domain
from http_api.api_php import Call, command
from storage import domains
from storage.accounts import AlreadyExists
from storage.models import DomainStatus, SenderDomain

TRACK_MERGE_CHARACTERS = {"-", ".", "_"}


def failed(code: int | list[int], message: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"Success": False, "ErrorCode": code}
    if message:
        answer["ErrorMessage"] = message  # 004's field
    return answer


def options(domain: SenderDomain) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "LinkTracking": int(domain.link_tracking),
        "OpenTracking": int(domain.open_tracking),
        "UnsubscribeLink": int(domain.unsubscribe_link),
    }
    if domain.custom_subdomain:
        shown["CustomSubdomain"] = domain.custom_subdomain
    if domain.custom_track_prefix:
        shown["CustomTrackPrefix"] = domain.custom_track_prefix
    if domain.track_merge:
        shown["TrackMerge"] = domain.track_merge
    if domain.track_prefix_disabled:
        shown["TrackPrefixDisabled"] = True
    return shown


def domain_view(domain: SenderDomain) -> dict[str, Any]:
    """The domain as 001 shows it, with 004's names beside (`DomainName`, `IsActive`)."""
    return {
        "DomainID": domain.id,
        "SenderDomain": domain.name,
        "DomainName": domain.name,
        "Status": str(domain.status),
        "IsActive": domain.status == DomainStatus.ENABLED,
        "Options": options(domain),
    }


def _label_option(call: Call, name: str) -> str | None:
    value = call.get(name)
    return None if value is None else dns_label(value)


@command("emailgateway.adddomain")
async def add_domain(call: Call) -> dict[str, Any]:
    """Errors as a list, as 001 shows: [1] no DomainName, [2] not a domain (or taken), [3] the
    user's limit, [4] a bad subdomain, tracking prefix or merge character."""
    assert call.caller is not None
    name = call.get("DomainName")
    if name is None:
        return failed([1])
    try:
        domain_name = normalize_domain(str(name))
    except InvalidDomain:
        return failed([2])
    try:
        subdomain = _label_option(call, "Subdomain")
        prefix = _label_option(call, "TrackPrefix")
    except ValueError:
        return failed([4])
    merge = call.get("TrackMerge")
    if merge is not None and str(merge) not in TRACK_MERGE_CHARACTERS:
        return failed([4])
    settings = call.request.app.state.settings
    try:
        domain = await domains.add_domain(
            call.db.engine,
            call.caller.user_id,
            domain_name,
            settings.return_path_subdomain,
            custom_subdomain=subdomain,
            custom_track_prefix=prefix,
            track_merge=None if merge is None else str(merge),
            track_prefix_disabled=str(call.get("TrackPrefixDisabled") or "0") == "1",
        )
    except domains.LimitReached:
        return failed([3])
    except AlreadyExists:
        return failed([2])
    view = domain_view(domain)
    view.update(VerificationStatus="Pending", DKIMStatus="Pending", SPFStatus="Pending")
    return {"Success": True, "ErrorCode": 0, "NewSenderDomainID": domain.id, "Domain": view}


@command("emailgateway.getdomain")
async def get_domain(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's."""
    assert call.caller is not None
    raw = call.get("DomainID")
    if raw is None:
        return failed(1, "Required parameter missing: DomainID")
    try:
        domain = await domains.get_domain(call.db.engine, int(raw), call.caller.user_id)
    except (ValueError, TypeError, domains.NotFound):
        return failed(2, "Domain not found or access denied")
    return {"Success": True, "ErrorCode": 0, "Domain": domain_view(domain)}
