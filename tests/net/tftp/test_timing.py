"""Lost packets are resent within a second; a transfer whose client is gone
ends on its own; more than 1,024 transfers run at once; past the bound of
transfers, a request waits for the client's resend."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path

from bootsvc.net.tftp import DirectorySource, TftpServer
from tests.net.tftp.conftest import FILES, Lines, running, sha256
from tests.net.tftp.lockstep import DATA, OACK, ack, fetch_all, rrq
from tests.net.tftp.raw import Peer

SESSIONS = 1100  # past select()'s 1,024 descriptors, in the server and in the client


def _timed(peer: Peer) -> tuple[int, bytes, float]:
    got = peer.receive()
    assert got is not None
    return got[0], got[1], time.monotonic()


def test_withheld_ack_gets_the_block_again_within_a_second(server: TftpServer) -> None:
    peer = Peer(server.address)
    peer.send(rrq("big.bin", {"blksize": "1468"}))
    opcode, oack, first = _timed(peer)
    assert opcode == OACK
    opcode, again, resent = _timed(peer)  # ACK 0 withheld: the OACK comes again
    assert opcode == OACK and again == oack and resent - first < 1.0
    got = peer.receive()
    assert got is not None
    source = got[2]
    peer.send(ack(0), source)
    opcode, block, sent = _timed(peer)
    assert opcode == DATA and struct.unpack_from("!H", block)[0] == 1
    opcode, repeated, resent = _timed(peer)  # ACK 1 withheld
    assert opcode == DATA and repeated == block
    assert resent - sent < 1.0
    peer.close()


def test_silent_client_is_given_up_and_logged(tftp_root: Path, tftp_log: Lines) -> None:
    with running(DirectorySource(tftp_root), resend_seconds=0.2, give_up_seconds=1.0) as server:
        peer = Peer(server.address)
        peer.send(rrq("big.bin"))
        assert peer.receive() is not None
        _wait_for(lambda: not server.sessions, 3.0)
        peer.close()
    [failed] = tftp_log.wait("tftp.failed")
    assert failed["reason"] == "timed out" and failed["file"] == "big.bin"
    assert failed["resent"] >= 3


def test_vanished_client_ends_its_transfer_at_once(server: TftpServer, tftp_log: Lines) -> None:
    """Its closed port answers the next block with ICMP, which the connected
    session socket reports: no need to wait for the give-up time."""
    peer = Peer(server.address)
    peer.send(rrq("big.bin"))
    got = peer.receive()
    assert got is not None
    peer.close()
    _wait_for(lambda: not server.sessions, 1.5)
    [aborted] = tftp_log.wait("tftp.aborted")
    assert aborted["reason"] == "client port unreachable"


def test_lost_final_ack_still_counts_as_sent(server: TftpServer, tftp_log: Lines) -> None:
    """The client had the whole file; only its last ACK never came."""
    peer = Peer(server.address)
    peer.send(rrq("hello.txt"))
    got = peer.receive()
    assert got is not None and got[1][2:] == FILES["hello.txt"]
    peer.close()
    [sent] = tftp_log.wait("tftp.sent")
    assert sent["bytes"] == len(FILES["hello.txt"])
    assert sent["reason"] == "no final ACK (client port unreachable)"


def test_more_than_1024_transfers_at_once(tftp_root: Path) -> None:
    with running(DirectorySource(tftp_root), max_sessions=SESSIONS) as server:
        outcome = fetch_all(
            server.address, ["sub/inner.bin"] * SESSIONS, {"blksize": "1468"}, together=True
        )
        assert outcome.held_at_once == SESSIONS
        assert not outcome.failed, [t.error for t in outcome.failed][:5]
        assert {t.sha256 for t in outcome.transfers} == {sha256(FILES["sub/inner.bin"])}
        _wait_for(lambda: not server.sessions, 3.0)


def test_a_request_past_the_bound_is_served_on_its_resend(tftp_root: Path, tftp_log: Lines) -> None:
    """No ERROR, which would end a PXE ROM's boot: silence, then the transfer
    once the client asks again and a place is free."""
    with running(DirectorySource(tftp_root), max_sessions=1) as server:
        first, second = Peer(server.address), Peer(server.address)
        first.send(rrq("big.bin"))
        assert first.receive() is not None
        second.send(rrq("hello.txt"))
        assert second.receive(timeout=1.0) is None
        [deferred] = tftp_log.wait("tftp.deferred")
        assert deferred["file"] == "hello.txt"
        first.close()
        _wait_for(lambda: not server.sessions, 3.0)
        second.send(rrq("hello.txt"))
        got = second.receive()
        assert got is not None and got[0] == DATA and got[1][2:] == FILES["hello.txt"]
        second.send(ack(1))
        second.close()


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
