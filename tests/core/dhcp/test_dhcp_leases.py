"""The lease statements on SQLite and PostgreSQL: who wins a claim, and
what release, decline and reclaim do."""

from __future__ import annotations

import threading

import pytest

from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.leases import Lease
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, DECLINED, OFFERED, RELEASED

NOW = 1_800_000_000.0
SUBNET = "10.0.0.0/24"
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def lease(ip: str, mac: str, expires: float, state: str = BOUND) -> Lease:
    return Lease(ip, mac, SUBNET, state, expires, NOW)


def claim(db: Database, *claims: Lease, now: float = NOW) -> list[Lease]:
    with db.write() as session:
        return leases.claim(session, list(claims), now)


def end(db: Database, ip: str, mac: str, state: str, until: float, now: float = NOW) -> None:
    with db.write() as session:
        leases.end(session, [(ip, mac)], state, until, now)


def stored(db: Database) -> dict[str, tuple[str, str]]:
    with db.read() as session:
        return {row.ip: (row.mac, row.state) for row in leases.rows(session)}


def test_first_claim_wins_and_the_holder_renews(db: Database) -> None:
    (won,) = claim(db, lease("10.0.0.5", A, NOW + 60))
    assert (won.mac, won.state, won.expires) == (A, BOUND, NOW + 60)
    (renewed,) = claim(db, lease("10.0.0.5", A, NOW + 600), now=NOW + 30)
    assert (renewed.mac, renewed.expires) == (A, NOW + 600)


def test_an_active_lease_is_not_taken(db: Database) -> None:
    claim(db, lease("10.0.0.5", A, NOW + 60))
    (result,) = claim(db, lease("10.0.0.5", B, NOW + 60), now=NOW + 59)
    assert result.mac == A
    assert stored(db) == {"10.0.0.5": (A, BOUND)}


def test_an_expired_lease_is_reclaimed(db: Database) -> None:
    claim(db, lease("10.0.0.5", A, NOW + 60))
    (result,) = claim(db, lease("10.0.0.5", B, NOW + 200), now=NOW + 60)
    assert (result.mac, result.expires) == (B, NOW + 200)


def test_two_claims_in_one_batch(db: Database) -> None:
    """The first claim for an address wins, the second learns the holder;
    a claim for another address in the same batch is not affected."""
    results = claim(
        db,
        lease("10.0.0.5", A, NOW + 60),
        lease("10.0.0.5", B, NOW + 60),
        lease("10.0.0.6", B, NOW + 60),
    )
    assert [(r.ip, r.mac) for r in results] == [
        ("10.0.0.5", A),
        ("10.0.0.5", A),
        ("10.0.0.6", B),
    ]


def test_a_mac_taking_an_address_gives_up_its_other(db: Database) -> None:
    """Say server A bound .5 and server B, not yet aware, binds .6: the MAC
    keeps only .6, and .5 is free again."""
    claim(db, lease("10.0.0.5", A, NOW + 600), lease("10.0.0.7", B, NOW + 600))
    claim(db, lease("10.0.0.6", A, NOW + 600), now=NOW + 10)
    assert stored(db) == {
        "10.0.0.5": (A, RELEASED),
        "10.0.0.6": (A, BOUND),
        "10.0.0.7": (B, BOUND),
    }
    (taken,) = claim(db, lease("10.0.0.5", B, NOW + 600), now=NOW + 11)
    assert taken.mac == B


@pytest.mark.parametrize("first, later", [("10.0.0.5", "10.0.0.6"), ("10.0.0.6", "10.0.0.5")])
def test_a_mac_binding_twice_in_one_batch_keeps_the_later_address(
    db: Database, first: str, later: str
) -> None:
    """Two REQUESTs of one client land in one group commit: the later wins,
    and the earlier address is free again, as if they had come apart."""
    results = claim(db, lease(first, A, NOW + 600), lease(later, A, NOW + 600))
    assert [r.ip for r in results] == [first, later]
    assert stored(db) == {first: (A, RELEASED), later: (A, BOUND)}


def test_claims_keep_their_order_per_mac_when_an_address_is_contended(db: Database) -> None:
    """B holds .5; A asks for .5, then B renews .5 and moves to .6 in the same
    batch: B ends on .6, as its last claim says, and .5 is free."""
    claim(db, lease("10.0.0.5", B, NOW + 600))
    lost, renewed, moved = claim(
        db,
        lease("10.0.0.5", A, NOW + 600),
        lease("10.0.0.5", B, NOW + 600),
        lease("10.0.0.6", B, NOW + 600),
        now=NOW + 10,
    )
    assert (lost.mac, renewed.mac, moved.mac, moved.state) == (B, B, B, BOUND)
    assert stored(db) == {"10.0.0.5": (B, RELEASED), "10.0.0.6": (B, BOUND)}


