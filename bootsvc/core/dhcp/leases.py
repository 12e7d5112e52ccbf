"""Leases in the database: the statements that take, give back and reclaim
addresses, each for a whole batch of clients in one transaction.

Taking an address is one conditional upsert per batch: the row for the
address is inserted, or updated only if it is already this MAC's (and not
declined) or has expired. The database decides under its row lock
(PostgreSQL) or write lock (SQLite), so two threads or two servers can never
both win one address; RETURNING tells each claim whether it won. Rows are
written in address order so that two servers' batches lock rows in the same
order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, text, update
from sqlalchemy.orm import Session

from bootsvc.store.leasetables import (
    BOUND,
    DECLINED,
    RELEASED,
    delete_ended,
    expires_at,
    lease_rows,
)
from bootsvc.store.models import DhcpLease
from bootsvc.store.upsert import upsert

TABLE = cast(Table, DhcpLease.__table__)
COLUMNS = (
    TABLE.c.ip,
    TABLE.c.mac,
    TABLE.c.subnet,
    TABLE.c.state,
    TABLE.c.expires,
    TABLE.c.updated,
    TABLE.c.hostname,
)


@dataclass(frozen=True, slots=True)
class Lease:
    ip: str
    mac: str
    subnet: str
    state: str
    expires: float
    updated: float
    hostname: str | None = None

    def active(self, now: float) -> bool:
        return self.expires > now

    def held_by(self, mac: str, now: float) -> bool:
        """Whether `mac` holds this address now (a declined address is held by nobody)."""
        return self.mac == mac and self.state != DECLINED and self.expires > now

    def view(self, now: float) -> dict[str, Any]:
        """As `bootsvc dhcp leases --json` shows it."""
        return {
            "ip": self.ip,
            "mac": self.mac,
            "subnet": self.subnet,
            "state": self.state,
            "active": self.active(now),
            "expires_at": expires_at(self.expires),
            "hostname": self.hostname,
        }

    @classmethod
    def from_row(cls, row: Any) -> Lease:
        return cls(
            ip=row.ip,
            mac=row.mac,
            subnet=row.subnet,
            state=row.state,
            expires=row.expires,
            updated=row.updated,
            hostname=row.hostname,
        )


def _rounds(claims: Sequence[Lease]) -> list[list[Lease]]:
    """Split claims so that no statement touches one address twice (PostgreSQL
    refuses that in one upsert); the later claim for an address goes later."""
    rounds: list[dict[str, Lease]] = []
    for claim in claims:
        for batch in rounds:
            if claim.ip not in batch:
                batch[claim.ip] = claim
                break
        else:
            rounds.append({claim.ip: claim})
    return [
        sorted(batch.values(), key=lambda c: tuple(map(int, c.ip.split(".")))) for batch in rounds
    ]


def _upsert_statement(dialect: str) -> Any:
    return upsert(
        dialect,
        TABLE,
        [TABLE.c.ip],
        lambda new: {
            "mac": new.mac,
            "subnet": new.subnet,
            "state": new.state,
            "expires": new.expires,
            "updated": new.updated,
            "hostname": new.hostname,
            "server": new.server,
        },
        where=lambda new: or_(
            and_(TABLE.c.mac == new.mac, TABLE.c.state != DECLINED),
            TABLE.c.expires <= bindparam("b_now"),
        ),
    ).returning(*COLUMNS)


_UPSERTS = {name: _upsert_statement(name) for name in ("postgresql", "sqlite")}


def _upsert(session: Session, claims: list[Lease], now: float, server: str) -> list[Lease]:
    """One statement, run for many claims at once (SQLAlchemy sends them as
    multi-row VALUES batches and gathers what RETURNING gives back)."""
    statement = _UPSERTS[session.get_bind().dialect.name]
    params = [
        {
            "ip": c.ip,
            "mac": c.mac,
            "subnet": c.subnet,
            "state": c.state,
            "expires": c.expires,
            "updated": now,
            "hostname": c.hostname,
            "server": server,
            "b_now": now,
        }
        for c in claims
    ]
    return [Lease.from_row(row) for row in session.execute(statement, params)]


def claim(session: Session, claims: Sequence[Lease], now: float, server: str = "") -> list[Lease]:
    """Try to take each claim's address for its MAC, as `server`. Returns,
    per claim, the row as it now stands: the claim's MAC when it won, the
    holder's when not."""
    won: dict[tuple[str, str], Lease] = {}
    _lock_macs(session, claims)
    for batch in _rounds(claims):
        for lease in _upsert(session, batch, now, server):
            won[(lease.ip, lease.mac)] = lease
    _end_others(session, won.values(), now, server)
    lost = {c.ip for c in claims if (c.ip, c.mac) not in won}
    holders = {lease.ip: lease for lease in rows(session, ips=lost)} if lost else {}
    return [won.get((c.ip, c.mac)) or holders[c.ip] for c in claims]


