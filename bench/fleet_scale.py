"""Rollouts at fleet scale: 10,000 nodes in clusters of 20 that follow
hv@stable through their cluster's assignment, each with a boot on record.

No other program decides what a node boots, so the reference is bootsvc
itself on the same work in the same run: node script renders and boot
reports with no rollout under way, then the same after promoting a version,
when every cluster has a rollout holding its nodes. Printed: the ratio, the
time to promote (one rollout per cluster, waves planned) and `fleet status`.

Run: .venv/bin/python -m bench.fleet_scale [--nodes 10000] [--cluster-size 20]
"""

from __future__ import annotations

import argparse
import io
import logging
import random
import time
from collections.abc import Callable

from sqlalchemy import insert, select

from bench.common import fresh_sqlite, percentiles
from bootsvc.core.boot import bootscript, fleet, reports
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.catalog import catalog, releases
from bootsvc.core.cmdb import assignments, cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Node, NodeBoot, NodeSeen
from bootsvc.store.types import utcnow

SITE = BootSite(base_url="http://10.0.0.1:8080", template_dir=None, default_image="")
log = logging.getLogger("bootsvc.bench")


def _mac(index: int) -> str:
    return f"52:54:00:{(index >> 16) & 255:02x}:{(index >> 8) & 255:02x}:{index & 255:02x}"


def _fleet(db: Database, store: ArtifactStore, nodes: int, size: int) -> list[str]:
    for version in ("1", "2"):
        kernel = store.ingest(io.BytesIO(f"kernel {version}".encode() * 1000))
        initrd = store.ingest(io.BytesIO(f"initrd {version}".encode() * 1000))
        with db.write() as session:
            catalog.add_version(
                session,
                "hv",
                version,
                catalog.FileRef("vmlinuz", kernel.sha256, kernel.size),
                [catalog.FileRef("initrd.img", initrd.sha256, initrd.size)],
                None,
                "console=ttyS0 host={{ hostname }}",
                "",
                "bench",
            )
    with db.write() as session:
        catalog.promote(session, store, "hv", "1", "stable", "bench")
    clusters = (nodes + size - 1) // size
    with db.write() as session:
        for number in range(clusters):
            name = f"c{number:04d}"
            cmdb.upsert_cluster(session, ClusterRecord(name=name, domain=f"{name}.lab"), "bench")
            assignments.assign(session, name, None, "hv@stable", "bench")
        records = [
            NodeRecord.model_validate(
                {
                    "hostname": f"n{index:05d}",
                    "interfaces": [{"mac": _mac(index)}],
                    "cluster": f"c{index // size:04d}",
                }
            )
            for index in range(nodes)
        ]
        cmdb.import_nodes(session, records, "bench")
    now = utcnow()
    with db.write() as session:
        booted = catalog.get_version(session, "hv", "1").id
        ids = list(session.scalars(select(Node.id)))
        session.execute(
            insert(NodeBoot),
            [
                {
                    "node_id": node_id,
                    "version_id": booted,
                    "outcome": "up",
                    "script_at": now,
                    "up_at": now,
                    "ended_at": now,
                    "details": {},
                }
                for node_id in ids
            ],
        )
        session.execute(
            insert(NodeSeen), [{"node_id": node_id, "at": now, "via": "report"} for node_id in ids]
        )
    return [_mac(index) for index in range(nodes)]


def _timed(samples: int, work: Callable[[], None]) -> dict[str, float]:
    taken = []
    for _ in range(samples):
        start = time.perf_counter()
        work()
        taken.append((time.perf_counter() - start) * 1000)
    return percentiles(taken)


def _render(db: Database, macs: list[str]) -> Callable[[], None]:
    def work() -> None:
        script = bootscript.serve_node_script(db, SITE, Machine(mac=random.choice(macs), ip=None))
        assert "kernel --name vmlinuz" in script.text

    return work


def _report(db: Database, macs: list[str]) -> Callable[[], None]:
    """An `up` report on the version the node runs: recorded, and its boot
    and (after the promotion) its rollout looked at."""

    def work() -> None:
        with db.write() as session:
            version = catalog.get_version(session, "hv", "1").id
            reports.record(session, "up", random.choice(macs), None, version_id=version)

    return work


def _line(what: str, before: dict[str, float], after: dict[str, float]) -> None:
    print(
        f"{what}: no rollout p50 {before['p50']:.2f} / p99 {before['p99']:.2f} ms; "
        f"with rollouts p50 {after['p50']:.2f} / p99 {after['p99']:.2f} ms; "
        f"ratio p50 {after['p50'] / before['p50']:.2f}, p99 {after['p99'] / before['p99']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--cluster-size", type=int, default=20)
    parser.add_argument("--samples", type=int, default=2_000)
    args = parser.parse_args()
    db, data_dir = fresh_sqlite()
    store = ArtifactStore(data_dir)
    settings = Settings(data_dir=data_dir, database_url=db.url)
    start = time.perf_counter()
    macs = _fleet(db, store, args.nodes, args.cluster_size)
    print(f"fleet of {args.nodes} nodes set up in {time.perf_counter() - start:.1f} s")

    render_before = _timed(args.samples, _render(db, macs))
    report_before = _timed(args.samples // 4, _report(db, macs))
    start = time.perf_counter()
    with db.write() as session:
        release = releases.promote(session, store, settings, "hv", "2", "stable", "bench")
        started = len(release.rollouts)
    promoted = time.perf_counter() - start
    print(f"promotion: {started} rollouts over {args.nodes} nodes in {promoted:.2f} s")
    render_after = _timed(args.samples, _render(db, macs))
    report_after = _timed(args.samples // 4, _report(db, macs))
    _line("node script render", render_before, render_after)
    _line("boot report (up)", report_before, report_after)
    start = time.perf_counter()
    with db.read() as session:
        view = fleet.status(session, settings)
    taken = time.perf_counter() - start
    print(f"fleet status: {len(view.nodes)} nodes, {len(view.rollouts)} rollouts in {taken:.2f} s")


if __name__ == "__main__":
    main()
