"""Leases in the database: the statements that take, give back and reclaim
addresses, each for a whole batch of clients in one transaction.

Taking an address is one conditional upsert per batch, which also ends the
other addresses the MAC held: the row for the address is inserted, or
updated only if it is already this MAC's (and not declined) or has expired.
The database decides under its row lock (PostgreSQL) or write lock (SQLite),
so two threads or two servers can never both win one address; RETURNING
tells each claim whether it won. The upsert writes rows in address order,
so that two servers' batches mostly lock rows in the same order; ending a
MAC's other addresses locks rows outside that order, and the rare deadlock
between two servers is detected by PostgreSQL and retried by the writer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, text, update
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
    """Split claims so that no statement touches one address, or binds one
    MAC, twice (PostgreSQL refuses the first in one upsert, and a statement
    does not see its own rows). A claim goes in the round after the last one
    holding its address or its MAC, so that for each address and each MAC
    the claims run in the order they came."""
    rounds: list[tuple[set[str], set[tuple[str, str]], list[Lease]]] = []
    for claim in claims:
        mac = (claim.subnet, claim.mac)
        after = max(
            (n for n, (ips, macs, _) in enumerate(rounds) if claim.ip in ips or mac in macs),
            default=-1,
        )
        if after + 1 == len(rounds):
            rounds.append((set(), set(), []))
        ips, macs, batch = rounds[after + 1]
        ips.add(claim.ip)
        macs.add(mac)
        batch.append(claim)
    return [batch for _ips, _macs, batch in rounds]


# A round of claims goes to the database as one JSON document, so that a
# statement's text is the same for every batch: the server parses and plans
# it once, and on PostgreSQL a round is a single statement. The statements
# are put together here from constants only (hence the noqa).
_TAKE = """
    INSERT INTO dhcp_lease AS held (ip, mac, subnet, state, expires, updated, hostname, server)
    SELECT ip, mac, subnet, state, expires, :now, hostname, :server FROM {claims}
    ON CONFLICT (ip) DO UPDATE SET
        mac = excluded.mac, subnet = excluded.subnet, state = excluded.state,
        expires = excluded.expires, updated = excluded.updated,
        hostname = excluded.hostname, server = excluded.server
    WHERE (held.mac = excluded.mac AND held.state <> :declined) OR held.expires <= :now
    RETURNING ip, mac, subnet, state, expires, updated, hostname
"""
# The addresses a MAC held bound besides the one it just won end.
_END_OTHERS = """
    UPDATE dhcp_lease AS other
    SET state = :released, expires = :now, updated = :now, server = :server
    FROM {won} AS won
    WHERE won.state = :bound AND other.subnet = won.subnet AND other.mac = won.mac
        AND other.ip <> won.ip AND other.state = :bound AND other.expires > :now
"""
_POSTGRESQL_ROUND = text(
    """
    WITH claim AS (
        SELECT * FROM json_to_recordset(CAST(:claims AS json)) AS claim(
            ip text, mac text, subnet text, state text, expires float8, hostname text)
    ), won AS ({take}), ended AS ({end_others})
    SELECT * FROM won
    """.format(  # noqa: S608
        take=_TAKE.format(claims="claim ORDER BY CAST(ip AS inet)"),
        end_others=_END_OTHERS.format(won="won"),
    )
)


def _sqlite_rows(parameter: str) -> str:
    """The rows of the JSON document in `parameter`, for SQLite."""
    columns = ", ".join(
        f"json_extract(value, '$.{name}') AS {name}"
        for name in ("ip", "mac", "subnet", "state", "expires", "hostname")
    )
    return f"(SELECT {columns} FROM json_each(:{parameter}))"  # noqa: S608


# "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the upsert.
_SQLITE_TAKE = text(_TAKE.format(claims=_sqlite_rows("claims") + " WHERE true"))
_SQLITE_END_OTHERS = text(_END_OTHERS.format(won=_sqlite_rows("won")))


def _document(claims: Iterable[Lease]) -> str:
    return json.dumps(
        [
            {
                "ip": c.ip,
                "mac": c.mac,
                "subnet": c.subnet,
                "state": c.state,
                "expires": c.expires,
                "hostname": c.hostname,
            }
            for c in claims
        ]
    )


def _claim_round(session: Session, claims: list[Lease], now: float, server: str) -> list[Lease]:
    """Run one round of claims; returns the rows that won."""
    connection = session.connection()
    params = {
        "claims": _document(claims),
        "now": now,
        "server": server,
        "bound": BOUND,
        "released": RELEASED,
        "declined": DECLINED,
    }
    if connection.dialect.name == "postgresql":
        return [Lease.from_row(row) for row in connection.execute(_POSTGRESQL_ROUND, params)]
    won = [Lease.from_row(row) for row in connection.execute(_SQLITE_TAKE, params)]
    connection.execute(_SQLITE_END_OTHERS, {**params, "won": _document(won)})
    return won


def claim(session: Session, claims: Sequence[Lease], now: float, server: str = "") -> list[Lease]:
    """Try to take each claim's address for its MAC, as `server`. Returns,
    per claim, the row as it now stands: the claim's MAC when it won, the
    holder's when not. A MAC that wins an address gives up the others it
    held bound in that subnet, in the same transaction."""
    won: dict[tuple[str, str], Lease] = {}
    _lock_macs(session, claims)
    for batch in _rounds(claims):
        for lease in _claim_round(session, batch, now, server):
            won[(lease.ip, lease.mac)] = lease
    lost = {c.ip for c in claims if (c.ip, c.mac) not in won}
    holders = {lease.ip: lease for lease in rows(session, ips=lost)} if lost else {}
    return [won.get((c.ip, c.mac)) or holders[c.ip] for c in claims]


def _lock_macs(session: Session, claims: Sequence[Lease]) -> None:
    """On PostgreSQL, one transaction at a time binds a given MAC in a subnet:
    two servers binding it to two addresses at once would each miss the
    other's uncommitted lease when ending its others. (SQLite has one writer.)
    Keys are taken in sorted order, before any row lock, so none deadlock; and
    in a statement of their own, so that the claims' statement, which starts
    after the wait, sees what the other transaction committed."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({f"{c.subnet} {c.mac}" for c in claims if c.state == BOUND})
    if keys:
        session.connection().execute(_MAC_LOCKS, {"space": MAC_LOCK_SPACE, "keys": keys})


# The two-key advisory locks of PostgreSQL are a key space apart from the
# one-key lock of the rollout clock (serve/leadership.py).
MAC_LOCK_SPACE = 0x64686370
_MAC_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:space, hashtext(mac_key))"
    " FROM unnest(CAST(:keys AS text[])) AS mac_key"
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
