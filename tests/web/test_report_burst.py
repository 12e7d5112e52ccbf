"""Boot reports from many nodes at once, through the production HTTP server
(gunicorn, two workers, many threads), are all recorded: every report row,
every boot, every node's last-seen time; on PostgreSQL the server holds no
more connections than its pool setting allows."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select, text

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import BootReport, NodeBoot, NodeSeen
from tests.support import factory
from tests.support.live import live_server, session_from

NODES = 150
WORKERS, POOL = 2, 2
# Each HTTP worker has two engines (transactions, plain reads), each with
# POOL connections and as many again at a peak.
MOST_CONNECTIONS = WORKERS * 2 * 2 * POOL


@contextmanager
def peak_connections(db: Database, name: str) -> Iterator[list[int]]:
    """Sample, while the block runs, how many connections to this database
    the processes named `name` hold; yields the samples."""
    samples: list[int] = []
    done = threading.Event()
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = :name"
    )

    def sample() -> None:
        with db.engine.connect() as connection:
            while not done.wait(0.05):
                samples.append(int(connection.execute(query, {"name": name}).scalar_one()))
                connection.rollback()

    sampler = threading.Thread(target=sample)
    if not db.is_sqlite:
        sampler.start()
    try:
        yield samples
    finally:
        done.set()
        if sampler.is_alive():
            sampler.join()


_KERNEL_REPORT = re.compile(r"imgfetch --name report (\S+)")


def _mac(index: int) -> str:
    return f"52:54:00:07:{index >> 8:02x}:{index & 255:02x}"


def _ip(index: int) -> str:
    """The address bootsvc leased to the node: a loopback one the test can
    send from."""
    return f"127.7.{index >> 8}.{(index & 255) + 1}"


def test_reports_from_many_nodes_at_once_are_all_recorded(
    db: Database, store: ArtifactStore, data_dir: Path
) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    records = [
        NodeRecord.model_validate(
            {
                "hostname": f"n{i:03d}",
                "interfaces": [{"mac": _mac(i)}],
                "image": "hv@stable",
            }
        )
        for i in range(NODES)
    ]
    with db.write() as session:
        cmdb.import_nodes(session, records, "test")
    for index in range(NODES):
        factory.lease(db, _ip(index), _mac(index))
    env = {
        "BOOTSVC_HTTP_WORKERS": str(WORKERS),
        "BOOTSVC_HTTP_THREADS": "16",
        "BOOTSVC_DATABASE_POOL_SIZE": str(POOL),
    }
    with (
        live_server(data_dir, db.url, env=env) as server,
        peak_connections(db, "bootsvc bootsvc-http") as samples,
    ):

        def boot(index: int) -> None:
            with session_from(_ip(index)) as http:
                script = http.get(
                    f"{server.url}/boot/node.ipxe", params={"mac": _mac(index)}, timeout=60
                )
                assert script.status_code == 200 and "boots hv 1" in script.text
                kernel = _KERNEL_REPORT.search(script.text)
                assert kernel is not None
                assert http.get(kernel.group(1), timeout=60).status_code == 200
                up = {"mac": _mac(index), "stage": "up", "image": "hv", "version": "1"}
                token = {"Authorization": f"Bearer {factory.boot_token(script.text)}"}
                answer = http.post(f"{server.url}/boot/report", json=up, headers=token, timeout=60)
                assert answer.json() == {"recorded": True, "node": f"n{index:03d}"}

        with ThreadPoolExecutor(48) as pool:
            list(pool.map(boot, range(NODES)))
        log = server.log_text()
    assert "level=error" not in log
    with db.read() as session:
        stages = dict(
            session.execute(select(BootReport.stage, func.count()).group_by(BootReport.stage)).all()
        )
        outcomes = dict(
            session.execute(select(NodeBoot.outcome, func.count()).group_by(NodeBoot.outcome)).all()
        )
        seen = session.scalar(select(func.count()).select_from(NodeSeen))
    assert stages == {"script": NODES, "kernel-loaded": NODES, "up": NODES}
    assert outcomes == {"up": NODES}
    assert seen == NODES
    if not db.is_sqlite:
        # 48 clients at once against 32 threads: the pool, not the load, decides.
        assert 0 < max(samples) <= MOST_CONNECTIONS
