"""Command modules of `/api.php`; importing this package registers every command."""

from http_api.commands import domains  # noqa: F401 - registers its commands
