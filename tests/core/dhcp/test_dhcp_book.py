"""Taking addresses: the order of candidates, exhaustion and reclaiming,
offers, declines, another server's leases, and a restart."""

from __future__ import annotations

from pathlib import Path

from bootsvc.core.dhcp.book import LeaseBook
from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.dhcp.networks import Network, select_network
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND
from tests.support.clock import Clock
from tests.support.dhcpstack import Stack, dhcp_settings, make_stack, settle

MACS = [f"02:00:00:00:01:{n:02x}" for n in range(16)]


def network(stack: Stack) -> Network:
    found = select_network(stack.directory.networks, "10.0.0.1")
    assert found is not None
    return found


def offer(
    book: LeaseBook,
    net: Network,
    mac: str,
    reserved: str | None = None,
    requested: str | None = None,
    blocked: frozenset[str] = frozenset(),
) -> Lease | None:
    return book.offer(net, mac, reserved, requested, None, blocked.__contains__)


def bind(book: LeaseBook, net: Network, mac: str, ip: str) -> Lease | None:
    result = settle(lambda done: book.bind(net, mac, ip, None, done))
    assert not isinstance(result, Exception)
    return result


def dora(book: LeaseBook, net: Network, mac: str) -> Lease | None:
    offered = offer(book, net, mac)
    return bind(book, net, mac, offered.ip) if offered else None


def test_candidates_in_order(dhcp_stack: Stack) -> None:
    book, net = dhcp_stack.book, network(dhcp_stack)
    reserved = offer(book, net, MACS[0], reserved="10.0.0.20", requested="10.0.0.105")
    assert reserved is not None and reserved.ip == "10.0.0.20"
    requested = offer(book, net, MACS[1], requested="10.0.0.105")
    assert requested is not None and requested.ip == "10.0.0.105"
    # Outside the pool, a requested address is not given.
    elsewhere = offer(book, net, MACS[2], requested="10.0.0.50")
    assert elsewhere is not None and net.in_pool(elsewhere.ip)
    assert elsewhere.ip != "10.0.0.105"
    # Addresses reserved for others are skipped.
    pool = [f"10.0.0.{n}" for n in range(100, 110)]
    blocked = frozenset(pool[:-1])
    last = offer(book, net, MACS[3], blocked=blocked)
    assert last is not None and last.ip == pool[-1]


def test_an_offer_holds_the_address_until_it_expires(dhcp_stack: Stack, dhcp_clock: Clock) -> None:
    book, net = dhcp_stack.book, network(dhcp_stack)
    first = offer(book, net, MACS[0], requested="10.0.0.100")
    second = offer(book, net, MACS[1], requested="10.0.0.100")
    assert first is not None and second is not None
    assert (first.ip, second.ip != first.ip) == ("10.0.0.100", True)
    dhcp_clock.advance(dhcp_stack.settings.dhcp_offer_seconds)
    third = offer(book, net, MACS[2], requested="10.0.0.100")
    assert third is not None and third.ip == "10.0.0.100"


def test_exhaustion_and_reclaiming_expired_leases(dhcp_stack: Stack, dhcp_clock: Clock) -> None:
    book, net = dhcp_stack.book, network(dhcp_stack)
    bound = [dora(book, net, mac) for mac in MACS[:10]]
    assert len({lease.ip for lease in bound if lease}) == 10
    assert offer(book, net, MACS[10]) is None
    # The same clients keep their addresses.
    again = offer(book, net, MACS[3])
    assert again is not None and bound[3] is not None and again.ip == bound[3].ip
    dhcp_clock.advance(dhcp_stack.settings.dhcp_lease_seconds)
    late = dora(book, net, MACS[10])
    assert late is not None and late.ip in {lease.ip for lease in bound if lease}


def test_bind_refuses_an_address_someone_holds(dhcp_stack: Stack) -> None:
    book, net = dhcp_stack.book, network(dhcp_stack)
    held = dora(book, net, MACS[0])
    assert held is not None and held.state == BOUND
    assert bind(book, net, MACS[1], held.ip) is None
    renewed = bind(book, net, MACS[0], held.ip)
    assert renewed is not None and renewed.mac == MACS[0]


def test_release_and_decline(dhcp_stack: Stack, dhcp_clock: Clock) -> None:
    book, net = dhcp_stack.book, network(dhcp_stack)
    held = dora(book, net, MACS[0])
    assert held is not None
    released = settle(lambda done: book.release(MACS[0], held.ip, done))
    assert isinstance(released, Lease)
    taken = bind(book, net, MACS[1], held.ip)
    assert taken is not None
    # Declined: nobody gets the address, not even the one who declined it.
    settle(lambda done: book.decline(MACS[1], held.ip, done))
    assert bind(book, net, MACS[1], held.ip) is None
    assert bind(book, net, MACS[2], held.ip) is None
    other = offer(book, net, MACS[1], requested=held.ip)
    assert other is not None and other.ip != held.ip
    dhcp_clock.advance(dhcp_stack.settings.dhcp_decline_seconds)
    assert bind(book, net, MACS[2], held.ip) is not None
    # Only the holder can release.
    assert settle(lambda done: book.release(MACS[0], held.ip, done)) is None


def test_another_servers_leases(
    db: Database, data_dir: Path, dhcp_stack: Stack, dhcp_clock: Clock
) -> None:
    """A second server on the same database: a claim it lost teaches it the
    holder, and `sync` shows it the other server's leases before it offers."""
    other = make_stack(db, dhcp_settings(data_dir, db), dhcp_clock)
    try:
        net = network(dhcp_stack)
        held = dora(dhcp_stack.book, net, MACS[0])
        assert held is not None
        assert bind(other.book, net, MACS[1], held.ip) is None
        assert other.book.by_ip[held.ip].mac == MACS[0]
        mine = dora(other.book, net, MACS[2])
        assert mine is not None
        dhcp_stack.book.sync(db, None)
        for mac in MACS[3:11]:
            proposed = offer(dhcp_stack.book, net, mac)
            assert proposed is None or proposed.ip not in {held.ip, mine.ip}
    finally:
        other.writer.stop()


def test_leases_survive_a_restart(
    db: Database, data_dir: Path, dhcp_stack: Stack, dhcp_clock: Clock
) -> None:
    net = network(dhcp_stack)
    held = dora(dhcp_stack.book, net, MACS[0])
    assert held is not None
    dhcp_stack.writer.stop()
    restarted = make_stack(db, dhcp_settings(data_dir, db), dhcp_clock)
    try:
        assert bind(restarted.book, net, MACS[1], held.ip) is None
        again = offer(restarted.book, net, MACS[0])
        assert again is not None and again.ip == held.ip
    finally:
        restarted.writer.stop()


def test_binding_another_address_frees_the_first(dhcp_stack: Stack) -> None:
    """A client bound here asks for another address (one another server
    offered it): it keeps only the new one, and the old one goes to others."""
    book, net = dhcp_stack.book, network(dhcp_stack)
    first = dora(book, net, MACS[0])
    assert first is not None
    other = "10.0.0.109" if first.ip != "10.0.0.109" else "10.0.0.108"
    assert bind(book, net, MACS[0], other) is not None
    current = book.current(net, MACS[0])
    assert current is not None and current.ip == other
    taken = offer(book, net, MACS[1], requested=first.ip)
    assert taken is not None and taken.ip == first.ip
    assert bind(book, net, MACS[1], first.ip) is not None
