"""Is a request really from the node it names? A MAC, serial or UUID finds a
node but proves nothing: anyone can send them. What bootsvc trusts is the
node's own address, the one it leased to one of the node's MACs or, without
such a lease, an IP on the node's CMDB interfaces, of the family (IPv4 or
IPv6) the request came over. Secrets and the boot token
only go to a script fetched from there, and the boot token then answers for
that boot's reports, agent and FleetLock requests from that address.

Only a sha256 of a boot token is stored; a new script replaces it."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    BindParameter,
    Float,
    Table,
    and_,
    bindparam,
    exists,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from bootsvc.net.family import is_ipv6
from bootsvc.store.leasetables import BOUND, RELEASED
from bootsvc.store.models import BootToken, Dhcp6Lease, DhcpLease, Interface, Node
from bootsvc.store.types import utcnow
from bootsvc.store.upsert import BuiltUpsert

# The setting that lets a node whose address bootsvc cannot know get its
# secrets from wherever its script is fetched.
UNVERIFIED_SETTING = "secrets_without_address_check"
# edk2's DHCPv6 driver sends RELEASE when a loader (shim's GRUB) takes the
# NIC, and the loader goes on with the address from the firmware's cached
# reply: for this long after, a released address still counts as the node's.
RELEASED6_GRACE_SECONDS = 600.0


class Refused(Exception):
    """Why a node's request is refused; said in the log, never to the client."""


@dataclass(frozen=True)
class Verdict:
    """Whether a script request comes from the node's own address: `ip` is
    the address its tokens are bound to, None when it does not."""

    ip: str | None
    reason: str

    @property
    def verified(self) -> bool:
        return self.ip is not None


# Statements with these predicates take the time (seconds since the epoch)
# as their `now` parameter. Built once, as every statement of a boot is:
# building one costs several times what SQLite takes to run it.
_NOW = bindparam("now", type_=Float)
# A DHCP lease its client holds: bound and unexpired.
HELD4 = and_(DhcpLease.state == BOUND, DhcpLease.expires > _NOW)
# A DHCPv6 lease its client holds: bound and unexpired, or released within
# RELEASED6_GRACE_SECONDS (one row per address: nobody took it since).
HELD6 = or_(
    and_(Dhcp6Lease.state == BOUND, Dhcp6Lease.expires > _NOW),
    and_(Dhcp6Lease.state == RELEASED, Dhcp6Lease.updated > _NOW - RELEASED6_GRACE_SECONDS),
)
_MACS: BindParameter[list[str]] = bindparam("macs", expanding=True)
_LEASED = union_all(
    select(DhcpLease.ip).where(DhcpLease.mac.in_(_MACS), HELD4),
    select(Dhcp6Lease.address).where(Dhcp6Lease.mac.in_(_MACS), HELD6),
)
_INTERFACES = select(Interface.mac, Interface.ip).where(Interface.node_id == bindparam("node_id"))


def _leased(session: Session, macs: list[str]) -> set[str]:
    """The addresses bootsvc leases to these MACs now, by DHCP and DHCPv6."""
    held = {"macs": macs, "now": time.time()}
    return set(session.connection().scalars(_LEASED, held))


def _own_addresses(leased: set[str], listed: set[str], ip: str) -> set[str]:
    """The node's addresses of the family `ip` is of: its leases, or
    without one its CMDB addresses. A node booting over IPv6 is not held
    to its IPv4 lease, nor the other way round."""
    v6 = is_ipv6(ip)
    return {a for a in leased if is_ipv6(a) == v6} or {a for a in listed if is_ipv6(a) == v6}


def verify(
    session: Session, node_id: int, mac: str | None, ip: str | None, allow_unknown: bool
) -> Verdict:
    """Whether the machine at `ip`, asking with `mac`, is that node booting."""
    interfaces = session.connection().execute(_INTERFACES, {"node_id": node_id}).all()
    macs = [row.mac for row in interfaces]
    if mac not in macs:
        return Verdict(None, "found by serial or UUID, not by one of the node's MACs")
    if ip is None:
        return Verdict(None, "request address unknown")
    leased = _leased(session, macs)
    listed = {row.ip for row in interfaces if row.ip}
    addresses = _own_addresses(leased, listed, ip)
    if ip in addresses:
        return Verdict(ip, "request from the node's own address")
    known = addresses or leased or listed
    if known:
        return Verdict(None, f"request from {ip}, the node's address is {min(known)}")
    if allow_unknown:
        return Verdict(ip, f"no address known for the node; {UNVERIFIED_SETTING} is on")
    return Verdict(
        None,
        f"no address known for the node (no lease, no IP in the CMDB); see {UNVERIFIED_SETTING}",
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_boot_token() -> str:
    return secrets.token_urlsafe(24)


_TOKENS = cast(Table, BootToken.__table__)
# Built once, as the lease statements above.
_KEEP_TOKEN = BuiltUpsert(
    _TOKENS,
    [_TOKENS.c.node_id],
    lambda new: {"digest": new.digest, "ip": new.ip, "created_at": new.created_at},
)
# The token's node, and whether the MAC a request names is one of its own.
_CALLER = (
    select(
        Node.id,
        Node.hostname,
        BootToken.ip,
        exists()
        .where(Interface.node_id == Node.id, Interface.mac == bindparam("mac"))
        .label("owns_mac"),
    )
    .join(BootToken, BootToken.node_id == Node.id)
    .where(BootToken.digest == bindparam("digest"))
)


@dataclass(frozen=True)
class Caller:
    """The node a request with its boot token comes from."""

    node_id: int
    hostname: str


def store_boot_token(session: Session, node_id: int, secret: str, ip: str) -> None:
    """Keep `secret` as the node's boot token, bound to `ip`; the previous one dies."""
    values = {"node_id": node_id, "digest": _digest(secret), "ip": ip, "created_at": utcnow()}
    _KEEP_TOKEN.run(session, values)


def boot_caller(session: Session, secret: str, ip: str | None, mac: str | None = None) -> Caller:
    """The node whose current boot token `secret` is, when the request comes
    from the address it is bound to (and names one of its MACs, if any);
    Refused otherwise."""
    if not secret:
        raise Refused("no boot token")
    asked = {"digest": _digest(secret), "mac": mac}
    found = session.connection().execute(_CALLER, asked).first()
    if found is None:
        raise Refused("unknown or replaced boot token")
    node_id, hostname, bound_ip, owns_mac = found
    if ip is None or bound_ip != ip:
        raise Refused(f"boot token of another address than {ip}")
    if mac is not None and not owns_mac:
        raise Refused(f"MAC {mac} is not one of {hostname}'s")
    return Caller(node_id, hostname)
