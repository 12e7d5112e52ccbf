"""Proxy DHCPv6: boot information beside the site's own DHCPv6 server, which
keeps handing out the addresses. An ADVERTISE or REPLY from the proxy has no
IA_NA, only the boot file URL (and vendor class for HTTP Boot); UEFI takes
the address from the site's server and the boot file from ours (RFC 5970
lets them come from different servers)."""

from __future__ import annotations

from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp6.bootfile import boot_options, http_base
from bootsvc.net.dhcp.responder import Silence
from bootsvc.net.dhcp6.options import MessageType
from bootsvc.net.dhcp6.responder import Dhcp6Reply, Dhcp6Request, Respond6
from bootsvc.settings import Settings

# What a proxy answers: the offer, the REQUEST that names us (its server
# identifier was checked by the server), and a stateless information request.
ANSWERED = {
    MessageType.SOLICIT: MessageType.ADVERTISE,
    MessageType.REQUEST: MessageType.REPLY,
    MessageType.INFORMATION_REQUEST: MessageType.REPLY,
}


class ProxyResponder6:
    def __init__(self, settings: Settings, loaders: Loaders) -> None:
        self.settings = settings
        self.loaders = loaders

    def answer(self, request: Dhcp6Request, respond: Respond6) -> None:
        respond(self.decide(request))

    def decide(self, request: Dhcp6Request) -> Dhcp6Reply | Silence:
        if not request.client.network_boot:
            return Silence("not a network boot request", "not-network-boot")
        kind = ANSWERED.get(request.kind)
        if kind is None:
            return Silence(f"proxy mode does not answer {request.kind.name}", "not-served")
        # A proxy has no copy of the CMDB: the site default decides.
        base = http_base(self.settings, request.server_address)
        found = boot_options(
            request.client, self.loaders, self.loaders.secure_boot, request.server_address, base
        )
        if not found:
            return Silence(f"no loader for architecture {request.client.arch}", "no-loader")
        return Dhcp6Reply(kind, found)
