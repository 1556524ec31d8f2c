"""`/rest/ping`: GET answers "pong"; POST answers with the data it was sent."""

from __future__ import annotations

from typing import Any

from http_api.rest.protocol import RestCall, action


@action("ping", methods=("GET", "POST"))
async def ping(call: RestCall) -> Any:
    return "pong" if call.request.method == "GET" else call.data
