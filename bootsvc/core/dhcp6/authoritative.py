"""Authoritative DHCPv6: bootsvc hands out the addresses of `dhcp6_range`.

A node the CMDB knows (by the MAC in its DUID or in the EUI-64 of its
link-local address, or by its `dhcp6_duid` fact) gets its IPv6 interface
address, whichever of its clients asks (firmware, then iPXE, each with its
own DUID or IAID); any other client gets one from the range.
An ADVERTISE only holds an address in memory; REQUEST, RENEW, REBIND and a
SOLICIT with Rapid Commit take it in the database before the REPLY goes.
Every network-booting client also gets its boot file URL."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp6.book import Dhcp6Book, Range6
from bootsvc.core.dhcp6.bootfile import boot_options, http_base
from bootsvc.core.dhcp6.leases import Lease6
from bootsvc.core.dhcp6.reservations import Known6, Reservations6
from bootsvc.net.dhcp.responder import Silence
from bootsvc.net.dhcp6 import codec
from bootsvc.net.dhcp6 import options as opt
from bootsvc.net.dhcp6.codec import IaAddress, IdentityAssociation
from bootsvc.net.dhcp6.options import MessageType, Status
from bootsvc.net.dhcp6.responder import Dhcp6Reply, Dhcp6Request, Respond6
from bootsvc.settings import Settings
from bootsvc.store.leasetables import BOUND

Option = tuple[int, bytes]
BINDS = frozenset({MessageType.REQUEST, MessageType.RENEW, MessageType.REBIND})
# Most preferred (RFC 8415 section 21.8): a client takes this ADVERTISE at once.
MOST_PREFERRED = b"\xff"


@dataclass(frozen=True)
class Lifetimes:
    valid: int

    @property
    def renew(self) -> int:
        return self.valid // 2

    @property
    def rebind(self) -> int:
        return self.valid * 4 // 5


def range_from(settings: Settings) -> Range6:
    first, _, last = settings.dhcp6_range.partition("-")
    return Range6(settings.dhcp6_subnet, ipaddress.IPv6Address(first), ipaddress.IPv6Address(last))


def _ia(ia: IdentityAssociation, times: Lifetimes, address: str | None, status: str) -> Option:
    """An IA_NA with the address given, or with a status saying why none."""
    if address is None:
        inner = [(opt.STATUS_CODE, opt.status(Status.NO_ADDRS_AVAIL, status))]
        answer = IdentityAssociation(ia.iaid, 0, 0, inner)
    else:
        given = IaAddress(address, times.valid, times.valid)
        inner = [(opt.IA_ADDRESS, codec.pack_ia_address(given))]
        answer = IdentityAssociation(ia.iaid, times.renew, times.rebind, inner)
    return (opt.IA_NA, codec.pack_identity_association(answer))


class AuthoritativeResponder6:
    def __init__(
        self,
        book: Dhcp6Book,
        reservations: Reservations6,
        settings: Settings,
        loaders: Loaders,
    ) -> None:
        self.book = book
        self.reservations = reservations
        self.settings = settings
        self.loaders = loaders
        self.pool = range_from(settings)
        self.subnet = ipaddress.IPv6Network(settings.dhcp6_subnet)
        self.times = Lifetimes(settings.dhcp_lease_seconds)
        dns = [item for item in settings.dhcp6_dns.split(",") if item]
        self.common: list[Option] = [(opt.DNS_SERVERS, opt.pack_addresses(dns))] if dns else []

    def _on_link(self, request: Dhcp6Request) -> bool:
        link = ipaddress.IPv6Address(request.link_address)
        # A link-local or unspecified link address is our own link, when
        # this server has no address in the subnet, or a relay did not say.
        return link in self.subnet or link.is_link_local or link.is_unspecified

    def answer(self, request: Dhcp6Request, respond: Respond6) -> None:
        if not self._on_link(request):
            respond(Silence(f"no subnet is served for {request.link_address}", "no-subnet"))
            return
        node = self.reservations.node(request.duid.hex(), request.mac)
        kind = request.kind
        if kind == MessageType.SOLICIT and not request.rapid_commit:
            self._advertise(request, node, respond)
        elif kind in BINDS or kind == MessageType.SOLICIT:
            self._bind(request, node, respond)
        elif kind in (MessageType.RELEASE, MessageType.DECLINE):
            self._end(request, kind == MessageType.DECLINE, respond)
        elif kind == MessageType.CONFIRM:
            self._confirm(request, respond)
        else:
            respond(Dhcp6Reply(MessageType.REPLY, self._boot(request, node)))

    def _boot(self, request: Dhcp6Request, node: Known6 | None) -> list[Option]:
        secure = node.secure_boot if node is not None else self.loaders.secure_boot
        base = http_base(self.settings, request.server_address)
        found = boot_options(request.client, self.loaders, secure, request.server_address, base)
        return self.common + found

    def _reserved(self, node: Known6 | None) -> str | None:
        address = node.address if node is not None else None
        return address if address and ipaddress.IPv6Address(address) in self.subnet else None

    def _wanted(
        self, request: Dhcp6Request, ia: IdentityAssociation, node: Known6 | None
    ) -> str | None:
        """The address this IA should have: its reservation, else the one it
        holds or was offered, else one it asks for from the range."""
        reserved = self._reserved(node)
        if reserved is not None:
            return reserved
        duid = request.duid.hex()
        held = self.book.current(duid, ia.iaid)
        if held is not None:
            return held.address
        hostname = node.hostname if node else None
        for item in ia.addresses:
            if item.address in self.pool and self.book.usable(
                item.address,
                duid,
                ia.iaid,
                lambda a: self.reservations.reserved_for_another(a, hostname),
                hostname,
            ):
                return item.address
        return None

    def _offer(
        self, request: Dhcp6Request, ia: IdentityAssociation, node: Known6 | None
    ) -> Lease6 | None:
        hostname = node.hostname if node else None
        wanted = self._wanted(request, ia, node)
        pool = self.pool
        if wanted is not None and wanted not in pool:
            # A reservation outside the range: a pool of that one address.
            address = ipaddress.IPv6Address(wanted)
            pool = Range6(self.pool.subnet, address, address)
        return self.book.offer(
            pool,
            request.duid.hex(),
            ia.iaid,
            request.mac,
            [wanted] if wanted else [],
            lambda a: self.reservations.reserved_for_another(a, hostname),
            hostname,
        )

    def _advertise(self, request: Dhcp6Request, node: Known6 | None, respond: Respond6) -> None:
        options: list[Option] = []
        given: list[str] = []
        for ia in request.identity_associations:
            lease = self._offer(request, ia, node)
            if lease is not None:
                given.append(lease.address)
            options.append(_ia(ia, self.times, lease.address if lease else None, "range exhausted"))
        options += [(opt.PREFERENCE, MOST_PREFERRED), *self._boot(request, node)]
        respond(Dhcp6Reply(MessageType.ADVERTISE, options, tuple(given)))

    def _bind(self, request: Dhcp6Request, node: Known6 | None, respond: Respond6) -> None:
        duid = request.duid.hex()
        hostname = node.hostname if node else None
        now = self.book.clock()
        claims: list[Lease6] = []
        refused: dict[int, str] = {}
        for ia in request.identity_associations:
            lease = self._offer(request, ia, node)
            if lease is None:
                refused[ia.iaid] = "range exhausted"
                continue
            claims.append(
                Lease6(
                    lease.address,
                    duid,
                    ia.iaid,
                    request.mac,
                    self.pool.subnet,
                    BOUND,
                    now + self.times.valid,
                    now,
                    hostname,
                )
            )
        extra = [(opt.RAPID_COMMIT, b"")] if request.kind == MessageType.SOLICIT else []

        def committed(outcome: list[Lease6] | Exception) -> None:
            if isinstance(outcome, Exception):
                reason = f"lease database failed: {type(outcome).__name__}"
                respond(Silence(reason, "database-failed"))
                return
            won = {
                lease.iaid: lease.address
                for lease in outcome
                if lease.duid == duid and lease.state == BOUND
            }
            options: list[Option] = []
            for ia in request.identity_associations:
                address = won.get(ia.iaid)
                why = refused.get(ia.iaid, "held by another client")
                options.append(_ia(ia, self.times, address, why))
            options += extra + self._boot(request, node)
            respond(Dhcp6Reply(MessageType.REPLY, options, tuple(won.values())))

        if claims:
            self.book.bind(claims, committed)
        else:
            committed([])

    def _end(self, request: Dhcp6Request, declined: bool, respond: Respond6) -> None:
        duid = request.duid.hex()
        ended = [
            (item.address, duid, ia.iaid)
            for ia in request.identity_associations
            for item in ia.addresses
        ]

        def committed(outcome: Exception | None) -> None:
            if outcome is not None:
                respond(
                    Silence(f"lease database failed: {type(outcome).__name__}", "database-failed")
                )
                return
            done = opt.status(Status.SUCCESS, "declined" if declined else "released")
            addresses = tuple(address for address, _, _ in ended)
            respond(Dhcp6Reply(MessageType.REPLY, [(opt.STATUS_CODE, done)], addresses))

        self.book.end(ended, declined, committed)

    def _confirm(self, request: Dhcp6Request, respond: Respond6) -> None:
        addresses = [item.address for ia in request.identity_associations for item in ia.addresses]
        if not addresses:
            respond(Silence("CONFIRM names no address", "no-address"))
            return
        on_link = all(ipaddress.IPv6Address(a) in self.subnet for a in addresses)
        code = Status.SUCCESS if on_link else Status.NOT_ON_LINK
        status = opt.status(code, "on link" if on_link else f"not on {self.subnet}")
        respond(Dhcp6Reply(MessageType.REPLY, [(opt.STATUS_CODE, status)], tuple(addresses)))
