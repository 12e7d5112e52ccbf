"""The DHCP service as `bootsvc serve` runs it: the protocol server from
bootsvc.net.dhcp wired to the decisions in bootsvc.core.dhcp, plus the
housekeeping thread that re-reads the CMDB and other servers' leases and
reclaims expired ones."""

from __future__ import annotations

import logging
import time

from bootsvc.core.cmdb.enlistment import Enlistment
from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.authoritative import AuthoritativeResponder
from bootsvc.core.dhcp.book import LeaseBook
from bootsvc.core.dhcp.directory import Directory
from bootsvc.core.dhcp.enlist import Enlister
from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp.proxy import ProxyResponder
from bootsvc.core.dhcp.writer import LeaseWriter
from bootsvc.logs import event
from bootsvc.net import link
from bootsvc.net.dhcp.responder import Responder
from bootsvc.net.dhcp.server import PXE_PORT, SERVER_PORT, DhcpServer
from bootsvc.serve.housekeeping import (
    SYNC_OVERLAP_SECONDS,
    KeptService,
    reclaim_leases,
    run_until_terminated,
)
from bootsvc.settings import DhcpMode, Settings, parse_styles
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.dhcp")

# How often old leases go, and the whole CMDB is read again (in between,
# only what changed).
RECLAIM_EVERY_SECONDS = 60.0


class DhcpService(KeptService):
    server: DhcpServer
    name = "dhcp"
    log = log

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        if settings.dhcp_mode not in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY}:
            raise ValueError("the DHCP service needs dhcp_mode authoritative or proxy")
        self.settings = settings
        self.db = db or Database(settings.effective_database_url, settings.database_pool_size)
        loaders = Loaders.from_settings(settings)
        self.writer: LeaseWriter | None = None
        self.book: LeaseBook | None = None
        self.directory: Directory | None = None
        self.enlister: Enlister | None = None
        if settings.dhcp_mode == DhcpMode.PROXY:
            responder: Responder = ProxyResponder(loaders, parse_styles(settings.dhcp_proxy_uefi))
            ports: tuple[int, ...] = (SERVER_PORT, PXE_PORT)
        else:
            self.directory = Directory(self.db, settings)
            limits = Enlistment.from_settings(settings, per_address=False)
            self.enlister = Enlister(self.db, self.directory, self._nudge, self._busy, limits)
            self.writer = LeaseWriter(self.db, idle=self.enlister.step)
            self.book = LeaseBook(
                self.writer, settings.dhcp_offer_seconds, settings.dhcp_decline_seconds
            )
            responder = AuthoritativeResponder(self.book, self.directory, loaders, self.enlister)
            ports = (SERVER_PORT,)
        self.server = DhcpServer(responder, settings.dhcp_interface, ports)
        self.interval = settings.dhcp_refresh_seconds
        self._last_sync = self._last_reclaim = time.time()

    def _nudge(self) -> None:
        if self.writer is not None:
            self.writer.nudge()

    def _busy(self, within: float) -> bool:
        return self.writer is not None and self.writer.busy(within)

    def open(self) -> None:
        """Bind first, then read the CMDB and the leases: what clients send
        meanwhile waits in the socket's buffer and is answered, not lost."""
        self.server.open()
        self.load()
        if self.directory is not None:
            warn_if_neighbours_overflow(len(self.directory.nodes), link.neighbour_limit())

    def load(self) -> None:
        """Read the CMDB and the leases."""
        self._refresh(None, full_cmdb=True)

    def _refresh(self, since: float | None, full_cmdb: bool) -> None:
        if self.directory is not None and self.book is not None:
            self.directory.refresh(None if full_cmdb else since)
            self.book.sync(self.db, since)

    def reclaim(self, now: float) -> int:
        return reclaim_leases(self.db, leases.reclaim, self.book, now)

    def keep(self, now: float) -> None:
        full = now - self._last_reclaim >= RECLAIM_EVERY_SECONDS
        self._refresh(self._last_sync - SYNC_OVERLAP_SECONDS, full_cmdb=full)
        self._last_sync = now
        if full:
            self._last_reclaim = now
            removed = self.reclaim(now)
            if removed:
                event(log, "dhcp.reclaimed", leases=removed)

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.stop()


def warn_if_neighbours_overflow(machines: int, limit: int | None) -> None:
    """Past the kernel's neighbour limit, replies to the next machines of a
    storm are dropped: say so once, at start, rather than lose boots quietly."""
    if limit is not None and machines > limit:
        event(
            log,
            "dhcp.neighbour_limit",
            logging.WARNING,
            machines=machines,
            limit=limit,
            fix="raise net.ipv4.neigh.default.gc_thresh3 (bootsvc install does)",
        )


def run(settings: Settings) -> None:
    """`bootsvc serve`'s DHCP child: runs until SIGTERM."""
    run_until_terminated(
        lambda: DhcpService(settings), mode=settings.dhcp_mode, interface=settings.dhcp_interface
    )
