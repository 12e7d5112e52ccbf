"""The server against dig (and dnsmasq as an upstream), over loopback."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from dnslib import RR

from tests.net.dns.dnshelpers import SwappableZones, running
from tests.support.dnsdig import dig, flags, rcode, records

ZONE = """
lab.example.        60 IN SOA ns.lab.example. hostmaster.lab.example. 7 3600 600 86400 10
lab.example.        60 IN NS  ns.lab.example.
ns.lab.example.     60 IN A   10.0.0.1
node1.lab.example.  60 IN A   10.0.0.11
www.lab.example.    60 IN CNAME node1.lab.example.
_ceph-mon._tcp.lab.example. 60 IN SRV 10 0 3300 node1.lab.example.
""" + "".join(f"big.lab.example. 60 IN A 10.1.0.{i}\n" for i in range(1, 61))

UPSTREAM_NAME = "up.example.org"
UPSTREAM_ADDRESS = "192.0.2.55"


def zone(extra: str = "") -> list[RR]:
    return list(RR.fromZone(ZONE + extra))


def test_udp_answers_a_srv_and_soa() -> None:
    with running(SwappableZones(zone())) as (_server, port):
        assert records(dig(port, "node1.lab.example", "A")) == [
            ("node1.lab.example.", "A", "10.0.0.11")
        ]
        srv = dig(port, "_ceph-mon._tcp.lab.example", "SRV")
        assert records(srv) == [
            ("_ceph-mon._tcp.lab.example.", "SRV", "10 0 3300 node1.lab.example.")
        ]
        assert records(srv, "ADDITIONAL") == [("node1.lab.example.", "A", "10.0.0.11")]
        assert "aa" in flags(srv)
        soa = records(dig(port, "lab.example", "SOA"))
        assert soa == [
            ("lab.example.", "SOA", "ns.lab.example. hostmaster.lab.example. 7 3600 600 86400 10")
        ]
        missing = dig(port, "nobody.lab.example", "A")
        assert rcode(missing) == "NXDOMAIN"
        assert records(missing, "AUTHORITY")[0][1] == "SOA"


def test_tcp_answers_several_queries_on_one_connection() -> None:
    with running(SwappableZones(zone())) as (server, port):
        output = dig(port, "+tcp", "+keepopen", "node1.lab.example", "A", "www.lab.example", "A")
        assert records(output) == [
            ("node1.lab.example.", "A", "10.0.0.11"),
            ("www.lab.example.", "CNAME", "node1.lab.example."),
            ("node1.lab.example.", "A", "10.0.0.11"),
        ]
        assert server.stats["tcp"] == 2


def test_large_udp_answer_sets_tc_and_tcp_brings_it_whole() -> None:
    with running(SwappableZones(zone())) as (server, port):
        truncated = dig(port, "+ignore", "+noedns", "big.lab.example", "A")
        assert "tc" in flags(truncated)
        assert records(truncated) == []
        whole = dig(port, "+noedns", "big.lab.example", "A")
        assert len(records(whole)) == 60
        assert server.stats["tcp"] == 1


def test_ipv6_listener_answers_over_udp_and_tcp() -> None:
    with running(SwappableZones(zone()), host="::1") as (_server, port):
        expected = [("ns.lab.example.", "A", "10.0.0.1")]
        assert records(dig(port, "ns.lab.example", "A", server="::1")) == expected
        assert records(dig(port, "+tcp", "ns.lab.example", "A", server="::1")) == expected


def test_names_outside_are_refused_without_upstreams() -> None:
    with running(SwappableZones(zone())) as (server, port):
        output = dig(port, "example.org", "A")
        assert rcode(output) == "REFUSED"
        assert "ra" not in flags(output)
        assert server.stats["refused"] == 1


def test_a_miss_asks_for_the_latest_zones_and_hits_follow_them() -> None:
    zones = SwappableZones(zone())
    with running(zones) as (_server, port):
        assert records(dig(port, "node1.lab.example", "A"))[0][2] == "10.0.0.11"
        changed = ZONE.replace("10.0.0.11", "10.0.0.99") + "node2.lab.example. 60 IN A 10.0.0.12\n"
        zones.publish(list(RR.fromZone(changed)))
        # A positive answer may come from the current zones (and the cache) ...
        assert records(dig(port, "node1.lab.example", "A"))[0][2] == "10.0.0.11"
        assert zones.latest_calls == 0
        # ... a miss may not: the new name resolves on its first query,
        assert records(dig(port, "node2.lab.example", "A")) == [
            ("node2.lab.example.", "A", "10.0.0.12")
        ]
        assert zones.latest_calls == 1
        # and the cached answer went with the old zones.
        assert records(dig(port, "node1.lab.example", "A"))[0][2] == "10.0.0.99"


def test_a_new_zone_answers_at_once() -> None:
    zones = SwappableZones(zone())
    with running(zones) as (_server, port):
        assert rcode(dig(port, "node1.new.example", "A")) == "REFUSED"
        new_zone = """
new.example.        60 IN SOA ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 10
node1.new.example.  60 IN A   10.9.0.1
"""
        zones.publish(zone(new_zone))
        assert records(dig(port, "node1.new.example", "A")) == [
            ("node1.new.example.", "A", "10.9.0.1")
        ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_dnsmasq(port: int) -> subprocess.Popen[bytes] | None:
    """dnsmasq answering on `port`, or None if it could not bind it: a port
    free for UDP may be a TCP client's at that moment (the other worker's)."""
    process = subprocess.Popen(
        [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            f"--port={port}",
            f"--host-record={UPSTREAM_NAME},{UPSTREAM_ADDRESS}",
            "--pid-file=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not records(dig(port, UPSTREAM_NAME, "A")):
        if process.poll() is not None:
            return None
        if time.monotonic() > deadline:
            process.terminate()
            process.wait(10)
            raise AssertionError("dnsmasq did not answer")
        time.sleep(0.1)
    return process


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    """dnsmasq on loopback as the site's resolver, knowing one name."""
    for _ in range(5):
        port = _free_port()
        process = _start_dnsmasq(port)
        if process is not None:
            break
    else:
        raise AssertionError("dnsmasq could not bind a free port in five tries")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def test_forwards_for_allowed_clients_over_udp_and_tcp(upstream: int) -> None:
    upstreams = [("127.0.0.1", _free_port()), ("127.0.0.1", upstream)]
    with running(SwappableZones(zone()), upstreams, LOOPBACK) as (server, port):
        expected = [(f"{UPSTREAM_NAME}.", "A", UPSTREAM_ADDRESS)]
        assert records(dig(port, UPSTREAM_NAME, "A")) == expected
        assert records(dig(port, "+tcp", UPSTREAM_NAME, "A")) == expected
        assert "ra" in flags(dig(port, "node1.lab.example", "A"))
        assert rcode(dig(port, "+norec", UPSTREAM_NAME, "A")) == "REFUSED"
        assert server.stats["forwarded"] == 2


def test_never_forwards_for_other_clients(upstream: int) -> None:
    elsewhere = [ipaddress.ip_network("10.0.0.0/8")]
    with running(SwappableZones(zone()), [("127.0.0.1", upstream)], elsewhere) as (server, port):
        assert rcode(dig(port, UPSTREAM_NAME, "A")) == "REFUSED"
        assert server.stats["forwarded"] == 0


def test_dead_upstreams_give_servfail() -> None:
    with running(SwappableZones(zone()), [("127.0.0.1", _free_port())], LOOPBACK) as (_s, port):
        assert rcode(dig(port, "+time=5", UPSTREAM_NAME, "A")) == "SERVFAIL"
