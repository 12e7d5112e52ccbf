"""What bootsvc shows about rollouts, boots and the fleet: one JSON shape per
object, shared by the API (and its OpenAPI document) and the CLI's --json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from bootsvc.core.boot import boots
from bootsvc.store.models import ImageVersion, NodeBoot, RebootSlot, Rollout, RolloutMember


class MemberView(BaseModel):
    hostname: str
    wave: int
    state: str
    from_version: str | None
    attempts: int
    started_at: datetime | None
    booting_since: datetime | None
    finished_at: datetime | None
    reason: str


class RolloutView(BaseModel):
    id: int
    cluster: str
    image: str
    version: str | None
    trigger: str
    channel: str | None
    state: str
    reason: str
    wave: int
    waves: int
    canary: int
    max_unavailable: int
    max_attempts: int
    health_timeout_s: int
    counts: dict[str, int]
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    members: list[MemberView]


class BootView(BaseModel):
    image: str | None
    version: str | None
    outcome: str
    mac: str | None
    ip: str | None
    script_at: datetime | None
    kernel_at: datetime | None
    up_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    details: dict[str, Any]


class NodeStatusView(BaseModel):
    """A node as the fleet sees it: what it should boot and why, what it
    booted last, and whether it is well."""

    hostname: str
    cluster: str | None
    state: str
    desired: str | None
    reason: str
    source: str | None
    rollout: int | None
    channel: str | None
    channel_version: str | None
    booted: str | None
    booted_at: datetime | None
    boot_s: float | None
    status: str
    # Why bootsvc refused its last boot, when it did.
    refused: str | None = None
    failures: int
    last_seen: datetime | None
    # The audit id of a factory reset its next boot carries out.
    reset: int | None


class SlotView(BaseModel):
    hostname: str
    cluster: str | None
    group: str
    taken_at: datetime


class TallyView(BaseModel):
    count: int
    last_at: datetime
    last_mac: str | None
    last_ip: str | None


class EnlistmentView(BaseModel):
    """Machines nobody registered: how many wait as `new`, the most that may,
    and those refused (`cap`, `rate`) or expired since the database began."""

    new: int
    max_new: int
    rate_per_minute: int
    burst: int
    expire_after_s: int
    tallies: dict[str, TallyView]


class FleetView(BaseModel):
    at: datetime
    silent_after_s: int
    by_version: dict[str, list[str]]
    behind_channel: list[str]
    pending_reboot: list[str]
    failed: list[str]
    not_heard_from: list[str]
    pending_reset: list[str]
    rollouts: list[RolloutView]
    reboot_slots: list[SlotView]
    enlistment: EnlistmentView
    nodes: list[NodeStatusView]


class AssignmentView(BaseModel):
    cluster: str
    role: str | None
    image: str


def version_label(version: ImageVersion | None) -> str | None:
    return f"{version.image.name} {version.version}" if version is not None else None


def member_view(member: RolloutMember) -> MemberView:
    return MemberView(
        hostname=member.node.hostname,
        wave=member.wave,
        state=member.state,
        from_version=version_label(member.from_version),
        attempts=member.attempts,
        started_at=member.started_at,
        booting_since=member.booting_since,
        finished_at=member.finished_at,
        reason=member.reason,
    )


def rollout_view(rollout: Rollout, with_members: bool = True) -> RolloutView:
    counts: dict[str, int] = {}
    for member in rollout.members:
        counts[member.state] = counts.get(member.state, 0) + 1
    return RolloutView(
        id=rollout.id,
        cluster=rollout.cluster.name,
        image=rollout.image.name,
        version=rollout.to_version.version if rollout.to_version else None,
        trigger=rollout.trigger,
        channel=rollout.channel,
        state=rollout.state,
        reason=rollout.reason,
        wave=rollout.wave,
        waves=rollout.waves,
        canary=rollout.canary,
        max_unavailable=rollout.max_unavailable,
        max_attempts=rollout.max_attempts,
        health_timeout_s=rollout.health_timeout_s,
        counts=counts,
        created_by=rollout.created_by,
        created_at=rollout.created_at,
        updated_at=rollout.updated_at,
        finished_at=rollout.finished_at,
        members=[member_view(m) for m in rollout.members] if with_members else [],
    )


def boot_view(boot: NodeBoot, version: ImageVersion | None) -> BootView:
    return BootView(
        image=version.image.name if version else None,
        version=version.version if version else None,
        outcome=boot.outcome,
        mac=boot.mac,
        ip=boot.ip,
        script_at=boot.script_at,
        kernel_at=boot.kernel_at,
        up_at=boot.up_at,
        ended_at=boot.ended_at,
        duration_s=boots.duration_s(boot.script_at, boot.up_at),
        details=dict(boot.details),
    )


def slot_view(slot: RebootSlot, cluster: str | None) -> SlotView:
    return SlotView(
        hostname=slot.node.hostname, cluster=cluster, group=slot.group, taken_at=slot.taken_at
    )
