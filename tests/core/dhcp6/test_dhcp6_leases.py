"""The DHCPv6 lease statements on SQLite and PostgreSQL: an address goes to
one client's IA at a time, an expired one to whoever claims it, a declined
one to nobody, and a client that binds a new address gives up its old one."""

from __future__ import annotations

from bootsvc.core.dhcp6 import leases
from bootsvc.core.dhcp6.leases import Lease6
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, DECLINED, RELEASED

NOW = 1_800_000_000.0
SUBNET = "fd00:77::/64"
A, B = "000300010200000000aa", "000300010200000000bb"


def lease(address: str, duid: str, iaid: int = 1, expires: float = NOW + 600) -> Lease6:
    return Lease6(address, duid, iaid, None, SUBNET, BOUND, expires, NOW)


def claim(db: Database, *claims: Lease6, now: float = NOW, server: str = "s1") -> list[Lease6]:
    with db.write() as session:
        return leases.claim(session, claims, now, server)


def states(db: Database) -> dict[str, tuple[str, str]]:
    with db.read() as session:
        return {row.address: (row.duid, row.state) for row in leases.rows(session)}


def test_an_address_goes_to_one_client_at_a_time(db: Database) -> None:
    (won,) = claim(db, lease("fd00:77::100", A))
    assert (won.duid, won.state) == (A, BOUND)
    # Another server, another client: it loses and learns who holds it.
    (lost,) = claim(db, lease("fd00:77::100", B), server="s2")
    assert lost.duid == A
    # The same DUID with another IAID is another IA: it loses too.
    (other_ia,) = claim(db, lease("fd00:77::100", A, iaid=2))
    assert (other_ia.duid, other_ia.iaid) == (A, 1)
    # Expired, the address is anyone's.
    (taken,) = claim(db, lease("fd00:77::100", B), now=NOW + 601, server="s2")
    assert taken.duid == B


def test_binding_a_new_address_ends_the_old_one(db: Database) -> None:
    claim(db, lease("fd00:77::100", A))
    claim(db, lease("fd00:77::101", A), now=NOW + 1)
    assert states(db) == {"fd00:77::100": (A, RELEASED), "fd00:77::101": (A, BOUND)}


def test_a_declined_address_is_nobodys_until_its_quarantine_ends(db: Database) -> None:
    claim(db, lease("fd00:77::100", A))
    with db.write() as session:
        leases.end(session, [("fd00:77::100", A, 1)], DECLINED, NOW + 300, NOW, "s1")
        # Ending what another client holds changes nothing.
        leases.end(session, [("fd00:77::100", B, 1)], RELEASED, NOW, NOW, "s1")
    assert states(db) == {"fd00:77::100": (A, DECLINED)}
    assert claim(db, lease("fd00:77::100", A), now=NOW + 1)[0].state == DECLINED
    assert claim(db, lease("fd00:77::100", B), now=NOW + 301)[0].duid == B


def test_reclaim_deletes_leases_that_ended(db: Database) -> None:
    claim(db, lease("fd00:77::100", A, expires=NOW + 10), lease("fd00:77::101", B))
    with db.write() as session:
        assert leases.reclaim(session, NOW + 100) == 1
    assert list(states(db)) == ["fd00:77::101"]
