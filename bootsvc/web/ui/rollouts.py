"""Rollouts: the list, one rollout's waves and nodes (its page polls for
changes), and pause, resume and abort."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import Response, request, url_for

from bootsvc.core.boot import reports
from bootsvc.core.rollout import rollouts
from bootsvc.core.views.fleet import MemberView, rollout_view
from bootsvc.errors import NotFound
from bootsvc.store.models import ROLLOUT_ACTIVE_STATES
from bootsvc.web.api.rollouts import rollout_number
from bootsvc.web.auth import actor
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import blueprint
from bootsvc.web.ui.login import notify, require
from bootsvc.web.ui.page import go, page

STEPS = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}
# The reports shown for each failed node: what it said last.
REPORTS = 3


@blueprint.get("/rollouts")
def rollouts_page() -> Response:
    cluster = request.args.get("cluster", "")
    with services().db.read() as session:
        found = rollouts.list_rollouts(session, cluster or None, 100)
        views = [rollout_view(r, with_members=False) for r in found]
    return page("rollouts.html", rollouts=views, cluster=cluster)


def _rollout(rollout: str) -> dict[str, Any]:
    with services().db.read() as session:
        view = rollout_view(rollouts.get(session, rollout_number(rollout)))
        failed = {
            m.hostname: reports.recent(session, m.hostname, REPORTS)
            for m in view.members
            if m.state == "failed"
        }
    waves: list[tuple[int, list[MemberView]]] = [
        (wave, list(members)) for wave, members in groupby(view.members, key=lambda m: m.wave)
    ]
    return {
        "rollout": view,
        "waves": waves,
        "failed": failed,
        "active": view.state in ROLLOUT_ACTIVE_STATES,
    }


@blueprint.get("/rollouts/<rollout>")
def rollout_page(rollout: str) -> Response:
    return page("rollout.html", **_rollout(rollout))


@blueprint.get("/rollouts/<rollout>/live")
def rollout_live(rollout: str) -> Response:
    return page("rollout_live.html", **_rollout(rollout))


def _step(verb: str) -> Any:
    step = STEPS.get(verb)
    if step is None:
        raise NotFound(f"there is no rollout action {verb!r}")
    return step


@blueprint.get("/rollouts/<rollout>/abort")
def abort_confirm(rollout: str) -> Response:
    require("admin")
    found = _rollout(rollout)["rollout"]
    return page(
        "confirm.html",
        title=f"Abort rollout {found.id}",
        question=f"Abort rollout {found.id} of {found.image} {found.version} on cluster "
        f"{found.cluster}: every one of its {len(found.members)} nodes boots its old version "
        "again, each when its agent gets a reboot slot. This cannot be resumed.",
        button="Abort",
        target=url_for("ui.rollout_act", rollout=found.id, verb="abort"),
        back=url_for("ui.rollout_page", rollout=found.id),
    )


@blueprint.post("/rollouts/<rollout>/<verb>")
def rollout_act(rollout: str, verb: str) -> Response:
    step = _step(verb)
    require("admin")
    with services().db.write() as session:
        done = step(session, rollout_number(rollout), actor())
        number, state = done.id, done.state
    notify(f"rollout {number}: {verb} done, now {state}")
    return go(url_for("ui.rollout_page", rollout=number))
