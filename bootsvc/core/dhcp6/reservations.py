"""The CMDB as the DHCPv6 server sees it: which clients are nodes, and the
IPv6 address each is to get. A client is found by the MAC its DUID carries
(DUID-LL, DUID-LLT) or by its whole DUID, which a node names in its fact
`dhcp6_duid` (hex, colons allowed), for firmware whose DUID has no MAC
(DUID-UUID, DUID-EN). The node's address is the IPv6 address of the
interface with that MAC, else the first IPv6 interface address it has.

Re-read whole at every refresh of the DHCPv6 service: a thousand nodes are
one small query, and a reply never waits for it."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bootsvc.core.boot.secureboot import takes_secure_boot
from bootsvc.store.db import Database
from bootsvc.store.models import Cluster, Interface, Node

DUID_FACT = "dhcp6_duid"


@dataclass(frozen=True, slots=True)
class Known6:
    hostname: str
    address: str | None
    domain: str | None
    secure_boot: bool = False


def duid_text(value: Any) -> str | None:
    """A DUID fact as bare lower-case hex, or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.replace(":", "").replace("-", "").strip().lower()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return text if 3 <= len(raw) <= 130 else None


def _ipv6(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return str(address) if address.version == 6 else None


class Reservations6:
    def __init__(self, db: Database, secure_boot_default: bool) -> None:
        self.db = db
        self.secure_boot_default = secure_boot_default
        self.by_mac: dict[str, Known6] = {}
        self.by_duid: dict[str, Known6] = {}
        # Reserved address -> the hostname it is reserved for.
        self.owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        query = (
            select(
                Node.id,
                Node.hostname,
                Node.facts,
                Interface.mac,
                Interface.ip,
                Cluster.domain,
                Cluster.settings.label("cluster_settings"),
            )
            .join(Interface, Interface.node_id == Node.id)
            .outerjoin(Cluster, Node.cluster_id == Cluster.id)
            .order_by(Node.id, Interface.name)
        )
        with self.db.read() as session:
            found = list(session.execute(query))
        first_v6: dict[int, str] = {}
        for row in found:
            address = _ipv6(row.ip)
            if address is not None:
                first_v6.setdefault(row.id, address)
        by_mac: dict[str, Known6] = {}
        by_duid: dict[str, Known6] = {}
        for row in found:
            facts = row.facts if isinstance(row.facts, dict) else {}
            secure = takes_secure_boot(facts, row.cluster_settings, self.secure_boot_default)
            address = _ipv6(row.ip) or first_v6.get(row.id)
            known = Known6(row.hostname, address, row.domain, secure)
            by_mac[row.mac] = known
            duid = duid_text(facts.get(DUID_FACT))
            if duid is not None and (duid not in by_duid or _ipv6(row.ip)):
                by_duid[duid] = known
        owners = {k.address: k.hostname for k in by_mac.values() if k.address}
        with self._lock:
            self.by_mac, self.by_duid, self.owners = by_mac, by_duid, owners

    def node(self, duid: str, mac: str | None) -> Known6 | None:
        """The node this client is: by its DUID fact first, else by MAC."""
        known = self.by_duid.get(duid)
        if known is None and mac is not None:
            known = self.by_mac.get(mac)
        return known

    def reserved_for_another(self, address: str, hostname: str | None) -> bool:
        owner = self.owners.get(address)
        return owner is not None and owner != hostname
