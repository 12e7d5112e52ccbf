"""Real TFTP clients from Debian (curl, atftp, tftp-hpa) against the server:
what they fetch is byte for byte the file, at the block sizes firmware asks
for, and the size is announced (tsize)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bootsvc.net.tftp import TftpServer
from tests.net.tftp.conftest import FILES, Lines, sha256


def _curl(server: TftpServer, name: str, out: Path, *options: str) -> None:
    host, port = server.address
    subprocess.run(
        ["curl", "-sS", "--fail", *options, "-o", str(out), f"tftp://{host}:{port}/{name}"],
        check=True,
        timeout=30,
    )


@pytest.mark.parametrize("blksize", ["1468", "1456", "1432", "512"])
def test_curl_fetches_at_firmware_block_sizes(
    server: TftpServer, tmp_path: Path, tftp_log: Lines, blksize: str
) -> None:
    out = tmp_path / "out"
    _curl(server, "big.bin", out, "--tftp-blksize", blksize)
    assert sha256(out.read_bytes()) == sha256(FILES["big.bin"])
    [sent] = tftp_log.wait("tftp.sent")
    assert sent["blksize"] == int(blksize)
    assert sent["bytes"] == len(FILES["big.bin"]) and sent["ip"] == "127.0.0.1"
    assert sent["file"] == "big.bin" and sent["stage"] == "tftp"


@pytest.mark.parametrize("name", ["empty", "three-blocks.bin", "sub/inner.bin", "/hello.txt"])
def test_curl_fetches_edge_sizes_and_paths(server: TftpServer, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    # Without options: curl 7.88 fails an empty file after an OACK (dnsmasq's too).
    _curl(server, name, out, "--tftp-no-options")
    assert out.read_bytes() == FILES[name.lstrip("/")]


def test_atftp_gets_tsize_and_blksize_in_the_oack(server: TftpServer, tmp_path: Path) -> None:
    host, port = server.address
    out = tmp_path / "out"
    options = ["--option", "blksize 1468", "--option", "tsize 0"]
    result = subprocess.run(
        ["atftp", "--trace", *options, "-g", "-r", "big.bin", "-l", str(out), host, str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    trace = result.stdout + result.stderr
    oack = re.search(r"received OACK <([^>]*)>", trace)
    assert oack, trace[:2000]
    assert f"tsize: {len(FILES['big.bin'])}" in oack[1] and "blksize: 1468" in oack[1]
    assert sha256(out.read_bytes()) == sha256(FILES["big.bin"])


def test_tftp_hpa_without_options(server: TftpServer, tmp_path: Path) -> None:
    host, port = server.address
    out = tmp_path / "out"
    subprocess.run(
        ["tftp", "-m", "binary", host, str(port), "-c", "get", "big.bin", str(out)],
        check=True,
        timeout=60,
    )
    assert sha256(out.read_bytes()) == sha256(FILES["big.bin"])


def test_tftp_hpa_upload_is_refused(server: TftpServer, tmp_path: Path, tftp_log: Lines) -> None:
    host, port = server.address
    local = tmp_path / "upload"
    local.write_bytes(b"not welcome")
    result = subprocess.run(
        ["tftp", "-m", "binary", host, str(port), "-c", "put", str(local), "upload"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Error code 2" in result.stdout + result.stderr
    assert not (tmp_path / "root" / "upload").exists()
    [refused] = tftp_log.wait("tftp.refused")
    assert refused["code"] == 2
