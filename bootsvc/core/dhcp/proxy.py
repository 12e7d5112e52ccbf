"""ProxyDHCP: boot information beside the site's own DHCP server, which keeps
handing out the addresses.

A proxy offer has no address. Firmware differs in what it accepts from one:
legacy PXE and iPXE take option 43 with sub-option 6 = 8 ("no
boot server discovery, download the file named here"). For UEFI there are
two styles, chosen per architecture or vendor class:

- pixiecore: no option 43 in the offer; the firmware then asks the proxy
  again on port 4011 and takes the boot file from that ACK.
- smee: option 43.6 = 8 with option 54 and siaddr, as for BIOS.
"""

from __future__ import annotations

from bootsvc.core.dhcp.loaders import Loaders, loader_fields, loader_for
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import Firmware
from bootsvc.net.dhcp.options import MessageType
from bootsvc.net.dhcp.responder import Reply, Request, Respond, Silence
from bootsvc.net.dhcp.server import PXE_PORT, SERVER_PORT
from bootsvc.settings import ProxyStyle, ProxyStyles

SKIP_DISCOVERY = opt.encode_suboptions(
    {opt.PXE_DISCOVERY_CONTROL: bytes((opt.PXE_DOWNLOAD_BOOT_FILE,))}
)


class ProxyResponder:
    def __init__(self, loaders: Loaders, styles: ProxyStyles) -> None:
        self.loaders = loaders
        self.styles = styles

    @staticmethod
    def _selects_us(request: Request) -> bool:
        """A REQUEST on port 67 that names us as its server and asks for no
        address. One that asks for an address is for the site's DHCP server,
        even when that server shares our address (both on one host): a proxy
        never offered one, and an ACK from us would make the firmware decline
        the site's lease."""
        return request.server_id == request.server_ip and request.requested_ip in (
            None,
            "0.0.0.0",
        )

    def answer(self, request: Request, respond: Respond) -> None:

        respond(self.decide(request))

    def decide(self, request: Request) -> Reply | Silence:
        client = request.client
        if not client.network_boot:
            return Silence("not a network boot request", "not-network-boot")
        if request.kind == MessageType.DISCOVER and request.port == SERVER_PORT:
            kind = MessageType.OFFER
        elif request.kind == MessageType.REQUEST and (
            request.port == PXE_PORT or self._selects_us(request)
        ):
            kind = MessageType.ACK
        elif request.kind == MessageType.REQUEST:
            return Silence("request for the site's DHCP server", "other-server")
        else:
            return Silence(f"proxy mode does not answer {request.kind.label}", "not-served")
        # A proxy has no copy of the CMDB: the site default decides.
        boot = loader_for(client, self.loaders, self.loaders.secure_boot)
        if boot is None:
            return Silence(f"no loader for architecture {client.arch}", "no-loader")
        boot_fields = loader_fields(boot, self.loaders, request.server_ip)
        options = dict(boot_fields.options)
        options[opt.VENDOR_CLASS] = boot.vendor_class or b"PXEClient"
        uuid = request.packet.options.get(opt.CLIENT_UUID)
        if uuid is not None:
            options[opt.CLIENT_UUID] = uuid
        note = None
        if client.firmware in (Firmware.BIOS, Firmware.IPXE):
            options[opt.VENDOR_SPECIFIC] = SKIP_DISCOVERY
        elif client.firmware in (Firmware.UEFI_X86, Firmware.UEFI_ARM) and not boot.vendor_class:
            style = self.styles.for_client(client.vendor_class, client.arch)
            note = f"uefi-style={style}"
            if style is ProxyStyle.SMEE:
                options[opt.VENDOR_SPECIFIC] = SKIP_DISCOVERY
        return Reply(
            kind, siaddr=boot_fields.siaddr, file=boot_fields.file, options=options, note=note
        )
