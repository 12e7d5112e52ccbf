"""Run a storm against one stack and summarise it; the command line
compares bootsvc with the reference stack in the same run."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from bench.common import percentiles
from bench.storm import stacks
from bench.storm.firmware import (
    Machine,
    Outcome,
    StormResult,
    Timers,
    machines,
    no_progress,
    previous_boot,
    storm,
)
from bench.storm.wire import Counters, DhcpPort, ExchangeFailed, HttpClient, tftp_get
from tests.support import nslab

PROBE_IP = "10.77.255.251"


@dataclass
class Summary:
    stack: str
    nodes: int
    up: int
    lost: int
    wall_s: float
    p50_s: float
    p99_s: float
    server_cpu_s: float
    server_cpu_by_process: dict[str, float]
    simulator_cpu_s: float
    dhcp_resends: int
    tftp_resends: int
    http_failures: int
    reboots: int
    load_average: float
    gigabytes: float
    lost_why: dict[str, int]
    # Median seconds from power-on until each stage was done.
    stages: dict[str, float]
    restart: Restarted | None = None
    # bootsvc's database after the storm (None for the reference).
    records: Records | None = None

    def line(self) -> str:
        return (
            f"{self.stack:9} nodes={self.nodes} up={self.up} lost={self.lost} "
            f"wall={self.wall_s:.1f}s p50={self.p50_s:.1f}s p99={self.p99_s:.1f}s "
            f"server_cpu={self.server_cpu_s:.1f}s sim_cpu={self.simulator_cpu_s:.1f}s "
            f"dhcp_resends={self.dhcp_resends} tftp_resends={self.tftp_resends} "
            f"http_failures={self.http_failures} reboots={self.reboots} "
            f"GB={self.gigabytes:.1f} load={self.load_average:.2f}\n"
            "          server CPU by process: "
            + " ".join(f"{name}={s:.1f}s" for name, s in self.server_cpu_by_process.items())
            + "\n          stages (median s): "
            + " ".join(f"{name}={at}" for name, at in self.stages.items())
            + (f"\n          restart: {self.restart.line()}" if self.restart else "")
            + (f"\n          records: {self.records.line()}" if self.records else "")
        )


@dataclass
class Restarted:
    """The stack's restart during the storm."""

    # Seconds from the storm's start; seconds until HTTP accepted again.
    at_s: float
    down_s: float
    # Machines whose node script came before the restart and whose boot-up
    # report (with that script's token) after it, and of those, how many got up.
    spanning: int = 0
    spanning_up: int = 0

    def line(self) -> str:
        return (
            f"at={self.at_s:.1f}s down={self.down_s:.1f}s "
            f"spanning={self.spanning} spanning_up={self.spanning_up}"
        )


@dataclass
class Records:
    """What bootsvc's database holds of the storm's machines afterwards."""

    # Machines whose newest boot its up report closed; whose bound lease is
    # still the address they booted with; addresses held by two machines.
    boots_up: int
    leases_held: int
    shared_addresses: int

    def line(self) -> str:
        return (
            f"boots_up={self.boots_up} leases_held={self.leases_held} "
            f"shared_addresses={self.shared_addresses}"
        )


