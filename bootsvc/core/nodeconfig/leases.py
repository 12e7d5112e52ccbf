"""The address check of secrets requests when bootsvc runs DHCP: the
request must come from an address bootsvc has leased, and still leases, to
one of the node's MACs."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.store.leasetables import BOUND
from bootsvc.store.models import DhcpLease, Interface


def leased_to_node(session: Session, node_id: int, ip: str) -> bool:
    node_macs = select(Interface.mac).where(Interface.node_id == node_id)
    held = session.scalar(
        select(DhcpLease.ip).where(
            DhcpLease.ip == ip,
            DhcpLease.mac.in_(node_macs),
            DhcpLease.state == BOUND,
            DhcpLease.expires > time.time(),
        )
    )
    return held is not None
