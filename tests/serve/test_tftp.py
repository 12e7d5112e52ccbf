"""`bootsvc serve` runs TFTP only when tftp_listen is set, and then serves the
TFTP flavour of the first script and the loaders, which HTTP serves too."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from pydantic import ValidationError

from bootsvc.serve.supervisor import services_for
from bootsvc.serve.tftp import tftp_url
from bootsvc.settings import Settings
from bootsvc.store import schema
from bootsvc.store.db import Database
from tests.support.live import live_server

SNP = b"MZ" + bytes(range(256)) * 100


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_tftp_runs_only_when_configured(tmp_path: Path) -> None:
    assert "tftp" not in services_for(Settings(data_dir=tmp_path))
    assert "tftp" in services_for(Settings(data_dir=tmp_path, tftp_listen="127.0.0.1:6969"))
    assert "tftp" in services_for(Settings(data_dir=tmp_path, tftp_listen="[::]:69"))
    with pytest.raises(ValidationError, match="host:port"):
        Settings(data_dir=tmp_path, tftp_listen="[::]")


@pytest.mark.parametrize(
    ("tftp_listen", "url"),
    [
        ("10.0.0.1:69", "tftp://10.0.0.1"),
        ("0.0.0.0:69", "tftp://192.0.2.1"),
        ("0.0.0.0:6969", "tftp://192.0.2.1:6969"),
        ("[fd00:77::1]:69", "tftp://[fd00:77::1]"),
        ("[::]:69", "tftp://192.0.2.1"),
    ],
)
def test_scripts_point_at_the_tftp_address(tmp_path: Path, tftp_listen: str, url: str) -> None:
    settings = Settings(
        data_dir=tmp_path, tftp_listen=tftp_listen, advertise_url="http://192.0.2.1:8080"
    )
    assert tftp_url(settings) == url


def test_serve_starts_tftp_and_serves_loaders(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bootsvc.db'}"
    database = Database(url)
    schema.upgrade(database)
    database.dispose()
    loaders = tmp_path / "ipxe"
    loaders.mkdir()
    (loaders / "snponly.efi").write_bytes(SNP)
    port = _free_udp_port()
    env = {"BOOTSVC_TFTP_LISTEN": f"127.0.0.1:{port}", "BOOTSVC_LOADER_DIR": str(loaders)}
    with live_server(tmp_path, url, env=env) as server:
        script = _fetch_when_up(f"tftp://127.0.0.1:{port}/boot.ipxe", tmp_path / "out").decode()
        assert f"chain --autofree tftp://127.0.0.1:{port}/node/${{mac:hexhyp}}.ipxe" in script
        assert _fetch_when_up(f"tftp://127.0.0.1:{port}/snponly.efi", tmp_path / "out") == SNP
        head = requests.head(f"{server.url}/ipxe/snponly.efi", timeout=10)
        assert head.headers["Content-Length"] == str(len(SNP))
        assert requests.get(f"{server.url}/ipxe/snponly.efi", timeout=10).content == SNP
    text = server.log_text()
    assert "event=service.started service=tftp" in text
    assert "event=tftp.sent ip=127.0.0.1" in text and "file=boot.ipxe" in text
    assert "event=http.loader ip=127.0.0.1 stage=loader file=snponly.efi status=200" in text


def _fetch_when_up(url: str, out: Path) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        fetched = subprocess.run(
            ["curl", "-sS", "--fail", "--max-time", "2", "-o", str(out), url],
            capture_output=True,
            check=False,
        )
        if fetched.returncode == 0:
            return out.read_bytes()
        assert time.monotonic() < deadline, fetched.stderr
        time.sleep(0.3)


def test_debian_ipxe_package_is_served_as_installed(tmp_path: Path) -> None:
    """The default loader_dir is Debian's ipxe package, whose ipxe.efi is a
    link to /boot/ipxe.efi: all three loaders go out, over TFTP and HTTP."""
    url = f"sqlite:///{tmp_path / 'bootsvc.db'}"
    database = Database(url)
    schema.upgrade(database)
    database.dispose()
    package = Path("/usr/lib/ipxe")
    assert (package / "ipxe.efi").is_symlink()
    port = _free_udp_port()
    with live_server(tmp_path, url, env={"BOOTSVC_TFTP_LISTEN": f"127.0.0.1:{port}"}) as server:
        for name in ("undionly.kpxe", "snponly.efi", "ipxe.efi"):
            installed = (package / name).read_bytes()
            tftp = _fetch_when_up(f"tftp://127.0.0.1:{port}/{name}", tmp_path / name)
            assert tftp == installed, name
            assert requests.get(f"{server.url}/ipxe/{name}", timeout=10).content == installed
    assert "tftp.loader-unavailable" not in server.log_text()
