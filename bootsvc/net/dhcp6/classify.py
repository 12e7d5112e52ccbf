"""Which firmware sent a DHCPv6 request: option 61 (client architecture,
RFC 5970), option 16 (vendor class, enterprise 343: "PXEClient:Arch:..." or
"HTTPClient:..."), and option 15 (user class "iPXE"). The same `Client` as
for DHCPv4, so that one table decides the boot file for both."""

from __future__ import annotations

from bootsvc.net.dhcp.classify import Client, arch_of, firmware_of
from bootsvc.net.dhcp6 import options as opt
from bootsvc.net.dhcp6.codec import Message


def _vendor(message: Message) -> str:
    value = message.option(opt.VENDOR_CLASS)
    if value is None:
        return ""
    enterprise, items = opt.vendor_class(value)
    if enterprise != opt.PXE_ENTERPRISE or not items:
        return ""
    return items[0].decode("ascii", "replace")


def _is_ipxe(message: Message) -> bool:
    value = message.option(opt.USER_CLASS)
    return value is not None and b"iPXE" in opt.class_items(value)


def classify(message: Message) -> Client:
    """The options were checked when the message was parsed."""
    vendor = _vendor(message)
    arches = message.option(opt.CLIENT_ARCH)
    arch = arch_of(opt.u16_list(arches) if arches else [], vendor)
    return Client(firmware_of(_is_ipxe(message), arch, vendor), arch, vendor, None)
