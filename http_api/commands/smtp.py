"""SMTP credential commands of the Email Gateway API. Passwords are generated, shown once
(`addsmtp`, `resetsmtppassword`) and stored as argon2 hashes; listings never show them (004's
`Password` is a fixed mask)."""

from __future__ import annotations

from typing import Any

from http_api.api_php import Call, command, failed, id_param
from http_api.commands.domains import owned_domain
from http_api.context import context
from storage import credentials
from storage.domains import NotFound
from storage.models import Permission

# 004's getsmtps shows a `Password`: passwords are stored only as argon2 hashes and are never
# shown after addsmtp / resetsmtppassword, so every listing answers this fixed mask.
PASSWORD_MASK = "********"  # noqa: S105 - a mask, not a password
# 004's getsmtps also shows From and Reply-To names and addresses: a Mailgate SMTP credential
# has none (a message's sender is whatever its own headers say), so they are answered empty.
NO_SENDER_DEFAULTS = {"FromEmail": "", "FromName": "", "ReplyToEmail": "", "ReplyToName": ""}


def _server(call: Call) -> dict[str, Any]:
    settings = context(call.request).settings
    return {"SMTPHost": settings.hostname, "SMTPPorts": list(settings.smtp_ports)}


@command("emailgateway.addsmtp", permission=Permission.MANAGE_DOMAIN)
async def add_smtp(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's."""
    domain_id = (await owned_domain(call)).id
    new = await credentials.add_credential(call.db, domain_id)
    smtp = {
        "SMTPID": new.credential_id,
        "SMTPUsername": new.username,
        "SMTPPassword": new.password,
        **_server(call),
    }
    return {"Success": True, "ErrorCode": 0, "NewSMTPID": new.credential_id, "SMTP": smtp}


@command("emailgateway.getsmtps", permission=Permission.MANAGE_DOMAIN)
async def get_smtps(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's."""
    domain_id = (await owned_domain(call)).id
    found = await credentials.list_credentials(call.db, domain_id)
    listed = [
        {
            "SMTPID": item.credential_id,
            "SMTPUsername": item.username,
            "Username": item.username,  # 004's name
            "Password": PASSWORD_MASK,
            **NO_SENDER_DEFAULTS,
            "IsActive": True,
            **_server(call),
        }
        for item in found
    ]
    return {"Success": True, "ErrorCode": 0, "SMTPs": listed}


def _smtp_id(call: Call) -> int:
    """The SMTPID parameter (004: `smtpid`); code 1 when it is missing."""
    return id_param(call, "SMTPID", failed(1, "Missing required parameter (SMTPID)"))


@command("emailgateway.deletesmtp", permission=Permission.MANAGE_DOMAIN)
async def delete_smtp(call: Call) -> dict[str, Any]:
    """1: no SMTPID; 2: no such credential, or another user's."""
    assert call.caller is not None
    smtp_id = _smtp_id(call)
    try:
        await credentials.delete_credential(call.db, smtp_id, call.caller.user_id)
    except NotFound:
        return failed(2, "SMTP credentials not found or access denied")
    return {"Success": True, "ErrorCode": 0}


@command("emailgateway.resetsmtppassword", permission=Permission.MANAGE_DOMAIN)
async def reset_smtp_password(call: Call) -> dict[str, Any]:
    """1: no SMTPID; 2: no such credential, or another user's."""
    assert call.caller is not None
    smtp_id = _smtp_id(call)
    try:
        new = await credentials.reset_password(call.db, smtp_id, call.caller.user_id)
    except NotFound:
        return failed(2, "SMTP credentials not found or access denied")
    settings = context(call.request).settings
    smtp = {
        "SMTPID": new.credential_id,
        "SMTPUsername": new.username,
        "SMTPPassword": new.password,
        # 004's names for the same
        "Server": settings.hostname,
        "Port": settings.submission_ports[0] if settings.submission_ports else settings.smtp_port,
        "Username": new.username,
    }
    return {"Success": True, "ErrorCode": 0, "SMTP": smtp}
