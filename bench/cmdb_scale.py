"""Bulk import of 10,000 nodes, then node script rendering with all of them in
the CMDB (p50/p99 over random nodes).

Run: PYTHONPATH=. .venv/bin/python -m bench.cmdb_scale [--nodes 10000] [--renders 2000]
Targets (issue 2): import under 10 s; render p99 under 5 ms on SQLite.
"""

from __future__ import annotations

import argparse
import io
import random
import time

from bench.common import fresh_sqlite, node_csv, percentiles
from bootsvc.core.boot import bootscript
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import cmdb, nodefile
from bootsvc.store.artifacts import ArtifactStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--renders", type=int, default=2_000)
    args = parser.parse_args()
    db, data_dir = fresh_sqlite()
    store = ArtifactStore(data_dir)
    kernel = store.ingest(io.BytesIO(b"kernel" * 1000))
    initrd = store.ingest(io.BytesIO(b"initrd" * 1000))
    with db.write() as session:
        catalog.add_version(
            session,
            "hv",
            "1",
            catalog.FileRef("vmlinuz", kernel.sha256, kernel.size),
            [catalog.FileRef("initrd.img", initrd.sha256, initrd.size)],
            None,
            "console=ttyS0 host={{ hostname }}",
            "",
            "bench",
        )
        catalog.promote(session, store, "hv", "1", "stable", "bench")

    text = (
        node_csv(args.nodes)
        .replace(",hypervisor", ",hypervisor")
        .replace("hostname,mac,ip,roles", "hostname,mac,ip,roles")
    )
    start = time.perf_counter()
    records = nodefile.parse_nodes(text, "csv")
    with db.write() as session:
        cmdb.import_nodes(session, records, "bench")
    imported = time.perf_counter() - start
    rate = args.nodes / imported
    print(f"bulk import: {args.nodes} nodes in {imported:.2f} s ({rate:.0f}/s; target < 10 s)")

    start = time.perf_counter()
    with db.write() as session:
        cmdb.import_nodes(session, records, "bench")
    again = time.perf_counter() - start
    print(f"same import again (all unchanged): {again:.2f} s")

    with db.write() as session:
        for node in cmdb.list_nodes(session):
            cmdb.assign_image(session, node, "hv@stable")
    site = BootSite(base_url="http://10.0.0.1:8080", template_dir=None, default_image="")
    # Each from the node's own address: the script that carries its tokens.
    machines = [Machine(mac=r.interfaces[0].mac, ip=r.interfaces[0].ip) for r in records]
    samples = []
    for _ in range(args.renders):
        machine = random.choice(machines)
        begin = time.perf_counter()
        script = bootscript.serve_node_script(db, site, machine)
        samples.append((time.perf_counter() - begin) * 1000)
        assert "kernel --name vmlinuz" in script.text and "bootsvc.token=" in script.text
    stats = percentiles(samples)
    print(
        f"node script render ({args.nodes} nodes, {args.renders} renders): "
        f"p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms, max {stats['max']:.2f} ms "
        "(target p99 < 5 ms)"
    )


if __name__ == "__main__":
    main()
