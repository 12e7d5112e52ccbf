"""Simulated machines that boot as real ones do after a power cut: PXE
firmware (BIOS or UEFI) leases an address and fetches its loader over TFTP,
iPXE leases again and runs bootsvc's scripts (or any scripts of that shape),
and the booted system fetches its squashfs root and reports that it is up.

They retry on the firmware's timers and no faster; a machine whose retries
run out, or that is not up by the deadline, is lost. All of them run in one
asyncio loop, in whatever network namespace the calling thread is in.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from bench.storm.wire import (
    Answer,
    Counters,
    DhcpPort,
    ExchangeFailed,
    HttpClient,
    boot_file,
    tftp_get,
)
from bootsvc.net.dhcp import options as opt

# PXE firmware resends DHCP after 4, 8, 16 and 32 s (PXE 2.1 spec); iPXE
# starts at 1 s and doubles.
PXE_DHCP_TIMEOUTS = (4.0, 8.0, 16.0, 32.0)
IPXE_DHCP_TIMEOUTS = (1.0, 2.0, 4.0, 8.0)
# TFTP: the last packet again after each silence, as edk2 and PXE ROMs do.
TFTP_TIMEOUTS = (1.0, 2.0, 4.0, 8.0, 16.0)
# The booted system's boot-up report: six tries, ten seconds apart
# (templates/overlay/usr/local/lib/bootsvc/report-up.j2).
REPORT_TRIES, REPORT_PAUSE = 6, 10.0
# A Debian live initramfs that cannot fetch its root panics; panic=10 reboots.
PANIC_REBOOT_SECONDS = 10.0
PARAMETERS = bytes((1, 3, 6, 12, 15, 28, 42, 43, 51, 54, 60, 66, 67, 97, 128, 175))

_VARIABLE = re.compile(r"\$\{([a-z]+)(?::([a-z]+))?\}")
_KERNEL = re.compile(r"^kernel --name (\S+) (\S+)(.*?)(?: \|\| goto \S+)?$", re.MULTILINE)
_INITRD = re.compile(r"^initrd --name (\S+) (\S+) \|\| goto (\S+)$", re.MULTILINE)
_REPORT = re.compile(r"^imgfetch --name report (\S+)", re.MULTILINE)
_CHAIN = re.compile(r"^chain (?:--autofree )?(\S+)", re.MULTILINE)
_SLEEP = re.compile(r"^sleep (\d+)$", re.MULTILINE)
_ATTEMPTS = re.compile(r"^iseq \$\{attempt\} (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Machine:
    mac: bytes
    uuid: bytes
    uefi: bool

    @property
    def mac_text(self) -> str:
        return ":".join(f"{octet:02x}" for octet in self.mac)

    def variables(self, ip: str) -> dict[str, str]:
        return {
            "mac": self.mac_text,
            "uuid": str(self.uuid.hex()),
            "serial": f"SN{self.mac.hex()}",
            "asset": "",
            "buildarch": "x86_64" if self.uefi else "i386",
            "platform": "efi" if self.uefi else "pcbios",
            "ip": ip,
        }

    def expand(self, text: str, ip: str) -> str:
        """iPXE's settings expansion, for the settings bootsvc's scripts use."""
        values = self.variables(ip)

        def one(found: re.Match[str]) -> str:
            value = values.get(found.group(1), "")
            return value.replace(":", "-") if found.group(2) == "hexhyp" else value

        return _VARIABLE.sub(one, text)

    def dhcp_options(self, ipxe: bool) -> dict[int, bytes]:
        arch = 7 if self.uefi else 0
        undi = "003016" if self.uefi else "002001"
        options = {
            opt.PARAMETER_LIST: PARAMETERS,
            opt.VENDOR_CLASS: f"PXEClient:Arch:{arch:05d}:UNDI:{undi}".encode(),
            opt.CLIENT_ARCH: arch.to_bytes(2, "big"),
            opt.CLIENT_NDI: b"\x01\x03\x00" if self.uefi else b"\x01\x02\x01",
            opt.CLIENT_UUID: b"\x00" + self.uuid,
        }
        if ipxe:
            options[opt.USER_CLASS] = b"iPXE"
            options[opt.IPXE_ENCAPSULATED] = b"\x13\x01\x01\x11\x01\x01"
        return options


def machines(count: int, uefi_share: float, seed: int = 16) -> list[Machine]:
    """MACs 52:54:00:00:00:00 upwards, the same as bench/common.node_csv
    numbers its nodes; BIOS and UEFI spread evenly."""
    rng = random.Random(seed)
    found = []
    for index in range(count):
        mac = bytes((0x52, 0x54, 0, (index >> 16) & 255, (index >> 8) & 255, index & 255))
        uuid = bytes(rng.getrandbits(8) for _ in range(16))
        found.append(Machine(mac, uuid, uefi=index * uefi_share % 1 + uefi_share >= 1))
    return found


@dataclass
class Outcome:
    """What happened to one machine; `lost` says where it gave up."""

    machine: Machine
    started: float
    finished: float | None = None
    lost: str = ""
    ip: str = ""
    reboots: int = 0
    script_retries: int = 0
    bytes_received: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)

    @property
    def seconds(self) -> float:
        return (self.finished or 0.0) - self.started


@dataclass(frozen=True)
class Timers:
    """The firmware's timers (tests shorten the deadline)."""

    pxe_dhcp: tuple[float, ...] = PXE_DHCP_TIMEOUTS
    ipxe_dhcp: tuple[float, ...] = IPXE_DHCP_TIMEOUTS
    tftp: tuple[float, ...] = TFTP_TIMEOUTS
    http_timeout: float = 60.0
    deadline: float = 900.0
    max_reboots: int = 3


