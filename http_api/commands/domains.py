"""Sender domain commands of the Email Gateway API (001, with 004's spellings and fields)."""

from __future__ import annotations

from typing import Any

from dns_tools.names import InvalidDomain, dns_label, normalize_domain
from dns_tools.verification import verify_records
from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.context import context
from mta.submission.sender_records import records_for
from storage import domains
from storage.accounts import AlreadyExists
from storage.models import DomainStatus, Permission, SenderDomain
from storage.queue_admin import clear_domain_queue

TRACK_MERGE_CHARACTERS = {"-", ".", "_"}


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


def _flag_text(value: bool) -> str:
    return "1" if value else "0"


def settings_004(domain: SenderDomain) -> dict[str, Any]:
    """The settings 001 shows under `Options`, as 004's updatedomain shows them: at the top
    level, the 0/1 options as text, the subdomain as set (empty when none is)."""
    return {
        "LinkTracking": _flag_text(domain.link_tracking),
        "OpenTracking": _flag_text(domain.open_tracking),
        "UnsubscribeLink": _flag_text(domain.unsubscribe_link),
        "HostingProvider": domain.hosting_provider or "",
        "Subdomain": domain.custom_subdomain or "",
    }


def domain_summary(domain: SenderDomain) -> dict[str, Any]:
    """The domain as getdomains lists it: 001's fields, and 004's beside (`DomainName`;
    `IsActive` and `Active`: Enabled; `Verified`: its DNS records were found in place)."""
    active = domain.status == DomainStatus.ENABLED
    return {
        "DomainID": domain.id,
        "SenderDomain": domain.name,
        "DomainName": domain.name,
        "Status": str(domain.status),
        "IsActive": active,
        "Verified": domain.verified_at is not None,
        "Active": active,
    }


def domain_view(domain: SenderDomain) -> dict[str, Any]:
    """The domain as every command but getdomains shows it: its summary, 001's `Options`, and
    004's top-level settings."""
    return {**domain_summary(domain), "Options": options(domain), **settings_004(domain)}


def _label_option(call: Call, name: str) -> str | None:
    value = call.get(name)
    return None if value is None else dns_label(value)


@command("emailgateway.adddomain", permission=Permission.ADD_DOMAIN)
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
    settings = context(call.request).settings
    try:
        domain = await domains.add_domain(
            call.db,
            call.caller.user_id,
            domain_name,
            settings.return_path_subdomain,
            custom_subdomain=subdomain,
            custom_track_prefix=prefix,
            track_merge=None if merge is None else str(merge),
            track_prefix_disabled=call.text("TrackPrefixDisabled").strip() == "1",
        )
    except domains.LimitReached:
        return failed([3])
    except AlreadyExists:
        return failed([2])
    view = domain_view(domain)
    view.update(VerificationStatus="Pending", DKIMStatus="Pending", SPFStatus="Pending")
    return {"Success": True, "ErrorCode": 0, "NewSenderDomainID": domain.id, "Domain": view}


