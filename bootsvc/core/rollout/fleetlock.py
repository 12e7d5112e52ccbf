"""Who may reboot now: bootsvc's answer to FleetLock requests.

One semaphore per cluster and reboot group. A group has as many slots as the
cluster may have nodes out during its rollout (`max_unavailable`; outside a
rollout, the cluster's or bootsvc's default). On top of that, across all its
groups, a cluster never has more nodes out than corosync can lose and keep
quorum, counting as out every node that holds a slot, is booting, failed its
last boot (or came up unhealthy) or has not been heard from lately. The node
asking may already be one of them: rebooting it then takes nothing more away.

The client id is the node's hostname; its group is the node's fact
`reboot_group` ("default" when unset). A request from an unknown node or
with another group is refused and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.boot import boots
from bootsvc.core.boot.fleet import node_statuses
from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import quorum, rollouts
from bootsvc.errors import NotFound
from bootsvc.logs import event
from bootsvc.net.fleetlock import Answer, LockRequest
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import Cluster, Node, RebootSlot
from bootsvc.store.types import utcnow

log = logging.getLogger("bootsvc.fleetlock")

DEFAULT_GROUP = "default"
# Boots that leave a node out of its cluster. A node bootsvc never saw boot
# (booted before bootsvc ran the site) counts as up while it is heard from.
_DOWN = {boots.BOOTING, "stuck", *boots.BAD_OUTCOMES}


def group_of(node: Node) -> str:
    group = node.facts.get("reboot_group")
    return group if isinstance(group, str) and group else DEFAULT_GROUP


def slots_for(session: Session, settings: Settings, cluster: Cluster | None) -> int:
    if cluster is None:
        return settings.rollout_max_unavailable
    current = rollouts.active(session, cluster.id)
    if current is not None:
        return current.max_unavailable
    return rollouts.policy(settings, cluster).max_unavailable


def out_of_service(session: Session, settings: Settings, cluster: Cluster) -> set[str]:
    """The cluster's voting nodes that are not up and in touch right now."""
    voters = list(
        session.scalars(select(Node).where(Node.cluster_id == cluster.id, Node.state == "active"))
    )
    holders = set(
        session.scalars(
            select(Node.hostname)
            .join(RebootSlot, RebootSlot.node_id == Node.id)
            .where(RebootSlot.cluster_id == cluster.id)
        )
    )
    now = utcnow()
    silent_after = timedelta(seconds=settings.fleet_silent_after_s)
    down = {
        view.hostname
        for view in node_statuses(session, settings, voters, now)
        if view.status in _DOWN or view.last_seen is None or now - view.last_seen > silent_after
    }
    return holders | down


class RebootLocks:
    """The `Locks` that bootsvc.net.fleetlock asks, over the database."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _node(self, session: Session, client: LockRequest) -> Node | Answer:
        try:
            node = cmdb.get_node(session, client.id)
        except NotFound:
            return Answer(403, "failed_unknown_client", f"no node {client.id!r} in the CMDB")
        expected = group_of(node)
        if client.group != expected:
            return Answer(
                403,
                "failed_wrong_group",
                f"node {node.hostname} reboots in group {expected!r}, not {client.group!r}",
            )
        return node

    def lock(self, client: LockRequest) -> Answer:
        with self.db.write() as session:
            node = self._node(session, client)
            if isinstance(node, Answer):
                return self._logged("pre-reboot", client, node)
            answer = self._take(session, node, client.group)
            if answer.status == 200 and answer.kind == "lock_granted":
                audit.record(
                    session, f"node:{node.hostname}", "fleetlock.lock", _subject(node, client.group)
                )
        return self._logged("pre-reboot", client, answer)

    def _take(self, session: Session, node: Node, group: str) -> Answer:
        cluster = None
        if node.cluster_id is not None:
            # One writer per cluster decides, so two nodes never both get its last slot.
            cluster = session.scalar(
                select(Cluster).where(Cluster.id == node.cluster_id).with_for_update()
            )
        held = session.scalar(select(RebootSlot).where(RebootSlot.node_id == node.id))
        if held is not None:
            return Answer(200, "lock_held", f"{node.hostname} already holds a reboot slot")
        slots = slots_for(session, self.settings, cluster)
        taken = session.scalar(
            select(func.count()).where(
                RebootSlot.cluster_id == node.cluster_id, RebootSlot.group == group
            )
            if node.cluster_id is not None
            else select(func.count()).where(
                RebootSlot.cluster_id.is_(None), RebootSlot.group == group
            )
        )
        if (taken or 0) >= slots:
            return Answer(
                409,
                "failed_lock_semaphore_full",
                f"all {slots} reboot slots of group {group!r} are taken",
            )
        if cluster is not None:
            out = out_of_service(session, self.settings, cluster) | {node.hostname}
            voters = rollouts.voters(session, cluster.id)
            allowed = quorum.max_out(voters)
            if len(out) > allowed:
                others = sorted(out - {node.hostname})
                return Answer(
                    409,
                    "failed_quorum",
                    f"cluster {cluster.name} keeps quorum with at most {allowed} of {voters} "
                    f"nodes out, and {', '.join(others)} already are",
                )
        session.add(RebootSlot(node_id=node.id, cluster_id=node.cluster_id, group=group))
        return Answer(200, "lock_granted", f"{node.hostname} may reboot")

    def unlock(self, client: LockRequest) -> Answer:
        with self.db.write() as session:
            node = self._node(session, client)
            if isinstance(node, Answer):
                return self._logged("steady-state", client, node)
            held = session.scalar(select(RebootSlot).where(RebootSlot.node_id == node.id))
            if held is None:
                answer = Answer(200, "unlock_not_held", f"{node.hostname} held no reboot slot")
            else:
                session.delete(held)
                audit.record(
                    session,
                    f"node:{node.hostname}",
                    "fleetlock.unlock",
                    _subject(node, client.group),
                )
                answer = Answer(200, "unlock_done", f"{node.hostname} gave its reboot slot back")
        return self._logged("steady-state", client, answer)

    def _logged(self, operation: str, client: LockRequest, answer: Answer) -> Answer:
        level = logging.INFO if answer.status == 200 else logging.WARNING
        event(
            log,
            f"fleetlock.{operation}",
            level=level,
            node=client.id,
            group=client.group,
            status=answer.status,
            kind=answer.kind,
        )
        return answer


def _subject(node: Node, group: str) -> str:
    cluster = node.cluster.name if node.cluster else "-"
    return f"fleetlock/{cluster}/{group}"


def release(session: Session, hostname: str, actor: str) -> bool:
    """An admin frees the slot of a node that will not come back to free it."""
    node = cmdb.get_node(session, hostname)
    held = session.scalar(select(RebootSlot).where(RebootSlot.node_id == node.id))
    if held is None:
        return False
    session.delete(held)
    subject = _subject(node, held.group)
    audit.record(session, actor, "fleetlock.release", subject, to_value=node.hostname)
    return True
