"""Secure Boot over an IPv6-only network on real firmware: Debian's OVMF with
Secure Boot enforced and Microsoft's keys, its PXE over IPv4 off (fw_cfg), on
the lab network with radvd and bootsvc's authoritative DHCPv6. The chain:
PXEv6 (option 59 tftp://[fd00:77::1]/shimx64.efi) -> shim -> Debian's signed
network GRUB over TFTP on IPv6 -> grub/grub.cfg and the node's grub.cfg from
the server GRUB came from -> signed kernel (with bootsvc.ip6), initrds and
overlay over TFTP -> `up` over HTTP on IPv6. Alone: it races the firmware's
DHCPv6 timers."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootsvc.core.boot import secureboot
from bootsvc.core.nodeconfig import delivery
from bootsvc.lab import server
from bootsvc.lab.console import printable
from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from bootsvc.settings import LabDhcpTftp
from tests.e2e.conftest import lab_up, server_log
from tests.e2e.test_network_boot import _wait

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

MAC = "52:54:00:e2:5b:66"
ADDRESS = "fd00:77::67"
SERVER = "fd00:77::1"
HOSTNAME = "sb-ipv6"
# A failure detector, far above a boot on a machine shared with other jobs.
BOOT_TIMEOUT_SECONDS = 420.0


@pytest.fixture(scope="module")
def secure_boot_ipv6_lab(
    tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path
) -> Iterator[Lab]:
    """bootsvc as the only DHCPv6, TFTP and HTTP server of an IPv6-only lab,
    with busybox-test 1 (Debian's signed kernel)."""
    yield from lab_up(tmp_path_factory, (busybox_test_v1,), LabDhcpTftp.BOOTSVC_IPV6, "s6")


def test_enforcing_firmware_boots_the_signed_chain_over_ipv6(
    secure_boot_ipv6_lab: Lab, probe_files: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    lab = secure_boot_ipv6_lab
    assert lab.base_url == f"http://[{SERVER}]:8080"
    record = {
        "hostname": HOSTNAME,
        "image": "busybox-test=1",
        "interfaces": [{"name": "eth0", "mac": MAC, "ip": ADDRESS}],
        "facts": {"secure_boot": True},
    }
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump([record]))
    lab.cli("node", "import", str(tmp_path / "nodes.yaml"))
    token = lab.token("sb6")
    started = time.monotonic()
    vm = lab.boot(HOSTNAME, Firmware.UEFI_SECURE_BOOT, MAC)
    boot = _wait(vm, 1, started + BOOT_TIMEOUT_SECONDS)
    print(f"up {time.monotonic() - started:.1f} s after power-on, through shim and GRUB on IPv6")
    vm.console.poll()
    console = " ".join(printable(vm.console.text).split())
    lab.stop_vm(HOSTNAME)

    # The firmware's PXEv6, GRUB's config of the node, and the kernel line's
    # bootsvc.ip6, which the image's init configured.
    assert f"NBP filename is {secureboot.SHIM}" in console, console[-3000:]
    assert f"bootsvc: {HOSTNAME} boots busybox-test 1" in console, console[-3000:]
    assert f"configured {ADDRESS}/64 on" in console, console[-3000:]

    # What the machine says on its console: Secure Boot on, its IPv6
    # address, a report that went through, the files of its overlay.
    assert boot.fields["version"] == "1" and boot.fields["mac"] == MAC
    assert boot.fields["firmware"] == "uefi" and boot.fields["report"] == "ok"
    assert boot.fields["secure_boot"] == "true"
    assert boot.fields["ip"] == ADDRESS
    assert boot.files["/etc/hostname"] == f"{HOSTNAME}\n"
    assert (
        boot.files["/etc/corosync/corosync.conf"] == probe_files["1"]["/etc/corosync/corosync.conf"]
    )

    # The reports are stored against the node, from its IPv6 address.
    reports = server.api(lab.network, f"/reports?node={HOSTNAME}", token)
    stages = {r["stage"] for r in reports if r["mac"] == MAC}
    assert {"script", "kernel-loaded", "up"} <= stages, reports
    assert all(r["ip"] == ADDRESS for r in reports), reports
    (up,) = [r for r in reports if r["stage"] == "up"]
    assert up["version"] == "1" and up["details"]["ip"] == ADDRESS
    shown = json.loads(lab.cli("node", "show", HOSTNAME, "--json"))
    assert shown["boot"]["status"] == "up", shown["boot"]

    _check_the_ipv6_chain(lab)


def _check_the_ipv6_chain(lab: Lab) -> None:
    """bootsvc's log: DHCPv6 named the shim by its IPv6 URL, TFTP sent the
    whole signed chain to the node's IPv6 address, and no IPv4 anywhere."""
    log = server_log(lab)
    dhcp6 = [line for line in log if line.get("svc", "").startswith("dhcp6")]
    replies = [line for line in dhcp6 if line.get("mac") == MAC and line.get("reply") == "reply"]
    assert replies and all(line.get("ip") == ADDRESS for line in replies), dhcp6
    # Only the firmware's own exchange names a boot file; its second one
    # and its RELEASEs name none.
    urls = {line["url"] for line in replies if line.get("url")}
    assert urls == {f"tftp://[{SERVER}]/{secureboot.SHIM}"}, replies
    # Released as GRUB took the NIC, yet still the node's (see nodeaccess).
    assert any(line.get("event") == "dhcp6.release" for line in replies), replies

    sent = [line for line in log if line.get("event") == "tftp.sent"]
    assert {line.get("ip") for line in sent} == {ADDRESS}, sent
    names = [line.get("file", "").lstrip("/") for line in sent]
    assert names[:2] == [secureboot.SHIM, secureboot.GRUB], names
    assert secureboot.GRUB_CONFIG in names, names
    assert secureboot.GRUB_NODE_CONFIG.format(mac=MAC) + "?arch=x86_64" in names, names
    assert any(name.endswith("/vmlinuz") for name in names), names
    node_files = f"boot/nodes/{HOSTNAME}/"
    assert any(name.startswith(node_files + delivery.OVERLAY_NAME) for name in names), names
    assert any(name.startswith(node_files + delivery.SECRETS_NAME) for name in names), names

    scripts = [line for line in log if line.get("event") == "boot.script"]
    assert [(s.get("ip"), s.get("mac"), s.get("loader")) for s in scripts] == [
        (ADDRESS, MAC, "grub")
    ], scripts
    for line in log:
        if line.get("ip") and line.get("event", "").startswith(("boot.", "tftp.")):
            assert ipaddress.ip_address(line["ip"]).version == 6, line
