"""mta/checked_http.py on its own, against a real HTTP server on loopback and a real DNS server:
private and loopback targets are refused before any connection (unless allowed), redirects
are answered, never followed, answers are kept to their bound and bodies to the caller's
limit, a silent server times out, the URL check is shared for its TTL and the call connects
to the checked address with the URL's host in the Host header."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mta.checked_http import (
    RESPONSE_BYTES,
    CallFailed,
    CallRefused,
    HttpOptions,
    HttpSender,
    TooLarge,
    retry_after,
)
from tests.conftest import async_wait_until, free_port
from tests.dns_server import DnsServer

OK = b'{"status":"OK"}'


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """An HTTP server on 127.0.0.1 that answers by path (see `answer`) and keeps every request."""

    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    first_part_sent: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        route, query = request.path.split("?")[0], parse_qs(urlsplit(request.path).query)
        size = int(query.get("size", ["0"])[0])
        if route == "/echo":
            return 200, {}, b"got " + request.body
        if route == "/long":
            return 200, {}, b"y" * (RESPONSE_BYTES * 3)
        if route == "/busy":
            return 503, {"Retry-After": query.get("after", ["7"])[0]}, b"busy"
        if route == "/redirect":
            return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""
        if route == "/file":
            headers = {"Content-Type": "application/pdf",
                       "Content-Disposition": 'attachment; filename="report.pdf"'}  # fmt: skip
            if "unsized" in query:
                headers["X-No-Length"] = "1"
            return 200, headers, b"%" * size
        if route == "/split":  # the body in two writes, the second once `released`
            return 200, {"X-No-Length": "1", "X-Split": "10"}, OK
        if route == "/stall":
            self.released.wait(timeout=30)
            return 200, {}, b"late"
        return 404, {}, b"no such page"


def serve(server: Server) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Request(
                method, self.path, dict(self.headers.items()), self.rfile.read(length)
            )
            server.requests.append(request)
            status, headers, body = server.answer(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "X-No-Length" not in headers:  # else the body ends when the connection closes
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may stop reading, as it should past its limit.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if "X-Split" in headers:
                    split = int(headers["X-Split"])
                    self.wfile.write(body[:split])
                    self.wfile.flush()
                    server.first_part_sent.set()
                    server.released.wait(timeout=30)
                    body = body[split:]
                self.wfile.write(body)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    http.request_queue_size = 64  # concurrent calls connect at once (the default backlog is 5)
    http.server_bind()
    http.server_activate()
    http.daemon_threads = True
    server.port = http.server_address[1]
    # A short poll: shutdown() waits for the loop to see it, half a second by default.
    threading.Thread(target=http.serve_forever, args=(0.02,), daemon=True).start()
    return http


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    http = serve(running)
    try:
        yield running
    finally:
        running.released.set()
        http.shutdown()
        http.server_close()


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as dns_server:
        dns_server.set("hooks.test", "A", 60, ["127.0.0.1"])
        yield dns_server


@pytest.fixture
async def allowed(dns: DnsServer) -> AsyncIterator[HttpSender]:
    """A sender that may call loopback (the test server), resolving through `dns`."""
    sender = HttpSender(HttpOptions(nameservers=[dns.address], allow_private=True, timeout=5))
    try:
        yield sender
    finally:
        await sender.close()


@pytest.fixture
async def guarded(dns: DnsServer) -> AsyncIterator[HttpSender]:
    """A sender as the gateway runs it: public addresses only."""
    sender = HttpSender(HttpOptions(nameservers=[dns.address]))
    try:
        yield sender
    finally:
        await sender.close()


PRIVATE = [
    pytest.param("http://127.0.0.1:{port}/echo", "loopback", id="loopback"),
    pytest.param("http://hooks.test:{port}/echo", "loopback", id="name-of-loopback"),
    pytest.param("http://[::1]:{port}/echo", "loopback", id="ipv6-loopback"),
    pytest.param("http://2130706433:{port}/echo", "loopback", id="loopback-as-a-number"),
    pytest.param("http://10.0.0.1:{port}/echo", "private", id="private"),
    pytest.param("http://169.254.169.254/latest/meta-data/", "metadata", id="metadata"),
    pytest.param("ftp://127.0.0.1:{port}/echo", "only http and https", id="other-scheme"),
]


@pytest.mark.parametrize(("url", "reason"), PRIVATE)
async def test_private_targets_are_refused_before_any_connection(
    guarded: HttpSender, server: Server, url: str, reason: str
) -> None:
    target = url.format(port=server.port)
    with pytest.raises(CallRefused, match=reason):
        await guarded.post(target, b"{}", {})
    with pytest.raises(CallRefused, match=reason):
        await guarded.get(target, 1000)
    assert server.requests == []


async def test_a_post_reaches_the_checked_address_with_the_urls_host(
    allowed: HttpSender, server: Server
) -> None:
    answer = await allowed.post(
        server.url("/echo?x=1", host="hooks.test"), b'{"a":1}', {"Content-Type": "application/json"}
    )
    assert (answer.status, answer.text, answer.retry_after) == (200, 'got {"a":1}', None)
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("POST", "/echo?x=1", b'{"a":1}')
    assert request.headers["Host"] == f"hooks.test:{server.port}"
    assert request.headers["Content-Type"] == "application/json"
    assert "Accept-Encoding" not in request.headers  # answers are read as they are sent


async def test_an_answer_is_kept_to_its_bound_and_retry_after_is_read(
    allowed: HttpSender, server: Server
) -> None:
    long = await allowed.post(server.url("/long"), b"", {})
    assert long.text == "y" * RESPONSE_BYTES
    busy = await allowed.post(server.url("/busy?after=120"), b"", {})
    assert (busy.status, busy.text, busy.retry_after) == (503, "busy", 120.0)
    missing = await allowed.post(server.url("/nowhere"), b"", {})
    assert (missing.status, missing.text) == (404, "no such page")


async def test_an_answer_that_arrives_in_parts_is_read_to_its_bound(
    allowed: HttpSender, server: Server
) -> None:
    posting = asyncio.create_task(allowed.post(server.url("/split"), b"", {}))

    async def first_part_sent() -> bool:
        return server.first_part_sent.is_set()

    await async_wait_until(first_part_sent)
    # A client that reads to its bound is still waiting for the rest; one that stopped at the
    # first part is done at once (the bound is never waited out then).
    await asyncio.wait({posting}, timeout=2)
    server.released.set()
    assert (await posting).text == OK.decode()


async def test_a_redirect_is_answered_not_followed(allowed: HttpSender, server: Server) -> None:
    posted = await allowed.post(server.url("/redirect"), b"x", {})
    fetched = await allowed.get(server.url("/redirect"), 1000)
    assert posted.status == fetched.status == 302
    assert fetched.body == b""
    assert [request.path for request in server.requests] == ["/redirect", "/redirect"]


@pytest.mark.parametrize(
    ("query", "limit", "fits"),
    [
        ("size=1000", 1000, True),
        ("size=1001", 1000, False),  # Content-Length says so: nothing is read
        ("size=1000&unsized=1", 1000, True),
        ("size=1001&unsized=1", 1000, False),  # found while reading
        ("size=5000000&unsized=1", 70_000, False),  # a big body is not read to its end
        ("size=0", 0, True),
    ],
    ids=["at-limit", "over-by-length", "unsized-at-limit", "unsized-over", "unsized-huge", "empty"],
)
async def test_a_body_is_bounded_by_the_callers_limit(
    allowed: HttpSender, server: Server, query: str, limit: int, fits: bool
) -> None:
    url = server.url(f"/file?{query}")
    if not fits:
        with pytest.raises(TooLarge, match=f"more than {limit}"):
            await allowed.get(url, limit)
        return
    fetched = await allowed.get(url, limit, {"Authorization": "Bearer t"})
    assert (fetched.status, len(fetched.body)) == (200, limit)
    assert (fetched.content_type, fetched.filename) == ("application/pdf", "report.pdf")
    assert server.requests[-1].headers["Authorization"] == "Bearer t"


async def test_a_non_2xx_answer_to_a_get_has_no_body(allowed: HttpSender, server: Server) -> None:
    fetched = await allowed.get(server.url("/nowhere"), 1000)
    assert (fetched.status, fetched.body, fetched.content_type) == (404, b"", "")


async def test_a_silent_server_times_out(dns: DnsServer, server: Server) -> None:
    sender = HttpSender(HttpOptions(nameservers=[dns.address], allow_private=True, timeout=0.3))
    started = time.monotonic()
    try:
        with pytest.raises(CallFailed, match=r"timed out after 0.3s"):
            await sender.post(server.url("/stall"), b"", {})
    finally:
        await sender.close()
    assert time.monotonic() - started < 5
    assert [request.path for request in server.requests] == ["/stall"]


async def test_nothing_listening_is_a_failed_call(allowed: HttpSender) -> None:
    with pytest.raises(CallFailed, match=r"could not connect: 127\.0\.0\.1") as failed:
        await allowed.post(f"http://127.0.0.1:{free_port()}/", b"", {})
    assert not isinstance(failed.value, CallRefused)


async def test_the_check_is_shared_for_its_ttl_then_made_again(
    dns: DnsServer, server: Server
) -> None:
    def lookups() -> int:
        return sum(1 for name, _ in dns.queries if name.rstrip(".") == "hooks.test")

    url = server.url("/echo", host="hooks.test")
    sharing = HttpSender(HttpOptions(nameservers=[dns.address], allow_private=True, check_ttl=60))
    rechecking = HttpSender(HttpOptions(nameservers=[dns.address], allow_private=True, check_ttl=0))
    try:
        await sharing.post(url, b"1", {})
        asked = lookups()
        assert asked >= 1
        dns.nxdomain("hooks.test")  # the name goes away: the shared check still holds
        assert (await sharing.post(url, b"2", {})).status == 200
        assert lookups() == asked
        with pytest.raises(CallRefused, match="does not resolve"):
            await rechecking.post(url, b"3", {})
    finally:
        await sharing.close()
        await rechecking.close()
    assert [request.body for request in server.requests] == [b"1", b"2"]


async def test_idle_pools_are_closed_and_old_checks_forgotten(
    allowed: HttpSender, server: Server
) -> None:
    await allowed.post(server.url("/echo"), b"", {})
    assert len(allowed._sessions) == 1 and len(allowed._checks) == 1
    await allowed.sweep(idle=60)
    assert len(allowed._sessions) == 1  # used just now
    await allowed.sweep(idle=-1)
    assert allowed._sessions == {}
    assert (await allowed.post(server.url("/echo"), b"again", {})).text == "got again"


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("120", 120, 120),
        (" 5 ", 5, 5),
        ("0", 0, 0),
        (timedelta(minutes=10), 590, 600),  # an HTTP date that far from now
        (timedelta(minutes=-10), 0, 0),  # past: no wait
        ("Wed, 21 Oct 2015 07:28:00", 0, 0),  # no zone: read as UTC, long past
        ("-5", None, None),
        ("soon", None, None),
        ("", None, None),
        (None, None, None),
    ],
    ids=["seconds", "blanks", "zero", "date-ahead", "date-past", "date-no-zone", "negative",
         "word", "empty", "absent"],
)  # fmt: skip
def test_retry_after(value: str | timedelta | None, low: float | None, high: float | None) -> None:
    if isinstance(value, timedelta):
        value = email.utils.format_datetime(datetime.now(UTC) + value, usegmt=True)
    got = retry_after(value)
    if low is None:
        assert got is None
    else:
        assert got is not None and low <= got <= high


async def test_calls_run_concurrently_on_one_origin(allowed: HttpSender, server: Server) -> None:
    answers = await asyncio.gather(
        *(allowed.post(server.url("/echo"), str(n).encode(), {}) for n in range(8))
    )
    assert sorted(answer.text for answer in answers) == sorted(f"got {n}" for n in range(8))
    assert len(allowed._sessions) == 1