def summarise(stack: str, result: StormResult, cpu: Counter[str], load: float) -> Summary:
    up = [outcome for outcome in result.outcomes if not outcome.lost]
    times = [outcome.seconds for outcome in up] or [0.0, 0.0]
    cuts = percentiles(times if len(times) > 1 else times * 2)
    totals = Counters()
    why: dict[str, int] = {}
    for outcome in result.outcomes:
        totals.dhcp_resends += outcome.counters.dhcp_resends
        totals.tftp_resends += outcome.counters.tftp_resends
        totals.http_failures += outcome.counters.http_failures
        if outcome.lost:
            why[outcome.lost[:80]] = why.get(outcome.lost[:80], 0) + 1
    begin = min(outcome.started for outcome in result.outcomes)
    end = max((outcome.finished or begin) for outcome in up) if up else begin
    return Summary(
        stack=stack,
        nodes=len(result.outcomes),
        up=len(up),
        lost=len(result.outcomes) - len(up),
        wall_s=end - begin,
        p50_s=cuts["p50"],
        p99_s=cuts["p99"],
        server_cpu_s=cpu.total() / stacks.CLOCK_TICK,
        server_cpu_by_process={
            name: ticks / stacks.CLOCK_TICK for name, ticks in cpu.most_common() if ticks
        },
        simulator_cpu_s=result.cpu_seconds,
        dhcp_resends=totals.dhcp_resends,
        tftp_resends=totals.tftp_resends,
        http_failures=totals.http_failures,
        reboots=sum(outcome.reboots for outcome in result.outcomes),
        load_average=load,
        gigabytes=sum(outcome.bytes_received for outcome in result.outcomes) / 1e9,
        lost_why=why,
        stages=_stage_medians(up),
    )


def _stage_medians(up: list[Outcome]) -> dict[str, float]:
    names = list(up[0].stages) if up else []
    return {
        name: round(statistics.median(outcome.stages.get(name, 0.0) for outcome in up), 2)
        for name in names
    }


