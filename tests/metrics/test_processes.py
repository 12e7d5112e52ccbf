"""Counts of several processes add up in one scrape; a dead process's live
gauges go, its counts stay; a new start of `bootsvc serve` counts from zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootsvc.metrics import processes
from tests.support.scrape import Scrape

# A service child's work: one DHCP offer, one TFTP transfer still under way.
CHILD = """
import os
from bootsvc.metrics import families
families.dhcp_message("discover", "offer")
families.tftp_started()
print(os.getpid())
"""


def child(directory: Path) -> int:
    env = dict(os.environ, **{processes.DIRECTORY_VARIABLE: str(directory)})
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True
    )
    return int(done.stdout)


def scrape() -> Scrape:
    body, content_type = processes.scrape()
    assert content_type.startswith("text/plain")
    return Scrape(body.decode())


def test_processes_add_up_and_the_dead_lose_only_their_live_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    # share_between_processes sets the variable, as for the supervisor's
    # children; monkeypatch removes it after the test.
    monkeypatch.setenv(processes.DIRECTORY_VARIABLE, "")
    processes.share_between_processes(directory)
    assert list(directory.iterdir()) == []
    first, _second = child(directory), child(directory)
    both = scrape()
    assert both.value("bootsvc_dhcp_messages_total", type="discover", reply="offer") == 2
    assert both.value("bootsvc_tftp_transfers_in_progress") == 2
    processes.process_ended(first)
    after = scrape()
    assert after.value("bootsvc_dhcp_messages_total", type="discover", reply="offer") == 2
    assert after.value("bootsvc_tftp_transfers_in_progress") == 1
    processes.share_between_processes(directory)
    assert scrape().value("bootsvc_dhcp_messages_total") == 0
