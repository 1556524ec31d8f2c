"""`GET /openapi.json` and the reference page `GET /docs` (Swagger UI, its files served from the
installed `swagger-ui-bundle` package under /docs/assets, never copied into this repository)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

# swagger_ui_bundle ships no type information (no py.typed marker, no stubs package)
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from http_api.openapi.document import document

ASSETS_PATH = "/docs/assets"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Mailgate HTTP API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""


def described(request: Request) -> dict[str, Any]:
    """The app's description, built once per app: the registries do not change while it runs."""
    state = request.app.state
    cached: dict[str, Any] | None = getattr(state, "openapi_document", None)
    if cached is None:
        cached = state.openapi_document = document(request.app.routes)
    return cached


async def openapi_json(request: Request) -> Response:
    return JSONResponse(described(request))


async def reference_page(request: Request) -> Response:
    return HTMLResponse(_PAGE.format(assets=ASSETS_PATH))


assets = StaticFiles(directory=swagger_ui_path)
