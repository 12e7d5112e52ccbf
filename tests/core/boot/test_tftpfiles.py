"""What TFTP names mean: the TFTP flavour of the iPXE scripts (their own URLs
tftp://, the MAC in the path, the booted system still told the HTTP URL),
artifacts by sha256, loaders; and names that mean nothing."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bootsvc.core.boot import reports
from bootsvc.core.boot.bootscript import BootSite
from bootsvc.core.boot.tftpfiles import BootFiles
from bootsvc.core.boot.tftpnodefiles import NodeFilesOverTftp
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.enlistment import Enlistment
from bootsvc.core.nodeconfig import delivery
from bootsvc.core.nodeconfig.bootfetch import SecretFetch
from bootsvc.core.nodeconfig.secretfiles import SecretStore
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.net.tftp import AccessDenied, FileMissing, ReadRequest
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory

SITE = BootSite(
    base_url="tftp://10.0.0.1",
    template_dir=None,
    default_image="",
    http_url="http://10.0.0.1:8080",
)
MAC = "52:54:00:aa:bb:01"
SCRIPT = "node/52-54-00-aa-bb-01.ipxe"
# The TFTP client's address.
IP = "10.0.0.50"


@pytest.fixture
def files(db: Database, store: ArtifactStore, tmp_path: Path) -> BootFiles:
    loaders = tmp_path / "ipxe"
    loaders.mkdir()
    (loaders / "undionly.kpxe").write_bytes(b"bios loader")
    (tmp_path / "elsewhere.efi").write_bytes(b"not a loader")
    (loaders / "other.efi").symlink_to(tmp_path / "elsewhere.efi")
    # As Debian's ipxe package installs it: a link out, by a loader's name.
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "ipxe.efi").write_bytes(b"uefi loader")
    (loaders / "ipxe.efi").symlink_to(tmp_path / "boot" / "ipxe.efi")
    return BootFiles(db, store, SITE, loaders)


def fetch(files: BootFiles, name: str) -> tuple[bytes, str | None]:
    served = files.open(ReadRequest(name, IP, 2070))
    with served.file:
        data = served.file.read()
    assert len(data) == served.size
    return data, served.mac


def test_first_script_chains_to_the_mac_in_the_path(files: BootFiles) -> None:
    text = fetch(files, "boot.ipxe")[0].decode()
    assert "chain --autofree tftp://10.0.0.1/node/${mac:hexhyp}.ipxe || goto retry" in text
    assert "?" not in text


def test_node_script_over_tftp(files: BootFiles, db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1", cmdline="boot=live fetch={{ rootfs_url }}", rootfs=True)
    factory.promote(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv@stable")
    data, mac = fetch(files, "/" + SCRIPT)
    text = data.decode()
    assert mac == MAC
    kernel = next(line for line in text.splitlines() if line.startswith("kernel "))
    url = re.search(r"tftp://10\.0\.0\.1/(artifacts/[0-9a-f]{64}/vmlinuz) ", kernel)
    assert url, kernel
    rootfs = r"fetch=http://10\.0\.0\.1:8080/artifacts/[0-9a-f]{64}/root\.squashfs "
    assert re.search(rootfs, kernel)
    assert "bootsvc.url=http://10.0.0.1:8080" in kernel
    assert f"bootsvc.token={factory.boot_token(text)}" in kernel
    assert "imgfetch --name report http://10.0.0.1:8080/boot/report?" in text
    assert fetch(files, url[1]) == (b"kernel hv 1", None)
    with db.read() as session:
        [report] = reports.recent(session)
    assert (report.stage, report.mac, report.node, report.version) == ("script", MAC, "hv1", "1")


def test_unknown_machine_is_enlisted(files: BootFiles, db: Database) -> None:
    text = fetch(files, SCRIPT)[0].decode()
    assert "waits for an admin" in text
    with db.read() as session:
        node = cmdb.find_by_mac(session, MAC)
        assert node is not None and node.state == "new"


def test_loaders_come_from_the_loader_directory(files: BootFiles) -> None:
    assert fetch(files, "undionly.kpxe") == (b"bios loader", None)
    assert fetch(files, "ipxe.efi") == (b"uefi loader", None)
    for climbing in (
        "other.efi",  # a symlink out of the directory, by a name bootsvc never hands out
        "boot/../ipxe.efi",
        "../elsewhere.efi",
        "artifacts/00/../../elsewhere.efi",
    ):
        with pytest.raises(AccessDenied):
            fetch(files, climbing)


def test_names_that_mean_nothing(files: BootFiles, store: ArtifactStore) -> None:
    unpublished = store.ingest(io.BytesIO(b"uploaded, in no version")).sha256
    for name in (
        "node/not-a-mac.ipxe",
        "node/52-54-00-aa-bb-01/x.ipxe",
        "artifacts/abc/vmlinuz",
        f"artifacts/{unpublished}/vmlinuz",
        "snponly.efi",
    ):
        with pytest.raises(FileMissing):
            fetch(files, name)


def test_enlistment_over_tftp_is_limited_by_the_client_address(
    db: Database, store: ArtifactStore, tmp_path: Path
) -> None:
    limited = replace(SITE, enlistment=Enlistment(rate_per_minute=1, burst=1))
    files = BootFiles(db, store, limited, tmp_path)
    assert b"node-525400aabb01" in fetch(files, SCRIPT)[0]
    refused = fetch(files, "node/52-54-00-aa-bb-02.ipxe")[0].decode()
    assert "not enlisted: more enlistments from 10.0.0.50 than" in refused
    with db.read() as session:
        assert cmdb.find_by_mac(session, "52:54:00:aa:bb:02") is None


@pytest.fixture
def grub_files(db: Database, store: ArtifactStore, tmp_path: Path) -> BootFiles:
    shim, grub = tmp_path / "shimx64.efi.signed", tmp_path / "grubnetx64.efi.signed"
    shim.write_bytes(b"signed shim")
    grub.write_bytes(b"signed grub")
    secrets = SecretFetch(
        delivery.overlays(db, None, SITE.agent),
        SecretStore(db, Vault.from_file(tmp_path / "secrets.key")),
        SITE.api_url,
        SITE.agent,
        None,
    )
    node_files = NodeFilesOverTftp(db, SITE, secrets)
    shim_arm64, grub_arm64 = tmp_path / "shimaa64.efi.signed", tmp_path / "grubnetaa64.efi.signed"
    shim_arm64.write_bytes(b"signed arm64 shim")
    grub_arm64.write_bytes(b"signed arm64 grub")
    signed = {
        "shimx64.efi": shim,
        "grubx64.efi": grub,
        "shimaa64.efi": shim_arm64,
        "grubaa64.efi": grub_arm64,
    }
    return BootFiles(db, store, SITE, tmp_path, signed, node_files)


def grub_fetches(config: str) -> list[str]:
    """The TFTP names a node's grub.cfg fetches: kernel, initrds, report."""
    names = re.findall(r"^\s*(?:if linux|if initrd|cat) ('[^\n]*)", config, re.M)
    return [word for line in names for word in re.findall(r"'(/[^']*)'", line)]


