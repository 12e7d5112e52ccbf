"""An artifact this server lacks, fetched by sha256 from a peer that has it.

The bytes go through the store's own ingest: a temporary file, the digest
checked, then a rename, so a node is never served part of a blob. One fetch
per artifact at a time across this server's processes and threads (a lock
file per digest); whoever waited finds the blob in place.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, cast

import requests

from bootsvc.errors import BootsvcError
from bootsvc.logs import event
from bootsvc.store.artifacts import ArtifactStore, checked_sha256

log = logging.getLogger("bootsvc.peers")

# Sent with a request to a peer: answer from your own store only, so that
# two servers lacking a blob never ask each other in a loop.
PEER_HEADER = "X-Bootsvc-Peer"
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 30


def _lock_path(store: ArtifactStore, sha256: str) -> Path:
    return store.tmp / f".fetch-{checked_sha256(sha256)}.lock"


def fetch(store: ArtifactStore, sha256: str, peers: Sequence[str], max_bytes: int) -> bool:
    """Whether the store holds `sha256` now, fetched from the first of
    `peers` that had it whole and with that digest."""
    if store.has(sha256):
        return True
    path = _lock_path(store, sha256)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if store.has(sha256):
            return True
        for peer in peers:
            if _fetch_from(store, sha256, peer, max_bytes):
                path.unlink()
                return True
        return False
    finally:
        os.close(handle)


def _fetch_from(store: ArtifactStore, sha256: str, peer: str, max_bytes: int) -> bool:
    url = f"{peer.rstrip('/')}/artifacts/{sha256}/blob"
    try:
        with requests.get(
            url,
            headers={PEER_HEADER: "1"},
            stream=True,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
        ) as reply:
            if reply.status_code != 200:
                event(log, "peer.fetch-miss", peer=peer, sha256=sha256, status=reply.status_code)
                return False
            reply.raw.decode_content = True
            body = cast(IO[bytes], reply.raw)
            blob = store.ingest(body, expected_sha256=sha256, max_bytes=max_bytes)
    except (requests.RequestException, OSError, BootsvcError) as exc:
        event(
            log,
            "peer.fetch-failed",
            level=logging.WARNING,
            peer=peer,
            sha256=sha256,
            error=repr(exc),
        )
        return False
    event(log, "peer.fetched", peer=peer, sha256=sha256, bytes=blob.size)
    return True
