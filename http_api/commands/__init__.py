"""Command modules of `/api.php`; importing this package registers every command."""

from http_api.commands import (  # noqa: F401 - importing registers them
    api_keys,
    campaigns,
    domains,
    emails,
    events,
    internal,
    relay,
    segments,
    sender_domains,
    smtp,
    suppressions,
    users,
    webhooks,
)
