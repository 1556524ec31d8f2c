"""The STARTTLS upgrade of an aiosmtpd session: the one place Mailgate reaches past aiosmtpd's
documented API.

aiosmtpd's own STARTTLS wires the pure-Python `asyncio.sslproto` by hand and reaches into
asyncio's privates to do it; the event loop's TLS (uvloop's, in C) costs about 10% less CPU per
message. aiosmtpd (1.4.6) documents no way to upgrade its streams: its reader and writer are the
private `_reader` and `_writer` that `SMTP._cb_client_connected` stores. Given the writer, the
upgrade itself is asyncio's public `StreamWriter.start_tls` (Python 3.11+), which moves the
writer and the protocol onto the TLS transport. What asyncio offers no public way to do is to
drop input read before the handshake, which RFC 3207 4.2 requires (the command injection of
CVE-2011-0411): that is the reader's private buffer, cleared as aiosmtpd's own STARTTLS does.

Checked against aiosmtpd 1.4.6 (pyproject.toml pins >=1.4.6,<1.5) on CPython 3.11;
tests/mta/test_starttls.py fails if an upgrade of either moves these.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

from aiosmtpd.smtp import SMTP


def session_streams(smtp: SMTP) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The streams aiosmtpd reads commands from and writes replies to (private in 1.4.6)."""
    return smtp._reader, smtp._writer


async def upgrade_to_tls(smtp: SMTP, context: ssl.SSLContext) -> asyncio.BaseTransport | None:
    """Discard what the client sent after STARTTLS, then run the server side of the handshake
    on the session's own streams. Returns the TLS transport (None if the connection went away);
    the handshake's errors (OSError, ssl.SSLError) are the caller's."""
    reader, writer = session_streams(smtp)
    plain = cast(asyncio.Transport, writer.transport)
    plain.pause_reading()  # nothing more arrives in clear text: the handshake reads from here
    reader._buffer.clear()  # type: ignore[attr-defined]  # input sent behind STARTTLS: RFC 3207 4.2
    await writer.start_tls(context)
    return writer.transport
