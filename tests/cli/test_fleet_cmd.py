"""bootsvc fleet status: what enlistment refused and expired is shown."""

from __future__ import annotations

import json

from bootsvc.core.boot import bootscript
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb.enlistment import Enlistment
from bootsvc.store.db import Database
from tests.cli.conftest import Run


def test_fleet_status_counts_refused_enlistments(run: Run, db: Database) -> None:
    capped = BootSite("http://10.0.0.1:8080", None, "", enlistment=Enlistment(max_new=1))
    for n in (1, 2, 3):
        machine = Machine(mac=f"52:54:00:00:64:0{n}", ip=f"10.0.0.{n}")
        bootscript.serve_node_script(db, capped, machine)
    shown = run("fleet", "status").output
    # The limits shown are the settings'; this site capped at 1.
    assert "new nodes: 1 of at most 1000 (10 then 30/min per address" in shown
    assert "not enlisted, at the cap: 2, last " in shown
    assert "(52:54:00:00:64:03 10.0.0.3)" in shown
    view = json.loads(run("fleet", "status", "--json").output)["enlistment"]
    assert view["new"] == 1 and view["tallies"]["cap"]["count"] == 2
