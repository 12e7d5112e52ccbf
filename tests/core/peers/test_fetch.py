"""An artifact fetched from a peer is stored whole with its digest checked,
once however many ask for it at the same time."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bootsvc.core.peers import fetch
from bootsvc.store.artifacts import ArtifactStore

BODY = b"squashfs " * 200_000
SHA = hashlib.sha256(BODY).hexdigest()


class Peer:
    """A peer that serves BODY under any name, slowly, counting requests."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[tuple[str, str | None]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.requests.append((self.path, self.headers.get(fetch.PEER_HEADER)))
                time.sleep(0.3)
                self.send_response(200 if "/artifacts/" in self.path else 404)
                self.send_header("Content-Length", str(len(peer.body)))
                self.end_headers()
                self.wfile.write(peer.body)

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def peer() -> Iterator[Peer]:
    found = Peer(BODY)
    yield found
    found.server.shutdown()


def test_concurrent_requests_fetch_once_and_store_the_whole_blob(
    store: ArtifactStore, peer: Peer
) -> None:
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(fetch.fetch(store, SHA, [peer.url], 10**8)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [True] * 5
    assert peer.requests == [(f"/artifacts/{SHA}/blob", "1")]
    assert store.path(SHA).read_bytes() == BODY
    assert not list(store.tmp.iterdir())


def test_a_peer_sending_other_bytes_leaves_nothing_behind(store: ArtifactStore) -> None:
    liar = Peer(BODY + b"!")
    try:
        assert not fetch.fetch(store, SHA, [liar.url], 10**8)
    finally:
        liar.server.shutdown()
    assert not store.has(SHA)
    assert [p.name for p in store.tmp.iterdir()] == [f".fetch-{SHA}.lock"]


def test_the_next_peer_is_asked_when_one_is_down(store: ArtifactStore, peer: Peer) -> None:
    assert fetch.fetch(store, SHA, ["http://127.0.0.1:9", peer.url], 10**8)
    assert store.has(SHA)


def test_a_blob_larger_than_its_record_is_refused(store: ArtifactStore, peer: Peer) -> None:
    assert not fetch.fetch(store, SHA, [peer.url], len(BODY) - 1)
    assert not store.has(SHA)
