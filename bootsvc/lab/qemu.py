"""QEMU virtual machines that boot from the lab network, under TCG.

BIOS: SeaBIOS runs the virtio NIC's default option ROM, which is iPXE
(Debian's ipxe-qemu), so the machine does DHCP and then HTTP.
UEFI: OVMF with `romfile=` empty, so edk2's own PXE does DHCP and TFTP of the
first-stage loader, which then does DHCP again and HTTP.
UEFI with Secure Boot: the same, with Debian's Secure Boot build of OVMF and
Microsoft's keys enrolled (enforced from the first boot); that build needs
q35 with SMM and its code flash open to SMM only.
UEFI ARM64: qemu-system-aarch64's virt machine with AAVMF (Debian's
qemu-efi-aarch64), whose own virtio-net driver and PXE do what OVMF's do.
On an IPv6-only lab network, UEFI firmware has PXE over IPv4 turned off
(fw_cfg), so that it goes to PXE over IPv6 at once.

The serial console goes to a file (the tests read it; `bootsvc lab boot`
streams it); a monitor socket lets the lab reset or stop the machine.
A VM with `tpm` has a TPM 2.0 (tpm-tis) emulated by its own swtpm, whose
state stays in the VM's directory: the same VM name keeps the same keys.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bootsvc.lab.system import LabError

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
OVMF_SECURE_BOOT_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OVMF_MS_KEYS_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
# edk2's switch for PXE over IPv4 (NetworkPkg's PcdIPv4PXESupport), read from fw_cfg.
IPV4_PXE_KNOB = "opt/org.tianocore/IPv4PXESupport"
# sun_path holds 108 bytes with its terminating NUL.
MAX_SOCKET_PATH = 107


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI = "uefi"
    UEFI_SECURE_BOOT = "uefi-secureboot"
    UEFI_ARM64 = "uefi-arm64"

    @property
    def ovmf(self) -> tuple[Path, Path] | None:
        """The firmware's code and the template of its variables, for UEFI."""
        if self is Firmware.UEFI:
            return OVMF_CODE, OVMF_VARS
        if self is Firmware.UEFI_SECURE_BOOT:
            return OVMF_SECURE_BOOT_CODE, OVMF_MS_KEYS_VARS
        if self is Firmware.UEFI_ARM64:
            return AAVMF_CODE, AAVMF_VARS
        return None

    @property
    def emulator(self) -> str:
        return "qemu-system-aarch64" if self is Firmware.UEFI_ARM64 else "qemu-system-x86_64"

    @property
    def package(self) -> str:
        """The Debian package of its firmware files."""
        return "qemu-efi-aarch64" if self is Firmware.UEFI_ARM64 else "ovmf"


@dataclass(frozen=True)
class VmSpec:
    name: str
    firmware: Firmware
    mac: str
    tap: str
    memory_mb: int = 512
    # vCPUs, each a host thread under TCG: a lone booting VM can use every core.
    cpus: int = 1
    # Local disks by size, attached as virtio disks (/dev/vda, /dev/vdb, ...).
    disks_gib: tuple[int, ...] = ()
    tpm: bool = False
    # UEFI PXE over IPv4; off on an IPv6-only network, where it would only
    # wait out its DHCP timeouts before PXE over IPv6 starts.
    ipv4_pxe: bool = True


@dataclass(frozen=True)
class VmFiles:
    """Where one VM keeps its console log, monitor socket and UEFI variables."""

    directory: Path

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    @property
    def monitor(self) -> Path:
        return self.directory / "monitor.sock"

    @property
    def uefi_vars(self) -> Path:
        return self.directory / "OVMF_VARS.fd"

    @property
    def log(self) -> Path:
        return self.directory / "qemu.log"

    @property
    def tpm_state(self) -> Path:
        return self.directory / "tpm"

    @property
    def tpm_socket(self) -> Path:
        return self.directory / "tpm.sock"

    @property
    def tpm_log(self) -> Path:
        return self.directory / "swtpm.log"

    def disk(self, index: int) -> Path:
        """A local disk: sparse, kept while the VM is reset or started again."""
        return self.directory / f"disk{index}.raw"


