"""Authoritative data held as dicts, so that an answer costs a few lookups
whatever the number of records (dnslib's ZoneResolver scans them all).

A `ZoneSet` is immutable: whoever owns the data builds a new one when it
changes and swaps it in whole, so a query never sees half an update.
The zones are the owners of SOA records; there are no delegations and no
wildcards, which keeps RFC 1034's algorithm down to names, empty
non-terminals and CNAME chains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, DNSLabel

NameKey = tuple[bytes, ...]

# RFC 1034 leaves the length of a CNAME chain to the server; BIND stops at 16.
MAX_CHAIN = 8
_ADDRESS_TYPES = (QTYPE.A, QTYPE.AAAA)


def name_key(label: DNSLabel) -> NameKey:
    """DNS names compare without regard to ASCII case."""
    return tuple(part.lower() for part in label.label)


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: int
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()

    @property
    def negative(self) -> bool:
        """NXDOMAIN or no data: what a record added a moment ago would change."""
        return self.rcode == RCODE.NXDOMAIN or not self.answer


class ZoneSet:
    def __init__(self, records: Iterable[RR]) -> None:
        self._names: dict[NameKey, dict[int, list[RR]]] = {}
        for record in records:
            by_type = self._names.setdefault(name_key(record.rname), {})
            by_type.setdefault(record.rtype, []).append(record)
        self._negative_soa: dict[NameKey, RR] = {}
        for key, by_type in self._names.items():
            for soa in by_type.get(QTYPE.SOA, [])[:1]:
                # RFC 2308: a negative answer lives min(SOA TTL, SOA minimum).
                ttl = min(soa.ttl, soa.rdata.times[-1])
                self._negative_soa[key] = RR(soa.rname, QTYPE.SOA, ttl=ttl, rdata=soa.rdata)
        self._nonterminals: set[NameKey] = set()
        for key in self._names:
            zone = self.zone_of(key)
            for depth in range(1, len(key) - (len(zone) if zone is not None else 0)):
                self._nonterminals.add(key[depth:])

    @property
    def zones(self) -> list[NameKey]:
        return sorted(self._negative_soa, key=lambda key: tuple(reversed(key)))

    @property
    def record_count(self) -> int:
        return sum(len(rrs) for by_type in self._names.values() for rrs in by_type.values())

    def zone_of(self, key: NameKey) -> NameKey | None:
        """The closest enclosing zone, or None when the name is not ours."""
        for depth in range(len(key) + 1):
            suffix = key[depth:]
            if suffix in self._negative_soa:
                return suffix
        return None

    def lookup(self, key: NameKey, qtype: int) -> Answer | None:
        """The authoritative answer, or None when no zone here holds the name."""
        zone = self.zone_of(key)
        if zone is None:
            return None
        chain: list[RR] = []
        for _ in range(MAX_CHAIN):
            by_type = self._names.get(key)
            if by_type is None:
                rcode = RCODE.NOERROR if key in self._nonterminals else RCODE.NXDOMAIN
                return Answer(rcode, tuple(chain), (self._negative_soa[zone],))
            if qtype == QTYPE.ANY:
                found = [rr for rrs in by_type.values() for rr in rrs]
            else:
                found = by_type.get(qtype, [])
            if found:
                chain.extend(found)
                return Answer(RCODE.NOERROR, tuple(chain), (), self._additional(found))
            cname = by_type.get(QTYPE.CNAME)
            if not cname:
                return Answer(RCODE.NOERROR, tuple(chain), (self._negative_soa[zone],))
            chain.extend(cname)
            key = name_key(cname[0].rdata.label)
            target_zone = self.zone_of(key)
            if target_zone is None:
                return Answer(RCODE.NOERROR, tuple(chain))
            zone = target_zone
        return Answer(RCODE.SERVFAIL, tuple(chain))

    def _additional(self, found: list[RR]) -> tuple[RR, ...]:
        """Addresses of the hosts that NS and SRV answers name, saving a round trip."""
        extra: list[RR] = []
        for record in found:
            if record.rtype == QTYPE.NS:
                target = record.rdata.label
            elif record.rtype == QTYPE.SRV:
                target = record.rdata.target
            else:
                continue
            by_type = self._names.get(name_key(target), {})
            for rtype in _ADDRESS_TYPES:
                extra.extend(rr for rr in by_type.get(rtype, []) if rr not in extra)
        return tuple(extra)