@command("emailgateway.getdomain", permission=Permission.MANAGE_DOMAIN)
async def get_domain(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's."""
    return {"Success": True, "ErrorCode": 0, "Domain": domain_view(await owned_domain(call))}


def _domain_id(call: Call) -> int:
    return id_param(call, "DomainID", failed(1, "Required parameter missing: DomainID"))


@command("emailgateway.getdomains", permission=Permission.MANAGE_DOMAIN)
async def get_domains(call: Call) -> dict[str, Any]:
    assert call.caller is not None
    found = await domains.list_domains(call.db, call.caller.user_id)
    return {"Success": True, "ErrorCode": 0, "Domains": [domain_summary(d) for d in found]}


async def owned_domain(call: Call) -> SenderDomain:
    """The caller's domain named by DomainID; raises Refused with code 1 when it is missing,
    2 when it is not a domain of the caller's."""
    assert call.caller is not None
    try:
        return await domains.get_domain(call.db, _domain_id(call), call.caller.user_id)
    except domains.NotFound:
        raise Refused(failed(2, "Domain not found or access denied")) from None


@command("emailgateway.deletedomain", permission=Permission.MANAGE_DOMAIN)
async def delete_domain(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's. Its pending mail is not sent
    (storage.domains.delete_domain, as `mailgate domain delete`)."""
    assert call.caller is not None
    domain_id = (await owned_domain(call)).id
    try:
        await domains.delete_domain(call.db, domain_id, call.caller.user_id)
    except domains.NotFound:
        return failed(2, "Domain not found or access denied")
    return {"Success": True, "ErrorCode": 0}


@command("emailgateway.cleardomainqueue", permission=Permission.MANAGE_DOMAIN)
async def clear_queue(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's. Pending mail is marked failed."""
    domain_id = (await owned_domain(call)).id
    await clear_domain_queue(call.db, domain_id)
    return {"Success": True, "ErrorCode": 0}


_FLAGS = {"1": True, "0": False, "true": True, "false": False}


def _flag(call: Call, name: str) -> bool | None:
    value = call.get(name)
    if value is None:
        return None
    flag = _FLAGS.get(str(value).strip().lower())
    if flag is None:
        raise ValueError(f"{name} must be 0 or 1")
    return flag


def _override(call: Call, name: str) -> str | None:
    """A label override: absent -> unchanged (None); empty -> reset (""); else validated."""
    if call.get(name) is None:
        return "" if name.lower() in call.params else None
    return dns_label(call.get(name))


@command("emailgateway.updatedomain", permission=Permission.MANAGE_DOMAIN)
async def update_domain(call: Call) -> dict[str, Any]:
    """1: no DomainID; 5: no such domain, or another user's; 6: an invalid subdomain, tracking
    prefix, merge character or 0/1 option."""
    assert call.caller is not None
    domain_id = _domain_id(call)
    try:
        merge = call.get("TrackMerge")
        if merge is not None and str(merge) not in TRACK_MERGE_CHARACTERS:
            raise ValueError("TrackMerge")
        provider = call.get("HostingProvider")
        changes = domains.DomainChanges(
            link_tracking=_flag(call, "LinkTracking"),
            open_tracking=_flag(call, "OpenTracking"),
            unsubscribe_link=_flag(call, "UnsubscribeLink"),
            hosting_provider=None if provider is None else str(provider)[:255],
            custom_subdomain=_override(call, "Subdomain"),
            custom_track_prefix=_override(call, "TrackPrefix"),
            track_merge=None if merge is None else str(merge),
            track_prefix_disabled=_flag(call, "TrackPrefixDisabled"),
        )
    except ValueError:
        return failed(6, "Invalid subdomain or track prefix value")
    settings = context(call.request).settings
    try:
        domain, changed = await domains.update_domain(
            call.db, domain_id, call.caller.user_id, changes, settings.return_path_subdomain
        )
    except domains.NotFound:
        return failed(5, "Domain not found or access denied")
    return {
        "Success": True,
        "ErrorCode": 0,
        "Domain": domain_view(domain),
        "SubdomainChanged": changed,
    }


# Records a domain needs before it may send; DMARC is reported, tracking is needed only for
# tracking (and is checked when a domain turns it on).
REQUIRED = {"DKIM", "SPF", "Return-Path (bounces)"}


@command("emailgateway.verifydomain", permission=Permission.MANAGE_DOMAIN)
async def verify_domain(call: Call) -> dict[str, Any]:
    """Asks DNS (the configured resolver) for each record; the domain becomes Enabled when the
    required ones hold. 1: no DomainID; 2: no such domain, or another user's."""
    domain = await owned_domain(call)
    settings = context(call.request).settings
    checked = await verify_records(records_for(domain, settings), settings.nameservers)
    results = {
        item.record.name: [item.record.type, item.record.value, item.verified] for item in checked
    }
    verified = all(item.verified for item in checked if item.record.purpose in REQUIRED)
    domain = await domains.record_verification(call.db, domain.id, results, verified)
    return {
        "Success": True,
        "ErrorCode": 0,
        "Domain": domain_view(domain),
        "DNSVerificationResults": results,
    }
