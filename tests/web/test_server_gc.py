"""A gunicorn worker freezes what it loaded out of the garbage collector's
walks before it serves (bootsvc.serve.gcpolicy), and says so in one log line."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from bootsvc.store import schema
from bootsvc.store.db import Database
from tests.support.live import live_server


def test_the_worker_freezes_its_heap_before_serving(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bootsvc.db'}"
    database = Database(url)
    schema.upgrade(database)
    database.dispose()
    with live_server(tmp_path, url) as server:
        assert requests.get(f"{server.url}/boot.ipxe", timeout=10).ok
        log = server.log_text()
    ready = re.findall(r"event=http\.worker\.ready pid=(\d+) frozen=(\d+)", log)
    assert len(ready) == 1, log
    pid, frozen = (int(value) for value in ready[0])
    # Said by the worker that serves, after it froze what it had loaded.
    assert pid != server.process.pid and frozen > 0
