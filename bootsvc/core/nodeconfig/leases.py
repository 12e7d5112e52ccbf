"""The address check of secrets requests when bootsvc runs DHCP or DHCPv6:
the request must come from an address bootsvc has leased, and still leases,
to one of the node's MACs, by the protocol of the request's family. A family
whose addresses bootsvc does not hand out is not checked."""

from __future__ import annotations

import time

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bootsvc.core.access.nodeaccess import HELD4, HELD6
from bootsvc.core.nodeconfig.onetime import LeaseCheck
from bootsvc.net.family import is_ipv6
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.models import Dhcp6Lease, DhcpLease, Interface

_NODE_MACS = select(Interface.mac).where(Interface.node_id == bindparam("node_id"))
_LEASED4 = select(DhcpLease.ip).where(
    DhcpLease.ip == bindparam("ip"), DhcpLease.mac.in_(_NODE_MACS), HELD4
)
_LEASED6 = select(Dhcp6Lease.address).where(
    Dhcp6Lease.address == bindparam("ip"), Dhcp6Lease.mac.in_(_NODE_MACS), HELD6
)


def leased_to_node(session: Session, node_id: int, ip: str) -> bool:
    """Whether bootsvc's DHCP leases `ip` to one of the node's MACs now."""
    held = {"node_id": node_id, "ip": ip, "now": time.time()}
    return session.connection().scalar(_LEASED4, held) is not None


def leased6_to_node(session: Session, node_id: int, ip: str) -> bool:
    """Whether bootsvc's DHCPv6 leases `ip` to one of the node's MACs now,
    or did until the firmware released it as its loader took the NIC."""
    held = {"node_id": node_id, "ip": ip, "now": time.time()}
    return session.connection().scalar(_LEASED6, held) is not None


def lease_check(settings: Settings) -> LeaseCheck | None:
    """The check for these settings: by DHCP for IPv4 requests when bootsvc
    is the authoritative DHCP server, by DHCPv6 for IPv6 requests when it is
    the authoritative DHCPv6 server; None when it is neither."""
    v4 = settings.dhcp_mode is DhcpMode.AUTHORITATIVE
    v6 = settings.dhcp6_mode is DhcpMode.AUTHORITATIVE
    if not (v4 or v6):
        return None

    def check(session: Session, node_id: int, ip: str) -> bool:
        if is_ipv6(ip):
            return not v6 or leased6_to_node(session, node_id, ip)
        return not v4 or leased_to_node(session, node_id, ip)

    return check
