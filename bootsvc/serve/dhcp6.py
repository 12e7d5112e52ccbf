"""The DHCPv6 service as `bootsvc serve` runs it: the protocol server from
bootsvc.net.dhcp6 wired to the decisions in bootsvc.core.dhcp6, and a
housekeeping thread that re-reads the CMDB and other servers' leases and
reclaims expired ones, as the DHCPv4 service does."""

from __future__ import annotations

import logging
import time

from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp6 import leases
from bootsvc.core.dhcp6.authoritative import AuthoritativeResponder6
from bootsvc.core.dhcp6.book import Dhcp6Book
from bootsvc.core.dhcp6.proxy import ProxyResponder6
from bootsvc.core.dhcp6.reservations import Reservations6
from bootsvc.logs import event
from bootsvc.net.dhcp6.responder import Dhcp6Responder
from bootsvc.net.dhcp6.server import Dhcp6Server
from bootsvc.serve.housekeeping import (
    SYNC_OVERLAP_SECONDS,
    KeptService,
    reclaim_leases,
    run_until_terminated,
)
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.dhcp6")


class Dhcp6Service(KeptService):
    server: Dhcp6Server
    name = "dhcp6"
    log = log

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        if settings.dhcp6_mode not in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY}:
            raise ValueError("the DHCPv6 service needs dhcp6_mode authoritative or proxy")
        self.settings = settings
        self.db = db or Database(settings.effective_database_url, settings.database_pool_size)
        loaders = Loaders.from_settings(settings)
        self.book: Dhcp6Book | None = None
        self.reservations: Reservations6 | None = None
        if settings.dhcp6_mode == DhcpMode.PROXY:
            responder: Dhcp6Responder = ProxyResponder6(settings, loaders)
        else:
            self.reservations = Reservations6(self.db, settings.secure_boot)
            self.book = Dhcp6Book(
                self.db, settings.dhcp_offer_seconds, settings.dhcp_decline_seconds
            )
            responder = AuthoritativeResponder6(self.book, self.reservations, settings, loaders)
        self.server = Dhcp6Server(responder, settings.dhcp6_interface)
        self.interval = settings.dhcp_refresh_seconds
        self._last_sync = time.time()

    def open(self) -> None:
        """Bind first, then read the CMDB and the leases: what clients send
        meanwhile waits in the socket's buffer and is answered, not lost."""
        self.server.open()
        self.load()

    def load(self) -> None:
        self._refresh(None)

    def _refresh(self, since: float | None) -> None:
        if self.reservations is not None and self.book is not None:
            self.reservations.refresh()
            self.book.sync(since)

    def reclaim(self, now: float) -> int:
        return reclaim_leases(self.db, leases.reclaim, self.book, now)

    def keep(self, now: float) -> None:
        self._refresh(self._last_sync - SYNC_OVERLAP_SECONDS)
        self._last_sync = now
        removed = self.reclaim(now)
        if removed:
            event(log, "dhcp6.reclaimed", leases=removed)

    def finish(self) -> None:
        if self.book is not None:
            self.book.stop()


def run(settings: Settings) -> None:
    """`bootsvc serve`'s DHCPv6 child: runs until SIGTERM."""
    run_until_terminated(
        lambda: Dhcp6Service(settings), mode=settings.dhcp6_mode, interface=settings.dhcp6_interface
    )
