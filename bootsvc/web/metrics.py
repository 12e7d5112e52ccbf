"""GET /metrics for Prometheus: the counts of every process of `bootsvc
serve` (bootsvc.metrics), the fleet's state read from the database at the
scrape, and the HTTP requests of this application, timed from the request's
arrival to its response."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, request
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from bootsvc.core.views import gauges
from bootsvc.logs import event
from bootsvc.metrics import families, processes
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.web.context import services

log = logging.getLogger("bootsvc.http")

blueprint = Blueprint("metrics", __name__)
# The route label of requests that matched no route (404s, bad methods).
UNMATCHED = "unmatched"


class FleetCollector:
    """Gauges read from the database when Prometheus scrapes. A database
    that does not answer leaves them out of that scrape, and the process
    metrics are still served."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        try:
            with self.db.read() as session:
                fleet = gauges.read(session, self.settings, time.time())
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            event(log, "metrics.fleet-unread", logging.WARNING, error=error)
            return
        yield _gauge(
            "bootsvc_rollouts", "Rollouts in the database, by state.", "state", fleet.rollouts
        )
        yield _gauge(
            "bootsvc_reboot_slots_held",
            "FleetLock reboot slots held now, by cluster (empty: nodes outside any).",
            "cluster",
            fleet.reboot_slots,
        )
        yield _gauge(
            "bootsvc_dhcp_pool_addresses",
            "Addresses in the DHCP pool of each network (0: reservations only).",
            "network",
            {pool.network: pool.size for pool in fleet.pools},
        )
        yield _gauge(
            "bootsvc_dhcp_leased_addresses",
            "Addresses of each network bound to a client now, reserved ones included.",
            "network",
            {pool.network: pool.leased for pool in fleet.pools},
        )


def _gauge(name: str, documentation: str, label: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in values.items():
        family.add_metric([value], count)
    return family


@blueprint.get("/metrics")
def scrape() -> Response:
    ctx = services()
    body, content_type = processes.scrape([FleetCollector(ctx.db, ctx.settings)])
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def install(app: Flask) -> None:
    """Serve /metrics and time every request of `app`."""
    app.register_blueprint(blueprint)

    @app.before_request
    def _started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _answered(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            rule = request.url_rule
            families.http_request(
                rule.rule if rule is not None else UNMATCHED,
                request.method,
                response.status_code,
                time.perf_counter() - started,
            )
        return response
