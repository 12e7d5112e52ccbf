"""A boot bootsvc refuses (a kernel of another architecture, an unsigned
kernel for a Secure Boot node) is the node's boot report: its status, the
API and the fleet say why it did not boot. Through the routes a node's
firmware fetches its script from, as a node does."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import BootReport, NodeBoot
from tests.support import factory

MAC = "52:54:00:00:62:01"
IP = "10.1.0.62"
WRONG_ARCH = "hv 1 is built for arm64, and this machine is x86_64"
UNSIGNED = "hv 1: its kernel is not signed, and a Secure Boot node boots only a signed kernel"


def _node(db: Database, store: ArtifactStore, **version: Any) -> None:
    factory.version(db, store, "hv", "1", **version)
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=1")


def _ipxe(client: FlaskClient, ip: str = IP, **query: str) -> str:
    reply = client.get(
        "/boot/node.ipxe",
        query_string={"mac": MAC.replace(":", "-"), **query},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def _grub(client: FlaskClient, **query: str) -> str:
    reply = client.get(
        f"/grub/node/{MAC}.cfg", query_string=query, environ_base={"REMOTE_ADDR": IP}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def _reports(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as session:
        return [
            (r.stage, dict(r.details))
            for r in session.scalars(select(BootReport).order_by(BootReport.id))
        ]


def _status(client: FlaskClient, auth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    reply = client.get("/api/v1/nodes/hv1/status", headers=auth["reader"])
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body: dict[str, Any] = reply.get_json()
    return body


def test_a_version_of_another_architecture_is_refused_in_the_boot_report(
    client: FlaskClient, db: Database, store: ArtifactStore, auth: dict[str, dict[str, Any]]
) -> None:
    _node(db, store, architecture="arm64")
    text = _ipxe(client, arch="x86_64")
    assert WRONG_ARCH in text and "kernel " not in text
    assert _reports(db) == [("refused", {"reason": WRONG_ARCH})]
    status = _status(client, auth)
    assert (status["status"], status["refused"], status["failures"]) == ("refused", WRONG_ARCH, 1)
    events = client.get("/api/v1/reports", query_string={"node": "hv1"}, headers=auth["reader"])
    assert events.status_code == 200, events.get_data(as_text=True)
    (report,) = events.get_json()
    assert (report["stage"], report["image"], report["version"]) == ("refused", "hv", "1")
    fleet = client.get("/api/v1/fleet", headers=auth["reader"]).get_json()
    assert fleet["failed"] == ["hv1"]

    # The same node on an arm64 machine boots, and its status moves on.
    assert "kernel " in _ipxe(client, arch="arm64")
    status = _status(client, auth)
    assert (status["status"], status["refused"]) == ("booting", None)


def test_an_unsigned_kernel_refused_to_a_secure_boot_node_is_its_boot_report(
    client: FlaskClient, db: Database, store: ArtifactStore, auth: dict[str, dict[str, Any]]
) -> None:
    _node(db, store, kernel_signed=False)
    text = _grub(client)
    assert f"bootsvc: hv1: {UNSIGNED}" in text and "linux " not in text
    assert _reports(db) == [("refused", {"reason": UNSIGNED})]
    status = _status(client, auth)
    assert (status["status"], status["refused"]) == ("refused", UNSIGNED)
    with db.read() as session:
        boot = session.scalars(select(NodeBoot)).one()
        assert (boot.outcome, boot.details) == ("refused", {"reason": UNSIGNED})
        assert boot.ended_at is not None and boot.version_id is not None


def test_a_refusal_previewed_or_asked_from_elsewhere_is_not_recorded(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    _node(db, store, architecture="arm64", kernel_signed=False)
    assert WRONG_ARCH in _ipxe(client, arch="x86_64", preview="1")
    assert UNSIGNED in _grub(client, preview="1")
    # Anyone can name the node's MAC: only its own address speaks for it.
    assert WRONG_ARCH in _ipxe(client, ip="10.1.0.99", arch="x86_64")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(BootReport)) == 0
        assert session.scalar(select(func.count()).select_from(NodeBoot)) == 0


def test_a_node_cannot_report_a_refusal_itself(client: FlaskClient, db: Database) -> None:
    reply = client.post("/boot/report", json={"stage": "refused", "mac": MAC})
    assert reply.status_code == 400
    assert reply.get_json()["message"].startswith("stage must be one of script, ")


def test_arm64_needs_a_signed_kernel_only_with_secure_boot_on(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    """Every arm64 machine boots through the signed GRUB; only one with
    Secure Boot on is refused an unsigned kernel."""
    _node(db, store, architecture="arm64", kernel_signed=False)
    assert "  if linux '/artifacts/" in _grub(client, arch="arm64")
    # A GRUB that does not say its CPU is on the x86-64 Secure Boot path.
    assert UNSIGNED in _grub(client)
    factory.node(
        db,
        hostname="hv1",
        interfaces=[{"mac": MAC, "ip": IP}],
        image="hv=1",
        facts={"secure_boot": True},
    )
    assert f"bootsvc: hv1: {UNSIGNED}" in _grub(client, arch="arm64")
    assert [stage for stage, _ in _reports(db)] == ["script", "refused", "refused"]
