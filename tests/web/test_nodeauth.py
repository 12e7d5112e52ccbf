"""An attacker on the provisioning network knows every node's MAC, serial
and UUID. None of that gets them a node's secrets or lets them speak for
it: secrets and the boot token go only to a script fetched from the node's
own address, and reports, agent questions and FleetLock requests count
only with that boot's token, from that address. Each refusal changes
nothing and logs why."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND
from bootsvc.store.models import BootReport, BootToken, DhcpLease, Node, SecretToken
from bootsvc.web.app import create_app
from tests.support import factory

N1 = ("n1", "52:54:00:14:00:01", "10.14.0.11", "SER-N1")
N2 = ("n2", "52:54:00:14:00:02", "10.14.0.12", "SER-N2")
STRANGER = "10.14.0.99"
SECRETS = re.compile(r"bootsvc-secrets\.cpio\.gz\?token=(\S+)")
BOOT_TOKEN = re.compile(r"bootsvc\.token=(\S+)")


@pytest.fixture
def fleet(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    for hostname, mac, ip, serial in (N1, N2):
        factory.node(
            db,
            hostname=hostname,
            serial=serial,
            interfaces=[{"mac": mac, "ip": ip}],
            image="hv=1",
        )


def _rows(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (BootReport, SecretToken, BootToken, Node)
        }


def _script(client: FlaskClient, ip: str, **query: str) -> str:
    reply = client.get("/boot/node.ipxe", query_string=query, environ_base={"REMOTE_ADDR": ip})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def _tokens(script: str) -> tuple[str, str]:
    secrets, boot = SECRETS.search(script), BOOT_TOKEN.search(script)
    assert secrets is not None and boot is not None, script
    return secrets.group(1), boot.group(1)


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [
        dict(record.fields)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == event
    ]


def _report(
    client: FlaskClient, ip: str, mac: str, stage: str = "failed", token: str | None = None
) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = client.post(
        "/boot/report",
        data=json.dumps({"mac": mac, "stage": stage, "details": {"reason": "forged"}}),
        content_type="application/json",
        headers=headers,
        environ_base={"REMOTE_ADDR": ip},
    )
    return reply.status_code


@pytest.mark.usefixtures("fleet")
def test_a_stranger_with_the_mac_or_serial_gets_no_secrets_and_no_boot(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = _rows(db)
    by_mac = _script(client, STRANGER, mac=N1[1])
    by_serial = _script(client, N2[2], mac="52:54:00:14:00:77", serial=N2[3])
    for script in (by_mac, by_serial):
        assert "kernel " in script  # it still boots...
        assert "bootsvc-secrets" not in script and "no secrets for this boot" in script
        assert "bootsvc.token=" not in script  # ... with nothing that is the node's
    assert _rows(db) == before
    withheld = _logged(caplog, "boot.secrets_withheld")
    assert [(w["node"], w["ip"]) for w in withheld] == [("n1", STRANGER), ("n2", N2[2])]
    assert withheld[0]["reason"] == f"request from {STRANGER}, the node's address is {N1[2]}"
    assert withheld[1]["reason"] == "found by serial or UUID, not by one of the node's MACs"


@pytest.mark.usefixtures("fleet")
def test_secrets_and_token_go_to_the_nodes_own_address_only(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first_secrets, first_boot = _tokens(_script(client, N1[2], mac=N1[1]))
    secrets, boot = _tokens(_script(client, N1[2], mac=N1[1]))
    with db.read() as session:
        # One live token of each kind per node: the second script revoked the first.
        assert session.scalar(select(func.count()).select_from(SecretToken)) == 1
        assert session.scalar(select(func.count()).select_from(BootToken)) == 1
    path = "/boot/nodes/n1/bootsvc-secrets.cpio.gz"
    stolen = client.get(
        path, query_string={"token": secrets}, environ_base={"REMOTE_ADDR": STRANGER}
    )
    assert stolen.status_code == 403
    old = client.get(
        path, query_string={"token": first_secrets}, environ_base={"REMOTE_ADDR": N1[2]}
    )
    assert old.status_code == 403
    mine = client.get(path, query_string={"token": secrets}, environ_base={"REMOTE_ADDR": N1[2]})
    assert mine.status_code == 200 and mine.data[:2] == b"\x1f\x8b"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(SecretToken)) == 0  # spent: gone
    assert [r["reason"] for r in _logged(caplog, "boot.secrets_refused")] == [
        "request from another address than the one the script went to",
        "unknown, spent or replaced token",
    ]
    assert _report(client, N1[2], N1[1], "up", first_boot) == 403
    assert _report(client, N1[2], N1[1], "up", boot) == 200


@pytest.mark.usefixtures("fleet")
def test_only_the_node_itself_reports_for_it(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _secrets, n1_token = _tokens(_script(client, N1[2], mac=N1[1]))
    _tokens(_script(client, N2[2], mac=N2[1]))
    before = _rows(db)
    forged = [
        (STRANGER, N2[1], None),  # anyone, no token
        (STRANGER, N1[1], n1_token),  # n1's token, from elsewhere
        (N1[2], N2[1], n1_token),  # n1 speaking for n2
        (N1[2], N1[1], "not-a-token"),
    ]
    assert [_report(client, ip, mac, "failed", token) for ip, mac, token in forged] == [403] * 4
    assert (
        client.get("/boot/report", query_string={"mac": N2[1], "stage": "failed"}).status_code
        == 403
    )
    assert _rows(db) == before
    fleet = client.get("/boot/desired", query_string={"mac": N2[1]})
    assert fleet.status_code == 403
    reasons = [r["reason"] for r in _logged(caplog, "boot.node_request_refused")]
    assert reasons == [
        "no boot token",
        f"boot token of another address than {STRANGER}",
        f"MAC {N2[1]} is not one of n1's",
        "unknown or replaced boot token",
        "no boot token",
        "no boot token",
    ]
    assert _report(client, N1[2], N1[1], "up", n1_token) == 200
    assert _rows(db)["BootReport"] == before["BootReport"] + 1


@pytest.mark.usefixtures("fleet")
def test_the_agent_and_fleetlock_answer_only_the_node_itself(
    client: FlaskClient, db: Database
) -> None:
    _secrets, n1_token = _tokens(_script(client, N1[2], mac=N1[1]))
    bearer = {"Authorization": f"Bearer {n1_token}"}
    asked = client.get(
        "/boot/desired",
        query_string={"mac": N1[1]},
        headers=bearer,
        environ_base={"REMOTE_ADDR": N1[2]},
    )
    assert asked.status_code == 200 and "hostname=n1" in asked.get_data(as_text=True)
    stolen = client.get(
        "/boot/desired",
        query_string={"mac": N1[1]},
        headers=bearer,
        environ_base={"REMOTE_ADDR": STRANGER},
    )
    assert stolen.status_code == 403

    def lock(client_id: str, ip: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        body = {"client_params": {"id": client_id, "group": "default"}}
        reply = client.post(
            "/fleetlock/v1/pre-reboot",
            data=json.dumps(body),
            headers={"fleet-lock-protocol": "true", **headers},
            content_type="application/json",
            environ_base={"REMOTE_ADDR": ip},
        )
        return reply.status_code, reply.get_json()

    assert lock("n2", N1[2], bearer)[0] == 403  # n1's token, n2's slot
    assert lock("n1", STRANGER, bearer)[0] == 403
    status, answer = lock("n1", N2[2], {})
    assert status == 403 and answer["kind"] == "forbidden"
    assert lock("n1", N1[2], bearer)[0] == 200


def test_a_leased_address_is_the_nodes_own(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="n1", interfaces=[{"mac": N1[1], "ip": N1[2]}], image="hv=1")
    now = time.time()
    with db.write() as session:
        session.add(
            DhcpLease(
                ip="10.14.0.50",
                mac=N1[1],
                subnet="10.14.0.0/24",
                state=BOUND,
                expires=now + 600,
                updated=now,
            )
        )
    # bootsvc leased it 10.14.0.50: its CMDB address no longer counts.
    assert "bootsvc.token=" not in _script(client, N1[2], mac=N1[1])
    _tokens(_script(client, "10.14.0.50", mac=N1[1]))


def test_with_no_known_address_secrets_wait_for_the_sites_choice(
    settings: Settings, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="n1", interfaces=[{"mac": N1[1]}], image="hv=1")
    strict = create_app(settings, db).test_client()
    assert "bootsvc.token=" not in _script(strict, STRANGER, mac=N1[1])
    relaxed: Flask = create_app(
        settings.model_copy(update={"secrets_without_address_check": True}), db
    )
    _secrets, boot = _tokens(_script(relaxed.test_client(), STRANGER, mac=N1[1]))
    # Bound to the address the script went to, all the same.
    assert _report(relaxed.test_client(), N2[2], N1[1], "up", boot) == 403
    assert _report(relaxed.test_client(), STRANGER, N1[1], "up", boot) == 200
