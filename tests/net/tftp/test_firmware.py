"""The request sequences firmware sends, replayed byte for byte as captured
from OVMF 2022.11 (edk2) and iPXE 1.0.0+git-20190125 in QEMU."""

from __future__ import annotations

import struct

from bootsvc.net.tftp import TftpServer
from tests.net.tftp.conftest import FILES, Lines, sha256
from tests.net.tftp.lockstep import ERROR, OACK, rrq
from tests.net.tftp.raw import Peer


def _oack(peer: Peer) -> tuple[dict[bytes, bytes], tuple[str, int]]:
    got = peer.receive()
    assert got is not None and got[0] == OACK, got
    fields = got[1].split(b"\0")[:-1]
    return dict(zip(fields[0::2], fields[1::2], strict=True)), got[2]


def test_edk2_size_probe_then_download_without_windowsize(
    server: TftpServer, tftp_log: Lines
) -> None:
    """edk2 asks the size, aborts with ERROR 8, then downloads asking for
    windowsize 4: left out of the OACK, it goes lock-step."""
    probe = Peer(server.address)
    probe.send(rrq("big.bin", {"tsize": "0", "blksize": "1468", "windowsize": "4"}))
    offered, source = _oack(probe)
    assert offered == {b"tsize": str(len(FILES["big.bin"])).encode(), b"blksize": b"1468"}
    probe.send(struct.pack("!HH", ERROR, 8) + b"User aborted the transfer\0", source)
    probe.close()
    download = Peer(server.address)
    data = download.fetch("big.bin", {"blksize": "1468", "windowsize": "4"})
    assert sha256(data) == sha256(FILES["big.bin"])
    download.close()
    assert [line["file"] for line in tftp_log.wait("tftp.aborted")] == ["big.bin"]
    [sent] = tftp_log.wait("tftp.sent")
    assert sent["blksize"] == 1468 and sent["bytes"] == len(FILES["big.bin"])


def test_ipxe_asks_blksize_1432_and_tsize(server: TftpServer) -> None:
    peer = Peer(server.address)
    peer.send(rrq("hello.txt", {"blksize": "1432", "tsize": "0"}))
    offered, _ = _oack(peer)
    assert offered == {b"blksize": b"1432", b"tsize": str(len(FILES["hello.txt"])).encode()}
    peer.close()


def test_size_probe_then_download_from_the_same_port(server: TftpServer, tftp_log: Lines) -> None:
    """A legacy PXE ROM asks the size, aborts, and asks again from the same
    port at once, while other machines' requests queue: the aborted
    transfer's ERROR, handled after the new request, must not end the new
    transfer (it left it unswept, then failed on its last ACK)."""
    rounds = 30
    other = Peer(server.address)
    for _ in range(rounds):
        peer = Peer(server.address)
        peer.send(rrq("big.bin", {"tsize": "0"}))
        _offered, source = _oack(peer)
        other.send(rrq("no-such-file"))
        peer.send(struct.pack("!HH", ERROR, 8) + b"size only\0", source)
        data = peer.fetch("big.bin", {"blksize": "1456", "tsize": "0"})
        assert sha256(data) == sha256(FILES["big.bin"])
        peer.close()
    other.close()
    assert len(tftp_log.wait("tftp.sent")) == rounds
    assert tftp_log.named("tftp.internal-error") == []
