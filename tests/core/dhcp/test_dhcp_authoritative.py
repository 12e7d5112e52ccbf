"""Authoritative answers: addresses from the pool and the CMDB, host names,
NAKs, INFORM, RELEASE, DECLINE, enlisting, and the boot file per firmware."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bootsvc.core.cmdb import cmdb, enlistment
from bootsvc.core.cmdb.records import ClusterRecord, InterfaceRecord, NodeRecord
from bootsvc.core.dhcp import leases
from bootsvc.core.views.fleet import TallyView
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.options import MessageType
from bootsvc.net.dhcp.responder import Reply, Silence
from bootsvc.store.db import Database
from tests.support import factory
from tests.support.clock import Clock
from tests.support.dhcpstack import (
    SERVER_IP,
    Options,
    Stack,
    add_cluster_network,
    dhcp_settings,
    make_stack,
    request,
)

MAC = "02:00:00:00:00:01"
OTHER = "02:00:00:00:00:02"


def reply(outcome: Reply | Silence) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def add_node(db: Database, hostname: str, mac: str, ip: str, cluster: str | None = None) -> None:
    with db.write() as session:
        interfaces = [InterfaceRecord(mac=mac, ip=ip)]
        record = NodeRecord(hostname=hostname, interfaces=interfaces, cluster=cluster)
        cmdb.upsert_node(session, record, "test")


def dora(stack: Stack, mac: str = MAC) -> Reply:
    offer = reply(stack.ask(request(MessageType.DISCOVER, mac)))
    assert offer.kind == MessageType.OFFER
    chosen: Options = {"requested": opt.ip(offer.yiaddr), "server": opt.ip(SERVER_IP)}
    ack = reply(stack.ask(request(MessageType.REQUEST, mac, **chosen)))
    assert (ack.kind, ack.yiaddr) == (MessageType.ACK, offer.yiaddr)
    return ack


def test_unknown_client_gets_a_pool_address_and_is_enlisted(
    dhcp_stack: Stack, db: Database
) -> None:
    ack = dora(dhcp_stack)
    assert dhcp_stack.settings.dhcp_pool.startswith("10.0.0.100")
    assert 100 <= int(ack.yiaddr.rsplit(".", 1)[1]) <= 109
    assert ack.options[opt.SUBNET_MASK] == opt.ip("255.255.255.0")
    assert ack.options[opt.ROUTER] == opt.ip("10.0.0.1")
    assert ack.options[opt.DNS_SERVERS] == opt.ips(["10.0.0.2", "10.0.0.3"])
    assert ack.options[opt.DOMAIN_NAME] == b"lab.test"
    assert ack.options[opt.BROADCAST_ADDRESS] == opt.ip("10.0.0.255")
    assert ack.options[opt.LEASE_TIME] == opt.u32(600)
    assert ack.options[opt.RENEWAL_TIME] == opt.u32(300)
    assert ack.options[opt.REBINDING_TIME] == opt.u32(525)
    assert (ack.file, ack.siaddr) == ("", "0.0.0.0")
    deadline = time.monotonic() + 10
    node = None
    while node is None and time.monotonic() < deadline:
        with db.read() as session:
            node = cmdb.find_by_mac(session, MAC)
            state = node.state if node else None
        time.sleep(0.05)
    assert node is not None and state == "new"
    # Once enlisted, the node's name goes out as option 12.
    again = dora(dhcp_stack)
    assert again.options[opt.HOSTNAME] == b"node-020000000001"


def test_unknown_client_past_the_enlistment_cap_is_answered_not_enlisted(
    db: Database, data_dir: Path, dhcp_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with db.write() as session:
        cmdb.enlist(session, OTHER, {})
    stack = make_stack(db, dhcp_settings(data_dir, db, enlist_max_new=1), dhcp_clock)
    try:
        with caplog.at_level(logging.WARNING, logger="bootsvc.enlist"):
            ack = dora(stack)
            assert 100 <= int(ack.yiaddr.rsplit(".", 1)[1]) <= 109
            assert opt.HOSTNAME not in ack.options
            deadline = time.monotonic() + 10
            tallies: dict[str, TallyView] = {}
            while "cap" not in tallies and time.monotonic() < deadline:
                with db.read() as session:
                    tallies = enlistment.stats(session, stack.settings).tallies
                time.sleep(0.05)
        # Answered as before, without a host name, on the next request too.
        assert opt.HOSTNAME not in dora(stack).options
    finally:
        stack.writer.stop()
    assert tallies["cap"].count == 1 and tallies["cap"].last_mac == MAC
    with db.read() as session:
        assert cmdb.find_by_mac(session, MAC) is None
    refused = [getattr(r, "fields", {}) for r in caplog.records if r.msg == "enlist.refused"]
    assert refused == [{"mac": MAC, "stage": "dhcp", "reason": "cap"}]


def test_cmdb_reservation_and_host_name(dhcp_stack: Stack, db: Database) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="c1", domain="c1.lab.test"), "test")
    add_node(db, "hv1", MAC, "10.0.0.20", cluster="c1")
    dhcp_stack.directory.refresh()
    ack = dora(dhcp_stack)
    assert ack.yiaddr == "10.0.0.20"
    assert ack.options[opt.HOSTNAME] == b"hv1"
    assert ack.options[opt.DOMAIN_NAME] == b"c1.lab.test"
    # Nobody else gets it, even by asking for it.
    refused = reply(
        dhcp_stack.ask(request(MessageType.REQUEST, OTHER, requested=opt.ip("10.0.0.20")))
    )
    assert refused.kind == MessageType.NAK
    # The node is NAKed for any other address, so it moves to its own.
    moved = reply(dhcp_stack.ask(request(MessageType.REQUEST, MAC, requested=opt.ip("10.0.0.101"))))
    assert (moved.kind, moved.note) == (MessageType.NAK, "this client's address is 10.0.0.20")


def test_a_client_host_name_with_a_nul_inside_is_bound_and_recorded(
    db: Database, data_dir: Path, dhcp_clock: Clock
) -> None:
    """Option 12 with a NUL inside (no database column takes one) must not
    fail the commit that this client's REQUEST shares with others. (Not
    enlisted, so that the lease keeps the name the client sent.)"""
    stack = make_stack(db, dhcp_settings(data_dir, db, enlist_max_new=0), dhcp_clock)
    name = b"pc\x00x\x00"
    try:
        offer = reply(stack.ask(request(MessageType.DISCOVER, MAC, hostname=name)))
        chosen: Options = {
            "requested": opt.ip(offer.yiaddr),
            "server": opt.ip(SERVER_IP),
            "hostname": name,
        }
        ack = reply(stack.ask(request(MessageType.REQUEST, MAC, **chosen)))
    finally:
        stack.writer.stop()
    assert (ack.kind, ack.yiaddr) == (MessageType.ACK, offer.yiaddr)
    with db.read() as session:
        assert [row.hostname for row in leases.rows(session)] == ["pc\ufffdx"]


def test_requests_for_the_wrong_subnet_or_outside_the_pool_are_naked(dhcp_stack: Stack) -> None:
    for address in ("192.168.1.10", "10.0.0.50"):
        answer = reply(dhcp_stack.ask(request(MessageType.REQUEST, requested=opt.ip(address))))
        assert answer.kind == MessageType.NAK
        assert answer.yiaddr == "0.0.0.0" and not answer.options


def test_renew_rebind_and_init_reboot(dhcp_stack: Stack) -> None:
    ack = dora(dhcp_stack)
    renew = reply(dhcp_stack.ask(request(MessageType.REQUEST, ciaddr=ack.yiaddr)))
    assert (renew.kind, renew.yiaddr) == (MessageType.ACK, ack.yiaddr)
    reboot = reply(dhcp_stack.ask(request(MessageType.REQUEST, requested=opt.ip(ack.yiaddr))))
    assert (reboot.kind, reboot.yiaddr) == (MessageType.ACK, ack.yiaddr)
    stolen = reply(dhcp_stack.ask(request(MessageType.REQUEST, OTHER, ciaddr=ack.yiaddr)))
    assert stolen.kind == MessageType.NAK


def test_client_that_chose_another_server(dhcp_stack: Stack) -> None:
    offer = reply(dhcp_stack.ask(request(MessageType.DISCOVER, requested=opt.ip("10.0.0.104"))))
    assert offer.yiaddr == "10.0.0.104"
    chose: Options = {"requested": opt.ip("10.0.0.104"), "server": opt.ip("10.0.0.254")}
    answer = dhcp_stack.ask(request(MessageType.REQUEST, **chose))
    assert answer == Silence("client chose server 10.0.0.254", "other-server")
    # The offer was let go: another client can have the address.
    other = reply(
        dhcp_stack.ask(request(MessageType.DISCOVER, OTHER, requested=opt.ip("10.0.0.104")))
    )
    assert other.yiaddr == "10.0.0.104"


def test_release_decline_and_inform(dhcp_stack: Stack) -> None:
    ack = dora(dhcp_stack)
    released = dhcp_stack.ask(request(MessageType.RELEASE, ciaddr=ack.yiaddr))
    assert released == Silence(f"released {ack.yiaddr}", "released")
    again = dora(dhcp_stack)
    declined = dhcp_stack.ask(request(MessageType.DECLINE, requested=opt.ip(again.yiaddr)))
    assert isinstance(declined, Silence) and declined.cause == "declined"
    assert "declined" in declined.reason
    after = reply(dhcp_stack.ask(request(MessageType.DISCOVER, requested=opt.ip(again.yiaddr))))
    assert after.yiaddr != again.yiaddr
    inform = reply(dhcp_stack.ask(request(MessageType.INFORM, OTHER, ciaddr="10.0.0.77")))
    assert (inform.kind, inform.yiaddr) == (MessageType.ACK, "0.0.0.0")
    assert opt.LEASE_TIME not in inform.options and opt.ROUTER in inform.options
    stranger = dhcp_stack.ask(request(MessageType.RELEASE, OTHER, ciaddr=after.yiaddr))
    assert stranger == Silence(f"{after.yiaddr} is not held by this client", "not-held")


@pytest.mark.parametrize(
    ("options", "file", "vendor"),
    [
        (
            {"arch": b"\x00\x00", "vendor": b"PXEClient:Arch:00000:UNDI:002001"},
            "undionly.kpxe",
            None,
        ),
        ({"arch": b"\x00\x07", "vendor": b"PXEClient:Arch:00007:UNDI:003000"}, "snponly.efi", None),
        (
            {"arch": b"\x00\x10", "vendor": b"HTTPClient:Arch:00016:UNDI:003000"},
            "http://10.0.0.1:8080/ipxe/snponly.efi",
            b"HTTPClient",
        ),
        ({"arch": b"\x00\x00", "user": b"iPXE"}, "http://10.0.0.1:8080/boot.ipxe", None),
        (
            {"arch": b"\x00\x0b", "vendor": b"PXEClient:Arch:00011:UNDI:003000"},
            "shimaa64.efi",
            None,
        ),
        (
            {"arch": b"\x00\x13", "vendor": b"HTTPClient:Arch:00019:UNDI:003000"},
            "http://10.0.0.1:8080/ipxe/shimaa64.efi",
            b"HTTPClient",
        ),
    ],
)
def test_boot_file_per_firmware(
    dhcp_stack: Stack, options: Options, file: str, vendor: bytes | None
) -> None:
    offer = reply(dhcp_stack.ask(request(MessageType.DISCOVER, **options)))
    assert (offer.file, offer.siaddr) == (file, SERVER_IP)
    assert offer.options[opt.BOOTFILE] == file.encode()
    assert offer.options[opt.TFTP_SERVER] == SERVER_IP.encode()
    assert offer.options.get(opt.VENDOR_CLASS) == vendor


@pytest.mark.parametrize("arch", [b"\x00\x0a", b"\x00\x12"])
def test_32_bit_arm_gets_an_address_but_no_boot_file(dhcp_stack: Stack, arch: bytes) -> None:
    offer = reply(dhcp_stack.ask(request(MessageType.DISCOVER, arch=arch)))
    assert offer.yiaddr != "0.0.0.0" and offer.file == "" and opt.BOOTFILE not in offer.options


ARM64_HTTP: Options = {"arch": b"\x00\x13", "vendor": b"HTTPClient:Arch:00019:UNDI:003000"}


def test_arm64_takes_the_arm64_shim_secure_boot_or_not(dhcp_stack: Stack, db: Database) -> None:
    """Debian has no arm64 iPXE: every arm64 machine boots shim and GRUB."""
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], facts={"secure_boot": True})
    dhcp_stack.directory.refresh()
    for mac in (MAC, OTHER):
        pxe = reply(dhcp_stack.ask(request(MessageType.DISCOVER, mac, arch=b"\x00\x0b")))
        http = reply(dhcp_stack.ask(request(MessageType.DISCOVER, mac, **ARM64_HTTP)))
        assert (pxe.file, pxe.siaddr) == ("shimaa64.efi", SERVER_IP), mac
        assert http.file == "http://10.0.0.1:8080/ipxe/shimaa64.efi", mac
        assert http.options[opt.VENDOR_CLASS] == b"HTTPClient"


def test_cluster_network_serves_relayed_clients(dhcp_stack: Stack, db: Database) -> None:
    add_cluster_network(db, "10.5.0.0/24", "10.5.0.1", "10.5.0.50-10.5.0.59")
    dhcp_stack.directory.refresh()
    offer = reply(dhcp_stack.ask(request(MessageType.DISCOVER, giaddr="10.5.0.1")))
    assert 50 <= int(offer.yiaddr.rsplit(".", 1)[1]) <= 59
    assert offer.options[opt.ROUTER] == opt.ip("10.5.0.1")
    assert offer.options[opt.DOMAIN_NAME] == b"c1.lab.test"
    nowhere = dhcp_stack.ask(request(MessageType.DISCOVER, giaddr="172.16.0.1"))
    assert nowhere == Silence("no subnet is served for 172.16.0.1", "no-subnet")


UEFI_PXE: Options = {"arch": b"\x00\x07", "vendor": b"PXEClient:Arch:00007:UNDI:003000"}
UEFI_HTTP: Options = {"arch": b"\x00\x10", "vendor": b"HTTPClient:Arch:00016:UNDI:003000"}


def test_secure_boot_nodes_are_named_the_signed_shim(dhcp_stack: Stack, db: Database) -> None:
    with db.write() as session:
        secure = ClusterRecord(name="sb", domain="sb.test", settings={"secure_boot": True})
        cmdb.upsert_cluster(session, secure, "test")
        cmdb.upsert_cluster(session, ClusterRecord(name="plain", domain="p.test"), "test")
        for hostname, mac, cluster, facts in (
            ("hv1", MAC, "sb", {}),
            ("hv2", OTHER, "sb", {"secure_boot": False}),
            ("hv3", "02:00:00:00:00:03", "plain", {"secure_boot": True}),
        ):
            interfaces = [InterfaceRecord(mac=mac)]
            node = NodeRecord(
                hostname=hostname, interfaces=interfaces, cluster=cluster, facts=facts
            )
            cmdb.upsert_node(session, node, "test")
    dhcp_stack.directory.refresh()
    for mac, shim in ((MAC, True), (OTHER, False), ("02:00:00:00:00:03", True)):
        pxe = reply(dhcp_stack.ask(request(MessageType.DISCOVER, mac, **UEFI_PXE)))
        http = reply(dhcp_stack.ask(request(MessageType.DISCOVER, mac, **UEFI_HTTP)))
        loader = "shimx64.efi" if shim else "snponly.efi"
        assert (pxe.file, http.file) == (loader, f"http://10.0.0.1:8080/ipxe/{loader}"), mac
    # The node's fact overrides its cluster's setting; a BIOS machine keeps iPXE.
    bios = reply(dhcp_stack.ask(request(MessageType.DISCOVER, MAC, arch=b"\x00\x00")))
    assert bios.file == "undionly.kpxe"


def test_unknown_machines_follow_the_site_default(
    db: Database, data_dir: Path, dhcp_clock: Clock
) -> None:
    stack = make_stack(db, dhcp_settings(data_dir, db, secure_boot=True), dhcp_clock)
    try:
        offer = reply(stack.ask(request(MessageType.DISCOVER, **UEFI_PXE)))
        assert offer.file == "shimx64.efi"
    finally:
        stack.writer.stop()
