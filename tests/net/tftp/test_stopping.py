"""Stopping the server (a restart of bootsvc): transfers already running
finish, since a PXE ROM cannot resume one; new requests wait for the next
server; a transfer that stalls is ended when the drain time is up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bootsvc.net.tftp import DirectorySource, TftpServer
from tests.net.tftp.conftest import FILES, Lines
from tests.net.tftp.lockstep import rrq
from tests.net.tftp.raw import Peer


@contextmanager
def serving(root: Path, **tuning: Any) -> Iterator[tuple[TftpServer, threading.Thread]]:
    server = TftpServer(DirectorySource(root), ("127.0.0.1", 0), **tuning)
    thread = threading.Thread(target=server.serve_forever, name="tftp-test", daemon=True)
    thread.start()
    try:
        yield server, thread
    finally:
        server.stop()
        thread.join(15)


def test_a_running_transfer_finishes_after_stop_and_no_new_one_starts(
    tftp_root: Path, tftp_log: Lines
) -> None:
    with serving(tftp_root) as (server, thread):
        peer, late = Peer(server.address), Peer(server.address)
        late_answer: list[object] = []

        def stop_midway(block: int, _server_port: tuple[str, int]) -> None:
            if block != 100:
                return
            server.stop()
            assert tftp_log.wait("tftp.draining")[0]["transfers"] == 1
            late.send(rrq("hello.txt"))
            late_answer.append(late.receive(1.0))

        data = peer.fetch("big.bin", after_block=stop_midway)
        thread.join(5)
        assert not thread.is_alive()
    assert data == FILES["big.bin"]
    assert late_answer == [None]
    [sent] = tftp_log.wait("tftp.sent")
    assert sent["file"] == "big.bin" and sent["bytes"] == len(FILES["big.bin"])
    assert tftp_log.named("tftp.failed") == []
    peer.close()
    late.close()


def test_a_stalled_transfer_ends_when_the_drain_time_is_up(
    tftp_root: Path, tftp_log: Lines
) -> None:
    with serving(tftp_root, give_up_seconds=60.0, drain_seconds=0.5) as (server, thread):
        peer = Peer(server.address)
        peer.send(rrq("big.bin"))
        assert peer.receive() is not None
        server.stop()  # and the client never ACKs
        thread.join(5)
        assert not thread.is_alive()
    [failed] = tftp_log.wait("tftp.failed")
    assert failed["reason"] == "server stopping" and failed["file"] == "big.bin"
    peer.close()
