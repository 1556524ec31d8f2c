"""The one error answer of /api/v1: `{"Errors": [{"Code", "Message"}]}` with an HTTP status.
Everything on /api/v1 that refuses (a route, its authentication, the rate limit, the
dispatcher's catch-all) raises V1Error; nothing else builds it."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from http_api.metrics import ErrorAnswer


class V1Error(Exception):
    """A refusal in /api/v1's shape; `headers` for the few that carry one (Retry-After)."""

    def __init__(
        self, code: int, message: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.headers = code, message, status, headers

    def response(self) -> Response:
        body = {"Errors": [{"Code": self.code, "Message": self.message}]}
        return ErrorAnswer(body, self.status, self.code, self.headers)
