"""Coverage-guided fuzzing of the DHCP codec with atheris (libFuzzer).

Every input must either be refused with DecodeError or parse into a packet
that classifies, passes the server's checks, and survives an encode and a
parse unchanged. Run by test_dhcp_fuzz.py as
    python atheris_dhcp.py -runs=N -seed=S CORPUS_DIR
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from bootsvc.net.dhcp.classify import classify
    from bootsvc.net.dhcp.codec import DecodeError, EncodeError, build, parse
    from bootsvc.net.dhcp.server import unusable


def one_input(data: bytes) -> None:
    try:
        packet = parse(data)
    except DecodeError:
        return
    classify(packet)
    unusable(packet)
    try:
        wire = build(packet, packet.max_datagram)
    except EncodeError:
        return
    again = parse(wire)
    if again != packet:
        raise AssertionError(f"round trip changed the packet:\n{packet}\n{again}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
