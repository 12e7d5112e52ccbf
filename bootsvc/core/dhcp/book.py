"""Which addresses are taken, kept in memory, and the way to take one.

Memory only proposes: it finds a candidate address without scanning the
table, and remembers a client's previous address. The database decides,
through `LeaseWriter` and its conditional upsert; after each commit memory
takes the row the database returned, so a claim lost to another server
teaches us who holds the address and the next candidate is tried. `sync`
reads what other servers changed, so they seldom propose the same address.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from ipaddress import IPv4Address

from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.leases import BOUND, DECLINED, OFFERED, RELEASED, Lease
from bootsvc.core.dhcp.networks import Network
from bootsvc.core.dhcp.writer import LeaseWriter
from bootsvc.store.db import Database

# Candidates tried per DISCOVER before giving up (each loss means another
# server took the address between our sync and our commit).
ATTEMPTS = 4
COMMIT_TIMEOUT_SECONDS = 10.0


class _Pool:
    """A pool's addresses as a byte per address: 0 free as far as we know."""

    def __init__(self, first: IPv4Address, last: IPv4Address) -> None:
        self.bounds = (first, last)
        self.first = int(first)
        self.taken = bytearray(int(last) - self.first + 1)

    def offset(self, ip: str) -> int | None:
        index = int(IPv4Address(ip)) - self.first
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
        return str(IPv4Address(self.first + index))


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
        """Take rows changed since `since` (all when None), e.g. by other servers."""
        with db.read() as session:
            self.load(leases.rows(session, since=since))

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

    def _commit(self, lease: Lease) -> Lease:
        result = self.writer.claim(lease).result(COMMIT_TIMEOUT_SECONDS)
        with self._lock:
            self._apply(result, force=True)
        return result

    def offer(
        self,
        network: Network,
        mac: str,
        reserved: str | None,
        requested: str | None,
        hostname: str | None,
        blocked: Callable[[str], bool],
    ) -> Lease | None:
        """Hold an address for `mac`: its reservation, else its previous
        address, the one it asked for, or any free one from the pool, in that
        order. `blocked` tells addresses reserved for others. None when
        nothing is free."""
        if reserved:
            wanted = [reserved]
        else:
            previous = self.by_mac.get((network.key, mac))
            wanted = [ip for ip in (previous, requested) if ip and network.in_pool(ip)]
        for _ in range(ATTEMPTS):
            now = self.clock()
            with self._lock:
                ip = self._candidate(network, mac, wanted, blocked, now)
                if ip is None:
                    return None
                held = self.by_ip.get(ip)
                if (
                    held is not None
                    and held.held_by(mac, now)
                    and held.state == BOUND
                    and held.expires >= now + self.offer_seconds
                ):
                    return held
                claim = Lease(
                    ip, mac, network.key, OFFERED, now + self.offer_seconds, now, hostname
                )
                self._apply(claim, force=True)
            result = self._commit(claim)
            if result.held_by(mac, self.clock()):
                return result
            wanted = [ip for ip in wanted if ip != claim.ip]
        return None

    def bind(self, network: Network, mac: str, ip: str, hostname: str | None) -> Lease | None:
        """Take or extend `ip` for `mac` for the network's lease time; None
        when someone else holds it (or `mac` declined it)."""
        now = self.clock()
        with self._lock:
            if not self._usable(ip, mac, now, lambda _ip: False):
                return None
        claim = Lease(ip, mac, network.key, BOUND, now + network.lease_seconds, now, hostname)
        result = self._commit(claim)
        return result if result.held_by(mac, self.clock()) and result.state == BOUND else None

    def _end(self, lease: Lease, state: str, hold: float) -> None:
        now = self.clock()
        with self._lock:
            self.by_ip[lease.ip] = replace(lease, state=state, expires=now + hold, updated=now)
            if state == DECLINED and self.by_mac.get((lease.subnet, lease.mac)) == lease.ip:
                del self.by_mac[(lease.subnet, lease.mac)]

    def release(self, mac: str, ip: str) -> Lease | None:
        """Give `ip` back if `mac` holds it; returns the lease released."""
        lease = self.by_ip.get(ip)
        if lease is None or not lease.held_by(mac, self.clock()):
            return None
        self.writer.release(ip, mac).result(COMMIT_TIMEOUT_SECONDS)
        self._end(lease, RELEASED, 0.0)
        return lease

    def decline(self, mac: str, ip: str) -> Lease | None:
        """Quarantine `ip`, which `mac` found in use by someone else."""
        lease = self.by_ip.get(ip)
        if lease is None or not lease.held_by(mac, self.clock()):
            return None
        self.writer.decline(ip, mac, self.decline_seconds).result(COMMIT_TIMEOUT_SECONDS)
        self._end(lease, DECLINED, self.decline_seconds)
        return lease
