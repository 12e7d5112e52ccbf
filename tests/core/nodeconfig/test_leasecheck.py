"""The DHCPv6 half of the secrets address check: edk2 releases its DHCPv6
lease when shim's GRUB takes the NIC, and GRUB goes on with that address, so
a fresh release by the node's own client still counts; nothing else does."""

from __future__ import annotations

import time

from sqlalchemy import select, update

from bootsvc.core.access import nodeaccess
from bootsvc.core.dhcp6 import leases as leases6
from bootsvc.core.nodeconfig.leases import lease_check
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database
from bootsvc.store.leasetables import RELEASED
from bootsvc.store.models import Dhcp6Lease, Node
from tests.support import factory

MAC = "52:54:00:e2:5b:66"
OTHER_MAC = "52:54:00:e2:5b:67"
ADDRESS = "fd00:77::67"


def _released(db: Database, ago: float) -> None:
    """The client gave the address back `ago` seconds ago, as a RELEASE does."""
    with db.write() as session:
        when = time.time() - ago
        leases6.end(session, [(ADDRESS, "00040000", 1)], RELEASED, when, when, "test")


def _checks(db: Database, settings: Settings) -> tuple[bool, str | None]:
    """The secrets lease check and the script's verdict, for a request from ADDRESS."""
    check = lease_check(settings.model_copy(update={"dhcp6_mode": DhcpMode.AUTHORITATIVE}))
    assert check is not None
    with db.read() as session:
        node = session.scalars(select(Node).where(Node.hostname == "sb6")).one()
        verdict = nodeaccess.verify(session, node.id, MAC, ADDRESS, False)
        return check(session, node.id, ADDRESS), verdict.ip


def test_a_release_by_the_nodes_own_client_keeps_the_address_its_own_awhile(
    db: Database, settings: Settings
) -> None:
    # No CMDB address: only the lease says whose the address is.
    factory.node(db, hostname="sb6", interfaces=[{"mac": MAC}])
    assert _checks(db, settings) == (False, None)
    factory.lease6(db, ADDRESS, MAC)
    assert _checks(db, settings) == (True, ADDRESS)
    _released(db, 1.0)
    assert _checks(db, settings) == (True, ADDRESS)
    _released(db, nodeaccess.RELEASED6_GRACE_SECONDS + 1)
    assert _checks(db, settings) == (False, None)


def test_a_released_address_another_client_took_is_not_the_nodes(
    db: Database, settings: Settings
) -> None:
    factory.node(db, hostname="sb6", interfaces=[{"mac": MAC}])
    factory.lease6(db, ADDRESS, MAC)
    _released(db, 1.0)
    factory.lease6(db, ADDRESS, OTHER_MAC, duid="00040001")
    assert _checks(db, settings) == (False, None)
    # Nor does a row the node's MAC holds in another state than bound or released.
    with db.write() as session:
        session.execute(
            update(Dhcp6Lease).where(Dhcp6Lease.address == ADDRESS).values(mac=MAC, state="offered")
        )
    assert _checks(db, settings) == (False, None)
