"""`dhcp export` for a site's own server, checked by that server's own
configuration checker: kea-dhcp4 -t, dnsmasq --test, dhcpd -t."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import InterfaceRecord, NodeRecord
from bootsvc.core.dhcp.directory import Directory
from bootsvc.core.dhcp.export import export
from bootsvc.errors import InvalidInput
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, DecodeError, Packet, build, parse
from bootsvc.settings import DhcpMode
from bootsvc.store.db import Database
from tests.support import nslab
from tests.support.dhcpstack import add_cluster_network, dhcp_settings


def checker(fmt: str, path: Path) -> list[str]:
    return {
        "kea": ["kea-dhcp4", "-t", str(path)],
        "dnsmasq": ["dnsmasq", "--test", "-C", str(path)],
        "isc": ["dhcpd", "-t", "-4", "-cf", str(path)],
    }[fmt]


def check(fmt: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{fmt}.conf"
    path.write_text(text)
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(tmp_path), KEA_PIDFILE_DIR=str(tmp_path))
    return subprocess.run(
        checker(fmt, path), capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
def site(db: Database) -> Database:
    """A cluster with a provisioning network and its pool, and nodes with
    addresses on both networks (one without an address)."""
    add_cluster_network(db, "10.10.0.0/24", "10.10.0.1", "10.10.0.100-10.10.0.150")
    with db.write() as session:
        for hostname, mac, ip in [
            ("hv1", "52:54:00:00:00:01", "10.0.0.11"),
            ("hv2", "52:54:00:00:00:02", "10.10.0.12"),
            ("spare", "52:54:00:00:00:03", None),
        ]:
            node = NodeRecord(
                hostname=hostname, cluster="c1", interfaces=[InterfaceRecord(mac=mac, ip=ip)]
            )
            cmdb.upsert_node(session, node, "test")
    return db


EXPECTED = {
    "kea": ['"hw-address": "52:54:00:00:00:01", "ip-address": "10.0.0.11"', "option[93].hex"],
    "dnsmasq": ["dhcp-host=52:54:00:00:00:02,10.10.0.12,hv2", "dhcp-userclass=set:ipxe,iPXE"],
    "isc": ["hardware ethernet 52:54:00:00:00:01;", "option client-arch = 00:00"],
}


BREAK: dict[str, Callable[[str], str]] = {
    "kea": lambda text: text.replace('"subnet4"', '"subnet-4"'),
    "dnsmasq": lambda text: text + "no-such-option=1\n",
    "isc": lambda text: text.replace("fixed-address 10.10.0.12", "fixed-address 10.10.0.12.7"),
}


@pytest.mark.parametrize("fmt", ["kea", "dnsmasq", "isc"])
def test_export_passes_the_servers_own_check(
    site: Database, data_dir: Path, tmp_path: Path, fmt: str
) -> None:
    settings = dhcp_settings(data_dir, site, dhcp_mode=DhcpMode.OFF, dhcp_ntp="10.0.0.5")
    text = export(Directory(site, settings), settings, fmt)
    for expected in EXPECTED[fmt] + ["10.10.0.100", "http://10.0.0.1:8080/boot.ipxe"]:
        assert expected in text
    assert "52:54:00:00:00:03" not in text
    done = check(fmt, text, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # The checker does fail on a broken file, so the pass above means something.
    broken = check(fmt, BREAK[fmt](text), tmp_path)
    assert broken.returncode != 0


def test_export_needs_a_subnet_and_a_tftp_address(db: Database, data_dir: Path) -> None:
    bare = dhcp_settings(data_dir, db, dhcp_subnet="", dhcp_pool="")
    with pytest.raises(InvalidInput, match="no subnet"):
        export(Directory(db, bare), bare, "kea")
    named = dhcp_settings(data_dir, db, advertise_url="http://boot.example:8080")
    with pytest.raises(InvalidInput, match="dhcp_next_server"):
        export(Directory(db, named), named, "kea")
    given = dhcp_settings(
        data_dir, db, advertise_url="http://boot.example:8080", dhcp_next_server="10.0.0.9"
    )
    assert "next-server 10.0.0.9;" in export(Directory(db, given), given, "isc")


# (arch, vendor class, user class) of each firmware, and the boot file the
# exported configuration must name for it.
FIRMWARE_FILES = [
    ((0, b"PXEClient:Arch:00000:UNDI:002001", None), "undionly.kpxe"),
    ((7, b"PXEClient:Arch:00007:UNDI:003016", None), "{uefi_loader}"),
    ((16, b"HTTPClient:Arch:00016:UNDI:003016", None), "http://10.0.0.1:8080/ipxe/{uefi_loader}"),
    ((11, b"PXEClient:Arch:00011:UNDI:003016", None), "shimaa64.efi"),
    ((19, b"HTTPClient:Arch:00019:UNDI:003016", None), "http://10.0.0.1:8080/ipxe/shimaa64.efi"),
    ((7, b"PXEClient:Arch:00007:UNDI:003016", b"iPXE"), "http://10.0.0.1:8080/boot.ipxe"),
]


def _run_exported(fmt: str, text: str, work: Path, server: nslab.Namespace) -> None:
    """Start the site's server on the exported file, as a site would, bound
    to the test's namespace interface."""
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(work), KEA_PIDFILE_DIR=str(work))
    path = work / f"{fmt}.conf"
    if fmt == "kea":
        text = text.replace(
            '"interfaces-config": {"interfaces": []}',
            '"interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "raw"}',
        ).replace('"type": "memfile",', f'"type": "memfile", "name": "{work / "kea.csv"}",')
        argv = ["kea-dhcp4", "-c", str(path)]
    elif fmt == "dnsmasq":
        argv = [
            "dnsmasq", "--no-daemon", "--port=0", "--interface=srv0", "--bind-interfaces",
            f"--conf-file={path}", f"--dhcp-leasefile={work / 'leases'}",
            f"--pid-file={work / 'dnsmasq.pid'}",
        ]  # fmt: skip
    else:
        (work / "leases").touch()
        argv = [
            "dhcpd", "-f", "-4", "-cf", str(path), "-lf", str(work / "leases"),
            "-pf", str(work / "dhcpd.pid"), "srv0",
        ]  # fmt: skip
    path.write_text(text)
    server.popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("w"))


