"""Which addresses are taken, kept in memory, and the way to take one.

Memory proposes: it finds a free address for an offer without scanning the
table, and remembers a client's previous address. The database decides
when a client REQUESTs, through `LeaseWriter` and its conditional upsert;
after each commit memory takes the row the database returned, so a claim
lost to another server teaches us who holds the address. `sync` reads what
other servers changed, so that they seldom offer the same address.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from ipaddress import IPv4Address

from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.dhcp.networks import Network, address_int, int_address
from bootsvc.core.dhcp.writer import LeaseWriter
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, DECLINED, OFFERED, RELEASED

# Called once a change is committed: with the lease, None when there was
# nothing to do (no free address, or not this client's), or the error.
LeaseDone = Callable[[Lease | Exception | None], None]


class _Pool:
    """A pool's addresses as a byte per address: 0 free as far as we know."""

    def __init__(self, first: IPv4Address, last: IPv4Address) -> None:
        self.bounds = (first, last)
        self.first = int(first)
        self.taken = bytearray(int(last) - self.first + 1)

    def offset(self, ip: str) -> int | None:
        index = address_int(ip) - self.first
        return index if 0 <= index < len(self.taken) else None

    def mark(self, ip: str, value: int) -> None:
        index = self.offset(ip)
        if index is not None:
            self.taken[index] = value

    def free_from(self, start: int) -> int | None:
        found = self.taken.find(0, start)
        if found < 0:
            found = self.taken.find(0, 0, start)
        return None if found < 0 else found

    def address(self, index: int) -> str:
        return int_address(self.first + index)


