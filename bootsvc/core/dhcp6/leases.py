"""DHCPv6 leases in the database: the statements that take, give back and
reclaim addresses, as bootsvc.core.dhcp.leases does for IPv4.

A client is its DUID and the IAID of its IA_NA. Taking an address is a
conditional upsert on the address: the row is inserted, or updated only if
it is already this client's or the same node's (and not declined) or has
expired, so that two nodes, or two servers, never both win one address. Claims are written in
address order, so that two servers lock rows in the same order.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, update
from sqlalchemy.orm import Session

from bootsvc.store.leasetables import (
    BOUND,
    DECLINED,
    RELEASED,
    delete_ended,
    expires_at,
    lease_rows,
)
from bootsvc.store.models import Dhcp6Lease
from bootsvc.store.upsert import upsert

TABLE = cast(Table, Dhcp6Lease.__table__)
COLUMNS = (
    TABLE.c.address,
    TABLE.c.duid,
    TABLE.c.iaid,
    TABLE.c.mac,
    TABLE.c.subnet,
    TABLE.c.state,
    TABLE.c.expires,
    TABLE.c.updated,
    TABLE.c.hostname,
)


@dataclass(frozen=True, slots=True)
class Lease6:
    address: str
    duid: str
    iaid: int
    mac: str | None
    subnet: str
    state: str
    expires: float
    updated: float
    hostname: str | None = None

    def active(self, now: float) -> bool:
        return self.expires > now

    def held_by(self, duid: str, iaid: int, now: float) -> bool:
        """Whether this client's IA holds the address now (a declined one is nobody's)."""
        return (
            (self.duid, self.iaid) == (duid, iaid) and self.state != DECLINED and self.expires > now
        )

    def movable_to(self, duid: str, iaid: int, hostname: str | None, now: float) -> bool:
        """Whether this client's IA may take the address now: it is free, or
        its own, or held by another client of the same node. Firmware and the
        loader it starts (OVMF's PXE, then iPXE) ask with different DUIDs or
        IAIDs for the one address the node is to have."""
        if self.state == DECLINED and self.expires > now:
            return False
        same_node = hostname is not None and self.hostname == hostname
        return self.expires <= now or (self.duid, self.iaid) == (duid, iaid) or same_node

    def view(self, now: float) -> dict[str, Any]:
        """As `bootsvc dhcp leases --json` shows it."""
        return {
            "ip": self.address,
            "mac": self.mac,
            "duid": self.duid,
            "iaid": self.iaid,
            "subnet": self.subnet,
            "state": self.state,
            "active": self.active(now),
            "expires_at": expires_at(self.expires),
            "hostname": self.hostname,
        }

    @classmethod
    def from_row(cls, row: Any) -> Lease6:
        return cls(
            address=row.address,
            duid=row.duid,
            iaid=row.iaid,
            mac=row.mac,
            subnet=row.subnet,
            state=row.state,
            expires=row.expires,
            updated=row.updated,
            hostname=row.hostname,
        )


def _upsert_statement(dialect: str) -> Any:
    return upsert(
        dialect,
        TABLE,
        [TABLE.c.address],
        lambda new: {
            "duid": new.duid,
            "iaid": new.iaid,
            "mac": new.mac,
            "subnet": new.subnet,
            "state": new.state,
            "expires": new.expires,
            "updated": new.updated,
            "hostname": new.hostname,
            "server": new.server,
        },
        where=lambda new: or_(
            and_(TABLE.c.duid == new.duid, TABLE.c.iaid == new.iaid, TABLE.c.state != DECLINED),
            and_(TABLE.c.hostname == new.hostname, TABLE.c.state != DECLINED),
            TABLE.c.expires <= bindparam("b_now"),
        ),
    ).returning(*COLUMNS)


_UPSERTS = {name: _upsert_statement(name) for name in ("postgresql", "sqlite")}


def claim(session: Session, claims: Sequence[Lease6], now: float, server: str) -> list[Lease6]:
    """Try to take each claim's address for its client, as `server`. Returns,
    per claim, the row as it now stands: the claim's when it won, the
    holder's when not. A client's IA that wins an address ends the others it
    held on that subnet."""
    statement = _UPSERTS[session.get_bind().dialect.name]
    won: dict[str, Lease6] = {}
    for item in sorted(claims, key=lambda c: int(ipaddress.IPv6Address(c.address))):
        params = {
            "address": item.address,
            "duid": item.duid,
            "iaid": item.iaid,
            "mac": item.mac,
            "subnet": item.subnet,
            "state": item.state,
            "expires": item.expires,
            "updated": now,
            "hostname": item.hostname,
            "server": server,
            "b_now": now,
        }
        for row in session.execute(statement, params):
            won[item.address] = Lease6.from_row(row)
    for lease in won.values():
        session.execute(
            update(TABLE)
            .where(
                TABLE.c.subnet == lease.subnet,
                TABLE.c.duid == lease.duid,
                TABLE.c.iaid == lease.iaid,
                TABLE.c.address != lease.address,
                TABLE.c.state == BOUND,
                TABLE.c.expires > now,
            )
            .values(state=RELEASED, expires=now, updated=now, server=server)
        )
    lost = [c.address for c in claims if c.address not in won]
    holders = {lease.address: lease for lease in rows(session, addresses=lost)} if lost else {}
    return [won.get(c.address) or holders[c.address] for c in claims]


def end(
    session: Session,
    leases: Iterable[tuple[str, str, int]],
    state: str,
    until: float,
    now: float,
    server: str,
) -> None:
    """Release (until now) or decline (until the quarantine ends) each
    (address, duid, iaid), where that client holds it."""
    params = [{"b_address": a, "b_duid": d, "b_iaid": i} for a, d, i in leases]
    if params:
        session.connection().execute(
            update(TABLE)
            .where(
                TABLE.c.address == bindparam("b_address"),
                TABLE.c.duid == bindparam("b_duid"),
                TABLE.c.iaid == bindparam("b_iaid"),
                TABLE.c.state != DECLINED,
            )
            .values(state=state, expires=until, updated=now, server=server),
            params,
        )


def rows(
    session: Session,
    addresses: Iterable[str] | None = None,
    since: float | None = None,
    not_by: str | None = None,
) -> list[Lease6]:
    """Leases, or those of `addresses`, or those changed since `since` by
    servers other than `not_by`."""
    found = lease_rows(session, TABLE, COLUMNS, addresses, since, not_by)
    return [Lease6.from_row(row) for row in found]


def reclaim(session: Session, before: float) -> int:
    return delete_ended(session, TABLE, before)
