"""The CMDB as the DHCP server sees it: which MACs are known, their host
names and reserved addresses, and the cluster networks. Kept in memory,
because a DHCP reply must not wait for a query: what changed is re-read
every few seconds, everything every minute."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

from bootsvc.core.dhcp.networks import CmdbNetwork, Network, from_cmdb, from_settings
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import Cluster, ClusterNetwork, Interface, Node


@dataclass(frozen=True, slots=True)
class Known:
    hostname: str
    ip: str | None
    domain: str | None


class Directory:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.nodes: dict[str, Known] = {}
        # Reserved address -> the MAC it is reserved for.
        self.owners: dict[str, str] = {}
        self.networks: list[Network] = from_settings(settings)
        self._lock = threading.Lock()

    def refresh(self, since: float | None = None) -> None:
        """Re-read the CMDB: all nodes, or those changed since `since` (a
        node removed is noticed by the next full refresh)."""
        interfaces = (
            select(Interface.mac, Interface.ip, Node.hostname, Cluster.domain)
            .join(Node, Interface.node_id == Node.id)
            .outerjoin(Cluster, Node.cluster_id == Cluster.id)
        )
        if since is not None:
            stamp = datetime.fromtimestamp(since, UTC)
            interfaces = interfaces.where(
                or_(Node.updated_at >= stamp, Cluster.updated_at >= stamp)
            )
        networks = select(
            Cluster.name,
            Cluster.domain,
            Cluster.settings,
            ClusterNetwork.name.label("network"),
            ClusterNetwork.cidr,
            ClusterNetwork.gateway,
        ).join(ClusterNetwork, ClusterNetwork.cluster_id == Cluster.id)
        with self.db.read() as session:
            nodes = {
                row.mac: Known(row.hostname, row.ip, row.domain)
                for row in session.execute(interfaces)
            }
            cmdb = [_network(row) for row in session.execute(networks)]
        owners = {known.ip: mac for mac, known in nodes.items() if known.ip}
        with self._lock:
            if since is None:
                self.nodes, self.owners = nodes, owners
            else:
                self.nodes.update(nodes)
                self.owners.update(owners)
            self.networks = from_settings(self.settings) + from_cmdb(cmdb, self.settings)

    def learn(self, mac: str, known: Known) -> None:
        """A node enlisted since the last refresh."""
        with self._lock:
            self.nodes[mac] = known

    def node(self, mac: str) -> Known | None:
        return self.nodes.get(mac)

    def reserved_for_another(self, ip: str, mac: str) -> bool:
        owner = self.owners.get(ip)
        return owner is not None and owner != mac


def _network(row: Any) -> CmdbNetwork:
    settings = row.settings if isinstance(row.settings, dict) else {}
    pools = settings.get("dhcp_pools")
    return CmdbNetwork(
        cluster=row.name,
        name=row.network,
        cidr=row.cidr,
        gateway=row.gateway,
        domain=row.domain,
        pools=pools if isinstance(pools, dict) else {},
    )