def test_a_lost_claim_leaves_the_macs_address_alone(db: Database) -> None:
    """A client that asks for an address another holds keeps the one it has."""
    claim(db, lease("10.0.0.5", A, NOW + 600), lease("10.0.0.6", B, NOW + 600))
    (lost,) = claim(db, lease("10.0.0.6", A, NOW + 600), now=NOW + 10)
    assert lost.mac == B
    assert stored(db) == {"10.0.0.5": (A, BOUND), "10.0.0.6": (B, BOUND)}


def test_a_claim_keeps_its_hostname_and_exact_times(db: Database) -> None:
    """The batch travels as one document: nothing is rounded or lost on the way."""
    expires = NOW + 600.123456789
    (won,) = claim(db, Lease("10.0.0.5", A, SUBNET, BOUND, expires, NOW, "node-1.example"))
    with db.read() as session:
        (row,) = leases.rows(session)
    assert row == won
    assert (row.hostname, row.expires, row.updated) == ("node-1.example", expires, NOW)


def test_an_offer_leaves_the_macs_bound_address_alone(db: Database) -> None:
    """A server not yet aware of .5 offers .6: the client may still keep .5."""
    claim(db, lease("10.0.0.5", A, NOW + 600))
    claim(db, lease("10.0.0.6", A, NOW + 30, OFFERED), now=NOW + 10)
    assert stored(db) == {"10.0.0.5": (A, BOUND), "10.0.0.6": (A, OFFERED)}


def test_two_servers_binding_one_mac_at_once_leave_it_one_address(db: Database) -> None:
    """Two transactions bind one MAC to two addresses at the same moment, as
    two servers that have not seen each other's lease: the second waits for
    the first, then ends its lease, so the MAC holds one address."""
    second = threading.Thread(target=claim, args=(db, lease("10.0.0.6", A, NOW + 600)))
    with db.write() as first:
        leases.claim(first, [lease("10.0.0.5", A, NOW + 600)], NOW)
        second.start()
        # Time for the second to bind, were it not made to wait.
        second.join(1.0)
    second.join(10)
    assert stored(db) == {"10.0.0.5": (A, RELEASED), "10.0.0.6": (A, BOUND)}


def test_release_frees_the_address_at_once(db: Database) -> None:
    claim(db, lease("10.0.0.5", A, NOW + 600))
    end(db, "10.0.0.5", B, RELEASED, NOW)
    assert stored(db) == {"10.0.0.5": (A, BOUND)}
    end(db, "10.0.0.5", A, RELEASED, NOW + 10, now=NOW + 10)
    assert stored(db) == {"10.0.0.5": (A, RELEASED)}
    (result,) = claim(db, lease("10.0.0.5", B, NOW + 600), now=NOW + 10)
    assert result.mac == B


def test_a_declined_address_is_quarantined(db: Database) -> None:
    claim(db, lease("10.0.0.5", A, NOW + 600))
    end(db, "10.0.0.5", A, DECLINED, NOW + 300)
    assert stored(db) == {"10.0.0.5": (A, DECLINED)}
    for mac in (A, B):
        (result,) = claim(db, lease("10.0.0.5", mac, NOW + 600), now=NOW + 299)
        assert result.state == DECLINED
    (result,) = claim(db, lease("10.0.0.5", A, NOW + 900), now=NOW + 300)
    assert (result.mac, result.state) == (A, BOUND)


def test_reclaim_deletes_leases_long_ended(db: Database) -> None:
    claim(db, lease("10.0.0.5", A, NOW + 10), lease("10.0.0.6", B, NOW + 1000))
    with db.write() as session:
        assert leases.reclaim(session, NOW + 500) == 1
    assert stored(db) == {"10.0.0.6": (B, BOUND)}


def test_rows_changed_since(db: Database) -> None:
    claim(db, lease("10.0.0.5", A, NOW + 10), now=NOW)
    claim(db, lease("10.0.0.6", B, NOW + 10), now=NOW + 5)
    with db.read() as session:
        assert [r.ip for r in leases.rows(session, since=NOW + 1)] == ["10.0.0.6"]