class LeaseBook:
    def __init__(
        self,
        writer: LeaseWriter,
        offer_seconds: float,
        decline_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.offer_seconds = offer_seconds
        self.decline_seconds = decline_seconds
        self.clock = clock
        self.by_ip: dict[str, Lease] = {}
        self.by_mac: dict[tuple[str, str], str] = {}
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()

    def load(self, rows: Iterable[Lease]) -> None:
        with self._lock:
            for lease in rows:
                self._apply(lease)

    def sync(self, db: Database, since: float | None) -> None:
        """Take the rows other servers changed since `since` (all rows when None)."""
        other = None if since is None else self.writer.server
        with db.read() as session:
            self.load(leases.rows(session, since=since, not_by=other))

    def _apply(self, lease: Lease, force: bool = False) -> None:
        current = self.by_ip.get(lease.ip)
        if current is not None and not force and current.updated > lease.updated:
            return
        self.by_ip[lease.ip] = lease
        if lease.state != DECLINED:
            self.by_mac[(lease.subnet, lease.mac)] = lease.ip
        pool = self._pools.get(lease.subnet)
        if pool is not None and lease.active(self.clock()):
            pool.mark(lease.ip, 1)

    def _pool(self, network: Network) -> _Pool | None:
        if network.pool is None:
            return None
        pool = self._pools.get(network.key)
        if pool is None or pool.bounds != network.pool:
            pool = self._pools[network.key] = _Pool(*network.pool)
            self._recount(pool, network.key)
        return pool

    def _recount(self, pool: _Pool, subnet: str) -> None:
        now = self.clock()
        pool.taken[:] = bytes(len(pool.taken))
        for lease in self.by_ip.values():
            if lease.subnet == subnet and lease.active(now):
                pool.mark(lease.ip, 1)

    def sweep(self, forget_before: float) -> None:
        """Free expired addresses in the pools' maps, and forget leases that
        ended before `forget_before` (the database reclaims them too)."""
        with self._lock:
            for ip in [ip for ip, lease in self.by_ip.items() if lease.expires < forget_before]:
                lease = self.by_ip.pop(ip)
                if self.by_mac.get((lease.subnet, lease.mac)) == ip:
                    del self.by_mac[(lease.subnet, lease.mac)]
            for subnet, pool in self._pools.items():
                self._recount(pool, subnet)

    def current(self, network: Network, mac: str) -> Lease | None:
        """The lease `mac` holds on `network` now, as far as memory knows."""
        ip = self.by_mac.get((network.key, mac))
        lease = self.by_ip.get(ip) if ip else None
        return lease if lease is not None and lease.held_by(mac, self.clock()) else None

    def _usable(self, ip: str, mac: str, now: float, blocked: Callable[[str], bool]) -> bool:
        lease = self.by_ip.get(ip)
        taken = lease is not None and lease.active(now) and not lease.held_by(mac, now)
        return not taken and not blocked(ip)

    def _candidate(
        self,
        network: Network,
        mac: str,
        wanted: list[str],
        blocked: Callable[[str], bool],
        now: float,
    ) -> str | None:
        for ip in wanted:
            if self._usable(ip, mac, now, blocked):
                return ip
        pool = self._pool(network)
        if pool is None:
            return None
        start = zlib.crc32(mac.encode()) % len(pool.taken)
        for recounted in (False, True):
            while (index := pool.free_from(start)) is not None:
                ip = pool.address(index)
                if self._usable(ip, mac, now, blocked):
                    return ip
                pool.taken[index] = 1
            if not recounted:
                self._recount(pool, network.key)
        return None

    def _learn(self, lease: Lease) -> None:
        with self._lock:
            previous = self.by_mac.get((lease.subnet, lease.mac))
            self._apply(lease, force=True)
            old = self.by_ip.get(previous) if previous and previous != lease.ip else None
            if old is not None and old.mac == lease.mac and lease.state == BOUND:
                # The commit ended the MAC's other lease (leases.claim): so does memory.
                self.by_ip[old.ip] = replace(old, state=RELEASED, expires=lease.updated)

    def offer(
        self,
        network: Network,
        mac: str,
        reserved: str | None,
        requested: str | None,
        hostname: str | None,
        blocked: Callable[[str], bool],
    ) -> Lease | None:
        """Hold an address for `mac` for the offer time: its reservation, else
        its previous address, the one it asked for, or any free one from the
        pool, in that order; `blocked` tells addresses reserved for others.
        None when nothing is free.

        Offers stay in memory (as in Kea and dnsmasq): only a REQUEST takes
        an address in the database. Another server may offer the same
        address meanwhile; one of the two REQUESTs then loses its claim and
        is NAKed, and that client starts over."""
        if reserved:
            wanted = [reserved]
        else:
            previous = self.by_mac.get((network.key, mac))
            wanted = [ip for ip in (previous, requested) if ip and network.in_pool(ip)]
        now = self.clock()
        with self._lock:
            ip = self._candidate(network, mac, wanted, blocked, now)
            if ip is None:
                return None
            held = self.by_ip.get(ip)
            if held is not None and held.held_by(mac, now) and held.state == BOUND:
                return held
            offer = Lease(ip, mac, network.key, OFFERED, now + self.offer_seconds, now, hostname)
            self._apply(offer, force=True)
        return offer

    def bind(
        self, network: Network, mac: str, ip: str, hostname: str | None, done: LeaseDone
    ) -> None:
        """Take or extend `ip` for `mac` for the network's lease time; `done`
        gets None when someone else holds it (or `mac` declined it)."""
        now = self.clock()
        with self._lock:
            usable = self._usable(ip, mac, now, lambda _ip: False)
        if not usable:
            done(None)
            return

        def committed(outcome: Lease | Exception) -> None:
            if isinstance(outcome, Exception):
                done(outcome)
                return
            self._learn(outcome)
            bound = outcome.held_by(mac, self.clock()) and outcome.state == BOUND
            done(outcome if bound else None)

        claim = Lease(ip, mac, network.key, BOUND, now + network.lease_seconds, now, hostname)
        self.writer.claim(claim, committed)

    def release(self, mac: str, ip: str, done: LeaseDone) -> None:
        """Give `ip` back if `mac` holds it; `done` gets the lease released.
        An offer, never committed, is only forgotten."""
        lease = self.by_ip.get(ip)
        if lease is not None and lease.state == OFFERED and lease.held_by(mac, self.clock()):
            with self._lock:
                self.by_ip[ip] = replace(lease, expires=self.clock())
            done(lease)
            return
        self._end(mac, ip, RELEASED, 0.0, done)

    def decline(self, mac: str, ip: str, done: LeaseDone) -> None:
        """Quarantine `ip`, which `mac` found in use by someone else."""
        self._end(mac, ip, DECLINED, self.decline_seconds, done)

    def _end(self, mac: str, ip: str, state: str, hold: float, done: LeaseDone) -> None:
        lease = self.by_ip.get(ip)
        if lease is None or not lease.held_by(mac, self.clock()):
            done(None)
            return

        def committed(error: Exception | None) -> None:
            if error is not None:
                done(error)
                return
            now = self.clock()
            with self._lock:
                self.by_ip[ip] = replace(lease, state=state, expires=now + hold, updated=now)
                if state == DECLINED and self.by_mac.get((lease.subnet, mac)) == ip:
                    del self.by_mac[(lease.subnet, mac)]
            done(lease)

        if state == RELEASED:
            self.writer.release(ip, mac, committed)
        else:
            self.writer.decline(ip, mac, hold, committed)
