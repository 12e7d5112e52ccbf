"""Building blocks for tests: images and nodes made through the domain API."""

from __future__ import annotations

import io
import re
import time
from typing import Any

from bootsvc.core.catalog import catalog
from bootsvc.core.catalog.catalog import FileRef
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp6 import leases as leases6
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND

ACTOR = "test"

# The kernel argument by which a node script hands its node this boot's token.
_BOOT_TOKEN = re.compile(r"\bbootsvc\.token=(\S+)")


def blob(store: ArtifactStore, name: str, content: bytes) -> FileRef:
    stored = store.ingest(io.BytesIO(content))
    return FileRef(name=name, sha256=stored.sha256, size=stored.size)


def version(
    db: Database,
    store: ArtifactStore,
    image: str = "hv",
    name: str = "1",
    cmdline: str = "console=ttyS0",
    rootfs: bool = False,
    initrds: int = 1,
    kernel_signed: bool | None = None,
    architecture: str | None = None,
) -> None:
    kernel = blob(store, "vmlinuz", f"kernel {image} {name}".encode())
    initrd_refs = [
        blob(store, f"initrd{i}.img", f"initrd {i} {image} {name}".encode()) for i in range(initrds)
    ]
    root = blob(store, "root.squashfs", f"root {image} {name}".encode() * 100) if rootfs else None
    with db.write() as session:
        catalog.add_version(
            session,
            image,
            name,
            kernel,
            initrd_refs,
            root,
            cmdline,
            f"notes {name}",
            ACTOR,
            facts=catalog.KernelFacts(kernel_signed, architecture),
        )


def promote(
    db: Database, store: ArtifactStore, image: str, name: str, channel: str = "stable"
) -> None:
    with db.write() as session:
        catalog.promote(session, store, image, name, channel, ACTOR)


def node(db: Database, **fields: Any) -> None:
    with db.write() as session:
        cmdb.upsert_node(session, NodeRecord.model_validate(fields), ACTOR)


def lease(db: Database, ip: str, mac: str, subnet: str = "127.0.0.0/8") -> None:
    """Lease `ip` to `mac` as bootsvc's DHCP server does: the node's own
    address from now on."""
    now = time.time()
    with db.write() as session:
        leases.claim(session, [leases.Lease(ip, mac, subnet, BOUND, now + 600, now)], now)


def lease6(db: Database, address: str, mac: str, duid: str = "00040000", iaid: int = 1) -> None:
    """Lease `address` to `mac` as bootsvc's DHCPv6 server does (here to a
    DUID-UUID, whose MAC came from the client's link-local EUI-64)."""
    now = time.time()
    claim = leases6.Lease6(address, duid, iaid, mac, "fd00:77::/64", BOUND, now + 600, now)
    with db.write() as session:
        leases6.claim(session, [claim], now, "test")


def kernel_arguments(script: str) -> str:
    """What the node's /proc/cmdline says after iPXE runs its script."""
    kernel = next(line for line in script.splitlines() if line.startswith("kernel "))
    return " ".join(kernel.split(" || ")[0].split()[4:]) + "\n"


def boot_token(script: str) -> str:
    """The boot token a node script hands its node, as the booted system reads
    it from its kernel command line; fails when the script carries none."""
    found = _BOOT_TOKEN.search(script)
    assert found is not None, f"no boot token in the script:\n{script}"
    return found.group(1)