class _GiveUp(Exception):
    """The node script ran out of attempts: iPXE reboots the machine."""


# Told each stage a machine finishes, in the storm's event loop: it must not block.
Progress = Callable[[str], None]


def no_progress(_stage: str) -> None:
    return None


class Booting:
    """One machine from power-on to its boot-up report."""

    def __init__(
        self,
        machine: Machine,
        port: DhcpPort,
        timers: Timers,
        outcome: Outcome,
        progress: Progress = no_progress,
    ) -> None:
        self.machine = machine
        self.port = port
        self.timers = timers
        self.outcome = outcome
        self.progress = progress

    def _mark(self, stage: str) -> None:
        self.outcome.stages[stage] = time.monotonic() - self.outcome.started
        self.progress(stage)

    async def run(self) -> None:
        try:
            await asyncio.wait_for(self._boot_until_up(), self.timers.deadline)
            self.outcome.finished = time.monotonic()
        except TimeoutError:
            self.outcome.lost = f"not up after {self.timers.deadline:.0f} s"
        except ExchangeFailed as exc:
            self.outcome.lost = str(exc)

    async def _boot_until_up(self) -> None:
        while True:
            try:
                return await self._boot_once()
            except _GiveUp as exc:
                if self.outcome.reboots >= self.timers.max_reboots:
                    raise ExchangeFailed(f"gave up after {self.outcome.reboots} reboots") from exc
                self.outcome.reboots += 1

    async def _boot_once(self) -> None:
        counters, machine = self.outcome.counters, self.machine
        ack = await self.port.dora(
            machine.mac, machine.dhcp_options(False), self.timers.pxe_dhcp, counters
        )
        self._mark("pxe-dhcp")
        ip = self.outcome.ip = ack.yiaddr
        server, loader = boot_file(ack)
        blksize = 1468 if machine.uefi else 1456
        self.outcome.bytes_received += await tftp_get(
            server, loader, ip, blksize, not machine.uefi, self.timers.tftp, counters
        )
        self._mark("loader")
        ack = await self.port.dora(
            machine.mac, machine.dhcp_options(True), self.timers.ipxe_dhcp, counters
        )
        self._mark("ipxe-dhcp")
        _, first_url = boot_file(ack)
        http = HttpClient(ack.yiaddr, self.timers.http_timeout)
        try:
            script, script_url = await self._scripts(http, first_url)
            self._mark("script")
            cmdline = await self._run_node_script(http, script, script_url)
        finally:
            http.close()
        self._mark("kernel-loaded")
        await self._booted_system(cmdline)

    async def _get(self, http: HttpClient, url: str) -> Answer:
        answer = await http.request("GET", url)
        self.outcome.bytes_received += answer.length
        if answer.status != 200:
            raise ExchangeFailed(f"GET {url}: HTTP {answer.status}")
        return answer

    async def _scripts(self, http: HttpClient, first_url: str) -> tuple[str, str]:
        """boot.ipxe, then the node's own script; bootsvc's first script
        retries every 5 s until the node script comes."""
        while True:
            try:
                first = (await self._get(http, first_url)).text
                chained = _CHAIN.search(first)
                if chained is None:
                    return first, first_url
                url = urljoin(first_url, self.machine.expand(chained.group(1), self.outcome.ip))
                return (await self._get(http, url)).text, url
            except ExchangeFailed:
                self.outcome.counters.http_failures += 1
                await asyncio.sleep(5)

    async def _run_node_script(self, http: HttpClient, script: str, script_url: str) -> str:
        """The kernel, initrds, overlay and secrets, with the script's own
        retry loop (`|| goto retry`, sleep, at most N attempts; a failed
        secrets fetch asks for a fresh script, as its token is spent). The
        kernel command line."""
        attempt = 0
        while True:
            kernel = _KERNEL.search(script)
            if kernel is None:
                raise ExchangeFailed(f"no kernel in the script from {script_url}")
            delay = int(found.group(1)) if (found := _SLEEP.search(script)) else 5
            most = int(found.group(1)) if (found := _ATTEMPTS.search(script)) else 10
            failed = await self._fetch_images(http, kernel.group(2), _INITRD.findall(script))
            if failed is None:
                break
            self.outcome.counters.http_failures += 1
            self.outcome.script_retries += 1
            if failed == "new_token":
                script = await self._rechain(http, script_url, delay)
                continue
            attempt += 1
            if attempt >= most:
                raise _GiveUp
            await asyncio.sleep(delay)
        report = _REPORT.search(script)
        if report is not None:
            try:
                await http.request("GET", report.group(1) + "&stage=kernel-loaded")
            except ExchangeFailed:
                self.outcome.counters.http_failures += 1
        return kernel.group(3)

    async def _rechain(self, http: HttpClient, script_url: str, delay: int) -> str:
        """A fresh script for a new secrets token: the script's `new_token`
        loop asks again every `delay` seconds until one comes."""
        while True:
            await asyncio.sleep(delay)
            try:
                return (await self._get(http, script_url)).text
            except ExchangeFailed:
                self.outcome.counters.http_failures += 1

    async def _fetch_images(
        self, http: HttpClient, kernel_url: str, initrds: list[tuple[str, str, str]]
    ) -> str | None:
        """None when all came, else the label the script jumps to."""
        try:
            await self._get(http, kernel_url)
        except ExchangeFailed:
            return "retry"
        self._mark("kernel")
        for name, url, on_failure in initrds:
            try:
                await self._get(http, url)
            except ExchangeFailed:
                return on_failure
            self._mark(name)
        return None

    async def _booted_system(self, cmdline: str) -> None:
        arguments = dict(arg.split("=", 1) for arg in cmdline.split() if "=" in arg)
        root = HttpClient(self.outcome.ip, self.timers.http_timeout)
        try:
            if "fetch" in arguments:
                await self._get(root, arguments["fetch"])
        except ExchangeFailed as exc:
            self.outcome.counters.http_failures += 1
            await asyncio.sleep(PANIC_REBOOT_SECONDS)
            raise _GiveUp from exc
        finally:
            root.close()
        self._mark("root")
        await self._report_up(arguments)

    async def _report_up(self, arguments: dict[str, str]) -> None:
        url = arguments.get("bootsvc.url", "") + "/boot/report"
        body = json.dumps({"mac": self.machine.mac_text, "stage": "up", "details": {}}).encode()
        headers = {"Content-Type": "application/json"}
        if "bootsvc.token" in arguments:
            headers["Authorization"] = f"Bearer {arguments['bootsvc.token']}"
        for _try in range(REPORT_TRIES):
            http = HttpClient(self.outcome.ip, 20.0)
            try:
                answer = await http.request("POST", url, headers, body)
                if answer.status < 300:
                    self._mark("up")
                    return
            except ExchangeFailed:
                pass
            finally:
                http.close()
            self.outcome.counters.http_failures += 1
            await asyncio.sleep(REPORT_PAUSE)
        raise ExchangeFailed(f"the boot-up report to {url} never went through")


