"""One scrape for all the processes of `bootsvc serve`.

prometheus-client's multiprocess mode: each process writes its values to
files in one directory, named by its pid, and a scrape (in any gunicorn
worker) adds them up. The mode is chosen when prometheus_client is first
imported, from PROMETHEUS_MULTIPROC_DIR, so the supervisor sets it before it
starts any child, and every child inherits it. A process run on its own (a
test, `bootsvc lab`'s pieces) keeps its values in memory and scrapes those.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_between_processes(directory: Path) -> None:
    """Make the processes started after this call count into `directory`,
    emptied first: files of an earlier run would add to this one's counts."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink()
    os.environ[DIRECTORY_VARIABLE] = str(directory)


def process_ended(pid: int) -> None:
    """Drop a dead process's live gauges (its counters keep counting in the
    totals, so that they never go down)."""
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if directory:
        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class _ThisProcess:
    """This process's own metrics, when there is no directory to share."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of every process's metrics and of `extra`
    (collectors that compute their values now), and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if directory:
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