def _lock_macs(session: Session, claims: Sequence[Lease]) -> None:
    """On PostgreSQL, one transaction at a time binds a given MAC in a subnet:
    two servers binding it to two addresses at once would each miss the
    other's uncommitted lease in `_end_others`. (SQLite has one writer.)
    Keys are taken in sorted order, before any row lock, so none deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({f"{c.subnet} {c.mac}" for c in claims if c.state == BOUND})
    if keys:
        session.execute(_MAC_LOCKS, {"space": MAC_LOCK_SPACE, "keys": keys})


# The two-key advisory locks of PostgreSQL are a key space apart from the
# one-key lock of the rollout clock (serve/leadership.py).
MAC_LOCK_SPACE = 0x64686370
_MAC_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:space, hashtext(mac_key))"
    " FROM unnest(CAST(:keys AS text[])) AS mac_key"
)


def _end_others(session: Session, won: Iterable[Lease], now: float, server: str) -> None:
    """A MAC holds one address per subnet: the address it is bound to now ends
    the others it holds there (one another server gave it, say), in the same
    transaction. An offer ends nothing: the client may yet keep its address."""
    latest = {(lease.subnet, lease.mac): lease.ip for lease in won if lease.state == BOUND}
    _set_state(
        session,
        [{"b_subnet": s, "b_mac": m, "b_ip": ip} for (s, m), ip in latest.items()],
        [
            TABLE.c.subnet == bindparam("b_subnet"),
            TABLE.c.mac == bindparam("b_mac"),
            TABLE.c.ip != bindparam("b_ip"),
            TABLE.c.state == BOUND,
            TABLE.c.expires > now,
        ],
        {"state": RELEASED, "expires": now, "updated": now, "server": server},
    )


def _set_state(
    session: Session, params: list[dict[str, str]], where: list[Any], values: dict[str, Any]
) -> None:
    """One UPDATE run for each set of `params`."""
    if params:
        session.connection().execute(update(TABLE).where(*where).values(**values), params)


def end(
    session: Session,
    leases: Iterable[tuple[str, str]],
    state: str,
    until: float,
    now: float,
    server: str = "",
) -> None:
    """Release (state released, until now) or decline (state declined,
    until the quarantine ends) each (ip, mac), where that MAC holds it."""
    _set_state(
        session,
        [{"b_ip": ip, "b_mac": mac} for ip, mac in leases],
        [
            TABLE.c.ip == bindparam("b_ip"),
            TABLE.c.mac == bindparam("b_mac"),
            TABLE.c.state != DECLINED,
        ],
        {"state": state, "expires": until, "updated": now, "server": server},
    )


def rows(
    session: Session,
    ips: Iterable[str] | None = None,
    since: float | None = None,
    not_by: str | None = None,
) -> list[Lease]:
    """Leases, or those of `ips`, or those changed since `since` by
    servers other than `not_by`."""
    found = lease_rows(session, TABLE, COLUMNS, ips, since, not_by)
    return [Lease.from_row(row) for row in found]


def reclaim(session: Session, before: float) -> int:
    return delete_ended(session, TABLE, before)
