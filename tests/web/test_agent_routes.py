"""The routes nodes call without a token: /boot/desired and FleetLock."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import NodeSeen
from tests import factory
from tests.rolloutkit import make_cluster

FLEETLOCK = {"fleet-lock-protocol": "true"}


def test_desired_version_as_lines_or_json(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    mac = make_cluster(db, "c1", size=1, roles=("ceph-osd", "hypervisor"))["c1n0"]
    answer = client.get("/boot/desired", query_string={"mac": mac.upper()})
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
        "/boot/desired", query_string={"mac": mac}, headers={"Accept": "application/json"}
    )
    assert as_json.get_json() == lines
    with db.read() as session:
        seen = session.scalar(select(NodeSeen))
        assert seen is not None and seen.via == "agent"
    assert client.get("/boot/desired", query_string={"mac": "52:54:00:99:99:99"}).status_code == 404
    assert client.get("/boot/desired", query_string={"mac": "nope"}).status_code == 400
    assert client.get("/boot/desired").status_code == 400


def test_fleetlock_over_http(client: FlaskClient, db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    make_cluster(db, "c1", size=1)
    body = {"client_params": {"id": "c1n0", "group": "default"}}
    refused = client.post("/fleetlock/v1/pre-reboot", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["kind"] == "missing_protocol_header"
    # c1n0 has never booted: a one-node cluster may still lose it.
    granted = client.post("/fleetlock/v1/pre-reboot", json=body, headers=FLEETLOCK)
    assert (granted.status_code, granted.get_json()["kind"]) == (200, "lock_granted")
    stranger = {"client_params": {"id": "intruder", "group": "default"}}
    unknown = client.post("/fleetlock/v1/pre-reboot", json=stranger, headers=FLEETLOCK)
    assert (unknown.status_code, unknown.get_json()["kind"]) == (403, "failed_unknown_client")
    released = client.post("/fleetlock/v1/steady-state", json=body, headers=FLEETLOCK)
    assert (released.status_code, released.get_json()["kind"]) == (200, "unlock_done")
    assert client.post("/fleetlock/v1/reboot", json=body, headers=FLEETLOCK).status_code == 404
    assert client.get("/fleetlock/v1/pre-reboot").status_code == 405
