"""ZoneSet: RFC 1034 answers from dict lookups."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, DNSLabel

from bootsvc.net.dns import ZoneSet, name_key

ZONE = """
lab.example.            60 IN SOA ns.lab.example. hostmaster.lab.example. 7 3600 600 86400 10
lab.example.            60 IN NS  ns.lab.example.
ns.lab.example.         60 IN A   10.0.0.1
node1.lab.example.      60 IN A   10.0.0.11
node1.lab.example.      60 IN A   10.0.1.11
node1.lab.example.      60 IN AAAA fd00::11
www.lab.example.        60 IN CNAME node1.lab.example.
ext.lab.example.        60 IN CNAME mirror.example.org.
dangling.lab.example.   60 IN CNAME gone.lab.example.
loop1.lab.example.      60 IN CNAME loop2.lab.example.
loop2.lab.example.      60 IN CNAME loop1.lab.example.
_ceph-mon._tcp.lab.example. 60 IN SRV 10 0 3300 node1.lab.example.
inner.lab.example.      60 IN SOA ns.lab.example. hostmaster.lab.example. 7 3600 600 86400 5
db.inner.lab.example.   60 IN A   10.0.2.5
"""


def zones() -> ZoneSet:
    return ZoneSet(RR.fromZone(ZONE))


def ask(name: str, qtype: int) -> tuple[int, list[str], list[str], list[str]] | None:
    answer = zones().lookup(name_key(DNSLabel(name)), qtype)
    if answer is None:
        return None
    return (
        answer.rcode,
        [" ".join(rr.toZone().split()[1:]) for rr in answer.answer],
        [str(rr.rname) + " " + str(rr.ttl) for rr in answer.authority],
        [str(rr.rdata) for rr in answer.additional],
    )


def test_addresses_of_a_name_in_any_case() -> None:
    found = ask("NODE1.Lab.Example", QTYPE.A)
    assert found is not None
    rcode, answer, authority, _extra = found
    assert rcode == RCODE.NOERROR
    assert [line.split()[-1] for line in answer] == ["10.0.0.11", "10.0.1.11"]
    assert authority == []


def test_missing_name_is_nxdomain_with_soa_at_the_negative_ttl() -> None:
    assert ask("nobody.lab.example", QTYPE.A) == (RCODE.NXDOMAIN, [], ["lab.example. 10"], [])


def test_other_type_and_empty_nonterminal_are_nodata() -> None:
    assert ask("ns.lab.example", QTYPE.AAAA) == (RCODE.NOERROR, [], ["lab.example. 10"], [])
    assert ask("_tcp.lab.example", QTYPE.SRV) == (RCODE.NOERROR, [], ["lab.example. 10"], [])


def test_cname_is_followed_inside_the_zones() -> None:
    found = ask("www.lab.example", QTYPE.AAAA)
    assert found is not None
    assert found[0] == RCODE.NOERROR
    assert [line.split()[-2:] for line in found[1]] == [
        ["CNAME", "node1.lab.example."],
        ["AAAA", "fd00::11"],
    ]
    assert ask("www.lab.example", QTYPE.CNAME) == (
        RCODE.NOERROR,
        ["60 IN CNAME node1.lab.example."],
        [],
        [],
    )


def test_cname_out_of_the_zones_is_left_to_the_client() -> None:
    assert ask("ext.lab.example", QTYPE.A) == (
        RCODE.NOERROR,
        ["60 IN CNAME mirror.example.org."],
        [],
        [],
    )


def test_cname_to_nothing_and_cname_loops() -> None:
    dangling = ask("dangling.lab.example", QTYPE.A)
    assert dangling is not None
    assert dangling[0] == RCODE.NXDOMAIN and len(dangling[1]) == 1
    looping = ask("loop1.lab.example", QTYPE.A)
    assert looping is not None
    assert looping[0] == RCODE.SERVFAIL


def test_srv_brings_the_target_addresses() -> None:
    found = ask("_ceph-mon._tcp.lab.example", QTYPE.SRV)
    assert found is not None
    assert found[3] == ["10.0.0.11", "10.0.1.11", "fd00::11"]


def test_closest_zone_answers_and_foreign_names_are_not_ours() -> None:
    assert ask("nothing.inner.lab.example", QTYPE.A) == (
        RCODE.NXDOMAIN,
        [],
        ["inner.lab.example. 5"],
        [],
    )
    assert ask("example.org", QTYPE.A) is None
    assert ask("example", QTYPE.A) is None
    assert [b".".join(zone) for zone in zones().zones] == [b"lab.example", b"inner.lab.example"]


def test_any_returns_every_record_at_the_name() -> None:
    found = ask("node1.lab.example", QTYPE.ANY)
    assert found is not None
    assert len(found[1]) == 3


def test_negative_flags_what_a_new_record_could_change() -> None:
    def negative(name: str, qtype: int) -> bool:
        answer = zones().lookup(name_key(DNSLabel(name)), qtype)
        assert answer is not None
        return answer.negative

    assert negative("nobody.lab.example", QTYPE.A)
    assert negative("ns.lab.example", QTYPE.TXT)
    assert negative("dangling.lab.example", QTYPE.A)
    assert not negative("ns.lab.example", QTYPE.A)
