"""The listening sockets of `mailgate serve`, bound by the supervisor before it forks: a port
that cannot be bound is reported once (and listed for /readyz) and the others still serve, and
no second instance can silently share a port. An HTTP port that cannot be bound stops `serve`
unless allow_partial_service is set."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from mailgate.config import Settings, env_name
from mailgate.worker_health import Failure, unbound_listener
from mta.smtp.server import Role

log = logging.getLogger("mailgate.serve")  # one logger for all of `serve`, as operators read it

# The setting that names each SMTP listener's port, for the line saying it cannot be bound.
PORT_SETTINGS = {
    Role.MX: "smtp_port",
    Role.SUBMISSION: "submission_ports",
    Role.SMTPS: "smtps_port",
}


@dataclass(frozen=True)
class Listener:
    role: Role
    port: int
    sock: socket.socket


def listener_ports(settings: Settings) -> list[tuple[Role, int]]:
    ports: list[tuple[Role, int]] = []
    if settings.smtp_port:
        ports.append((Role.MX, settings.smtp_port))
    ports.extend((Role.SUBMISSION, port) for port in settings.submission_ports)
    if settings.smtps_port:
        ports.append((Role.SMTPS, settings.smtps_port))
    return ports


def listen(settings: Settings, port: int) -> socket.socket:
    """A listening socket on the configured address; OSError when it cannot be had."""
    family = socket.AF_INET6 if ":" in settings.bind else socket.AF_INET
    sock = socket.create_server((settings.bind, port), family=family, backlog=1024)
    sock.setblocking(False)
    return sock


def bind_listeners(settings: Settings, failures: list[Failure]) -> list[Listener]:
    """Bind each configured SMTP port; a port that fails is logged, added to `failures` (for
    /readyz) and skipped."""
    listeners = []
    for role, port in listener_ports(settings):
        setting = PORT_SETTINGS[role]
        try:
            sock = listen(settings, port)
        except OSError as error:
            log.error(
                "listener failed role=%s port=%d setting=%s (%s) error=%r",
                role, port, setting, env_name(setting), error.strerror,
            )  # fmt: skip
            failures.append(unbound_listener(str(role), port, setting, error))
            continue
        log.info("listening role=%s address=%s port=%d", role, settings.bind, port)
        listeners.append(Listener(role, port, sock))
    return listeners


class HttpPortRefused(Exception):
    """The HTTP port cannot be bound and partial service is not allowed: serve must not run."""


def bind_http(settings: Settings, failures: list[Failure]) -> socket.socket | None:
    """The HTTP listener. One that cannot be bound stops `serve` (a gateway without its API is
    not ready), unless allow_partial_service says SMTP alone is worth serving."""
    port = settings.http_port
    if not port:
        return None
    try:
        sock = listen(settings, port)
    except OSError as error:
        where = f"listener failed role=http port={port} setting=http_port (MAILGATE_HTTP_PORT)"
        if not settings.allow_partial_service:
            log.error(
                "%s error=%r; serve exits: a gateway without its HTTP API is not ready (free the "
                "port, set another http_port, or set allow_partial_service = true, "
                "MAILGATE_ALLOW_PARTIAL_SERVICE, to serve SMTP without it)",
                where, error.strerror,
            )  # fmt: skip
            raise HttpPortRefused from error
        log.warning(
            "%s error=%r; serving SMTP without the HTTP API (allow_partial_service is true)",
            where, error.strerror,
        )  # fmt: skip
        failures.append(unbound_listener("http", port, "http_port", error))
        return None
    log.info("listening role=http address=%s port=%d", settings.bind, port)
    return sock
