"""mta/smtp/starttls.py, the one place Mailgate reaches past aiosmtpd's documented API, on a real
socket with a bare aiosmtpd `SMTP` and both event loops (asyncio's and uvloop's): input sent
behind STARTTLS is dropped, a message larger than the stream's buffer crosses the upgraded
streams whole, a failed handshake is the caller's error; and the aiosmtpd it was checked
against is the one installed."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from mailgate.tls import server_context, write_self_signed
from mta.smtp.starttls import upgrade_to_tls

Runner = Callable[[Coroutine[Any, Any, None]], None]
RUNNERS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]
BIG = b"x" * 998 + b"\r\n"  # a full line, 300 times: far over the stream's 2 KB buffer limit


@dataclass
class Recorder:
    """The handler: what the server ran, and what its upgrades raised."""

    senders: list[str] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)
    upgrade_errors: list[BaseException] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.senders.append(address)
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.contents.append(envelope.original_content or b"")
        return "250 stored"


class Upgrading(SMTP):
    """aiosmtpd's protocol with STARTTLS done by upgrade_to_tls, and nothing else of ours."""

    @syntax("STARTTLS")
    async def smtp_STARTTLS(self, arg: str) -> None:
        await self.push("220 go ahead")
        assert self.tls_context is not None
        try:
            secure = await upgrade_to_tls(self, self.tls_context)
        except (OSError, ssl.SSLError, ConnectionError) as error:
            self.event_handler.upgrade_errors.append(error)
            if self.transport is not None:
                self.transport.close()
            return
        self.transport = secure


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    tmp: Path = tmp_path_factory.mktemp("starttls")
    write_self_signed(tmp / "cert.pem", tmp / "key.pem", "mx.mailgate.test")
    return server_context(tmp / "cert.pem", tmp / "key.pem")


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def talk(
    tls: ssl.SSLContext, recorder: Recorder, client: Callable[..., Coroutine[Any, Any, None]]
) -> None:
    """A server on port 0 in this loop, and `client` run against it over a real socket."""
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        return Upgrading(recorder, hostname="t", tls_context=tls, auth_require_tls=False, loop=loop)

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await asyncio.wait_for(client(reader, writer), 10)
    finally:
        writer.close()
        server.close()


async def reply(reader: asyncio.StreamReader) -> str:
    """One whole reply (the last line of a multi-line one)."""
    while True:
        line = (await reader.readline()).decode()
        if line[3:4] != "-":
            return line.rstrip("\r\n")


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str) -> str:
    writer.write(f"{line}\r\n".encode())
    return await reply(reader)


@pytest.mark.parametrize("run", RUNNERS)
def test_input_behind_starttls_is_dropped_and_a_big_message_crosses_tls(
    run: Runner, tls: ssl.SSLContext
) -> None:
    recorder = Recorder()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert (await reply(reader)).startswith("220 t")
        assert (await command(reader, writer, "EHLO c")).startswith("250")
        writer.write(b"STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n")  # one segment
        assert await reply(reader) == "220 go ahead"
        await writer.start_tls(client_context())
        assert (await command(reader, writer, "EHLO c")).startswith("250")
        assert await command(reader, writer, "MAIL FROM:<real@x.test>") == "250 OK"
        assert (await command(reader, writer, "RCPT TO:<to@x.test>")).startswith("250")
        assert (await command(reader, writer, "DATA")).startswith("354")
        writer.write(BIG * 300 + b".\r\n")
        assert await reply(reader) == "250 stored"
        assert (await command(reader, writer, "QUIT")).startswith("221")

    run(talk(tls, recorder, client))
    assert recorder.senders == ["real@x.test"]
    assert recorder.contents == [BIG * 300]


@pytest.mark.parametrize("run", RUNNERS)
def test_a_failed_handshake_is_the_callers_error(run: Runner, tls: ssl.SSLContext) -> None:
    recorder = Recorder()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reply(reader)
        assert (await command(reader, writer, "STARTTLS")) == "220 go ahead"
        writer.write(b"this is no TLS record\r\n" * 20)
        assert await reader.read() == b""  # the server closed the connection

    run(talk(tls, recorder, client))
    assert len(recorder.upgrade_errors) == 1


def test_the_aiosmtpd_checked_against_is_installed() -> None:
    """mta/smtp/starttls.py and MailgateSMTP._getaddr rely on aiosmtpd 1.4's internals: its streams
    stored by _cb_client_connected, and MAIL and RCPT parsing paths with _getaddr."""
    assert importlib.metadata.version("aiosmtpd").startswith("1.4.")
    assert "self._reader = reader" in inspect.getsource(SMTP._cb_client_connected)
    assert "self._writer = writer" in inspect.getsource(SMTP._cb_client_connected)
    for command_method in (SMTP.smtp_MAIL, SMTP.smtp_RCPT):
        assert "self._getaddr(" in inspect.getsource(command_method)
