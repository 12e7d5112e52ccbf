"""ProxyDHCP answers: boot information only, both UEFI styles, port 4011."""

from __future__ import annotations

from typing import Unpack

import pytest

from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp.proxy import ProxyResponder
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.options import MessageType
from bootsvc.net.dhcp.responder import Reply, Silence
from bootsvc.settings import ProxyStyle, ProxyStyles, parse_styles
from tests.support.dhcpstack import SERVER_IP, Options, ask, request

LOADERS = Loaders("http://10.0.0.1:8080", "snponly.efi", None)
UEFI: Options = {"arch": b"\x00\x07", "vendor": b"PXEClient:Arch:00007:UNDI:003000"}
BIOS: Options = {"arch": b"\x00\x00", "vendor": b"PXEClient:Arch:00000:UNDI:002001"}
SKIP_DISCOVERY = bytes((6, 1, 8, 255))


def proxy(text: str = "pixiecore") -> ProxyResponder:
    return ProxyResponder(LOADERS, parse_styles(text))


def offer(responder: ProxyResponder, **options: Unpack[Options]) -> Reply:
    answer = ask(responder, request(MessageType.DISCOVER, **options))
    assert isinstance(answer, Reply) and answer.kind == MessageType.OFFER
    assert answer.yiaddr == "0.0.0.0", "a proxy never hands out addresses"
    assert opt.LEASE_TIME not in answer.options and opt.SUBNET_MASK not in answer.options
    return answer


def test_parse_styles() -> None:
    assert parse_styles("smee") == ProxyStyles(ProxyStyle.SMEE)
    styles = parse_styles("pixiecore, 9=smee, PXEClient:Arch:00007:UNDI:003016=smee")
    assert styles.by_arch == {9: ProxyStyle.SMEE}
    assert styles.by_vendor == (("PXEClient:Arch:00007:UNDI:003016", ProxyStyle.SMEE),)
    for bad in ("dnsmasq", "7=nope", "=smee"):
        with pytest.raises(ValueError):
            parse_styles(bad)


def test_bios_skips_boot_server_discovery() -> None:
    asked: Options = {**BIOS, "uuid": b"\x00" + bytes(range(16))}
    answer = offer(proxy(), **asked)
    assert (answer.file, answer.siaddr) == ("undionly.kpxe", SERVER_IP)
    assert answer.options[opt.VENDOR_SPECIFIC] == SKIP_DISCOVERY
    assert answer.options[opt.VENDOR_CLASS] == b"PXEClient"
    assert answer.options[opt.CLIENT_UUID] == b"\x00" + bytes(range(16))


def test_uefi_pixiecore_style_then_port_4011() -> None:
    responder = proxy()
    answer = offer(responder, **UEFI)
    assert opt.VENDOR_SPECIFIC not in answer.options
    assert (answer.file, answer.note) == ("snponly.efi", "uefi-style=pixiecore")
    ack = ask(responder, request(MessageType.REQUEST, port=4011, ciaddr="10.0.0.77", **UEFI))
    assert isinstance(ack, Reply) and ack.kind == MessageType.ACK
    assert (ack.file, ack.siaddr) == ("snponly.efi", SERVER_IP)


def test_uefi_smee_style_by_arch_and_by_vendor() -> None:
    for text in ("smee", "pixiecore,7=smee", "pixiecore,PXEClient:Arch:00007=smee"):
        answer = offer(proxy(text), **UEFI)
        assert answer.options[opt.VENDOR_SPECIFIC] == SKIP_DISCOVERY, text
        assert answer.siaddr == SERVER_IP
    assert opt.VENDOR_SPECIFIC not in offer(proxy("smee,7=pixiecore"), **UEFI).options


def test_http_boot_and_ipxe() -> None:
    http = offer(proxy(), arch=b"\x00\x10", vendor=b"HTTPClient:Arch:00016:UNDI:003000")
    assert http.file == "http://10.0.0.1:8080/ipxe/snponly.efi"
    assert http.options[opt.VENDOR_CLASS] == b"HTTPClient"
    chained: Options = {**BIOS, "user": b"iPXE"}
    ipxe = offer(proxy(), **chained)
    assert ipxe.options[opt.BOOTFILE] == b"http://10.0.0.1:8080/boot.ipxe"


def test_arm64_gets_the_arm64_shim_in_its_uefi_style() -> None:
    arm64: Options = {"arch": b"\x00\x0b", "vendor": b"PXEClient:Arch:00011:UNDI:003000"}
    responder = proxy("pixiecore,11=smee")
    answer = offer(responder, **arm64)
    assert (answer.file, answer.siaddr, answer.note) == (
        "shimaa64.efi",
        SERVER_IP,
        "uefi-style=smee",
    )
    assert answer.options[opt.VENDOR_SPECIFIC] == SKIP_DISCOVERY
    plain = offer(proxy(), **arm64)
    assert opt.VENDOR_SPECIFIC not in plain.options and plain.note == "uefi-style=pixiecore"
    ack = ask(proxy(), request(MessageType.REQUEST, port=4011, ciaddr="10.0.0.77", **arm64))
    assert isinstance(ack, Reply) and ack.file == "shimaa64.efi"
    http = offer(proxy(), arch=b"\x00\x13", vendor=b"HTTPClient:Arch:00019:UNDI:003000")
    assert http.file == "http://10.0.0.1:8080/ipxe/shimaa64.efi"
    assert (http.options[opt.VENDOR_CLASS], http.note) == (b"HTTPClient", None)
    assert opt.VENDOR_SPECIFIC not in http.options


def test_what_a_proxy_leaves_alone() -> None:
    responder = proxy()
    to_site: Options = {**UEFI, "server": opt.ip("10.0.0.254")}
    site_request = request(MessageType.REQUEST, **to_site)
    assert ask(responder, site_request) == Silence(
        "request for the site's DHCP server", "other-server"
    )
    assert ask(responder, request(MessageType.DISCOVER)) == Silence(
        "not a network boot request", "not-network-boot"
    )
    assert ask(responder, request(MessageType.DISCOVER, arch=b"\x00\x0a")) == Silence(
        "no loader for architecture 10", "no-loader"
    )
    release = ask(responder, request(MessageType.RELEASE, ciaddr="10.0.0.77", **UEFI))
    assert release == Silence("proxy mode does not answer release", "not-served")


def test_a_request_for_an_address_is_never_ours_even_from_our_address() -> None:
    """The site's DHCP server may share our address (both on one host). A
    REQUEST naming that address and asking for a lease is the site's: an ACK
    from the proxy would make the firmware decline the lease (edk2 does)."""
    responder = proxy()
    for_the_lease: Options = {
        **UEFI,
        "server": opt.ip(SERVER_IP),
        "requested": opt.ip("10.0.0.77"),
    }
    assert ask(responder, request(MessageType.REQUEST, **for_the_lease)) == Silence(
        "request for the site's DHCP server", "other-server"
    )
    for_boot_files: Options = {**UEFI, "server": opt.ip(SERVER_IP)}
    ack = ask(responder, request(MessageType.REQUEST, **for_boot_files))
    assert isinstance(ack, Reply) and ack.kind == MessageType.ACK and ack.yiaddr == "0.0.0.0"
