"""`bootsvc node render`: the files a node would get, one of them, the
difference from what it was last served, and a clear error when its
configuration does not render."""

from __future__ import annotations

import json

from bootsvc.core.nodeconfig import served
from bootsvc.core.nodeconfig.context import BootInfo
from bootsvc.core.nodeconfig.overlay import Overlays
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.serve.address import with_advertise_url
from bootsvc.settings import load_settings
from bootsvc.store.db import Database
from tests.cli.conftest import Run
from tests.support import nodeclusters


def test_render_shows_files_and_names_secrets(run: Run, db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    out = run("node", "render", "pair1").output
    assert "==> /etc/hostname (mode 0644, owner 0:0) <==\npair1\n" in out
    assert "==> /etc/corosync/authkey (secret, not shown) <==" in out
    assert "-> /etc/systemd/system/bootsvc-up.service" in out
    one = run("node", "render", "pair1", "/etc/corosync/corosync.conf").output
    assert one.startswith("==> /etc/corosync/corosync.conf") and "two_node: 1" in one
    assert "/etc/hostname" not in one and "authkey" not in one
    shown = json.loads(run("node", "render", "pair1", "--json").output)
    assert "/etc/corosync/authkey" in shown["secrets"]
    missing = run("node", "render", "pair1", "/etc/nothing", code=1).output
    assert "gets no public file /etc/nothing" in missing


def test_render_diff_against_what_was_served(run: Run, db: Database, env: dict[str, str]) -> None:
    nodeclusters.two_node_cluster(db)
    assert "pair2 was never served" in run("node", "render", "pair2", "--diff").output
    # Served as the HTTP server would: same base URL, no image assigned.
    boot = BootInfo(
        with_advertise_url(load_settings(environ=env)).base_url, nodeclusters.mac(0x12, 0)
    )
    served.keep(db, Overlays(db, Templates(None)).get("pair2", boot), boot)
    assert run("node", "render", "pair2", "--diff").output == "# pair2: no change\n"
    run("cluster", "set", "pair", "--setting", "corosync={token_ms: 7000}")
    diff = run("node", "render", "pair2", "--diff").output
    assert "--- served/etc/corosync/corosync.conf\n+++ now/etc/corosync/corosync.conf\n" in diff
    assert "-    token: 5000\n+    token: 7000\n" in diff
    assert diff.count("+++ ") == 1


def test_render_names_what_is_wrong(run: Run, db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    run("cluster", "set", "pair", "--setting", "pacemaker={}")
    error = run("node", "render", "pair1", code=1).output
    assert error.strip() == (
        "Error: node pair1: template overlay/usr/local/lib/bootsvc/pacemaker-properties.j2 "
        "line 7, setting pacemaker.stonith_enabled: cluster pair: "
        "pacemaker.stonith_enabled is missing"
    )