def prepare(spec: VmSpec, files: VmFiles) -> None:
    files.directory.mkdir(parents=True, exist_ok=True)
    if len(str(files.monitor)) > MAX_SOCKET_PATH:
        raise LabError(f"path too long for a unix socket: {files.monitor}; use a shorter lab dir")
    files.console.unlink(missing_ok=True)
    if spec.tpm:
        if shutil.which("swtpm") is None:
            raise LabError("swtpm is not installed: apt-get install swtpm swtpm-tools")
        if len(str(files.tpm_socket)) > MAX_SOCKET_PATH:
            raise LabError(f"path too long for a unix socket: {files.tpm_socket}")
        files.tpm_state.mkdir(exist_ok=True)
        files.tpm_socket.unlink(missing_ok=True)
    if spec.firmware.ovmf is not None:
        for needed in spec.firmware.ovmf:
            if not needed.exists():
                raise LabError(f"{needed} is missing: apt-get install {spec.firmware.package}")
        shutil.copyfile(spec.firmware.ovmf[1], files.uefi_vars)
    for index, size in enumerate(spec.disks_gib):
        disk = files.disk(index)
        if not disk.exists():
            with disk.open("wb") as sparse:
                sparse.truncate(size << 30)


def swtpm_argv(files: VmFiles) -> list[str]:
    """The VM's TPM; QEMU starts it up, and it ends when QEMU lets go."""
    return [
        "swtpm", "socket", "--tpm2", "--terminate",
        "--tpmstate", f"dir={files.tpm_state}",
        "--ctrl", f"type=unixio,path={files.tpm_socket}",
    ]  # fmt: skip


def _machine(firmware: Firmware) -> list[str]:
    if firmware is Firmware.UEFI_ARM64:
        # A plain ARMv8.0 core: TCG runs it faster than `max`, whose pointer
        # authentication it emulates at length.
        return ["-cpu", "cortex-a57", "-machine", "virt"]
    secure_boot = firmware is Firmware.UEFI_SECURE_BOOT
    # Every instruction set extension TCG emulates, as a server CPU has
    # them: Ceph's erasure-code library dies of SIGILL on the default model.
    return ["-cpu", "max", "-machine", "q35,graphics=off" + (",smm=on" if secure_boot else "")]


def argv(spec: VmSpec, files: VmFiles) -> list[str]:
    nic = f"virtio-net-pci,netdev=net0,mac={spec.mac},bootindex=1"
    secure_boot = spec.firmware is Firmware.UEFI_SECURE_BOOT
    command = [
        spec.firmware.emulator,
        "-name",
        spec.name,
        "-accel",
        "tcg",
        *_machine(spec.firmware),
        "-m",
        str(spec.memory_mb),
        "-smp",
        str(spec.cpus),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        f"file:{files.console}",
        "-monitor",
        f"unix:{files.monitor},server=on,wait=off",
        "-netdev",
        f"tap,id=net0,ifname={spec.tap},script=no,downscript=no",
    ]
    if secure_boot:
        command += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
    if spec.firmware.ovmf is not None:
        command += [
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={spec.firmware.ovmf[0]}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={files.uefi_vars}",
        ]
        nic += ",romfile="
        if not spec.ipv4_pxe:
            command += ["-fw_cfg", f"name={IPV4_PXE_KNOB},string=n"]
    for index in range(len(spec.disks_gib)):
        command += [
            "-drive",
            f"file={files.disk(index)},if=virtio,format=raw,cache=unsafe,discard=unmap",
        ]
    if spec.tpm:
        command += [
            "-chardev", f"socket,id=chrtpm,path={files.tpm_socket}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", "tpm-tis,tpmdev=tpm0",
        ]  # fmt: skip
    return [*command, "-device", nic]


_PROMPT = b"(qemu) "


def _prompt(sock: socket.socket) -> None:
    """Read until the monitor prompts again."""
    seen = b""
    while not seen.endswith(_PROMPT):
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the monitor closed the connection")
        seen += chunk


def monitor(files: VmFiles, command: str, timeout: float = 5.0) -> None:
    """Send one human-monitor command (system_reset) to a running VM. Waits
    for the prompt after it: QEMU 7.2 drops a command whose connection closes
    before the monitor has read it (seen with system_reset)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(files.monitor))
            _prompt(sock)
            sock.sendall(command.encode() + b"\n")
            _prompt(sock)
    except OSError as exc:
        raise LabError(f"monitor of {files.directory.name}: {exc}") from None
