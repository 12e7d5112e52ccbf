"""Authoritative DHCP: bootsvc hands out the addresses.

A node the CMDB knows gets its interface's address (a reservation) and its
host name; any other MAC gets an address from the pool and is enlisted as a
`new` node. Every client that boots from the network also gets its
first-stage loader (bootsvc.core.dhcp.boot).
"""

from __future__ import annotations

from bootsvc.core.dhcp.book import LeaseBook
from bootsvc.core.dhcp.boot import Loaders, choose, fields
from bootsvc.core.dhcp.directory import Directory, Known
from bootsvc.core.dhcp.enlist import Enlister
from bootsvc.core.dhcp.leases import OFFERED
from bootsvc.core.dhcp.networks import Network, select_network
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import ZERO_IP
from bootsvc.net.dhcp.options import MessageType
from bootsvc.net.dhcp.responder import Reply, Request, Silence


class AuthoritativeResponder:
    def __init__(
        self, book: LeaseBook, directory: Directory, loaders: Loaders, enlister: Enlister | None
    ) -> None:
        self.book = book
        self.directory = directory
        self.loaders = loaders
        self.enlister = enlister

    def answer(self, request: Request) -> Reply | Silence:
        address = request.giaddr or request.server_ip
        network = select_network(self.directory.networks, address)
        if network is None:
            return Silence(f"no subnet is served for {address}")
        if request.kind == MessageType.DISCOVER:
            return self._discover(request, network)
        if request.kind == MessageType.REQUEST:
            return self._request(request, network)
        if request.kind == MessageType.INFORM:
            return self._reply(MessageType.ACK, request, network, ZERO_IP)
        if request.kind == MessageType.RELEASE:
            return self._release(request)
        return self._decline(request)

    def _reserved(self, node: Known | None, network: Network) -> str | None:
        return node.ip if node and node.ip and network.contains(node.ip) else None

    def _hostname(self, request: Request, node: Known | None) -> str | None:
        return node.hostname if node else request.packet.text_option(opt.HOSTNAME)

    def _discover(self, request: Request, network: Network) -> Reply | Silence:
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
            blocked=lambda ip: self.directory.reserved_for_another(ip, mac),
        )
        if lease is None:
            return Silence(f"no free address on {network.name} ({network.subnet})")
        note = None
        if reserved and lease.ip != reserved:
            note = f"reserved address {reserved} is held by another client"
        return self._reply(MessageType.OFFER, request, network, lease.ip, note)

    def _nak(self, note: str) -> Reply:
        return Reply(MessageType.NAK, note=note)

    def _request(self, request: Request, network: Network) -> Reply | Silence:
        mac = request.mac
        chosen = request.server_id
        if chosen is not None and chosen != request.server_ip:
            offered = self.book.current(network, mac)
            if offered is not None and offered.state == OFFERED:
                self.book.release(mac, offered.ip)
            return Silence(f"client chose server {chosen}")
        ip = request.requested_ip or request.ciaddr
        if ip is None:
            return Silence("request names no address")
        if not network.contains(ip):
            return self._nak(f"{ip} is not on {network.subnet}")
        node = self.directory.node(mac)
        reserved = self._reserved(node, network)
        if reserved and ip != reserved:
            return self._nak(f"this client's address is {reserved}")
        if not reserved and (
            not network.in_pool(ip) or self.directory.reserved_for_another(ip, mac)
        ):
            return self._nak(f"{ip} is not in the pool")
        if self.book.bind(network, mac, ip, self._hostname(request, node)) is None:
            return self._nak(f"{ip} is held by another client")
        return self._reply(MessageType.ACK, request, network, ip)

    def _release(self, request: Request) -> Silence:
        ip = request.ciaddr
        if ip is None or self.book.release(request.mac, ip) is None:
            return Silence(f"{ip} is not held by this client")
        return Silence(f"released {ip}")

    def _decline(self, request: Request) -> Silence:
        ip = request.requested_ip
        if ip is None or self.book.decline(request.mac, ip) is None:
            return Silence(f"{ip} is not held by this client")
        return Silence(f"{ip} declined, unused for {self.book.decline_seconds:.0f} s")

    def _reply(
        self,
        kind: MessageType,
        request: Request,
        network: Network,
        ip: str,
        note: str | None = None,
    ) -> Reply:
        node = self.directory.node(request.mac)
        options = dict(network.options)
        if ip != ZERO_IP:
            options.update(network.lease_options())
        if node is not None:
            options[opt.HOSTNAME] = opt.text(node.hostname)
            if node.domain:
                options[opt.DOMAIN_NAME] = opt.text(node.domain)
        reply = Reply(kind, yiaddr=ip, options=options, note=note)
        boot = choose(request.client, self.loaders)
        if boot is not None:
            boot_fields = fields(boot, self.loaders, request.server_ip)
            reply.siaddr, reply.file = boot_fields.siaddr, boot_fields.file
            options.update(boot_fields.options)
        return reply
