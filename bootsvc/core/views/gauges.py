"""The fleet's state as Prometheus reads it at each scrape: rollouts by
state, FleetLock reboot slots held, and the use of each DHCP pool. Read from
the database, so every server sharing it reports the same figures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bootsvc.core.dhcp.directory import cmdb_networks
from bootsvc.core.dhcp.networks import from_cmdb, from_settings
from bootsvc.core.rollout.rollouts import ABORTED, DONE, HALTED, PAUSED, RUNNING
from bootsvc.settings import Settings
from bootsvc.store.leasetables import BOUND
from bootsvc.store.models import Cluster, DhcpLease, RebootSlot, Rollout

ROLLOUT_STATES = (RUNNING, PAUSED, HALTED, DONE, ABORTED)


@dataclass(frozen=True)
class PoolUse:
    network: str
    # Addresses in the pool (0: the network serves reservations only), and
    # addresses of the network bound now, reservations included.
    size: int
    leased: int


@dataclass(frozen=True)
class FleetGauges:
    rollouts: dict[str, int]
    # By cluster name; "" for nodes outside any cluster.
    reboot_slots: dict[str, int]
    pools: list[PoolUse]


def read(session: Session, settings: Settings, now: float) -> FleetGauges:
    rollouts = dict.fromkeys(ROLLOUT_STATES, 0)
    for state, count in session.execute(
        select(Rollout.state, func.count()).group_by(Rollout.state)
    ):
        rollouts[state] = count
    slots = {
        cluster or "": count
        for cluster, count in session.execute(
            select(Cluster.name, func.count())
            .select_from(RebootSlot)
            .outerjoin(Cluster, RebootSlot.cluster_id == Cluster.id)
            .group_by(Cluster.name)
        )
    }
    bound: dict[str, int] = dict(
        session.execute(
            select(DhcpLease.subnet, func.count())
            .where(DhcpLease.state == BOUND, DhcpLease.expires > now)
            .group_by(DhcpLease.subnet)
        ).all()
    )
    networks = from_settings(settings) + from_cmdb(cmdb_networks(session), settings)
    pools = [
        PoolUse(
            network.name,
            int(network.pool[1]) - int(network.pool[0]) + 1 if network.pool else 0,
            bound.get(network.key, 0),
        )
        for network in networks
    ]
    return FleetGauges(rollouts, slots, pools)
