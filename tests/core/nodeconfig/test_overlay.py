"""The overlay cache: an unchanged node gets its cached overlay; a change to
its cluster, its own record or a template shows in the next request; a
change elsewhere does not render it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.core.nodeconfig import cpio
from bootsvc.core.nodeconfig.overlay import Overlays
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.errors import NotFound
from bootsvc.store.db import Database
from bootsvc.store.models import Base
from tests.core.nodeconfig.render import BOOT
from tests.support import factory, nodeclusters


def files_of(overlays: Overlays, hostname: str) -> dict[str, bytes]:
    found = overlays.get(hostname, BOOT)
    return {f.path: f.content for f in cpio.unpack(found.archive)}


def test_unchanged_node_is_a_cache_hit(db: Database, tmp_path: Path) -> None:
    nodeclusters.three_node_cluster(db)
    nodeclusters.two_node_cluster(db)
    site = tmp_path / "site"
    overlays = Overlays(db, Templates(site), template_check_s=0)
    first = overlays.get("hv1", BOOT)
    assert overlays.get("hv1", BOOT) is first
    # Another process (or server) builds the very same bytes.
    assert Overlays(db, Templates(site)).get("hv1", BOOT).archive == first.archive
    # Another cluster changes: hv1's inputs do not, so the cached overlay.
    factory.node(db, hostname="pair9", cluster="pair", interfaces=[{"mac": "52:54:00:d0:00:09"}])
    assert overlays.get("hv1", BOOT) is first
    # A member of hv1's cluster changes role: hv1's ceph.conf changes.
    with db.write() as session:
        cmdb.patch_node(session, "hv3", NodeRecord(roles=["hypervisor"]), factory.ACTOR)
    changed = files_of(overlays, "hv1")
    assert b"10.20.0.13:3300" not in changed["/etc/ceph/ceph.conf"]
    # A site template appears: rendered on the next request.
    (site / "overlay/etc").mkdir(parents=True)
    (site / "overlay/etc/hostname.j2").write_text("{{ node.hostname }}.site\n")
    assert files_of(overlays, "hv1")["/etc/hostname"] == b"hv1.site\n"
    # Another boot of another version is another overlay.
    other = overlays.get("hv1", BOOT.__class__(BOOT.url, BOOT.mac, "hv", "8"))
    assert other.sha256 != overlays.get("hv1", BOOT).sha256


def test_a_member_changed_shows_in_every_members_next_overlay(db: Database) -> None:
    """Each member's overlay lists the others: after one changes, every
    member's next overlay, from the same cache, says so."""
    nodeclusters.three_node_cluster(db)
    overlays = Overlays(db, Templates(None))
    for name in ("hv1", "hv2"):
        assert b"10.0.0.99" not in files_of(overlays, name)["/etc/hosts"]
    with db.write() as session:
        record = NodeRecord.model_validate(
            {"interfaces": [{"name": "eth0", "mac": "52:54:00:c0:00:33", "ip": "10.0.0.99"}]}
        )
        cmdb.patch_node(session, "hv3", record, factory.ACTOR)
    for name in ("hv1", "hv2"):
        assert b"10.0.0.99\thv3." in files_of(overlays, name)["/etc/hosts"]


def test_failures_are_cached_and_unknown_nodes_refused(db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    with db.write() as session:
        cmdb.patch_cluster(session, "pair", factory.ACTOR, settings={"pacemaker": {}})
    overlays = Overlays(db, Templates(None))
    with pytest.raises(ConfigError, match="stonith_enabled is missing") as first:
        overlays.get("pair1", BOOT)
    with pytest.raises(ConfigError) as again:
        overlays.get("pair1", BOOT)
    assert again.value is first.value
    with pytest.raises(NotFound):
        overlays.get("nobody", BOOT)


def test_a_database_emptied_and_refilled_is_not_taken_for_the_old_one(db: Database) -> None:
    """Same audit ids and count after a wipe (SQLite reuses ids): the
    entries' times tell the new contents from the old."""
    nodeclusters.two_node_cluster(db)
    overlays = Overlays(db, Templates(None))
    assert b"pair1.pair.example.org" in files_of(overlays, "pair1")["/etc/hosts"]
    with db.write() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    with db.write() as session:
        record = ClusterRecord(name="pair", domain="renamed.example")
        cmdb.upsert_cluster(session, record, factory.ACTOR)
        for number in (1, 2):
            fields: dict[str, Any] = {"hostname": f"pair{number}", "cluster": "pair"}
            fields["interfaces"] = [{"mac": nodeclusters.mac(number, 0), "ip": f"10.9.0.{number}"}]
            cmdb.upsert_node(session, NodeRecord.model_validate(fields), factory.ACTOR)
    assert b"renamed.example" in files_of(overlays, "pair1")["/etc/hosts"]