def _boot_file(arch: int, vendor: bytes, user: bytes | None, number: int) -> tuple[str, bytes]:
    """DISCOVER as that firmware from a new MAC, until an OFFER comes: its
    boot file and its vendor class."""
    options = {
        opt.MESSAGE_TYPE: bytes((opt.MessageType.DISCOVER,)),
        opt.PARAMETER_LIST: bytes((1, 3, 6, 60, 66, 67)),
        opt.VENDOR_CLASS: vendor,
        opt.CLIENT_ARCH: arch.to_bytes(2, "big"),
    }
    if user is not None:
        options[opt.USER_CLASS] = user
    mac = bytes((0x02, 0, 0, 0, 0x10, number))
    with nslab.broadcast_socket("cli0", timeout=1.0) as sock:
        for attempt in range(20):
            xid = 0x5EED0000 + number * 100 + attempt
            packet = Packet(op=1, xid=xid, chaddr=mac + bytes(10), flags=FLAG_BROADCAST)
            packet.options.update(options)
            sock.sendto(build(packet), ("255.255.255.255", 67))
            try:
                while True:
                    reply = parse(sock.recv(4096))
                    if reply.xid == xid and reply.message_type == opt.MessageType.OFFER:
                        name = reply.file.split(b"\0")[0] or reply.options.get(
                            opt.BOOTFILE, b""
                        ).rstrip(b"\0")
                        return name.decode(), reply.options.get(opt.VENDOR_CLASS, b"")
            except (TimeoutError, DecodeError):
                continue
    raise AssertionError(f"no offer for arch {arch}")


@pytest.mark.parametrize("fmt", ["kea", "dnsmasq", "isc"])
def test_exported_servers_name_each_firmwares_loader(
    site: Database, data_dir: Path, tmp_path: Path, fmt: str
) -> None:
    """The site's own server, run on the exported file, offers BIOS, UEFI
    x86-64 and ARM64 (PXE and HTTP Boot) and iPXE the boot file bootsvc's own
    server would."""
    settings = dhcp_settings(data_dir, site, dhcp_mode=DhcpMode.OFF)
    text = export(Directory(site, settings), settings, fmt)
    with nslab.server_and_client("10.0.0.1", 24) as (server, client):
        _run_exported(fmt, text, tmp_path, server)
        for number, ((arch, vendor, user), wanted) in enumerate(FIRMWARE_FILES, start=1):
            expected = wanted.format(uefi_loader=settings.uefi_loader)
            name, vendor_class = client.call(_boot_file, arch, vendor, user, number)
            assert name == expected, (fmt, arch, user)
            if expected.startswith("http://") and user is None:
                # UEFI HTTP Boot takes an offer only if it says HTTPClient.
                assert vendor_class.startswith(b"HTTPClient"), (fmt, arch)
