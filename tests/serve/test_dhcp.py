"""The DHCP service's housekeeping: expired leases are reclaimed."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.leases import Lease
from bootsvc.serve.dhcp import DhcpService, warn_if_neighbours_overflow
from bootsvc.serve.housekeeping import RETAIN_SECONDS
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND
from tests.support.dhcpstack import dhcp_settings


def test_reclaim_forgets_leases_long_ended(db: Database, data_dir: Path) -> None:
    now = time.time()
    old = now - RETAIN_SECONDS - 60
    with db.write() as session:
        leases.claim(
            session,
            [
                Lease("10.0.0.100", "02:00:00:00:00:01", "10.0.0.0/24", BOUND, old, old - 600),
                Lease("10.0.0.101", "02:00:00:00:00:02", "10.0.0.0/24", BOUND, now + 600, now),
            ],
            old - 600,
        )
    service = DhcpService(dhcp_settings(data_dir, db), db)
    try:
        assert service.book is not None
        service.book.sync(db, None)
        assert set(service.book.by_ip) == {"10.0.0.100", "10.0.0.101"}
        assert service.reclaim(now) == 1
        with db.read() as session:
            assert [row.ip for row in leases.rows(session)] == ["10.0.0.101"]
        assert set(service.book.by_ip) == {"10.0.0.101"}
        assert service.reclaim(now) == 0
    finally:
        assert service.writer is not None
        service.writer.stop()


def test_more_machines_than_the_kernel_keeps_neighbours_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bootsvc.dhcp"):
        warn_if_neighbours_overflow(1024, 1024)
        warn_if_neighbours_overflow(10, None)
        assert caplog.records == []
        warn_if_neighbours_overflow(1300, 1024)
    [record] = caplog.records
    assert record.getMessage() == "dhcp.neighbour_limit"
    fields = record.fields  # type: ignore[attr-defined]
    assert (fields["machines"], fields["limit"]) == (1300, 1024)
