"""GET /metrics in one process: what a node's boot, its overlay and the HTTP
requests count, and the fleet's state read from the database at each scrape.
The counts are process-wide, so each test compares scrapes before and after."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select

from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import rollouts
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Node, RebootSlot
from bootsvc.web.app import create_app
from tests.support import factory
from tests.support.rolloutkit import ip, make_cluster
from tests.support.scrape import Scrape

OVERLAY_URL = re.compile(r"^initrd --name bootsvc-overlay\.cpio\.gz http://[^/]+(\S+) \|\|", re.M)


def scrape(client: FlaskClient) -> Scrape:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    return Scrape(answer.get_data(as_text=True))


def test_a_node_boot_counts_reports_overlay_lookups_and_routes(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    mac = make_cluster(db, "c1", size=1)["c1n0"]
    own = {"REMOTE_ADDR": ip(1, 0)}
    before = scrape(client)

    script = client.get("/boot/node.ipxe", query_string={"mac": mac}, environ_base=own)
    assert script.status_code == 200
    after_script = scrape(client)
    found = OVERLAY_URL.search(script.text)
    assert found is not None, script.text
    for _ in range(2):
        assert client.get(found.group(1), environ_base=own).status_code == 200
    after_overlays = scrape(client)
    token = factory.boot_token(script.text)
    report = client.post(
        "/boot/report",
        json={"mac": mac, "stage": "up", "details": {"healthy": True}},
        headers={"Authorization": f"Bearer {token}"},
        environ_base=own,
    )
    assert report.status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    def grew(first: Scrape, then: Scrape, name: str, **labels: str) -> float:
        return then.value(name, **labels) - first.value(name, **labels)

    reports = "bootsvc_boot_reports_total"
    assert grew(before, after_script, reports, stage="script", outcome="booting") == 1
    assert grew(after_script, after, reports, stage="up", outcome="up") == 1
    assert grew(before, after, reports) == 2
    lookups = "bootsvc_overlay_cache_lookups_total"
    assert grew(after_script, after_overlays, lookups, result="hit") == 2
    assert grew(after_script, after_overlays, lookups, result="miss") == 0
    requests = "bootsvc_http_requests_total"
    assert grew(before, after, requests, route="/boot/node.ipxe", method="GET", status="200") == 1
    assert grew(before, after, requests, route="/boot/report", method="POST", status="200") == 1
    assert grew(before, after, requests, route="unmatched", method="GET", status="404") == 1
    overlay_route = "/boot/nodes/<hostname>/bootsvc-overlay.cpio.gz"
    assert grew(before, after, requests, route=overlay_route, status="200") == 2
    timed = "bootsvc_http_request_duration_seconds_count"
    assert grew(before, after, timed, route="/boot/report", method="POST") == 1
    # Labels name routes, never the node, its MAC or address, or a raw path.
    labels = after.label_values()
    assert not {mac, ip(1, 0), "c1n0", "/no/such/page", found.group(1)} & labels


def test_fleet_state_is_read_from_the_database_at_each_scrape(
    settings: Settings, db: Database, store: ArtifactStore
) -> None:
    served = settings.model_copy(
        update={"dhcp_subnet": "10.9.0.0/24", "dhcp_pool": "10.9.0.100-10.9.0.149"}
    )
    client = create_app(served, db).test_client()
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    hosts = make_cluster(db, "c1", size=3)
    with db.write() as session:
        cmdb.patch_cluster(session, "c1", "test", settings={"dhcp_pools": {}})
    empty = scrape(client)
    assert empty.value("bootsvc_rollouts", state="running") == 0
    assert empty.value("bootsvc_dhcp_pool_addresses", network="settings") == 50
    assert empty.value("bootsvc_dhcp_leased_addresses", network="settings") == 0

    with db.write() as session:
        rollouts.start(session, store, settings, "hv", "2", "c1", "test")
        node = session.scalars(select(Node).where(Node.hostname == "c1n0")).one()
        session.add(RebootSlot(node_id=node.id, cluster_id=node.cluster_id, group="default"))
    for index, mac in enumerate(hosts.values()):
        factory.lease(db, f"10.9.0.{100 + index}", mac, subnet="10.9.0.0/24")
    busy = scrape(client)
    assert busy.value("bootsvc_rollouts", state="running") == 1
    assert busy.value("bootsvc_rollouts", state="done") == 0
    assert busy.value("bootsvc_reboot_slots_held", cluster="c1") == 1
    assert busy.value("bootsvc_dhcp_leased_addresses", network="settings") == 3


def test_a_database_that_fails_leaves_out_only_the_fleet_state(
    settings: Settings, tmp_path: Path
) -> None:
    gone = Database(f"sqlite:///{tmp_path / 'missing' / 'bootsvc.db'}")
    client = create_app(settings, gone).test_client()
    client.get("/metrics")
    text = scrape(client)
    assert "bootsvc_rollouts" not in text.names()
    assert text.value("bootsvc_http_requests_total", route="/metrics", status="200") >= 1
