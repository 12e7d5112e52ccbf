"""The files and command lines the lab generates, checked by the programs
that read them where one exists (dnsmasq --test)."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from bootsvc.lab import dnsmasq, qemu, radvd, server
from bootsvc.lab.network import LabNetwork, tap_name, vm_mac
from bootsvc.settings import LabDhcpTftp, Settings, load_settings

NETWORK = LabNetwork("bootsvc-lab-t", "br0", ipaddress.IPv4Interface("10.77.0.1/24"))


def test_tap_names_fit_linux_limit_and_differ() -> None:
    names = {
        tap_name(vm) for vm in ("a", "node-with-a-very-long-name-1", "node-with-a-very-long-name-2")
    }
    assert len(names) == 3
    assert all(len(name) <= 15 for name in names)


def test_vm_macs_are_stable_and_qemu_local() -> None:
    assert vm_mac("node-1") == vm_mac("node-1") != vm_mac("node-2")
    assert vm_mac("node-1").startswith("52:54:00:")


def test_pool_is_in_the_subnet_and_clear_of_the_server() -> None:
    start, end = NETWORK.pool()
    first, last = ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)
    assert ipaddress.IPv4Address(NETWORK.server_ip) < first <= last
    assert last in NETWORK.server.network and last != NETWORK.server.network.broadcast_address


def test_dnsmasq_accepts_the_config(tmp_path: Path) -> None:
    text = dnsmasq.config(
        "t",
        NETWORK,
        "http://10.77.0.1:8080",
        Path("/usr/lib/ipxe"),
        "snponly.efi",
        tmp_path / "l",
        tmp_path,
    )
    config = tmp_path / "dnsmasq.conf"
    config.write_text(text)
    check = subprocess.run(
        ["dnsmasq", "--test", f"--conf-file={config}"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    assert "dhcp-boot=tag:ipxe,http://10.77.0.1:8080/boot.ipxe" in text
    assert "dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi" in text
    assert "dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe" in text
    assert f"dhcp-hostsdir={tmp_path}" in text


def test_uefi_machines_use_the_firmware_pxe_and_bios_ones_the_ipxe_rom(tmp_path: Path) -> None:
    files = qemu.VmFiles(tmp_path)
    bios = qemu.argv(qemu.VmSpec("b", qemu.Firmware.BIOS, vm_mac("b"), "tap-b"), files)
    uefi = qemu.argv(qemu.VmSpec("u", qemu.Firmware.UEFI, vm_mac("u"), "tap-u"), files)
    assert "romfile=" not in bios[-1] and "pflash" not in " ".join(bios)
    assert uefi[-1].endswith(",romfile=")
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={qemu.OVMF_CODE}" in uefi
    assert "tcg" in bios and "tcg" in uefi


def test_secure_boot_machines_get_the_enforcing_ovmf_with_smm(tmp_path: Path) -> None:
    files = qemu.VmFiles(tmp_path)
    spec = qemu.VmSpec("s", qemu.Firmware.UEFI_SECURE_BOOT, vm_mac("s"), "tap-s")
    qemu.prepare(spec, files)
    command = qemu.argv(spec, files)
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={qemu.OVMF_SECURE_BOOT_CODE}" in command
    assert "q35,graphics=off,smm=on" in command
    assert "driver=cfi.pflash01,property=secure,value=on" in command
    assert command[-1].endswith(",romfile=")
    # Its variables start with Microsoft's keys enrolled.
    assert files.uefi_vars.read_bytes() == qemu.OVMF_MS_KEYS_VARS.read_bytes()
    plain = " ".join(qemu.argv(qemu.VmSpec("u", qemu.Firmware.UEFI, vm_mac("u"), "tap-u"), files))
    assert "smm=on" not in plain and "secure,value=on" not in plain


def test_arm64_machines_are_aarch64_virt_machines_with_aavmf(tmp_path: Path) -> None:
    files = qemu.VmFiles(tmp_path)
    spec = qemu.VmSpec("a", qemu.Firmware.UEFI_ARM64, vm_mac("a"), "tap-a")
    qemu.prepare(spec, files)
    command = qemu.argv(spec, files)
    assert command[0] == "qemu-system-aarch64"
    assert command[command.index("-machine") + 1] == "virt"
    assert command[command.index("-cpu") + 1] == "cortex-a57"
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={qemu.AAVMF_CODE}" in command
    # AAVMF's own virtio-net driver and PXE, no iPXE ROM.
    assert command[-1].startswith("virtio-net-pci,") and command[-1].endswith(",romfile=")
    assert files.uefi_vars.read_bytes() == qemu.AAVMF_VARS.read_bytes()


def test_a_vm_with_a_tpm_talks_to_its_own_swtpm(tmp_path: Path) -> None:
    files = qemu.VmFiles(tmp_path / "vm")
    spec = qemu.VmSpec("t", qemu.Firmware.BIOS, vm_mac("t"), "tap-t", tpm=True)
    command = " ".join(qemu.argv(spec, files))
    assert f"-chardev socket,id=chrtpm,path={files.tpm_socket}" in command
    assert "-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0" in command
    swtpm = " ".join(qemu.swtpm_argv(files))
    assert f"--tpmstate dir={files.tpm_state}" in swtpm
    assert f"--ctrl type=unixio,path={files.tpm_socket}" in swtpm
    plain = qemu.argv(qemu.VmSpec("p", qemu.Firmware.BIOS, vm_mac("p"), "tap-p"), files)
    assert "-tpmdev" not in plain


def test_a_vm_gets_the_vcpus_asked_for(tmp_path: Path) -> None:
    files = qemu.VmFiles(tmp_path)
    one = qemu.argv(qemu.VmSpec("o", qemu.Firmware.BIOS, vm_mac("o"), "tap-o"), files)
    two = qemu.argv(qemu.VmSpec("w", qemu.Firmware.BIOS, vm_mac("w"), "tap-w", cpus=2), files)
    assert " -smp 1 " in " ".join(one) and " -smp 2 " in " ".join(two)


def test_lab_server_settings_for_each_dhcp_and_tftp_choice(tmp_path: Path) -> None:
    dnsmasq_lab = Settings(data_dir=tmp_path, lab_dhcp_tftp=LabDhcpTftp.DNSMASQ)
    values = server.settings_values(tmp_path, NETWORK, dnsmasq_lab, {})
    assert "dhcp_mode" not in values and "tftp_listen" not in values
    assert values["advertise_url"] == "http://10.77.0.1:8080"

    proxy_lab = Settings(data_dir=tmp_path, lab_dhcp_tftp=LabDhcpTftp.PROXY)
    values = server.settings_values(tmp_path, NETWORK, proxy_lab, {})
    assert (values["dhcp_mode"], values["dhcp_interface"]) == ("proxy", "br0")
    assert "dhcp_pool" not in values and values["tftp_listen"] == "10.77.0.1:69"

    bootsvc_lab = Settings(data_dir=tmp_path)
    assert bootsvc_lab.lab_dhcp_tftp is LabDhcpTftp.BOOTSVC
    values = server.settings_values(tmp_path, NETWORK, bootsvc_lab, {"log_level": "debug"})
    assert values["dhcp_mode"] == "authoritative"
    assert values["dhcp_interface"] == "br0"
    assert (values["dhcp_subnet"], values["dhcp_pool"]) == (
        "10.77.0.0/24",
        "10.77.0.128-10.77.0.254",
    )
    assert values["tftp_listen"] == "10.77.0.1:69"
    assert values["log_level"] == "debug"
    server.write_settings(tmp_path / "bootsvc.toml", values)
    assert load_settings(tmp_path / "bootsvc.toml", environ={}).dhcp_interface == "br0"


def test_lab_server_settings_refuse_an_unknown_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        server.settings_values(tmp_path, NETWORK, Settings(data_dir=tmp_path), {"dhcp_pool": 1})


NETWORK6 = LabNetwork("ns", "br0", ipaddress.IPv6Interface("fd00:77::1/64"))


def test_an_ipv6_lab_serves_dhcpv6_tftp_and_http_on_every_ipv6_address(tmp_path: Path) -> None:
    """No DHCPv4 at all; the URLs name the server's IPv6 address."""
    ipv6_lab = Settings(data_dir=tmp_path, lab_dhcp_tftp=LabDhcpTftp.BOOTSVC_IPV6)
    values = server.settings_values(tmp_path, NETWORK6, ipv6_lab, {})
    assert "dhcp_mode" not in values
    assert (values["dhcp6_mode"], values["dhcp6_interface"]) == ("authoritative", "br0")
    assert (values["dhcp6_subnet"], values["dhcp6_range"]) == (
        "fd00:77::/64",
        "fd00:77::1000-fd00:77::1fff",
    )
    assert (values["http_listen"], values["tftp_listen"]) == ("[::]:8080", "[::]:69")
    assert values["advertise_url"] == "http://[fd00:77::1]:8080"
    assert Settings.model_validate(values).base_url6 == "http://[fd00:77::1]:8080"


def test_radvd_accepts_the_lab_config_with_the_m_flag(tmp_path: Path) -> None:
    text = radvd.config("t", NETWORK6)
    config = tmp_path / "radvd.conf"
    config.write_text(text)
    config.chmod(0o644)
    check = subprocess.run(
        ["radvd", "--configtest", f"--config={config}", "--logmethod=stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "AdvManagedFlag on;" in text and "AdvOtherConfigFlag on;" in text
    assert "prefix fd00:77::/64 { AdvOnLink on; AdvAutonomous off; };" in text


def test_uefi_machines_of_an_ipv6_lab_skip_pxe_over_ipv4(tmp_path: Path) -> None:
    files = qemu.VmFiles(tmp_path)
    spec = qemu.VmSpec("u", qemu.Firmware.UEFI, vm_mac("u"), "tap-u", ipv4_pxe=False)
    command = " ".join(qemu.argv(spec, files))
    assert "-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n" in command
    default = qemu.VmSpec("u", qemu.Firmware.UEFI, vm_mac("u"), "tap-u")
    assert "-fw_cfg" not in qemu.argv(default, files)
