"""Rollouts: start, watch, pause, resume, abort."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bootsvc import digits
from bootsvc.core.cmdb.records import ObjectName, Record
from bootsvc.core.rollout import rollouts
from bootsvc.core.views.fleet import RolloutView, rollout_view
from bootsvc.errors import NotFound
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class RolloutStart(Record):
    image: ObjectName
    version: ObjectName
    cluster: ObjectName
    canary: int | None = Field(default=None, ge=0, description="Nodes in the first wave")
    max_unavailable: int | None = Field(
        default=None, ge=1, description="Nodes per later wave, and reboot slots"
    )


class RolloutQuery(BaseModel):
    cluster: str | None = None
    limit: int = Field(default=50, ge=1, le=1000)


def rollout_number(rollout: str) -> int:
    found = digits.number(rollout)
    if found is None:
        raise NotFound(f"rollout {rollout!r} does not exist")
    return found


@registry.route(
    "POST",
    "/rollouts",
    summary="Roll a version out to the nodes of a cluster, wave by wave",
    scope="admin",
    body=RolloutStart,
    responses={201: RolloutView},
    errors=(404,),
)
def start_rollout(body: RolloutStart) -> Reply:
    ctx = services()
    with ctx.db.write() as session:
        rollout = rollouts.start(
            session,
            ctx.store,
            ctx.settings,
            body.image,
            body.version,
            body.cluster,
            actor(),
            body.canary,
            body.max_unavailable,
        )
        return Reply(rollout_view(rollout), 201)


@registry.route(
    "GET",
    "/rollouts",
    summary="Rollouts, newest first",
    scope="read",
    query=RolloutQuery,
    responses={200: list[RolloutView]},
    errors=(404,),
)
def list_rollouts(query: RolloutQuery) -> Reply:
    with services().db.read() as session:
        found = rollouts.list_rollouts(session, query.cluster, query.limit)
        return Reply([rollout_view(r, with_members=False) for r in found])


@registry.route(
    "GET",
    "/rollouts/{rollout}",
    summary="A rollout with its waves and nodes",
    scope="read",
    responses={200: RolloutView},
)
def show_rollout(rollout: str) -> Reply:
    with services().db.read() as session:
        return Reply(rollout_view(rollouts.get(session, rollout_number(rollout))))


def _step(rollout: str, verb: str) -> Reply:
    with services().db.write() as session:
        steps = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}
        return Reply(rollout_view(steps[verb](session, rollout_number(rollout), actor())))


@registry.route(
    "POST",
    "/rollouts/{rollout}/pause",
    summary="Start no further wave; nodes already moving carry on",
    scope="admin",
    responses={200: RolloutView},
)
def pause_rollout(rollout: str) -> Reply:
    return _step(rollout, "pause")


@registry.route(
    "POST",
    "/rollouts/{rollout}/resume",
    summary="Carry on after a pause, or retry the failed nodes after a halt",
    scope="admin",
    responses={200: RolloutView},
)
def resume_rollout(rollout: str) -> Reply:
    return _step(rollout, "resume")


@registry.route(
    "POST",
    "/rollouts/{rollout}/abort",
    summary="Stop for good: every node of the rollout boots its old version again",
    scope="admin",
    responses={200: RolloutView},
)
def abort_rollout(rollout: str) -> Reply:
    return _step(rollout, "abort")
