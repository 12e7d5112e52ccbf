"""What the admin pages show and do, through the test client; the browser
tests (test_browser.py) drive the same flows in Chromium."""

from __future__ import annotations

from bootsvc.store.db import Database
from tests.support import factory, rolloutkit
from tests.web.ui.conftest import Pages


def _listed(html: str) -> list[str]:
    return [h for h in ("labn0", "labn1", "labn2", "other") if f'href="/ui/nodes/{h}"' in html]


def test_the_node_list_finds_nodes_by_each_identity(
    admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    factory.node(
        db,
        hostname="other",
        serial="XY-77",
        roles=["ceph-osd"],
        interfaces=[{"mac": "52:54:00:aa:bb:cc", "ip": "10.9.0.5"}],
    )
    assert _listed(admin.get("/ui/nodes?q=52-54-00-01-00-01")) == ["labn1"]
    assert _listed(admin.get("/ui/nodes?q=10.9.0.5")) == ["other"]
    assert _listed(admin.get("/ui/nodes?q=xy-77")) == ["other"]
    assert _listed(admin.get("/ui/nodes?q=ceph-osd")) == ["other"]
    assert _listed(admin.get("/ui/nodes?role=hypervisor")) == ["labn0", "labn1", "labn2"]
    assert _listed(admin.get("/ui/nodes?cluster=lab&q=labn2")) == ["labn2"]
    assert _listed(admin.get("/ui/nodes?q=100%25")) == []


def test_the_node_list_pages_through_many_nodes(admin: Pages, db: Database) -> None:
    for index in range(120):
        factory.node(
            db, hostname=f"n{index:03d}", interfaces=[{"mac": f"52:54:00:10:00:{index:02x}"}]
        )
    first = admin.get("/ui/nodes")
    assert "120 nodes; page 1 of 3" in first and "n049" in first and "n050" not in first
    last = admin.get("/ui/nodes?page=3")
    assert "n119" in last and "n099" not in last and "Next page" not in last
    assert "page 3 of 3" in admin.get("/ui/nodes?page=99")


def test_the_fleet_page_shows_versions_trouble_and_quorum(
    admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    html = admin.get("/ui/fleet")
    assert "quorate: 3 of 3 up" in html
    assert "3 boots and 0 failed boots in the last 6 hours" in html
    admin.post("/ui/images/hv/promote", version="2", channel="stable")
    rolloutkit.boot(db, fleet["labn0"], "failed")
    html = admin.get("/ui/fleet?cluster=lab")
    assert "Failing: 1" in html and "labn0" in html
    assert "quorate: 2 of 3 up" in html  # one of three may be out
    assert "failed boots in the last 6 hours" in html and "1 failed boots" in html


def test_a_node_page_says_what_it_boots_and_why_and_names_secrets_by_path(
    admin: Pages, fleet: dict[str, str]
) -> None:
    html = admin.get("/ui/nodes/labn0")
    assert "52:54:00:01:00:00" in html and "hv 1" in html
    assert "follows: hv@stable" in html and "hv@stable (now hv 1)" in html
    assert "Secrets, by path only" in html
    assert "BEGIN" not in html and "PRIVATE KEY" not in html


def test_node_actions_ask_first_then_change_and_audit(
    admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    question = admin.get("/ui/nodes/labn0/reset")
    assert "Factory-reset labn0: its next boot wipes" in question
    admin.post("/ui/nodes/labn0/reset")
    html = admin.get("/ui/nodes/labn0")
    assert "factory reset requested" in html and "Cancel factory reset" in html
    admin.post("/ui/nodes/labn0/cancel-reset")
    admin.post("/ui/nodes/labn0/disable")
    admin.post("/ui/nodes/labn0/accept")
    audit = admin.get("/ui/audit?subject=node/labn0")
    for action in ("node.reset", "node.reset-cancel", "node.state"):
        assert action in audit
    assert "token:admin-token" in audit


def test_promote_names_what_moves_and_rollback_undoes_it(
    admin: Pages, fleet: dict[str, str]
) -> None:
    confirm = admin.get("/ui/images/hv/promote?version=2&channel=stable")
    assert "Move hv@stable from 1 to 2." in confirm
    assert "3 active nodes follow hv@stable" in confirm and "Cluster lab: 3 nodes" in confirm
    where = admin.post("/ui/images/hv/promote", version="2", channel="stable")
    assert where == "/ui/rollouts/1"
    assert "promoted 2; rollouts started: 1" in admin.get(where)
    refused = admin.post("/ui/images/hv/promote", status=409, version="1", channel="stable")
    assert "rollout under way" in refused
    admin.get("/ui/images/hv/rollback?channel=stable")
    admin.post("/ui/images/hv/rollback", channel="stable")
    assert "stable</th><td>1</td>" in admin.get("/ui/images/hv").replace("\n", "")


def test_a_rollout_pauses_resumes_and_aborts(admin: Pages, fleet: dict[str, str]) -> None:
    admin.post("/ui/images/hv/promote", version="2", channel="stable")
    admin.post("/ui/rollouts/1/pause")
    assert 'id="rollout-state">paused' in admin.get("/ui/rollouts/1/live")
    assert "is paused; it cannot be paused" in admin.post("/ui/rollouts/1/pause", status=409)
    admin.post("/ui/rollouts/1/resume")
    assert "Abort rollout 1 of hv 2 on cluster lab" in admin.get("/ui/rollouts/1/abort")
    admin.post("/ui/rollouts/1/abort")
    assert "aborted" in admin.get("/ui/rollouts")
