"""/ipxe/<name>: the loaders for UEFI HTTP Boot, HEAD then GET."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bootsvc.settings import Settings
from bootsvc.web.app import create_app

SNP = b"MZ" + bytes(range(256)) * 40


@pytest.fixture
def app(settings: Settings) -> Flask:
    """No database test: the loader route never reads one."""
    return create_app(settings)


@pytest.fixture
def settings(data_dir: Path, tmp_path: Path) -> Settings:
    loaders = tmp_path / "ipxe"
    (loaders / "x86_64").mkdir(parents=True)
    (loaders / "snponly.efi").write_bytes(SNP)
    (loaders / "x86_64" / "undionly.kpxe").write_bytes(b"bios")
    (tmp_path / "outside.efi").write_bytes(b"secret")
    (loaders / "other.efi").symlink_to(tmp_path / "outside.efi")
    # Debian's layout: the package links ipxe.efi to /boot/ipxe.efi.
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "ipxe.efi").write_bytes(b"MZ ipxe")
    (loaders / "ipxe.efi").symlink_to(tmp_path / "boot" / "ipxe.efi")
    return Settings(data_dir=data_dir, advertise_url="http://192.0.2.1:8080", loader_dir=loaders)


def test_head_then_get(client: FlaskClient) -> None:
    head = client.head("/ipxe/snponly.efi")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(SNP))
    assert head.headers["Content-Type"] == "application/efi"
    get = client.get("/ipxe/snponly.efi")
    assert get.status_code == 200 and get.data == SNP
    assert get.headers["Content-Length"] == str(len(SNP))


def test_subdirectory_and_type(client: FlaskClient) -> None:
    response = client.get("/ipxe/x86_64/undionly.kpxe")
    assert response.data == b"bios"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_a_loader_name_follows_the_installation_link(client: FlaskClient) -> None:
    response = client.get("/ipxe/ipxe.efi")
    assert response.status_code == 200 and response.data == b"MZ ipxe"


@pytest.mark.parametrize("name", ["missing.efi", "other.efi", "x86_64", "x" * 300])
def test_missing_directory_and_escaping_symlink_are_404(client: FlaskClient, name: str) -> None:
    response = client.get(f"/ipxe/{name}")
    assert response.status_code == 404
    assert b"secret" not in response.data


def test_the_arm64_shim_and_grub_for_http_boot(data_dir: Path, tmp_path: Path) -> None:
    """Where an ARM64 HTTP Boot reply points: the files Debian's arm64
    packages install, by the names shim and the DHCP reply use."""
    shim_dir, grub_dir = tmp_path / "shim", tmp_path / "grub"
    shim_dir.mkdir()
    grub_dir.mkdir()
    (shim_dir / "shimaa64.efi.signed").write_bytes(b"MZ arm64 shim")
    (grub_dir / "grubnetaa64.efi.signed").write_bytes(b"MZ arm64 grub")
    settings = Settings(
        data_dir=data_dir,
        advertise_url="http://192.0.2.1:8080",
        loader_dir=tmp_path,
        arm64_shim_dir=shim_dir,
        arm64_grub_dir=grub_dir,
    )
    client = create_app(settings).test_client()
    for name, body in (("shimaa64.efi", b"MZ arm64 shim"), ("grubaa64.efi", b"MZ arm64 grub")):
        reply = client.get(f"/ipxe/{name}")
        assert reply.status_code == 200 and reply.data == body, name
        assert reply.headers["Content-Type"] == "application/efi"