def test_the_signed_grub_walks_its_whole_boot_over_tftp(
    grub_files: BootFiles, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1", kernel_signed=True)
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=1")
    assert fetch(grub_files, "shimx64.efi")[0] == b"signed shim"
    assert fetch(grub_files, "/grubx64.efi")[0] == b"signed grub"
    first = fetch(grub_files, "/grub/grub.cfg")[0].decode()
    assert 'configfile "/grub/node/${net_default_mac}.cfg?arch=${grub_cpu}"' in first
    config = fetch(grub_files, f"/grub/node/{MAC}.cfg")[0].decode()
    kernel, initrd, overlay, secrets, report = grub_fetches(config)
    assert fetch(grub_files, kernel)[0] == b"kernel hv 1"
    assert fetch(grub_files, initrd)[0] == b"initrd 0 hv 1"
    assert fetch(grub_files, overlay)[0][:2] == b"\x1f\x8b"
    assert fetch(grub_files, secrets)[0][:2] == b"\x1f\x8b"
    with pytest.raises(AccessDenied):
        fetch(grub_files, secrets)
    assert fetch(grub_files, report) == (b"ok\n", MAC)
    with db.read() as session:
        stages = [r.stage for r in reversed(reports.recent(session, "hv1"))]
    assert stages == ["script", "kernel-loaded"]
    with pytest.raises(AccessDenied):
        fetch(grub_files, report.replace("token=", "token=x"))
    with pytest.raises(FileMissing):
        fetch(grub_files, "/boot/nodes/hv1/bootsvc-overlay.cpio.gz?mac=nonsense")


def test_an_arm64_grub_is_refused_an_x86_version_and_boots_an_arm64_one(
    grub_files: BootFiles, db: Database, store: ArtifactStore
) -> None:
    """The arm64 GRUB names its CPU (${grub_cpu}) when it asks for its config:
    a version of another architecture is refused with the reason, and that
    refusal is the node's boot report."""
    factory.version(db, store, "hv", "1", architecture="x86_64")
    factory.version(db, store, "hv", "2", architecture="arm64")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=1")
    assert fetch(grub_files, "shimaa64.efi")[0] == b"signed arm64 shim"
    assert fetch(grub_files, "/grubaa64.efi")[0] == b"signed arm64 grub"
    refused = fetch(grub_files, f"/grub/node/{MAC}.cfg?arch=arm64")[0].decode()
    reason = "hv 1 is built for x86_64, and this machine is arm64"
    assert f"bootsvc: hv1: {reason}" in refused and "linux " not in refused
    with db.read() as session:
        (report,) = reports.recent(session, "hv1")
    assert (report.stage, report.details, report.version) == ("refused", {"reason": reason}, "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=2")
    config = fetch(grub_files, f"/grub/node/{MAC}.cfg?arch=arm64")[0].decode()
    assert re.search(r"^  if linux '/artifacts/[0-9a-f]{64}/vmlinuz' ", config, re.M), config
    # Its retries ask again as the same machine.
    assert f"configfile '/grub/node/{MAC}.cfg?arch=arm64'" in config
