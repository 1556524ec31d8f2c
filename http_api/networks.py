"""Where a request comes from, for the decisions every surface makes by address alone (the
trusted networks of `internal.*` commands and of `sender.domains` without a key)."""

from __future__ import annotations

from starlette.requests import Request

from http_api.context import context
from mta.submission.policy import in_networks


def client_host(request: Request) -> str:
    return request.client.host if request.client else ""


def from_trusted_network(request: Request) -> bool:
    return in_networks(client_host(request), context(request).settings.trusted_networks)
