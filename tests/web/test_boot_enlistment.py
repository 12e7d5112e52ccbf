"""GET /boot/node.ipxe from machines nobody registered: enlisted as `new` up
to the cap and the rate per source address; beyond them the machine gets a
script that boots nothing and says why, and the log and fleet status count it."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import Interface
from bootsvc.web.app import create_app


def client_with(settings: Settings, db: Database, **limits: int) -> FlaskClient:
    return create_app(settings.model_copy(update=limits), db).test_client()


def script(client: FlaskClient, n: int, ip: str) -> str:
    reply = client.get(
        "/boot/node.ipxe",
        query_string={"mac": f"52:54:00:00:62:{n:02x}"},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def enlisted(db: Database) -> list[str]:
    with db.read() as session:
        return sorted(session.scalars(select(Interface.mac)))


def refused(caplog: pytest.LogCaptureFixture) -> list[tuple[object, ...]]:
    fields = [
        getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "enlist.refused"
    ]
    return [(f["mac"], f["ip"], f["stage"], f["reason"]) for f in fields]


def fleet_enlistment(client: FlaskClient, admin: dict[str, str]) -> dict[str, object]:
    reply = client.get("/api/v1/fleet", headers=admin)
    assert reply.status_code == 200
    view: dict[str, object] = reply.get_json()["enlistment"]
    return view


def test_one_address_past_its_rate_is_refused_and_others_still_enlist(
    settings: Settings,
    db: Database,
    auth: dict[str, dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bootsvc")
    client = client_with(settings, db, enlist_burst=2, enlist_rate_per_minute=1)
    for n in (1, 2):
        assert f"bootsvc: node-5254000062{n:02x}: " in script(client, n, "10.1.0.9")
    text = script(client, 3, "10.1.0.9")
    assert "not enlisted: more enlistments from 10.1.0.9 than 2 then 1/min" in text
    assert "exiting to the next boot device" in text
    script(client, 4, "10.1.0.10")
    assert enlisted(db) == ["52:54:00:00:62:01", "52:54:00:00:62:02", "52:54:00:00:62:04"]
    assert refused(caplog) == [("52:54:00:00:62:03", "10.1.0.9", "script", "rate")]
    view = fleet_enlistment(client, auth["reader"])
    assert view["new"] == 3
    assert view["tallies"] == {
        "rate": {
            "count": 1,
            "last_at": view["tallies"]["rate"]["last_at"],  # type: ignore[index]
            "last_mac": "52:54:00:00:62:03",
            "last_ip": "10.1.0.9",
        }
    }


def test_past_the_cap_no_address_enlists(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc")
    client = client_with(settings, db, enlist_max_new=1)
    script(client, 1, "10.1.0.1")
    assert "not enlisted: 1 nodes already wait as new" in script(client, 2, "10.1.0.2")
    assert enlisted(db) == ["52:54:00:00:62:01"]
    assert refused(caplog) == [("52:54:00:00:62:02", "10.1.0.2", "script", "cap")]
