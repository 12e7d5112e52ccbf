"""Bad input: each gets a TFTP ERROR or is dropped, the server keeps serving
and no transfer stays open."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootsvc.net.tftp import DirectorySource, OpenedFile, ReadRequest, TftpServer
from tests.net.tftp.conftest import FILES, Lines, running, sha256
from tests.net.tftp.lockstep import ERROR, ack, rrq
from tests.net.tftp.raw import Peer

FILE_NOT_FOUND, ACCESS_VIOLATION, ILLEGAL_OPERATION, BAD_OPTION = 1, 2, 4, 8


@pytest.fixture
def outside(tmp_path: Path, tftp_root: Path) -> Path:
    """A secret beside the root, and symlinks in the root that lead to it."""
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "key").write_text("do not serve")
    (tftp_root / "escape").symlink_to(secret_dir / "key")
    (tftp_root / "escape-dir").symlink_to(secret_dir)
    (tftp_root / "inside").symlink_to(tftp_root / "hello.txt")
    return secret_dir


@pytest.fixture
def quick(tftp_root: Path, outside: Path) -> Iterator[TftpServer]:
    del outside
    with running(DirectorySource(tftp_root), resend_seconds=0.2, give_up_seconds=1.0) as server:
        yield server
        _still_serves(server)
        _all_transfers_end(server)


def _still_serves(server: TftpServer) -> None:
    peer = Peer(server.address)
    assert peer.fetch("hello.txt", {"blksize": "1468"}) == FILES["hello.txt"]
    peer.close()


def _all_transfers_end(server: TftpServer) -> None:
    deadline = time.monotonic() + 3
    while server.sessions:
        assert time.monotonic() < deadline, f"stuck: {list(server.sessions)}"
        time.sleep(0.05)


def _answer(server: TftpServer, datagram: bytes) -> int | None:
    peer = Peer(server.address)
    peer.send(datagram)
    code = peer.error_code(timeout=0.5)
    peer.close()
    return code


def _raw_rrq(*fields: bytes) -> bytes:
    return struct.pack("!H", 1) + b"".join(field + b"\0" for field in fields)


@pytest.mark.parametrize(
    ("datagram", "code"),
    [
        (rrq("missing.bin"), FILE_NOT_FOUND),
        (rrq("sub"), FILE_NOT_FOUND),  # a directory
        (rrq("../secret/key"), ACCESS_VIOLATION),
        (rrq("/../../etc/passwd"), ACCESS_VIOLATION),
        (rrq("sub/../../secret/key"), ACCESS_VIOLATION),
        (rrq("escape"), ACCESS_VIOLATION),  # symlink to a file outside
        (rrq("escape-dir/key"), ACCESS_VIOLATION),  # through a symlinked directory
        (rrq("hello.txt", {"blksize": "-1468"}), BAD_OPTION),
        (rrq("hello.txt", {"blksize": "0"}), BAD_OPTION),
        (rrq("hello.txt", {"blksize": "lots"}), BAD_OPTION),
        (rrq("hello.txt", {"tsize": "x"}), BAD_OPTION),
        (_raw_rrq(b"hello.txt", b"octet", b"blksize"), ILLEGAL_OPERATION),  # value missing
        (_raw_rrq(b"hello.txt", b"octet", b"blk\xffsize", b"512"), ILLEGAL_OPERATION),
        (_raw_rrq(b"h\xe9llo.txt", b"octet"), ILLEGAL_OPERATION),
        (struct.pack("!H", 1) + b"hello.txt", ILLEGAL_OPERATION),  # no terminators
        (rrq("hello.txt", mode="mail"), ILLEGAL_OPERATION),
        (struct.pack("!H", 2) + b"upload\0octet\0", ACCESS_VIOLATION),  # write request
        (struct.pack("!H", 9) + b"whatever\0", ILLEGAL_OPERATION),  # unknown opcode
        (struct.pack("!HH", 3, 1) + b"data", ILLEGAL_OPERATION),  # DATA to the server
        (ack(1), ILLEGAL_OPERATION),
        (b"", ILLEGAL_OPERATION),
        (b"\x00", ILLEGAL_OPERATION),
        (struct.pack("!HH", ERROR, 0) + b"oops\0", None),  # never answer an ERROR
    ],
)
def test_bad_request_is_answered_or_dropped(
    quick: TftpServer, tftp_log: Lines, datagram: bytes, code: int | None
) -> None:
    assert _answer(quick, datagram) == code
    logged = tftp_log.wait("tftp.refused", "tftp.dropped")
    assert len(logged) == 1 and logged[0]["ip"] == "127.0.0.1"


def test_symlink_inside_the_root_is_served(quick: TftpServer) -> None:
    peer = Peer(quick.address)
    assert peer.fetch("inside") == FILES["hello.txt"]
    peer.close()


def test_duplicate_and_future_acks_do_not_disturb_a_transfer(quick: TftpServer) -> None:
    peer = Peer(quick.address)

    def meddle(block: int, server_port: tuple[str, int]) -> None:
        peer.send(ack(block), server_port)  # the same ACK again
        peer.send(ack(block + 500), server_port)  # a block never sent
        peer.send(b"\x00", server_port)  # garbage from the right port

    data = peer.fetch("big.bin", {"blksize": "1432"}, after_block=meddle)
    assert sha256(data) == sha256(FILES["big.bin"])
    peer.close()


def test_packets_from_another_port_are_dropped(quick: TftpServer) -> None:
    peer, stranger = Peer(quick.address), Peer(quick.address)

    def intrude(block: int, server_port: tuple[str, int]) -> None:
        stranger.send(ack(block + 1), server_port)
        stranger.send(struct.pack("!HH", ERROR, 0) + b"stop\0", server_port)

    assert sha256(peer.fetch("big.bin", after_block=intrude)) == sha256(FILES["big.bin"])
    assert stranger.receive(timeout=0.2) is None
    peer.close()
    stranger.close()


def test_client_error_ends_the_transfer(
    quick: TftpServer, tftp_log: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    """One structured line says so; tftpy adds no unstructured one."""
    peer = Peer(quick.address)
    peer.send(rrq("big.bin", {"tsize": "0"}))
    got = peer.receive()
    assert got is not None
    peer.send(struct.pack("!HH", ERROR, 8) + b"User aborted the transfer\0", got[2])
    [aborted] = tftp_log.wait("tftp.aborted")
    assert aborted["reason"] == "client error 8: User aborted the transfer"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("tftpy")] == []
    peer.close()


_DATAGRAMS = st.one_of(
    st.binary(max_size=600),
    st.builds(
        lambda opcode, fields: struct.pack("!H", opcode) + b"\0".join(fields),
        st.integers(0, 8),
        st.lists(st.sampled_from([b"hello.txt", b"octet", b"blksize", b"tsize", b"-1"])),
    ),
    st.builds(
        lambda opcode, fields: struct.pack("!H", opcode) + b"\0".join(fields),
        st.integers(0, 8),
        st.lists(st.binary(max_size=12), max_size=6),
    ),
)


def test_random_datagrams(tftp_root: Path, outside: Path, tftp_log: Lines) -> None:
    """To the listening port, and into a transfer under way from its client:
    all handled by the protocol paths, none by the last-resort ones."""
    del outside
    with running(DirectorySource(tftp_root), resend_seconds=0.2, give_up_seconds=1.0) as server:
        victim, stranger = Peer(server.address), Peer(server.address)
        victim.send(rrq("big.bin"))
        got = victim.receive()
        assert got is not None
        transfer_port = got[2]

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(datagram=_DATAGRAMS, into_transfer=st.booleans())
        def send(datagram: bytes, into_transfer: bool) -> None:
            if into_transfer:
                victim.send(datagram, transfer_port)
            else:
                stranger.send(datagram)

        send()
        victim.close()
        stranger.close()
        _still_serves(server)
        _all_transfers_end(server)
    reasons = [str(line.get("reason")) for line in tftp_log.named("tftp.refused", "tftp.failed")]
    assert len(tftp_log.named("tftp.refused")) > 50
    assert not [reason for reason in reasons if "unexpected" in reason or "internal" in reason]


class Faulty:
    """A FileSource with bugs: it raises, or answers with no file at all."""

    def __init__(self, root: Path) -> None:
        self.files = DirectorySource(root)

    def open(self, request: ReadRequest) -> OpenedFile:
        if request.filename == "raises":
            raise RuntimeError("database exploded")
        if request.filename == "junk":
            return OpenedFile(cast(BinaryIO, object()), 3)
        return self.files.open(request)


def test_a_failing_source_fails_one_transfer(tftp_root: Path, tftp_log: Lines) -> None:
    with running(Faulty(tftp_root)) as server:
        for name in ("raises", "junk"):
            assert _answer(server, rrq(name)) == 0
            _still_serves(server)
        _all_transfers_end(server)
    failed = tftp_log.wait("tftp.failed")
    assert [line["file"] for line in failed] == ["raises", "junk"]
    assert all(line["reason"].startswith("internal error") for line in failed)
