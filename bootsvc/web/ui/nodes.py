"""The node list, a node's page, and the actions on a node: accept,
disable, factory reset (and its cancelling), release a reboot slot. Each
action asks first, then calls what the API route calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc import digits
from bootsvc.core.boot import fleet, reports
from bootsvc.core.cmdb import cmdb, disks, nodesearch
from bootsvc.core.nodeconfig.preview import Previews
from bootsvc.core.rollout import fleetlock
from bootsvc.core.views.objects import node_view
from bootsvc.errors import BootsvcError, NotFound
from bootsvc.store.models import Node, RebootSlot
from bootsvc.store.types import utcnow
from bootsvc.web.api.fleet import boot_history
from bootsvc.web.auth import actor
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import blueprint
from bootsvc.web.ui.login import notify, require
from bootsvc.web.ui.page import go, page

HISTORY = 20


@dataclass(frozen=True)
class NodeAction:
    label: str
    scope: str
    # What the confirmation says will happen, given the node.
    question: Callable[[Node], str]
    run: Callable[[Session, str, str], str]


def _accept(session: Session, hostname: str, who: str) -> str:
    _node, changed = cmdb.set_state(session, hostname, "active", who)
    return "accepted" if changed else "was already active; nothing changed"


def _disable(session: Session, hostname: str, who: str) -> str:
    _node, changed = cmdb.set_state(session, hostname, "disabled", who)
    return "disabled" if changed else "was already disabled; nothing changed"


def _reset(session: Session, hostname: str, who: str) -> str:
    change = disks.request_reset(session, hostname, who)
    said = "factory reset requested" if change.changed else "factory reset already pending"
    return f"{said} (audit {change.node.reset_id}), at its next boot"


def _cancel_reset(session: Session, hostname: str, who: str) -> str:
    change = disks.cancel_reset(session, hostname, who)
    return "reset cancelled" if change.changed else "had no reset pending; nothing changed"


def _release(session: Session, hostname: str, who: str) -> str:
    if not fleetlock.release(session, hostname, who):
        raise NotFound(f"node {hostname} holds no reboot slot")
    return "reboot slot released"


ACTIONS = {
    "accept": NodeAction(
        "Accept",
        "admin",
        lambda n: f"Accept {n.hostname}: from its next boot it boots its image.",
        _accept,
    ),
    "disable": NodeAction(
        "Disable",
        "cmdb",
        lambda n: f"Disable {n.hostname}: it no longer boots an image from bootsvc.",
        _disable,
    ),
    "reset": NodeAction(
        "Factory reset",
        "admin",
        lambda n: f"Factory-reset {n.hostname}: its next boot wipes {disks.Wipe.of(n).describe()}.",
        _reset,
    ),
    "cancel-reset": NodeAction(
        "Cancel factory reset",
        "admin",
        lambda n: f"Cancel the factory reset pending for {n.hostname}.",
        _cancel_reset,
    ),
    "release": NodeAction(
        "Release reboot slot",
        "admin",
        lambda n: (
            f"Free the reboot slot {n.hostname} holds, as if it had come back: "
            "another node of its group may then reboot."
        ),
        _release,
    ),
}


def _offered(node: Node, holds_slot: bool) -> list[str]:
    """The actions that would change something for this node."""
    offered = []
    if node.state != "active":
        offered.append("accept")
    if node.state != "disabled":
        offered.append("disable")
    offered.append("cancel-reset" if node.reset_id is not None else "reset")
    if holds_slot:
        offered.append("release")
    return offered


@blueprint.get("/nodes")
def nodes_page() -> Response:
    ctx = services()
    wanted = nodesearch.NodeSearch(
        text=request.args.get("q", ""),
        cluster=request.args.get("cluster", ""),
        state=request.args.get("state", ""),
        role=request.args.get("role", ""),
    )
    number = digits.number(request.args.get("page", "1")) or 1
    with ctx.db.read() as session:
        found = nodesearch.search(session, wanted, number)
        statuses = fleet.node_statuses(session, ctx.settings, found.nodes, utcnow())
        clusters = [c.name for c in cmdb.list_clusters(session)]
        rows = [(node_view(n), s) for n, s in zip(found.nodes, statuses, strict=True)]
    return page(
        "nodes.html",
        rows=rows,
        found=found,
        wanted=wanted,
        clusters=clusters,
        states=("new", "active", "disabled"),
    )


def _previews() -> Previews:
    ctx = services()
    site = ctx.site
    return Previews(ctx.db, site.template_dir, site.api_url, site.default_image, site.agent)


@blueprint.get("/nodes/<hostname>")
def node_page(hostname: str) -> Response:
    ctx = services()
    with ctx.db.read() as session:
        node = cmdb.get_node(session, hostname)
        view = node_view(node)
        plan = fleet.node_status(session, ctx.settings, hostname)
        boot_rows = boot_history(session, node.id, HISTORY)
        reported = reports.recent(session, node.hostname, HISTORY)
        holds_slot = session.scalar(select(RebootSlot.id).where(RebootSlot.node_id == node.id))
        offered = _offered(node, holds_slot is not None)
    config = diff = problem = None
    try:
        config = _previews().files(view.hostname, None)
        diff = _previews().diff(view.hostname, None)
    except BootsvcError as error:
        problem = error.message
    return page(
        "node.html",
        node=view,
        plan=plan,
        boots=boot_rows,
        reports=reported,
        config=config,
        diff=diff,
        problem=problem,
        actions=[(name, ACTIONS[name]) for name in offered],
    )


def _action(name: str) -> NodeAction:
    found = ACTIONS.get(name)
    if found is None:
        raise NotFound(f"there is no node action {name!r}")
    return found


@blueprint.get("/nodes/<hostname>/<action>")
def node_confirm(hostname: str, action: str) -> Response:
    chosen = _action(action)
    require(chosen.scope)
    with services().db.read() as session:
        question = chosen.question(cmdb.get_node(session, hostname))
    return page(
        "confirm.html",
        title=f"{chosen.label}: {hostname}",
        question=question,
        button=chosen.label,
        target=url_for("ui.node_act", hostname=hostname, action=action),
        back=url_for("ui.node_page", hostname=hostname),
    )


@blueprint.post("/nodes/<hostname>/<action>")
def node_act(hostname: str, action: str) -> Response:
    chosen = _action(action)
    require(chosen.scope)
    with services().db.write() as session:
        said = chosen.run(session, hostname, actor())
        name = cmdb.get_node(session, hostname).hostname
    notify(f"{name}: {said}")
    return go(url_for("ui.node_page", hostname=name))
