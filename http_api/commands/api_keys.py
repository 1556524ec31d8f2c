"""Sender domain API keys (`eg_live_...`, used as Bearer tokens on /api/v1): created and shown
once, stored as SHA-256 digests, listed masked."""

from __future__ import annotations

from typing import Any

from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.commands.domains import owned_domain
from http_api.formats import utc_text
from http_api.key_scopes import DOMAIN_KEY_PERMISSIONS
from storage import accounts
from storage.models import Permission


def key_view(key: accounts.DomainKey, user_id: int) -> dict[str, Any]:
    """A key as 001 shows it, with 004's names beside: `Key` is the same as `APIKey` (the key
    itself once, when just made; masked after), ids as text, dates as 004 writes them
    (`LastUsedDate` "" for a key never used)."""
    return {
        "APIKeyID": key.key_id,
        "APIKey": key.shown,
        "Description": key.description,
        "DomainID": key.domain_id,
        "KeyID": str(key.key_id),
        "UserID": str(user_id),
        "Key": key.shown,
        "Permissions": DOMAIN_KEY_PERMISSIONS,
        "CreationDate": utc_text(key.created_at),
        "LastUsedDate": utc_text(key.last_used_at),
    }


@command("emailgateway.addapi", permission=Permission.MANAGE_DOMAIN)
async def add_api(call: Call) -> dict[str, Any]:
    """Errors as a list, as 001 shows: missing parameters together, [1] Description, [2]
    DomainID; [3] no such domain, or another user's."""
    description = call.get("Description")
    missing = [
        code for code, name in ((1, "Description"), (2, "DomainID")) if call.get(name) is None
    ]
    if missing:
        return failed(missing)
    try:
        domain = await owned_domain(call)
    except Refused:
        return failed([3])
    key = await accounts.create_domain_key(call.db, domain.id, str(description))
    view = key_view(key, domain.user_id)
    return {"Success": True, "ErrorCode": 0, "NewAPIKeyID": key.key_id, "APIKey": view}


@command("emailgateway.getapis", permission=Permission.MANAGE_DOMAIN)
async def get_apis(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's. Keys are shown masked."""
    domain = await owned_domain(call)
    keys = await accounts.list_domain_keys(call.db, domain.id)
    listed = [key_view(key, domain.user_id) for key in keys]
    return {"Success": True, "ErrorCode": 0, "APIKeys": listed}


@command("emailgateway.deleteapi", permission=Permission.MANAGE_DOMAIN)
async def delete_api(call: Call) -> dict[str, Any]:
    """1: no APIKeyID (004: ApiKeyId); 2: no such key, or another user's."""
    assert call.caller is not None
    key_id = id_param(call, "APIKeyID", failed(1, "Missing required parameter: APIKeyID"))
    if not await accounts.delete_domain_key(call.db, key_id, call.caller.user_id):
        return failed(2, "API Key not found or access denied")
    return {"Success": True, "ErrorCode": 0}
