"""Secrets every node sharing a database must hold alike, and what a node does about them.

The conversion key (REST secrets, tracking-link and activation keys and OCRIDs are derived from
it) stays out of the database on purpose: a dump of the database alone must not forge a signed
call or a tracking link. The database records its fingerprint instead, and every node checks
its key against it before it serves or runs a command. The admin key lives in the database as a
hash, like every API key, so it is the same on every node by construction; a node's admin.key
file is only a copy for `mailgate admin-key` to print.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from mailgate.config import Settings
from mailgate.preflight import Refusal
from mta.tracking.ocrid import decode_key, new_key
from storage import accounts, cluster_secrets
from storage.cluster_secrets import Agreement, agree, recorded_fingerprint
from storage.engine import Database, shown_url

log = logging.getLogger(__name__)

CONVERSION_KEY = "conversion_key"
ADMIN_KEY_FILE = "admin.key"


def write_secret(path: Path, text: str, replace: bool = True) -> bool:
    """Write a file only its owner can read. With replace=False an existing file is kept (and
    False returned): a secret that links out in the world depend on is never overwritten."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    return True


def _copy_advice(settings: Settings) -> str:
    return (
        f"copy conversion.key from a node of this cluster to {settings.conversion_key_path} "
        "(mode 0600), or set MAILGATE_CONVERSION_KEY to its contents, then run the command "
        "again; if every copy is lost, `mailgate init --replace-conversion-key` makes a new one "
        "(REST secrets, tracking links and OCRIDs made with the old one stop working)"
    )


async def check_conversion_key(db: Database, settings: Settings) -> None:
    """Refuse to go on with a conversion key other than the cluster's; the first node to check
    (on a new database, or one made before fingerprints were kept) records its own."""
    key = settings.conversion_key
    if key is None:
        if await recorded_fingerprint(db, CONVERSION_KEY) is not None:
            raise Refusal(_missing_in_cluster(settings))
        raise Refusal(
            f"no conversion key at {settings.conversion_key_path}: run `mailgate init`, "
            "or set MAILGATE_CONVERSION_KEY"
        )
    if await agree(db, CONVERSION_KEY, key) is Agreement.DIFFERENT:
        raise Refusal(_different(settings))


def _missing_in_cluster(settings: Settings) -> str:
    return (
        f"this node has no conversion key, and the database {shown_url(settings.database_url)} "
        "belongs to a cluster that has one: " + _copy_advice(settings)
    )


def _different(settings: Settings) -> str:
    origin = settings.sources.get(CONVERSION_KEY, "default")
    return (
        f"the conversion key from {origin} is not the one the other nodes of the database "
        f"{shown_url(settings.database_url)} use (it signs REST secrets, tracking links and "
        "OCRIDs, so mail and calls would fail on this node): " + _copy_advice(settings)
    )


async def join_or_found(db: Database, settings: Settings, replace: bool = False) -> bool:
    """`mailgate init`'s part: check the key this node has, or, when it has none, make one
    only if the database belongs to no cluster yet (or the operator says to `replace` the
    cluster's lost key). True when a key file was written."""
    if replace:
        text = new_key()
        write_secret(settings.conversion_key_path, text)
        await cluster_secrets.replace(db, CONVERSION_KEY, decode_key(text))
        log.warning("the cluster's conversion key was replaced; copy it to every node")
        return True
    if settings.conversion_key is not None:
        await check_conversion_key(db, settings)
        return False
    if await recorded_fingerprint(db, CONVERSION_KEY) is not None:
        raise Refusal(_missing_in_cluster(settings))
    path = settings.conversion_key_path
    text = new_key()
    if not write_secret(path, text, replace=False):
        raise Refusal(f"{path} appeared while `mailgate init` ran; run it again")
    if await agree(db, CONVERSION_KEY, decode_key(text)) is Agreement.DIFFERENT:
        # Another node founded the cluster in the same moment: keep no key of our own.
        path.unlink(missing_ok=True)
        raise Refusal(_different(settings))
    return True


async def admin_key_file_state(db: Database, path: Path) -> str:
    """ "missing", "current" or "stale" (the file holds a key the cluster replaced)."""
    try:
        key = (await asyncio.to_thread(path.read_text)).strip()
    except FileNotFoundError:
        return "missing"
    return "current" if await accounts.admin_key_is_current(db, key) else "stale"


def warn_stale_admin_key(path: Path) -> None:
    """Serving does not read admin.key, so an old copy is no reason to stop a node (a rotation
    on one node would take the others down); it is worth a line in the log."""
    log.warning(
        "%s holds an admin key that is no longer valid (it was rotated on another node): "
        "`mailgate admin-key --rotate` makes a new one, or copy admin.key from the node that "
        "rotated it",
        path,
    )
