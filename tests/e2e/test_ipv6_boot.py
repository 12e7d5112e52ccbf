"""Real UEFI firmware boots over an IPv6-only network: OVMF under TCG, its
PXE over IPv4 turned off (fw_cfg), on a lab network with no IPv4 at all,
radvd's router advertisements (M flag) and bootsvc's authoritative DHCPv6.
The chain: PXEv6 (DHCPv6, option 59 tftp://[fd00:77::1]/snponly.efi) ->
TFTP over IPv6 -> iPXE, which asks DHCPv6 again (another DUID and IAID, the
same address) -> boot script, kernel, initrds, overlay, secrets and squashfs
over HTTP on IPv6 -> the busybox image configures bootsvc.ip6 and reports
up. Alone: it measures the boot against the firmware's DHCPv6 timers."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.lab import server
from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from bootsvc.settings import LabDhcpTftp
from tests.e2e.conftest import lab_up, server_log
from tests.e2e.test_network_boot import _wait

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

MAC = "52:54:00:e2:e6:06"
ADDRESS = "fd00:77::66"
SERVER = "fd00:77::1"
BOOT_TIMEOUT_SECONDS = 240.0


@pytest.fixture(scope="module")
def ipv6_lab(tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path) -> Iterator[Lab]:
    """bootsvc as the only DHCPv6, TFTP and HTTP server of an IPv6-only lab."""
    yield from lab_up(tmp_path_factory, (busybox_test_v1,), LabDhcpTftp.BOOTSVC_IPV6, "6")


def test_ovmf_boots_over_pxev6_and_http_on_ipv6_to_its_report(
    ipv6_lab: Lab, probe_files: dict[str, dict[str, str]]
) -> None:
    lab = ipv6_lab
    assert lab.base_url == f"http://[{SERVER}]:8080"
    lab.cli("node", "add", "e2e-ipv6", "--mac", MAC, "--ip", ADDRESS, "--image", "busybox-test=1")
    token = lab.token("e2e6")
    started = time.monotonic()
    vm = lab.boot("e2e-ipv6", Firmware.UEFI, MAC)
    boot = _wait(vm, 1, started + BOOT_TIMEOUT_SECONDS)
    print(f"up {time.monotonic() - started:.1f} s after power-on, over PXEv6 and HTTP on IPv6")

    # What the machine says on its console: its version, its IPv6 address,
    # a report that went through, and the files of its overlay.
    assert boot.fields["version"] == "1" and boot.fields["mac"] == MAC
    assert boot.fields["firmware"] == "uefi" and boot.fields["report"] == "ok"
    assert boot.fields["ip"] == ADDRESS
    assert boot.files["/etc/hostname"] == "e2e-ipv6\n"
    assert (
        boot.files["/etc/corosync/corosync.conf"] == probe_files["1"]["/etc/corosync/corosync.conf"]
    )

    # The up report is stored against the node, from its IPv6 address.
    reports = server.api(lab.network, "/reports?node=e2e-ipv6", token)
    stages = {r["stage"] for r in reports if r["mac"] == MAC}
    assert {"script", "kernel-loaded", "up"} <= stages, reports
    (up,) = [r for r in reports if r["stage"] == "up"]
    assert up["version"] == "1" and up["details"]["ip"] == ADDRESS
    assert up["details"]["overlay_files"] >= len(probe_files["1"])
    shown = json.loads(lab.cli("node", "show", "e2e-ipv6", "--json"))
    assert shown["boot"]["status"] == "up", shown["boot"]

    _check_the_ipv6_chain(lab)


def _check_the_ipv6_chain(lab: Lab) -> None:
    """bootsvc's log, step by step: DHCPv6 gave the node's address to the
    firmware and to iPXE, TFTP sent the loader over IPv6, and every HTTP
    request came from the node's IPv6 address; no IPv4 anywhere."""
    log = server_log(lab)
    dhcp6 = [line for line in log if line.get("svc", "").startswith("dhcp6")]
    replies = [line for line in dhcp6 if line.get("mac") == MAC and line.get("reply") == "reply"]
    assert replies and all(line.get("ip") == ADDRESS for line in replies), dhcp6
    urls = {line.get("url") for line in replies}
    assert f"tftp://[{SERVER}]/{lab.settings.uefi_loader}" in urls, urls
    assert f"http://[{SERVER}]:8080/boot.ipxe" in urls, urls
    # Firmware and iPXE asked as two clients (DUID or IAID) for one address.
    assert len({(line.get("duid"), line.get("xid")) for line in replies}) >= 2, replies

    sent = [line for line in log if line.get("event") == "tftp.sent"]
    assert [line.get("ip") for line in sent] == [ADDRESS], sent
    assert sent[0].get("file") == lab.settings.uefi_loader

    http = [line for line in log if line.get("svc") == "http" and line.get("ip")]
    assert all(line["ip"] == ADDRESS for line in http if line["event"].startswith("boot.")), http
    mine = [line for line in http if line.get("mac") == MAC]
    events = {(line["event"], line.get("stage")) for line in mine}
    assert ("boot.script", "script") in events and ("boot.report", "up") in events, mine
    assert ("boot.overlay", "overlay") in events and ("boot.secrets", "secrets") in events
    fetched = {line.get("file") for line in http if line["event"] == "http.artifact"}
    assert fetched >= {"vmlinuz", "initrd.img", "root.squashfs"}, http
    for line in http:
        assert ipaddress.ip_address(line["ip"]).version == 6, line
