"""Limits on enlisting unknown machines: the cap on `new` nodes, the rate per
source address, and the expiry of `new` nodes that never came back; every
refusal and expiry logged and counted."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bootsvc.core import audit
from bootsvc.core.boot import bootscript
from bootsvc.core.boot.bootplan import NoBoot
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb import cmdb, enlistment
from bootsvc.core.cmdb.enlistment import Enlistment, RateLimiter
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Interface, Node
from bootsvc.store.types import utcnow
from tests.support import factory
from tests.support.clock import Clock

DAY = 86_400


def site(limits: Enlistment) -> BootSite:
    return BootSite("http://10.0.0.1:8080", None, "", enlistment=limits)


def mac(n: int) -> str:
    return f"52:54:00:e0:00:{n:02x}"


def ask(db: Database, at: BootSite, n: int, ip: str = "10.0.0.50") -> bootscript.NodeScript:
    return bootscript.serve_node_script(db, at, Machine(mac=mac(n), ip=ip))


def enlisted(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(Interface.mac)))


def refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "enlist.refused"]


def tallies(db: Database, settings: Settings) -> dict[str, int]:
    with db.read() as session:
        view = enlistment.stats(session, settings)
    return {kind: tally.count for kind, tally in view.tallies.items()}


def test_the_machine_past_the_cap_is_not_enlisted_and_says_why(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.enlist")
    capped = site(Enlistment(max_new=2))
    for n in (1, 2):
        assert ask(db, capped, n, ip=f"10.0.0.{n}").hostname == f"node-525400e000{n:02x}"
    refused = ask(db, capped, 3, ip="10.0.0.3")
    assert refused.hostname is None and isinstance(refused.plan, NoBoot)
    assert "not enlisted: 2 nodes already wait as new" in refused.text
    assert "exit" in refused.text
    assert enlisted(db) == {mac(1), mac(2)}
    assert refusals(caplog) == [
        {"mac": mac(3), "ip": "10.0.0.3", "stage": "script", "reason": "cap"}
    ]
    assert tallies(db, settings) == {"cap": 1}
    # Machines already enlisted still get their scripts at the cap.
    assert ask(db, capped, 1, ip="10.0.0.1").hostname == "node-525400e00001"
    assert len(refusals(caplog)) == 1


def test_accepting_a_new_node_makes_room_under_the_cap(db: Database) -> None:
    capped = site(Enlistment(max_new=1))
    ask(db, capped, 1, ip="10.0.0.1")
    assert ask(db, capped, 2, ip="10.0.0.2").hostname is None
    with db.write() as session:
        cmdb.set_state(session, "node-525400e00001", "active", "test")
    assert ask(db, capped, 2, ip="10.0.0.2").hostname == "node-525400e00002"


def test_the_rate_is_per_source_address(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.enlist")
    clock = Clock()
    limited = site(Enlistment(rate_per_minute=60, burst=2, clock=clock))
    assert [ask(db, limited, n, ip="10.0.0.9").hostname is not None for n in (1, 2, 3)] == [
        True,
        True,
        False,
    ]
    assert "not enlisted: more enlistments from 10.0.0.9 than 2 then 60/min" in (
        ask(db, limited, 4, ip="10.0.0.9").text
    )
    assert ask(db, limited, 5, ip="10.0.0.10").hostname == "node-525400e00005"
    assert enlisted(db) == {mac(1), mac(2), mac(5)}
    assert [(r["mac"], r["ip"], r["reason"]) for r in refusals(caplog)] == [
        (mac(3), "10.0.0.9", "rate"),
        (mac(4), "10.0.0.9", "rate"),
    ]
    assert tallies(db, settings) == {"rate": 2}
    clock.now += 1  # one more a second at 60/min
    assert ask(db, limited, 3, ip="10.0.0.9").hostname == "node-525400e00003"
    assert ask(db, limited, 4, ip="10.0.0.9").hostname is None


def test_the_rate_limiter_keeps_a_bounded_number_of_addresses() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock(), max_addresses=2)
    assert limiter.allow("10.0.0.1") and not limiter.allow("10.0.0.1")
    assert limiter.allow("10.0.0.2") and limiter.allow("10.0.0.3")
    # 10.0.0.1 was the least recently used, and was dropped: a full burst again.
    assert limiter.allow("10.0.0.1")
    assert not limiter.allow("10.0.0.3")


def age(db: Database, hostname: str, seconds: int) -> None:
    """Move a node's enlistment `seconds` into the past, as if made then."""
    with db.write() as session:
        node = cmdb.get_node(session, hostname)
        then = node.created_at - timedelta(seconds=seconds)
        session.execute(
            update(Node).where(Node.id == node.id).values(created_at=then, updated_at=then)
        )


def hostnames(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(Node.hostname)))


def test_new_nodes_never_heard_from_again_expire(
    db: Database, store: ArtifactStore, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.enlist")
    at = site(Enlistment())
    for n in range(1, 7):
        ask(db, at, n, ip=f"10.0.0.{n}")
    old, fresh, accepted, renamed, placed, pinned = (f"node-525400e000{n:02x}" for n in range(1, 7))
    for hostname in (old, accepted, renamed, placed, pinned):
        age(db, hostname, 2 * DAY)
    factory.version(db, store, "hv", "1")
    with db.write() as session:
        cmdb.set_state(session, accepted, "active", "test")
        cmdb.patch_node(session, renamed, NodeRecord(hostname="rack1-u7"), "test")
        cmdb.patch_node(session, placed, NodeRecord(roles=["hypervisor"]), "test")
        cmdb.patch_node(session, pinned, NodeRecord(image="hv=1"), "test")
    factory.node(db, hostname="by-hand", interfaces=[{"mac": mac(9)}], state="new")
    age(db, "by-hand", 2 * DAY)

    with db.write() as session:
        assert enlistment.expire(session, DAY) == 1
    assert hostnames(db) == {fresh, accepted, "rack1-u7", placed, pinned, "by-hand"}
    assert mac(1) not in enlisted(db)
    with db.read() as session:
        entry = audit.entries(session, f"node/{old}")[0]
    assert (entry.actor, entry.action, entry.from_value) == ("bootsvc", "node.expire", mac(1))
    expired = [r for r in caplog.records if r.getMessage() == "enlist.expired"]
    assert [getattr(r, "fields", {}) for r in expired] == [{"count": 1, "after_s": DAY}]
    assert tallies(db, settings) == {"expired": 1}

    with db.write() as session:
        assert enlistment.expire(session, DAY) == 0
    assert len([r for r in caplog.records if r.getMessage() == "enlist.expired"]) == 1


def test_a_new_node_asking_again_does_not_expire(db: Database) -> None:
    at = site(Enlistment())
    ask(db, at, 1)
    age(db, "node-525400e00001", 2 * DAY)
    ask(db, at, 1)
    with db.write() as session:
        assert enlistment.expire(session, DAY) == 0
    with db.write() as session:
        assert enlistment.expire(session, DAY, now=utcnow() + timedelta(seconds=DAY + 60)) == 1
    assert hostnames(db) == set()
