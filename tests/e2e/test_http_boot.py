"""UEFI HTTP Boot with real firmware: OVMF's own network stack, bootsvc as
the only DHCP and HTTP server and no TFTP. PXE finds no loader, edk2 falls
back to HTTP Boot (option 93 = 16, vendor class HTTPClient), takes the
loader's URL from bootsvc's reply, fetches it with HEAD then GET, and the
chain goes on through iPXE to the kernel and the node's report."""

from __future__ import annotations

import time

import pytest

from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from tests.e2e.conftest import server_log
from tests.e2e.test_network_boot import _wait

pytestmark = pytest.mark.e2e

MAC = "52:54:00:e2:e0:16"
# PXE over IPv4 fails at once without TFTP; edk2 then waits out PXE over IPv6
# (about a minute under TCG) before it tries HTTP.
HTTP_BOOT_TIMEOUT_SECONDS = 360.0


def test_uefi_http_boot_takes_the_loader_url_and_boots(http_boot_lab: Lab) -> None:
    lab = http_boot_lab
    lab.cli("image", "promote", "busybox-test", "1", "--channel", "stable")
    lab.cli("node", "add", "e2e-http", "--mac", MAC, "--image", "busybox-test@stable")
    started = time.monotonic()
    vm = lab.boot("e2e-http", Firmware.UEFI, MAC)
    boot = _wait(vm, 1, started + HTTP_BOOT_TIMEOUT_SECONDS)
    print(f"up {time.monotonic() - started:.1f} s after power-on, through UEFI HTTP Boot")
    assert boot.fields["version"] == "1" and boot.fields["mac"] == MAC
    assert boot.fields["firmware"] == Firmware.UEFI.value
    # bootsvc's own overlay reached the final root.
    assert boot.files["/etc/hostname"] == "e2e-http\n"

    mine = [line for line in server_log(lab) if line.get("mac") == MAC]
    url = f"{lab.base_url}/ipxe/{lab.settings.uefi_loader}"
    http_boot = [line for line in mine if line.get("firmware") == "uefi-http"]
    assert {line.get("reply") for line in http_boot} >= {"offer", "ack"}, mine
    assert all(line.get("file") == url for line in http_boot), http_boot
    fetched = [
        line.get("method")
        for line in mine
        if line["event"] == "http.loader" and line.get("status") == "200"
    ]
    assert fetched[:2] == ["HEAD", "GET"], mine
    events = [line["event"] for line in mine]
    # The loader came over HTTP, then iPXE asked for its script: in that order.
    assert events.index("http.loader") < events.index("boot.script")
    assert "boot.report" in events
    assert not any(event.startswith("tftp.") for event in events), mine
