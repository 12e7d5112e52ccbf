"""The routes a booted node's agent calls with its boot token, from its own
address: /boot/desired and FleetLock."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select, update

from bootsvc.core.boot.boots import SEEN_RESOLUTION
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import NodeSeen
from bootsvc.store.types import utcnow
from tests.support import factory
from tests.support.rolloutkit import ip, make_cluster
from tests.web.simnodes import fetch_boot_token

FLEETLOCK = {"fleet-lock-protocol": "true"}


def test_desired_version_as_lines_or_json(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    mac = make_cluster(db, "c1", size=1, roles=("ceph-osd", "hypervisor"))["c1n0"]
    client.environ_base["REMOTE_ADDR"] = ip(1, 0)
    token = fetch_boot_token(client, mac, ip(1, 0))
    # The script was heard long ago: only the agent's question can say the node is there.
    with db.write() as session:
        session.execute(update(NodeSeen).values(at=utcnow() - 2 * SEEN_RESOLUTION))
    answer = client.get("/boot/desired", query_string={"mac": mac.upper(), "token": token})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    lines = dict(line.split("=", 1) for line in answer.text.splitlines())
    assert lines == {
        "hostname": "c1n0",
        "image": "hv",
        "version": "1",
        "reason": "follows: hv@stable",
        "cluster": "c1",
        "roles": "ceph-osd,hypervisor",
        "fleetlock_url": "http://192.0.2.1:8080/fleetlock",
        "fleetlock_id": "c1n0",
        "fleetlock_group": "default",
    }
    as_json = client.get(
        "/boot/desired",
        query_string={"mac": mac},
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert as_json.get_json() == lines
    with db.read() as session:
        seen = session.scalar(select(NodeSeen))
        assert seen is not None and seen.via == "agent"
    other = {"mac": "52:54:00:99:99:99", "token": token}
    assert client.get("/boot/desired", query_string=other).status_code == 403
    assert client.get("/boot/desired", query_string={"mac": "nope"}).status_code == 400
    assert client.get("/boot/desired").status_code == 400


def test_fleetlock_over_http(client: FlaskClient, db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    mac = make_cluster(db, "c1", size=1)["c1n0"]
    client.environ_base["REMOTE_ADDR"] = ip(1, 0)
    token = fetch_boot_token(client, mac, ip(1, 0))
    fleetlock = {**FLEETLOCK, "Authorization": f"Bearer {token}"}
    body = {"client_params": {"id": "c1n0", "group": "default"}}
    refused = client.post(
        "/fleetlock/v1/pre-reboot", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 400
    assert refused.get_json()["kind"] == "missing_protocol_header"
    # c1n0 has never come up: a one-node cluster may still lose it.
    granted = client.post("/fleetlock/v1/pre-reboot", json=body, headers=fleetlock)
    assert (granted.status_code, granted.get_json()["kind"]) == (200, "lock_granted")
    stranger = {"client_params": {"id": "intruder", "group": "default"}}
    unknown = client.post("/fleetlock/v1/pre-reboot", json=stranger, headers=fleetlock)
    assert (unknown.status_code, unknown.get_json()["kind"]) == (403, "forbidden")
    released = client.post("/fleetlock/v1/steady-state", json=body, headers=fleetlock)
    assert (released.status_code, released.get_json()["kind"]) == (200, "unlock_done")
    assert client.post("/fleetlock/v1/reboot", json=body, headers=fleetlock).status_code == 404
    assert client.get("/fleetlock/v1/pre-reboot").status_code == 405
