"""The boot-report unit's script, run as a node runs it (with curl, against
the production server): it reports `up` with the image version the node
booted and the state of its cluster services, which bootsvc weighs for the
boot's health."""

from __future__ import annotations

from pathlib import Path

import requests

from bootsvc.core.boot import agentfiles, reports
from bootsvc.core.cmdb import cmdb
from bootsvc.core.nodeconfig.context import BootInfo
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.core.nodeconfig.render import rendered
from tests.core.nodeconfig.tools import extract, isolated, need
from tests.support import factory, nodeclusters
from tests.support.live import live_server

MAC = nodeclusters.mac(2, 0)


def test_report_unit_reports_up_with_its_services(
    db: Database, store: ArtifactStore, settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    need("curl", "unshare")
    nodeclusters.three_node_cluster(db)
    factory.version(db, store, "hv", "7")
    with db.write() as session:
        cmdb.assign_image(session, cmdb.get_node(session, "hv2"), "hv=7")
    # hv2 boots at 127.0.0.1, the address bootsvc leased to it.
    factory.lease(db, "127.0.0.1", MAC)
    cmdline = tmp_path / "cmdline"
    agent = agentfiles.context(settings, cmdline_file=str(cmdline))
    with live_server(data_dir, db.url) as server:
        script = requests.get(f"{server.url}/boot/node.ipxe", params={"mac": MAC}, timeout=10)
        assert script.status_code == 200
        cmdline.write_text(factory.kernel_arguments(script.text))
        assert f"bootsvc.token={factory.boot_token(script.text)}" in cmdline.read_text().split()
        boot = BootInfo(server.url, MAC, "hv", "7")
        root = extract(list(rendered(db, "hv2", boot=boot, agent=agent).values()), tmp_path / "hv2")
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
        report, served = reports.recent(session, "hv2")[:2]
    assert served.stage == "script"
    assert (report.stage, report.mac, report.image, report.version) == ("up", MAC, "hv", "7")
    # Not a node: systemd is not running here, so no service is active.
    assert set(report.details["services"]) == {"corosync", "pacemaker", "disks", "ceph", "ovs"}
    assert "active" not in report.details["services"].values()
