"""Advice on settings that work on a laptop and are wrong in production.

A gateway named `localhost` greets receivers with a name they reject, publishes SPF includes and
CNAMEs pointing nowhere, and plain-http tracking links get rewritten or flagged. None of these
stops Mailgate (a test box is a fine place to run it), so each is a warning that names the
setting to fix: at `serve` start in the log, and beside the DNS records `domain add` prints.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from mailgate.config import Settings

# Names that never resolve on the public internet (RFC 2606, 6761, 6762, 7686, 8375 and the
# private-use names people pick for internal zones).
PRIVATE_SUFFIXES = (
    "localhost", "local", "localdomain", "internal", "lan", "home", "home.arpa", "corp", "test",
    "example", "invalid", "arpa", "onion",
)  # fmt: skip


def is_public_dns_name(name: str) -> bool:
    """A name receivers can look up: dotted, not an address, not under a private suffix."""
    name = name.rstrip(".").lower()
    if "." not in name or _is_address(name):
        return False
    return not any(name == s or name.endswith("." + s) for s in PRIVATE_SUFFIXES)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def deployment_warnings(settings: Settings) -> list[str]:
    """What to fix before this gateway sends real mail, one sentence per problem."""
    warnings = []
    if not is_public_dns_name(settings.hostname):
        warnings.append(
            f"hostname is {settings.hostname!r}, not a public DNS name: the SMTP banner and EHLO "
            "use it and the SPF include and CNAME records point at it, so receivers will reject "
            "or not find it; set hostname (MAILGATE_HOSTNAME) to this machine's public name"
        )
    if not settings.explicit("public_url"):
        warnings.append(
            f"public_url is not set, so tracking and unsubscribe links use {settings.public_url}; "
            "set public_url (MAILGATE_PUBLIC_URL) to the https address recipients reach"
        )
    elif urlsplit(settings.public_url).scheme == "http" and not _is_loopback(settings.bind):
        warnings.append(
            f"public_url {settings.public_url} is plain http while the gateway listens on "
            f"{settings.bind}: links in mail would travel unencrypted and look suspicious; "
            "serve them over https and set public_url (MAILGATE_PUBLIC_URL) to it"
        )
    return warnings
