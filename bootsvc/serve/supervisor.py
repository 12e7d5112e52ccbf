"""`bootsvc serve`: one supervisor process, one child process per enabled
service (HTTP, and TFTP, DNS and DHCP when configured).

Services run in their own processes rather than as threads of one: gunicorn
forks its workers, which must not happen in a process that has protocol
threads running, and separate processes use both cores. All state is in the
database, so the services need not share memory. A child that dies is logged
and restarted; SIGTERM or SIGINT stops them all. Once every enabled network
service answers, the supervisor says so to systemd (Type=notify).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bootsvc.logs import event, setup_logging
from bootsvc.metrics import processes
from bootsvc.serve import signals
from bootsvc.serve.notify import Notifier
from bootsvc.serve.probes import Probe, probes_for
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store import schema
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Artifact

log = logging.getLogger("bootsvc.serve")

STOP_GRACE_SECONDS = 15
RESTART_DELAY_SECONDS = 2
# A service that dies this often within the window is not restarted again:
# bootsvc stops and says so, rather than flapping forever.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60
# Under the data directory: where the children's metrics files go.
METRICS_DIRECTORY = "metrics"
# Imported once by the fork server, so that a child starts in milliseconds
# rather than importing bootsvc anew: a restart mid-storm costs firmware a
# resend or two, not its patience.
SERVICE_MODULES = [
    "bootsvc.web.server",
    "bootsvc.serve.tftp",
    "bootsvc.serve.dns",
    "bootsvc.serve.rollouts",
    "bootsvc.serve.dhcp",
    "bootsvc.serve.dhcp6",
]


def _run_http(settings: Settings) -> None:
    from bootsvc.web import server

    server.run(settings)


def _run_tftp(settings: Settings) -> None:
    from bootsvc.serve import tftp

    tftp.run(settings)


def _run_dns(settings: Settings) -> None:
    from bootsvc.serve import dns

    dns.run(settings)


def _run_rollouts(settings: Settings) -> None:
    from bootsvc.serve import rollouts

    rollouts.run(settings)


def _run_dhcp(settings: Settings) -> None:
    from bootsvc.serve import dhcp

    dhcp.run(settings)


def _run_dhcp6(settings: Settings) -> None:
    from bootsvc.serve import dhcp6

    dhcp6.run(settings)


ServiceMain = Callable[[Settings], None]


def services_for(settings: Settings) -> dict[str, ServiceMain]:
    """The services these settings enable. Network services other than HTTP
    start only when their setting is given."""
    services: dict[str, ServiceMain] = {"http": _run_http}
    # The rollout clock answers on no network, so it always runs.
    services["rollouts"] = _run_rollouts
    if settings.tftp_listen:
        services["tftp"] = _run_tftp

    if settings.dns_listen:
        services["dns"] = _run_dns

    if settings.dhcp_mode in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY}:
        services["dhcp"] = _run_dhcp
    if settings.dhcp6_mode in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY}:
        services["dhcp6"] = _run_dhcp6
    return services


def _child(name: str, settings_data: dict[str, Any]) -> None:
    # The fork server ignores SIGTERM (see _start_fork_server), and one the
    # supervisor started again would block it as the supervisor does; a service does neither.
    signals.unblock()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # ps, top and the storm benchmark tell the services apart by this name.
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(f"bootsvc-{name}"[:15])
    settings = Settings.model_validate(settings_data)
    setup_logging(settings.log_level)
    services_for(settings)[name](settings)


def prepare(settings: Settings) -> None:
    """Refuse an outdated schema; clear what killed imports left behind."""
    db = Database(settings.effective_database_url)
    try:
        schema.require_current(db)
        store = ArtifactStore(settings.data_dir)
        temporaries = store.remove_stale_temporaries()
        with db.read() as session:
            registered = set(session.scalars(select(Artifact.sha256)))
        orphans = store.remove_unregistered(registered)
        if temporaries or orphans:
            event(log, "store.cleaned", temporaries=temporaries, orphans=orphans)
    finally:
        db.dispose()


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        # Forked from a fresh single-threaded server, never from this process.
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(SERVICE_MODULES)
        self.children: dict[str, BaseProcess] = {}
        self.deaths: dict[str, list[float]] = {}
        self.probes: dict[str, Probe] = probes_for(settings)
        self.ready = False
        self.notifier = Notifier()

    def _start(self, name: str) -> None:
        process = self.context.Process(
            target=_child,
            args=(name, self.settings.model_dump(mode="json")),
            name=f"bootsvc-{name}",
            daemon=False,
        )
        process.start()
        self.children[name] = process
        event(log, "service.started", service=name, pid=process.pid)

    def _on_signal(self, signum: signal.Signals) -> None:
        event(log, "serve.stopping", signal=signum.name)
        self.stopping.set()

    def run(self) -> int:
        # Before any child starts: each reads where to count when it starts.
        processes.share_between_processes(self.settings.data_dir / METRICS_DIRECTORY)
        _start_fork_server()
        signals.when_signalled(self._on_signal, signal.SIGTERM, signal.SIGINT)
        for name in services_for(self.settings):
            self._start(name)
        status = 0
        while not self.stopping.wait(0.5):
            if not self.ready:
                self._check_ready()
            for name, process in list(self.children.items()):
                if process.is_alive():
                    continue
                event(
                    log,
                    "service.died",
                    level=logging.ERROR,
                    service=name,
                    exitcode=process.exitcode,
                )
                if process.pid is not None:
                    processes.process_ended(process.pid)
                if self._flapping(name):
                    event(
                        log,
                        "service.failing",
                        level=logging.ERROR,
                        service=name,
                        deaths=MAX_RESTARTS + 1,
                        window_s=RESTART_WINDOW_SECONDS,
                    )
                    self.stopping.set()
                    status = 1
                    break
                time.sleep(RESTART_DELAY_SECONDS)
                if not self.stopping.is_set():
                    self._start(name)
        self._stop_all()
        return status

    def _check_ready(self) -> None:
        """Tell systemd once, when every enabled network service answers."""
        waiting = {name: probe() for name, probe in self.probes.items()}
        if any(waiting.values()):
            return
        self.ready = True
        services = ",".join(self.children)
        self.notifier.send("READY=1", f"STATUS=serving {services}")
        event(log, "serve.ready", base_url=self.settings.base_url, services=services)

    def _flapping(self, name: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.deaths.get(name, []) if now - t < RESTART_WINDOW_SECONDS]
        recent.append(now)
        self.deaths[name] = recent
        return len(recent) > MAX_RESTARTS

    def _stop_all(self) -> None:
        self.notifier.send("STOPPING=1")
        for process in self.children.values():
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in self.children.items():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                event(log, "service.killed", level=logging.WARNING, service=name)
                process.kill()
                process.join()
            if process.pid is not None:
                processes.process_ended(process.pid)
        event(log, "serve.stopped")


def _start_fork_server() -> None:
    """Start the fork server with SIGTERM ignored, which it keeps across exec:
    systemd signals the whole unit at once, and a fork server that died
    first would make every child look dead, so the supervisor would not wait
    for them to finish. It exits with the supervisor all the same."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(settings: Settings) -> int:
    setup_logging(settings.log_level)
    prepare(settings)
    return Supervisor(settings).run()
