"""A node's secret files come from the same snapshot of the CMDB as its
overlay, and follow the CMDB when it changes."""

from __future__ import annotations

from pathlib import Path

from bootsvc.core.cmdb import cmdb
from bootsvc.core.nodeconfig import delivery
from bootsvc.core.nodeconfig.bootfetch import SecretFetch
from bootsvc.core.nodeconfig.context import BootInfo, agent_values
from bootsvc.core.nodeconfig.secretfiles import SecretStore
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.store.db import Database
from tests.support import factory, nodeclusters

URL = "http://192.0.2.1:8080"
LIBVIRT_KEYRING = "/etc/ceph/ceph.client.libvirt.keyring"


def test_secret_files_follow_a_cmdb_change_after_the_overlay_was_made(
    db: Database, tmp_path: Path
) -> None:
    nodeclusters.two_node_cluster(db)
    agent = agent_values()
    overlays = delivery.overlays(db, None, agent)
    store = SecretStore(db, Vault.from_file(tmp_path / "secrets.key"))
    fetch = SecretFetch(overlays, store, URL, agent, None)
    overlays.get("pair1", BootInfo(URL, None))
    before = {file.path: file for file in fetch.files("pair1", None)}
    assert "/etc/corosync/authkey" in before and LIBVIRT_KEYRING not in before
    with db.write() as session:
        ceph = {"public_network": "mgmt", "cluster_network": "ring"}
        cmdb.patch_cluster(session, "pair", factory.ACTOR, settings={"ceph": ceph})
    after = {file.path: file for file in fetch.files("pair1", None)}
    assert LIBVIRT_KEYRING in after
    assert after["/etc/corosync/authkey"].content == before["/etc/corosync/authkey"].content
