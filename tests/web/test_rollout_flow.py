"""Simulated nodes driven through the HTTP API and FleetLock only: an admin
promotes a version, each cluster takes it wave by wave, and the nodes reboot
themselves when FleetLock lets them."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.web.simnodes import Outage, SimNode, run_fleet
from tests.web.test_api import create_version

Headers = dict[str, dict[str, Any]]


def _fleet(client: FlaskClient, auth: Headers, app: Flask, outage: Outage) -> list[SimNode]:
    """Versions 1 and 2, hv@stable at 1, and a cluster of five nodes that
    booted it."""
    for version in ("1", "2"):
        assert create_version(client, auth, version).status_code == 201
    promoted = client.put(
        "/api/v1/images/hv/channels/stable", json={"version": "1"}, headers=auth["admin"]
    )
    assert promoted.status_code == 200 and promoted.get_json()["rollouts"] == []
    cluster = {"name": "c1", "domain": "c1.example"}
    assert client.post("/api/v1/clusters", json=cluster, headers=auth["cmdb"]).status_code == 201
    assigned = client.put(
        "/api/v1/clusters/c1/image", json={"image": "hv@stable"}, headers=auth["cmdb"]
    )
    assert assigned.get_json() == [{"cluster": "c1", "role": None, "image": "hv@stable"}]
    nodes = []
    for index in range(5):
        mac, ip = f"52:54:00:00:01:{index:02x}", f"10.0.1.{index + 10}"
        interfaces = [{"mac": mac, "ip": ip}]
        record = {"hostname": f"hv{index}", "interfaces": interfaces, "cluster": "c1"}
        assert client.post("/api/v1/nodes", json=record, headers=auth["cmdb"]).status_code == 201
        node = SimNode(app, f"hv{index}", mac, ip, outage)
        assert node.boot() == "1"
        nodes.append(node)
    return nodes


def _rollout(client: FlaskClient, auth: Headers, rollout_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/rollouts/{rollout_id}", headers=auth["reader"])
    assert answer.status_code == 200
    found: dict[str, Any] = answer.get_json()
    return found


def test_five_nodes_canary_one_never_more_than_one_out(
    app: Flask, client: FlaskClient, auth: Headers
) -> None:
    outage = Outage()
    nodes = _fleet(client, auth, app, outage)
    for node in nodes:
        node.spontaneous = 0.05
    promoted = client.put(
        "/api/v1/images/hv/channels/stable",
        json={"version": "2", "canary": 1, "max_unavailable": 1},
        headers=auth["admin"],
    ).get_json()
    (rollout_id,) = promoted["rollouts"]
    assert _rollout(client, auth, rollout_id)["waves"] == 5

    errors = run_fleet(nodes, lambda: _rollout(client, auth, rollout_id)["state"] == "done")
    assert errors == []
    rollout = _rollout(client, auth, rollout_id)
    assert (rollout["state"], rollout["wave"]) == ("done", 5)
    assert outage.most == 1
    assert [node.booted for node in nodes] == ["2"] * 5
    first_to_two = [host for host, version in outage.reboots if version == "2"]
    assert first_to_two[0] == "hv0"
    assert sum(node.refusals for node in nodes) > 0, "the slots were never contended"
    fleet = client.get("/api/v1/fleet", headers=auth["reader"]).get_json()
    assert fleet["by_version"] == {"hv 2": [f"hv{i}" for i in range(5)]}
    assert fleet["behind_channel"] == fleet["failed"] == fleet["reboot_slots"] == []
    steps = client.get(
        "/api/v1/audit", query_string={"subject": f"rollout/{rollout_id}"}, headers=auth["reader"]
    ).get_json()
    actions = [step["action"] for step in reversed(steps)]
    assert actions[0] == "rollout.start" and actions[-1] == "rollout.done"
    assert actions.count("rollout.wave") == 5 and actions.count("rollout.node-healthy") == 5


def test_a_broken_version_stops_after_the_canary_which_falls_back(
    app: Flask, client: FlaskClient, auth: Headers
) -> None:
    outage = Outage()
    nodes = _fleet(client, auth, app, outage)
    for node in nodes:
        node.broken = frozenset({"2"})
    promoted = client.put(
        "/api/v1/images/hv/channels/stable", json={"version": "2"}, headers=auth["admin"]
    ).get_json()
    (rollout_id,) = promoted["rollouts"]

    errors = run_fleet(nodes, lambda: _rollout(client, auth, rollout_id)["state"] != "running")
    assert errors == []
    rollout = _rollout(client, auth, rollout_id)
    assert (rollout["state"], rollout["wave"]) == ("halted", 1)
    assert "hv0: 2 boots of the new version without a healthy report" in rollout["reason"]
    assert [node.booted for node in nodes] == ["1"] * 5
    assert {host for host, _version in outage.reboots} == {"hv0"}
    canary = client.get("/api/v1/nodes/hv0/boots", headers=auth["reader"]).get_json()
    assert [(b["version"], b["outcome"]) for b in canary[:3]] == [
        ("1", "up"),
        ("2", "abandoned"),
        ("2", "abandoned"),
    ]
    status = client.get("/api/v1/nodes/hv0/status", headers=auth["reader"]).get_json()
    assert (status["desired"], status["source"]) == ("hv 1", "fallback")
    assert client.get("/api/v1/fleet", headers=auth["reader"]).get_json()["failed"] == ["hv0"]
