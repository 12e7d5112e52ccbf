"""The boot-report unit's script, run as a node runs it (with curl, against
the production server): it reports `up` with the image version the node
booted and the state of its cluster services, which bootsvc weighs for the
boot's health."""

from __future__ import annotations

from pathlib import Path

from bootsvc.core import reports
from bootsvc.core.nodeconfig.context import BootInfo
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests import factory, nodeclusters
from tests.core.nodeconfig.render import rendered
from tests.core.nodeconfig.tools import extract, isolated, need
from tests.live import live_server

MAC = nodeclusters.mac(2, 0)


def test_report_unit_reports_up_with_its_services(
    db: Database, store: ArtifactStore, data_dir: Path, tmp_path: Path
) -> None:
    need("curl", "unshare")
    nodeclusters.three_node_cluster(db)
    factory.version(db, store, "hv", "7")
    with live_server(data_dir, db.url) as server:
        boot = BootInfo(server.url, MAC, "hv", "7")
        root = extract(list(rendered(db, "hv2", boot=boot).values()), tmp_path / "hv2")
        # The node's /etc/bootsvc/boot.env, on an overlay of this /etc that
        # only the script sees.
        (tmp_path / "upper").mkdir()
        (tmp_path / "work").mkdir()
        done = isolated(
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={tmp_path}/upper,"
            f"workdir={tmp_path}/work /etc; "
            f"cp -r {root}/etc/bootsvc /etc/; sh {root}/usr/local/lib/bootsvc/report-up",
            network=False,
        )
        assert done.returncode == 0, done.stderr
    with db.read() as session:
        report = reports.recent(session, "hv2")[0]
    assert (report.stage, report.mac, report.image, report.version) == ("up", MAC, "hv", "7")
    # Not a node: systemd is not running here, so no service is active.
    assert set(report.details["services"]) == {"corosync", "pacemaker", "disks", "ceph", "ovs"}
    assert "active" not in report.details["services"].values()
