"""The OpenAPI description is complete (every registered command, action and route described,
nothing else), is what /openapi.json serves, and its reference page renders in a real browser
(Debian's chromium through Playwright) from the installed swagger-ui-bundle's files."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from swagger_ui_bundle import swagger_ui_path

from http_api import api_php
from http_api.openapi.document import document, undescribed, unregistered
from http_api.rest import protocol as rest_protocol
from mailgate.config import load_settings
from mailgate.http_wiring import http_app
from tests.conftest import make_gateway
from tests.http_api.conftest import serving


def app_routes() -> list:
    settings = load_settings({"MAILGATE_DATA_DIR": "/nonexistent"}, config_may_be_missing=True)
    return http_app(settings).routes


def test_every_registered_operation_is_described_and_nothing_else() -> None:
    routes = app_routes()
    assert undescribed(routes) == []
    assert unregistered(routes) == []
    paths = document(routes)["paths"]
    commands = {path.partition("#")[2] for path in paths if path.startswith("/api.php#")}
    assert commands == set(api_php.COMMANDS)
    rest = [op for path, ops in paths.items() if path.startswith("/rest/") for op in ops]
    assert len(rest) == sum(len(action.methods) for action in rest_protocol.ACTIONS.values())


def test_each_command_names_itself_and_its_credentials() -> None:
    paths = document(app_routes())["paths"]
    for name, registered in api_php.COMMANDS.items():
        operation = paths[f"/api.php#{name}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["Command"]["enum"] == [name]
        assert "Command" in body["required"]
        if registered.access is api_php.Access.USER:
            assert {"ApiKey": []} in operation["security"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    gateway = make_gateway(tmp_path_factory.mktemp("openapi"), MAILGATE_SMTP_PROCESSES="1")
    with serving(gateway) as client:
        yield client


def test_the_served_description_is_the_apps(client: httpx.Client) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    served = answer.json()
    assert served["openapi"].startswith("3.0")
    assert served == json.loads(json.dumps(document(app_routes())))


def test_the_reference_page_assets_come_from_the_installed_package(client: httpx.Client) -> None:
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.content == (Path(swagger_ui_path) / "swagger-ui-bundle.js").read_bytes()
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("MAILGATE_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (MAILGATE_REQUIRE_BROWSER=1)")
        pytest.skip("chromium is not installed")
    return path


def test_the_reference_page_renders_every_operation(client: httpx.Client, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    operations = sum(len(ops) for ops in client.get("/openapi.json").json()["paths"].values())
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{client.base_url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert page.locator(".opblock").count() == operations
            assert page.get_by_text("/api.php#emailgateway.adddomain").count() == 1
            assert page.locator(".info .title").inner_text().startswith("Mailgate HTTP API")
            page.screenshot(path=str(tmp_path / "docs.png"))
            assert errors == []
        finally:
            browser.close()
