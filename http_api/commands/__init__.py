"""Command modules of `/api.php`; importing this package registers every command."""

from http_api.commands import api_keys, domains, internal, smtp, users  # noqa: F401 - registers them