async def previous_boot(machine: Machine, port: DhcpPort, first_url: str, timeout: float) -> None:
    """What an earlier boot left behind, without the downloads: a lease, the
    node's script and its secrets, which bootsvc makes on a node's first
    boot (SSH host keys, keyrings). A storm after a power cut finds them."""
    ack = await port.dora(machine.mac, machine.dhcp_options(True), IPXE_DHCP_TIMEOUTS, Counters())
    ip = ack.yiaddr
    http = HttpClient(ip, timeout)
    try:
        first = await http.request("GET", first_url)
        chained = _CHAIN.search(first.text)
        url = first_url
        if chained is not None:
            url = urljoin(first_url, machine.expand(chained.group(1), ip))
        script = await http.request("GET", url)
        for _name, file_url, on_failure in _INITRD.findall(script.text):
            if on_failure == "new_token":
                answer = await http.request("GET", file_url)
                if answer.status != 200:
                    raise ExchangeFailed(f"earlier boot of {ip}: secrets: HTTP {answer.status}")
    finally:
        http.close()


@dataclass
class StormResult:
    outcomes: list[Outcome]
    seconds: float
    cpu_seconds: float


async def _storm(
    interface: str,
    fleet: list[Machine],
    spread: float,
    timers: Timers,
    seed: int,
    progress: Progress,
) -> list[Outcome]:
    port = DhcpPort(interface)
    rng = random.Random(seed)
    begin = time.monotonic()
    outcomes = [Outcome(machine, begin) for machine in fleet]

    async def one(outcome: Outcome) -> None:
        await asyncio.sleep(rng.uniform(0, spread))
        outcome.started = time.monotonic()
        await Booting(outcome.machine, port, timers, outcome, progress).run()

    try:
        await asyncio.gather(*(one(outcome) for outcome in outcomes))
    finally:
        port.close()
    return outcomes


def storm(
    interface: str,
    fleet: list[Machine],
    spread: float = 1.0,
    timers: Timers | None = None,
    progress: Progress = no_progress,
) -> StormResult:
    """Power on `fleet` within `spread` seconds on `interface` (of the
    calling thread's namespace) and wait until each is up or lost;
    `progress` hears of every stage any machine finishes."""
    _raise_open_files()
    before = resource.getrusage(resource.RUSAGE_THREAD)
    begin = time.monotonic()
    outcomes = asyncio.run(_storm(interface, fleet, spread, timers or Timers(), 16, progress))
    after = resource.getrusage(resource.RUSAGE_THREAD)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return StormResult(outcomes, time.monotonic() - begin, cpu)


def _raise_open_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def local_range(prefix: str) -> list[str]:
    """`ip route` arguments that make every address of `prefix` local to
    the simulator's namespace, so each machine can use its leased address
    without one `ip addr add` per machine."""
    return ["route", "add", "local", prefix, "dev", "lo", "table", "local"]
