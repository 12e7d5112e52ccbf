"""Overlay render and pack for one node of a 1,000-node cluster.

Three cases, over random nodes:
- first node after a change: a new cache each time, so the node is looked
  up, its cluster (all 1,000 members) read from the database, every file
  rendered and packed, as for the first request of a process after a CMDB
  change;
- other nodes of the cluster: the cluster is already read (another member
  asked first), the node itself not yet rendered;
- cached: the node asks again, unchanged (one query and a stat of the
  templates).

Reference, same run: the Warewulf way of packing the same files, writing
them to a directory and running GNU cpio and gzip (at bootsvc's level) on it.

Before timing, the garbage collector is set as the HTTP server's workers set
it once they have loaded the application (bootsvc.serve.gcpolicy).

Run: .venv/bin/python -m bench.overlay_render [--nodes 1000] [--samples 300]
     [--database-url postgresql+psycopg://...]
Targets (issue 15): first node p99 under 150 ms, other nodes p99 under 5 ms.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import fresh_sqlite, percentiles
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.core.nodeconfig import cpio
from bootsvc.core.nodeconfig.context import BootInfo
from bootsvc.core.nodeconfig.overlay import Overlays
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.serve import gcpolicy
from bootsvc.store import schema
from bootsvc.store.db import Database

SETTINGS: dict[str, Any] = {
    "time": {"servers": ["ntp1.example.org", "ntp2.example.org"]},
    "pacemaker": {"stonith_enabled": True, "resource_defaults": {"resource-stickiness": 100}},
    "ceph": {"public_network": "storage", "cluster_network": "ring"},
    "network": {
        "bonds": {"bond0": {"interfaces": ["eth0", "eth1"], "mode": "802.3ad"}},
        "bridges": {
            "br-ex": {"ports": ["bond0"], "networks": ["mgmt", "storage"]},
            "br-ring": {"ports": ["eth2"], "networks": ["ring"]},
        },
    },
}


def _address(network: int, index: int) -> str:
    return f"10.{network}.{index >> 8}.{index & 255}"


def fill(db: Database, count: int) -> list[str]:
    networks = [
        {"name": "mgmt", "cidr": "10.0.0.0/16", "gateway": "10.0.255.254"},
        {"name": "storage", "cidr": "10.20.0.0/16", "vlan": 20},
        {"name": "ring", "cidr": "10.30.0.0/16", "vlan": 30},
    ]
    records = []
    for index in range(1, count + 1):
        macs = [f"52:54:{index >> 8:02x}:{index & 255:02x}:00:{port:02x}" for port in range(3)]
        roles = ["hypervisor", "ceph-osd"] + (["ceph-mon"] if index <= 3 else [])
        records.append(
            NodeRecord.model_validate(
                {
                    "hostname": f"hv{index:04d}",
                    "cluster": "big",
                    "roles": roles,
                    "interfaces": [
                        {
                            "name": f"eth{port}",
                            "mac": mac,
                            "ip": _address(0, index) if port == 0 else None,
                        }
                        for port, mac in enumerate(macs)
                    ],
                    "facts": {
                        "addresses": {"storage": _address(20, index), "ring": _address(30, index)}
                    },
                }
            )
        )
    with db.write() as session:
        cmdb.upsert_cluster(
            session,
            ClusterRecord.model_validate(
                {
                    "name": "big",
                    "domain": "big.example.org",
                    "networks": networks,
                    "settings": SETTINGS,
                }
            ),
            "bench",
        )
        cmdb.import_nodes(session, records, "bench")
    return [record.hostname or "" for record in records]


def boot_of(hostname: str) -> BootInfo:
    return BootInfo("http://10.0.255.1:8080", None, "hv", "1")


class Samples:
    """Wall time, and the CPU time of this thread: on a shared 2-core machine
    the wall time's tail is mostly the scheduler; the CPU time is the work."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []


