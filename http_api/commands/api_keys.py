"""Sender domain API keys (`eg_live_...`, used as Bearer tokens on /api/v1): created and shown
once, stored as SHA-256 digests, listed masked."""

from __future__ import annotations

from typing import Any

from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.commands.domains import owned_domain
from storage import accounts
from storage.models import Permission


def key_view(key: accounts.DomainKey) -> dict[str, Any]:
    return {
        "APIKeyID": key.key_id,
        "APIKey": key.shown,
        "Description": key.description,
        "DomainID": key.domain_id,
    }


@command("emailgateway.addapi", permission=Permission.MANAGE_DOMAIN)
async def add_api(call: Call) -> dict[str, Any]:
    """Missing parameters are listed together: [1] Description, [2] DomainID; 3: no such domain,
    or another user's."""
    description = call.get("Description")
    missing = [
        code for code, name in ((1, "Description"), (2, "DomainID")) if call.get(name) is None
    ]
    if missing:
        return failed(missing)
    try:
        domain_id = (await owned_domain(call)).id
    except Refused:
        return failed(3, "Domain not found or access denied")
    key = await accounts.create_domain_key(call.db.engine, domain_id, str(description))
    return {"Success": True, "ErrorCode": 0, "NewAPIKeyID": key.key_id, "APIKey": key_view(key)}


@command("emailgateway.getapis", permission=Permission.MANAGE_DOMAIN)
async def get_apis(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's. Keys are shown masked."""
    domain_id = (await owned_domain(call)).id
    keys = await accounts.list_domain_keys(call.db.engine, domain_id)
    return {"Success": True, "ErrorCode": 0, "APIKeys": [key_view(key) for key in keys]}


@command("emailgateway.deleteapi", permission=Permission.MANAGE_DOMAIN)
async def delete_api(call: Call) -> dict[str, Any]:
    """1: no APIKeyID (004: ApiKeyId); 2: no such key, or another user's."""
    assert call.caller is not None
    key_id = id_param(call, "APIKeyID", failed(1, "Missing required parameter: APIKeyID"))
    if not await accounts.delete_domain_key(call.db.engine, key_id, call.caller.user_id):
        return failed(2, "API Key not found or access denied")
    return {"Success": True, "ErrorCode": 0}
