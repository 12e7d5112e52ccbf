"""Authoritative DHCP: bootsvc hands out the addresses.

A node the CMDB knows gets its interface's address (a reservation) and its
host name; any other MAC gets an address from the pool and is enlisted as a
`new` node. Every client that boots from the network also gets its
first-stage loader (bootsvc.core.dhcp.loaders).
"""

from __future__ import annotations

from collections.abc import Callable

from bootsvc.core.dhcp.book import LeaseBook
from bootsvc.core.dhcp.directory import Directory, Known
from bootsvc.core.dhcp.enlist import Enlister
from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.dhcp.loaders import Loaders, loader_fields, loader_for
from bootsvc.core.dhcp.networks import Network, select_network
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import ZERO_IP
from bootsvc.net.dhcp.options import MessageType
from bootsvc.net.dhcp.responder import Reply, Request, Respond, Silence
from bootsvc.store.leasetables import OFFERED


class AuthoritativeResponder:
    def __init__(
        self, book: LeaseBook, directory: Directory, loaders: Loaders, enlister: Enlister | None
    ) -> None:
        self.book = book
        self.directory = directory
        self.loaders = loaders
        self.enlister = enlister

    def answer(self, request: Request, respond: Respond) -> None:
        address = request.giaddr or request.server_ip
        network = select_network(self.directory.networks, address)
        if network is None:
            respond(Silence(f"no subnet is served for {address}", "no-subnet"))
        elif request.kind == MessageType.DISCOVER:
            self._discover(request, network, respond)
        elif request.kind == MessageType.REQUEST:
            self._request(request, network, respond)
        elif request.kind == MessageType.INFORM:
            respond(self._reply(MessageType.ACK, request, network, ZERO_IP))
        elif request.kind == MessageType.RELEASE:
            ip = request.ciaddr or ZERO_IP
            self.book.release(request.mac, ip, _ended(respond, f"released {ip}", "released", ip))
        else:
            ip = request.requested_ip or ZERO_IP
            hold = f"{ip} declined, unused for {self.book.decline_seconds:.0f} s"
            self.book.decline(request.mac, ip, _ended(respond, hold, "declined", ip))

    def _reserved(self, node: Known | None, network: Network) -> str | None:
        return node.ip if node and node.ip and network.contains(node.ip) else None

    def _hostname(self, request: Request, node: Known | None) -> str | None:
        return node.hostname if node else request.packet.text_option(opt.HOSTNAME)

    def _discover(self, request: Request, network: Network, respond: Respond) -> None:
        mac = request.mac
        node = self.directory.node(mac)
        if node is None and self.enlister is not None:
            self.enlister.add(mac, request.client)
        reserved = self._reserved(node, network)
        requested = request.requested_ip
        lease = self.book.offer(
            network,
            mac,
            reserved,
            requested if requested and network.contains(requested) else None,
            self._hostname(request, node),
            lambda ip: self.directory.reserved_for_another(ip, mac),
        )
        if lease is None:
            respond(
                Silence(f"no free address on {network.name} ({network.subnet})", "pool-exhausted")
            )
            return
        note = None
        if reserved and lease.ip != reserved:
            note = f"reserved address {reserved} is held by another client"
        respond(self._reply(MessageType.OFFER, request, network, lease.ip, note))

    def _refusal(self, request: Request, network: Network, ip: str) -> str | None:
        """Why `ip` cannot be this client's, if it cannot."""
        if not network.contains(ip):
            return f"{ip} is not on {network.subnet}"
        reserved = self._reserved(self.directory.node(request.mac), network)
        if reserved and ip != reserved:
            return f"this client's address is {reserved}"
        if not reserved and (
            not network.in_pool(ip) or self.directory.reserved_for_another(ip, request.mac)
        ):
            return f"{ip} is not in the pool"
        return None

    def _request(self, request: Request, network: Network, respond: Respond) -> None:
        mac = request.mac
        chosen = request.server_id
        if chosen is not None and chosen != request.server_ip:
            offered = self.book.current(network, mac)
            if offered is not None and offered.state == OFFERED:
                self.book.release(mac, offered.ip, lambda _outcome: None)
            respond(Silence(f"client chose server {chosen}", "other-server"))
            return
        ip = request.requested_ip or request.ciaddr
        if ip is None:
            respond(Silence("request names no address", "no-address"))
            return
        refusal = self._refusal(request, network, ip)
        if refusal is not None:
            respond(Reply(MessageType.NAK, note=refusal))
            return

        def bound(outcome: Lease | Exception | None) -> None:
            if isinstance(outcome, Exception):
                respond(
                    Silence(f"lease database failed: {type(outcome).__name__}", "database-failed")
                )
            elif outcome is None:
                respond(Reply(MessageType.NAK, note=f"{ip} is held by another client"))
            else:
                respond(self._reply(MessageType.ACK, request, network, ip))

        node = self.directory.node(mac)
        self.book.bind(network, mac, ip, self._hostname(request, node), bound)

    def _reply(
        self,
        kind: MessageType,
        request: Request,
        network: Network,
        ip: str,
        note: str | None = None,
    ) -> Reply:
        node = self.directory.node(request.mac)
        # Renewal (T1) at 1/2 and rebinding (T2) at 7/8 of the lease time.
        options = dict(network.leased_options if ip != ZERO_IP else network.options)
        if node is not None:
            options[opt.HOSTNAME] = opt.text(node.hostname)
            if node.domain:
                options[opt.DOMAIN_NAME] = opt.text(node.domain)
        reply = Reply(kind, yiaddr=ip, options=options, note=note)
        secure_boot = node.secure_boot if node is not None else self.loaders.secure_boot
        boot = loader_for(request.client, self.loaders, secure_boot)
        if boot is not None:
            boot_fields = loader_fields(boot, self.loaders, request.server_ip)
            reply.siaddr, reply.file = boot_fields.siaddr, boot_fields.file
            options.update(boot_fields.options)
        return reply


def _ended(
    respond: Respond, done: str, cause: str, ip: str
) -> Callable[[Lease | Exception | None], None]:
    """The callback for RELEASE and DECLINE, which get no reply."""

    def ended(outcome: Lease | Exception | None) -> None:
        if isinstance(outcome, Exception):
            respond(Silence(f"lease database failed: {type(outcome).__name__}", "database-failed"))
        elif outcome is None:
            respond(Silence(f"{ip} is not held by this client", "not-held"))
        else:
            respond(Silence(done, cause))

    return ended
