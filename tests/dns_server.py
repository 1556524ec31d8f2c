"""A small authoritative DNS server on loopback, for tests that resolve names for real.

It answers over UDP and TCP on one free port of 127.0.0.1, from a background thread, with
dnspython's wire format. Names listed in `nxdomain` answer NXDOMAIN, names in `servfail`
answer SERVFAIL; other names answer from the zone: NXDOMAIN when the name does not exist,
NOERROR without an answer when it exists without records of the asked type. A negative answer
carries the SOA of the nearest enclosing zone when the zone has one (RFC 2308). Every query is
counted, so that tests can tell a cached answer from an asked one.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

# (name, rdtype) -> (ttl, rdata texts); names are absolute or relative to the root.
Zone = Mapping[tuple[str, str], tuple[int, Sequence[str]]]


def _key(name: str | dns.name.Name, rdtype: str | int) -> tuple[dns.name.Name, int]:
    owner = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
    return owner, dns.rdatatype.RdataType.make(rdtype)


class DnsServer:
    """Start with `start()` or `with DnsServer(...) as server:`; `port` is then bound."""

    def __init__(
        self,
        zone: Zone | None = None,
        nxdomain: Iterable[str] = (),
        servfail: Iterable[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        self._nxdomain = {dns.name.from_text(name) for name in nxdomain}
        self._servfail = {dns.name.from_text(name) for name in servfail}
        self._queries: list[tuple[str, str]] = []
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self.host = "127.0.0.1"
        self.port = 0
        for (name, rdtype), (ttl, texts) in (zone or {}).items():
            self.set(name, rdtype, ttl, texts)

    # -- zone data, changeable while serving ----------------------------------------------------

    def set(self, name: str, rdtype: str, ttl: int, texts: Sequence[str]) -> None:
        """Publish (or replace) the records of one name and type."""
        owner, kind = _key(name, rdtype)
        rrset = dns.rrset.from_text_list(owner, ttl, "IN", kind, list(texts))
        with self._lock:
            self._rrsets[owner, kind] = rrset

    def nxdomain(self, name: str) -> None:
        with self._lock:
            self._nxdomain.add(dns.name.from_text(name))

    def servfail(self, name: str) -> None:
        with self._lock:
            self._servfail.add(dns.name.from_text(name))

    @property
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every query received, in order, e.g. ("example.com", "MX")."""
        with self._lock:
            return list(self._queries)

    @property
    def query_count(self) -> int:
        with self._lock:
            return len(self._queries)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    # -- answering ---------------------------------------------------------------------------

    def answer(self, wire: bytes, max_size: int | None) -> bytes | None:
        """The response to one query in wire format; None for what is not a query."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if len(query.question) == 1:
            self._fill(response, query.question[0].name, query.question[0].rdtype)
        else:
            response.set_rcode(dns.rcode.FORMERR)
        limit = max_size if max_size is not None else max(query.payload, 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:  # over UDP: say so, the client asks again over TCP
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            return truncated.to_wire()

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        with self._lock:
            self._queries.append(
                (qname.to_text(omit_final_dot=True), dns.rdatatype.to_text(rdtype))
            )
            if qname in self._servfail:
                response.set_rcode(dns.rcode.SERVFAIL)
                return
            rrset = self._rrsets.get((qname, rdtype))
            if qname in self._nxdomain or not self._exists(qname):
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif rrset is not None:
                response.answer.append(rrset)
                return
            soa = self._enclosing_soa(qname)
            if soa is not None:
                response.authority.append(soa)

    def _exists(self, qname: dns.name.Name) -> bool:
        """A name exists when it owns records or has names below it (an empty non-terminal)."""
        return any(owner.is_subdomain(qname) for owner, _ in self._rrsets)

    def _enclosing_soa(self, qname: dns.name.Name) -> dns.rrset.RRset | None:
        name = qname
        while True:
            soa = self._rrsets.get((name, dns.rdatatype.SOA))
            if soa is not None or name == dns.name.root:
                return soa
            name = name.parent()

    # -- sockets -----------------------------------------------------------------------------

    def start(self) -> DnsServer:
        for _ in range(20):  # the UDP port chosen may be taken for TCP; pick another
            udp = _UdpServer((self.host, 0), self)
            try:
                tcp = _TcpServer((self.host, udp.server_address[1]), self)
            except OSError:
                udp.server_close()
                continue
            self.port = udp.server_address[1]
            self._servers = [udp, tcp]
            break
        else:
            raise RuntimeError("no free port for UDP and TCP")
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.answer(data, None)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    """Length-prefixed messages (RFC 1035 4.2.2), several per connection."""

    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        try:
            while (header := _read(sock, 2)) is not None:
                data = _read(sock, struct.unpack("!H", header)[0])
                reply = self.server.dns.answer(data, 65535) if data is not None else None
                if reply is None:
                    return
                sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _read(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], dns_server: DnsServer) -> None:
        self.dns = dns_server
        super().__init__(address, _UdpHandler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dns_server: DnsServer) -> None:
        self.dns = dns_server
        super().__init__(address, _TcpHandler)
