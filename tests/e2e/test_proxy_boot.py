"""ProxyDHCP beside a site's DHCP server: dnsmasq hands out addresses only,
bootsvc answers as ProxyDHCP (ports 67 and 4011) with what to boot, serves
the loader over TFTP and the rest over HTTP. A BIOS and a UEFI machine boot
through it at once. As at a site, the DHCP server keeps each node's address
fixed and the CMDB lists it: that is the address bootsvc gives secrets to."""

from __future__ import annotations

import pytest

from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from tests.e2e.conftest import server_log
from tests.e2e.test_network_boot import (
    MACHINES,
    _check_console,
    _check_http_log,
    _check_reports,
    _expected,
    power_on_together,
)

pytestmark = pytest.mark.e2e


def test_machines_boot_through_bootsvc_as_proxydhcp(
    proxy_lab: Lab, probe_files: dict[str, dict[str, str]]
) -> None:
    lab = proxy_lab
    lab.cli("image", "promote", "busybox-test", "1", "--channel", "stable")
    addresses = {}
    for index, machine in enumerate(MACHINES):
        ip = addresses[machine.name] = str(lab.network.server.network.network_address + 20 + index)
        lab.reserve(machine.mac, ip)
        lab.cli(
            "node",
            "add",
            machine.name,
            "--mac",
            machine.mac,
            "--ip",
            ip,
            "--image",
            machine.assignment,
        )
    token = lab.token("e2e")
    expected = {m.name: _expected(lab, token, m) for m in MACHINES}
    _vms, boots = power_on_together(lab)

    dnsmasq_log = lab.log_path("dnsmasq").read_text()
    bootsvc_log = server_log(lab)
    for machine in MACHINES:
        boot = boots[machine.name]
        copied = set(probe_files[machine.version]) | set(expected[machine.name])
        _check_console(machine, boot, machine.version)
        _check_reports(lab, token, machine, machine.version, copied)

        _check_http_log(lab, machine, machine.version)
        # The address came from the site's server...
        assert f"DHCPACK(br0) {boot.fields['ip']} {machine.mac}" in dnsmasq_log
        assert boot.fields["ip"] == addresses[machine.name]
        mine = [line for line in bootsvc_log if line.get("mac") == machine.mac]
        dhcp = [line for line in mine if line.get("svc") == "dhcp"]
        # ... and what to boot from bootsvc, which never offered an address.
        assert dhcp, mine
        assert all(line.get("reply") != "offer" or "yiaddr" not in line for line in dhcp)
        assert any(line.get("file") for line in dhcp), dhcp
        if machine.firmware is Firmware.UEFI:
            sent = {(line["event"], line.get("file")) for line in mine}
            assert ("tftp.sent", lab.settings.uefi_loader) in sent, mine
    leases = lab.cli("dhcp", "leases", "--all")
    assert all(machine.mac not in leases for machine in MACHINES), leases