def timed(samples: Samples, action: Any) -> Any:
    begin, begin_cpu = time.perf_counter(), time.thread_time()
    result = action()
    samples.wall.append((time.perf_counter() - begin) * 1000)
    samples.cpu.append((time.thread_time() - begin_cpu) * 1000)
    return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reference_pack(overlays: Overlays, hostname: str, samples: Samples) -> int:
    """GNU cpio and gzip on the same files, written out first."""
    files = cpio.unpack(overlays.get(hostname, boot_of(hostname)).archive)
    work = Path(tempfile.mkdtemp(prefix="bootsvc-bench-ref-"))
    try:
        begin, begin_cpu = time.perf_counter(), time.thread_time() + _children_cpu()
        root = work / cpio.PREFIX
        for file in files:
            target = root / file.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.link is not None:
                target.symlink_to(file.link)
            else:
                target.write_bytes(file.content)
                target.chmod(file.mode)
        names = "\n".join(str(p.relative_to(work)) for p in sorted(work.rglob("*")))
        archiver = subprocess.Popen(
            ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
            cwd=work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        compressor = subprocess.Popen(
            ["gzip", f"-{cpio.COMPRESS_LEVEL}"], stdin=archiver.stdout, stdout=subprocess.PIPE
        )
        assert archiver.stdin and archiver.stdout and compressor.stdout
        archiver.stdout.close()
        archiver.stdin.write(names.encode())
        archiver.stdin.close()
        packed = compressor.stdout.read()
        assert compressor.wait() == 0 and archiver.wait() == 0
        samples.wall.append((time.perf_counter() - begin) * 1000)
        samples.cpu.append((time.thread_time() + _children_cpu() - begin_cpu) * 1000)
        return len(packed)
    finally:
        shutil.rmtree(work)


def show(label: str, samples: Samples, target: str = "") -> dict[str, float]:
    stats = percentiles(samples.wall)
    cpu = percentiles(samples.cpu)
    print(
        f"{label:<34} wall p50 {stats['p50']:6.2f} p99 {stats['p99']:6.2f} ms | "
        f"cpu p50 {cpu['p50']:6.2f} p99 {cpu['p99']:6.2f} ms  {target}"
    )
    return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.database_url:
        db = Database(args.database_url)
        schema.upgrade(db)
    else:
        db, _data_dir = fresh_sqlite()
    hostnames = fill(db, args.nodes)
    templates = Templates(None)
    gcpolicy.quiet_garbage_collector()
    print(f"{args.nodes}-node cluster on {db.engine.dialect.name}, {args.samples} samples each")

    first = Samples()
    for _ in range(args.samples):
        hostname = random.choice(hostnames)
        timed(first, lambda h=hostname: Overlays(db, templates).get(h, boot_of(h)))
    overlays = Overlays(db, templates)
    overlays.get(hostnames[0], boot_of(hostnames[0]))
    others = Samples()
    rendered = random.sample(hostnames[1:], min(args.samples, len(hostnames) - 1))
    built = {h: timed(others, lambda h=h: overlays.get(h, boot_of(h))) for h in rendered}
    cached = Samples()
    for _ in range(args.samples * 3):
        hostname = random.choice(rendered)
        again = timed(cached, lambda h=hostname: overlays.get(h, boot_of(h)))
        assert again is built[hostname], "a cached request rendered"
    sample = overlays.get(hostnames[0], boot_of(hostnames[0]))
    files = len(cpio.unpack(sample.archive))
    print(f"one overlay: {files} files, {len(sample.archive)} bytes gzip")

    reference = Samples()
    reference_bytes = 0
    for hostname in random.sample(hostnames, min(50, len(hostnames))):
        reference_bytes = reference_pack(overlays, hostname, reference)
    pack_only = Samples()
    for _ in range(50):
        timed(pack_only, lambda: cpio.pack_gz(cpio.unpack(sample.archive)))

    stats = show("first node after a change", first, "(target p99 < 150 ms)")
    other_stats = show("other nodes of the cluster", others, "(target p99 < 5 ms)")
    cached_stats = show("cached (unchanged node)", cached)
    own = show("pack only: bootsvc cpio + gzip", pack_only)
    ref = show("pack only: files + GNU cpio | gzip", reference, f"({reference_bytes} bytes)")
    print(
        f"pack time, reference / bootsvc (p50): {ref['p50'] / own['p50']:.1f}; "
        f"p99 first node {stats['p99']:.2f} ms, other nodes {other_stats['p99']:.2f} ms, "
        f"cached {cached_stats['p99']:.2f} ms"
    )


if __name__ == "__main__":
    main()
