"""The fleet page: per cluster, what runs against what should, nodes by
state, the failing, the silent, pending resets, whether corosync keeps its
quorum, and the boots of the last hours."""

from __future__ import annotations

from flask import Response, request

from bootsvc.core.boot import bootrate, fleet, fleetsummary
from bootsvc.core.cmdb import cmdb, enlistment
from bootsvc.store.types import utcnow
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import blueprint
from bootsvc.web.ui.page import page
from bootsvc.web.ui.plot import boots_plot

PLOT_MINUTES = 6 * 60
# Names listed per kind of trouble; the node list has the rest.
LISTED = 20


@blueprint.get("/fleet")
def fleet_page() -> Response:
    ctx = services()
    cluster = request.args.get("cluster", "")
    now = utcnow()
    with ctx.db.read() as session:
        summaries = fleetsummary.by_cluster(session, ctx.settings, cluster or None, now)
        cluster_id = cmdb.get_cluster(session, cluster).id if cluster else None
        rate = bootrate.per_minute(session, now, PLOT_MINUTES, cluster_id)
        clusters = [c.name for c in cmdb.list_clusters(session)]
        slots = fleet.reboot_slots(session, cluster or None)
        enlisted = enlistment.stats(session, ctx.settings)
    return page(
        "fleet.html",
        at=now,
        silent_after_s=ctx.settings.fleet_silent_after_s,
        enlistment=enlisted,
        reboot_slots=slots,
        summaries=summaries,
        plot=boots_plot(rate),
        cluster=cluster,
        clusters=clusters,
        listed=LISTED,
    )