async def _ready(first_url: str, machine: Machine, timeout: float) -> None:
    """Until the stack answers DHCP, TFTP and HTTP (each service of bootsvc
    starts in its own process, in no set order)."""
    port = DhcpPort("cli0")
    counters = Counters()
    deadline = time.monotonic() + timeout
    server = urlsplit(first_url).hostname or ""

    async def http() -> None:
        client = HttpClient(PROBE_IP, 2.0)
        try:
            if (await client.request("GET", first_url)).status != 200:
                raise ExchangeFailed("not yet")
        finally:
            client.close()

    probes = {
        "dhcp": lambda: port.dora(machine.mac, machine.dhcp_options(False), (0.5,), counters),
        "tftp": lambda: tftp_get(server, "undionly.kpxe", PROBE_IP, 1456, False, (0.5,), counters),
        "http": http,
    }
    try:
        while probes:
            for name, probe in list(probes.items()):
                try:
                    await probe()
                    del probes[name]
                except (ExchangeFailed, OSError):
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer from {', '.join(probes)} in {timeout:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        port.close()


async def _previous_boots(first_url: str, fleet: list[Machine], at_once: int) -> None:
    gate = asyncio.Semaphore(at_once)
    port = DhcpPort("cli0")

    async def one(machine: Machine) -> None:
        async with gate:
            await previous_boot(machine, port, first_url, 120.0)

    try:
        await asyncio.gather(*(one(machine) for machine in fleet))
    finally:
        port.close()


class _RestartAtShare:
    """Restarts the stack, from a thread of its own, once `share` of the
    machines have their node script."""

    def __init__(self, running: stacks.RunningStack, machines: int, share: float) -> None:
        self.running = running
        self.needed = max(1, round(machines * share))
        self.scripts = 0
        self.thread: threading.Thread | None = None
        # The storm starts right after this is made.
        self.began = time.monotonic()
        self.at = 0.0
        self.down_s = 0.0

    def progress(self, stage: str) -> None:
        if stage != "script" or self.thread is not None:
            return
        self.scripts += 1
        if self.scripts >= self.needed:
            self.thread = threading.Thread(target=self._restart)
            self.thread.start()

    def _restart(self) -> None:
        self.at = time.monotonic()
        self.down_s = self.running.restart()

    def result(self, outcomes: list[Outcome]) -> Restarted:
        if self.thread is None:
            raise RuntimeError(f"fewer than {self.needed} machines got a node script")
        self.thread.join()
        spanning = [
            o
            for o in outcomes
            if o.started + o.stages.get("script", float("inf")) < self.at
            and not o.started + o.stages.get("up", float("inf")) < self.at
        ]
        return Restarted(
            self.at - self.began,
            self.down_s,
            len(spanning),
            sum("up" in o.stages for o in spanning),
        )


def _records(database_url: str, outcomes: list[Outcome]) -> Records:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            boots_up = connection.execute(
                text(
                    "SELECT count(*) FROM node_boot b WHERE b.outcome = 'up' AND b.id = "
                    "(SELECT max(id) FROM node_boot WHERE node_id = b.node_id)"
                )
            ).scalar_one()
            rows = connection.execute(text("SELECT mac, ip FROM dhcp_lease WHERE state = 'bound'"))
            bound = {(mac, ip) for mac, ip in rows}
    finally:
        engine.dispose()
    ips = [o.ip for o in outcomes if not o.lost]
    return Records(
        boots_up=boots_up,
        leases_held=sum((o.machine.mac_text, o.ip) in bound for o in outcomes if not o.lost),
        shared_addresses=len(ips) - len(set(ips)),
    )


def run_stack(
    stack: str,
    start: Callable[[nslab.Namespace], AbstractContextManager[stacks.RunningStack]],
    first_url: str,
    fleet: list[Machine],
    spread: float,
    timers: Timers,
    first_boot: bool = False,
    restart_share: float | None = None,
) -> Summary:
    with stacks.segment() as (server, client), start(server) as running:
        client.call(asyncio.run, _ready(first_url, fleet[0], 120.0))
        if not first_boot:
            client.call(asyncio.run, _previous_boots(first_url, fleet, 4))
        load = os.getloadavg()[0]
        before = running.cpu_ticks()
        restart = None
        if restart_share is not None:
            restart = _RestartAtShare(running, len(fleet), restart_share)
        result = client.call(
            storm, "cli0", fleet, spread, timers, restart.progress if restart else no_progress
        )
        spent = running.cpu_ticks()
        spent.subtract(before)
        summary = summarise(stack, result, spent, load)
        if restart is not None:
            summary.restart = restart.result(result.outcomes)
        if running.database_url is not None:
            summary.records = _records(running.database_url, result.outcomes)
    return summary


@dataclass(frozen=True)
class Storm:
    """One storm's parameters; `stacks` names which to run, in order."""

    nodes: int
    sizes: stacks.Sizes
    uefi_share: float = 0.5
    spread: float = 1.0
    timers: Timers = field(default_factory=Timers)
    database_url: str = ""
    settings: tuple[tuple[str, str], ...] = ()
    # True: nodes boot for the first time (bootsvc makes their secrets).
    first_boot: bool = False
    # Keep the work directory (servers' logs) instead of removing it.
    keep: bool = False
    # Restart each stack once this share of the machines has its node script.
    restart_share: float | None = None


def run(storm_args: Storm, names: list[str]) -> Iterator[Summary]:
    base = Path(tempfile.mkdtemp(prefix="bootsvc-storm-"))
    try:
        (base / "image").mkdir()
        image = stacks.write_image(base / "image", storm_args.sizes)
        fleet = machines(storm_args.nodes, storm_args.uefi_share)
        for name in names:
            work = base / name
            work.mkdir()
            if name == "bootsvc":

                def start(
                    server: nslab.Namespace, work: Path = work
                ) -> AbstractContextManager[stacks.RunningStack]:
                    return stacks.bootsvc(
                        server, work, image, fleet, storm_args.database_url,
                        dict(storm_args.settings),
                    )  # fmt: skip

                url = f"http://{stacks.SERVER_IP}:8080/boot.ipxe"
            else:

                def start(
                    server: nslab.Namespace, work: Path = work
                ) -> AbstractContextManager[stacks.RunningStack]:
                    return stacks.reference(server, work, image, fleet)

                url = f"http://{stacks.SERVER_IP}/boot.ipxe"
            yield run_stack(
                name, start, url, fleet, storm_args.spread, storm_args.timers,
                storm_args.first_boot, storm_args.restart_share,
            )  # fmt: skip
    finally:
        if storm_args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
