"""The CMDB as the DHCP server sees it: which MACs are known, their host
names and reserved addresses, and the cluster networks. Kept in memory,
because a DHCP reply must not wait for a query: what changed is re-read
every few seconds, everything every minute.

A MAC the copy does not know may have been registered a moment ago (an
admin adds a node, then powers it on): it is looked up on its own, so that
its first DISCOVER already gets its reserved address. A flood of unknown
machines must not turn into a flood of queries, so such lookups are rationed;
a MAC that misses its turn is found by its retransmission or the next refresh."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bootsvc.core.boot.secureboot import takes_secure_boot
from bootsvc.core.dhcp.networks import CmdbNetwork, Network, from_cmdb, from_settings
from bootsvc.core.nodeconfig.changes import CmdbRevision, cmdb_revision
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import Cluster, ClusterNetwork, Interface, Node

# At most this many lookups of unknown MACs per second, after a burst: a
# rack powering on at once, right after its nodes were registered, must not
# have all but one of them taken for strangers and offered pool addresses.
MISS_LOOKUPS_PER_SECOND = 20
MISS_LOOKUP_BURST = 64


@dataclass(frozen=True, slots=True)
class Known:
    hostname: str
    ip: str | None
    domain: str | None
    # Its DHCP reply names the signed shim rather than iPXE.
    secure_boot: bool = False


class Directory:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.nodes: dict[str, Known] = {}
        # Reserved address -> the MAC it is reserved for.
        self.owners: dict[str, str] = {}
        self.networks: list[Network] = from_settings(settings)
        self._lock = threading.Lock()
        self._miss_lookups = float(MISS_LOOKUP_BURST)
        self._miss_lookups_at = time.monotonic()
        self._revision: CmdbRevision | None = None

    @staticmethod
    def _interfaces() -> Any:
        return (
            select(
                Interface.mac,
                Interface.ip,
                Node.hostname,
                Cluster.domain,
                Node.facts,
                Cluster.settings.label("cluster_settings"),
            )
            .join(Node, Interface.node_id == Node.id)
            .outerjoin(Cluster, Node.cluster_id == Cluster.id)
        )

    def _known(self, row: Any) -> Known:
        secure = takes_secure_boot(row.facts, row.cluster_settings, self.settings.secure_boot)
        return Known(row.hostname, row.ip, row.domain, secure)

    def refresh(self, since: float | None = None) -> None:
        """Re-read the CMDB: all nodes, or those changed since `since` (a
        node removed is noticed by the next full refresh), which is nothing
        while the CMDB revision is the one last read."""
        with self.db.read() as session:
            revision = cmdb_revision(session.connection())
        if since is not None and revision == self._revision:
            return
        interfaces = self._interfaces()
        if since is not None:
            stamp = datetime.fromtimestamp(since, UTC)
            interfaces = interfaces.where(
                or_(Node.updated_at >= stamp, Cluster.updated_at >= stamp)
            )
        with self.db.read() as session:
            nodes = {row.mac: self._known(row) for row in session.execute(interfaces)}
            cmdb = cmdb_networks(session)
        owners = {known.ip: mac for mac, known in nodes.items() if known.ip}
        with self._lock:
            if since is None:
                self.nodes, self.owners = nodes, owners
            else:
                self.nodes.update(nodes)
                self.owners.update(owners)
            self.networks = from_settings(self.settings) + from_cmdb(cmdb, self.settings)
            self._revision = revision

    def learn(self, mac: str, known: Known) -> None:
        """A node enlisted since the last refresh."""
        with self._lock:
            self.nodes[mac] = known

    def node(self, mac: str) -> Known | None:
        known = self.nodes.get(mac)
        if known is None and self._may_look_up():
            known = self._look_up(mac)
        return known

    def _may_look_up(self) -> bool:
        now = time.monotonic()
        with self._lock:
            earned = (now - self._miss_lookups_at) * MISS_LOOKUPS_PER_SECOND
            self._miss_lookups = min(MISS_LOOKUP_BURST, self._miss_lookups + earned)
            self._miss_lookups_at = now
            if self._miss_lookups < 1:
                return False
            self._miss_lookups -= 1
            return True

    def _look_up(self, mac: str) -> Known | None:
        with self.db.read() as session:
            row = session.execute(self._interfaces().where(Interface.mac == mac)).first()
        if row is None:
            return None
        known = self._known(row)
        with self._lock:
            self.nodes[mac] = known
            if known.ip:
                self.owners[known.ip] = mac
        return known

    def reserved_for_another(self, ip: str, mac: str) -> bool:
        owner = self.owners.get(ip)
        return owner is not None and owner != mac


def cmdb_networks(session: Session) -> list[CmdbNetwork]:
    """The cluster networks as the CMDB stores them."""
    networks = select(
        Cluster.name,
        Cluster.domain,
        Cluster.settings,
        ClusterNetwork.name.label("network"),
        ClusterNetwork.cidr,
        ClusterNetwork.gateway,
    ).join(ClusterNetwork, ClusterNetwork.cluster_id == Cluster.id)
    return [_network(row) for row in session.execute(networks)]


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
