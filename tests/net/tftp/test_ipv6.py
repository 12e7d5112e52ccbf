"""TFTP over IPv6, with real clients over loopback: UEFI PXEv6 fetches its
loader from the tftp://[addr]/ URL of DHCPv6 option 59. Listening on ::
serves IPv4 clients too (dual stack), logged as the IPv4 clients they are."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.net.tftp import DirectorySource, TftpServer
from tests.net.tftp.conftest import FILES, Lines, running, sha256


@pytest.fixture(params=["::1", "::"])
def server6(request: pytest.FixtureRequest, tftp_root: Path) -> Iterator[TftpServer]:
    """On the IPv6 loopback alone, and on every address (dual stack)."""
    with running(DirectorySource(tftp_root), (request.param, 0), give_up_seconds=3.0) as started:
        yield started


def _curl(url: str, out: Path, *options: str) -> None:
    subprocess.run(["curl", "-sS", "--fail", *options, "-o", str(out), url], check=True, timeout=30)


def test_curl_fetches_over_ipv6_at_the_pxe_block_size(
    server6: TftpServer, tmp_path: Path, tftp_log: Lines
) -> None:
    port = server6.address[1]
    out = tmp_path / "out"
    _curl(f"tftp://[::1]:{port}/big.bin", out, "--tftp-blksize", "1468")
    assert sha256(out.read_bytes()) == sha256(FILES["big.bin"])
    [sent] = tftp_log.wait("tftp.sent")
    assert sent["ip"] == "::1" and sent["file"] == "big.bin" and sent["stage"] == "tftp"
    assert sent["blksize"] == 1468 and sent["bytes"] == len(FILES["big.bin"])


def test_atftp_gets_the_oack_over_ipv6(server6: TftpServer, tmp_path: Path) -> None:
    port = server6.address[1]
    out = tmp_path / "out"
    options = ["--option", "blksize 1432", "--option", "tsize 0"]
    result = subprocess.run(
        ["atftp", "--trace", *options, "-g", "-r", "big.bin", "-l", str(out), "::1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    oack = re.search(r"received OACK <([^>]*)>", result.stdout + result.stderr)
    assert oack, (result.stdout + result.stderr)[:2000]
    assert f"tsize: {len(FILES['big.bin'])}" in oack[1] and "blksize: 1432" in oack[1]
    assert sha256(out.read_bytes()) == sha256(FILES["big.bin"])


def test_a_missing_file_is_refused_over_ipv6(
    server6: TftpServer, tmp_path: Path, tftp_log: Lines
) -> None:
    port = server6.address[1]
    done = subprocess.run(
        ["curl", "-sS", "--fail", "-o", str(tmp_path / "out"), f"tftp://[::1]:{port}/nothing"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    [refused] = tftp_log.wait("tftp.refused")
    assert refused["ip"] == "::1" and refused["file"] == "nothing"


def test_dual_stack_serves_ipv4_clients_as_ipv4(
    tftp_root: Path, tmp_path: Path, tftp_log: Lines
) -> None:
    out = tmp_path / "out"
    with running(DirectorySource(tftp_root), ("::", 0)) as server:
        _curl(f"tftp://127.0.0.1:{server.address[1]}/hello.txt", out)
        [sent] = tftp_log.wait("tftp.sent")
    assert out.read_bytes() == FILES["hello.txt"]
    assert sent["ip"] == "127.0.0.1"
