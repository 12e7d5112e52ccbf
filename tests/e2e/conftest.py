"""A lab for the end-to-end tests: bootsvc in a network namespace of the
test's own, with the test image imported at versions 1 and 2, each carrying a
probe overlay (an extra initrd with files under /bootsvc/root)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootsvc.lab.lab import Lab
from bootsvc.lab.system import LabError
from bootsvc.settings import LabDhcpTftp, Settings
from tests.support import images

TOOLS = ("ip", "qemu-system-x86_64", "curl", "cpio", "dnsmasq")
# One field of bootsvc's logfmt lines: key=value or key="quoted value".
_LOGFMT = re.compile(r'(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def log_lines(path: Path) -> list[dict[str, str]]:
    """A bootsvc log so far, a dict of fields per line."""
    return [
        {key: value.strip('"') for key, value in _LOGFMT.findall(line)}
        for line in path.read_text().splitlines()
    ]


def server_log(lab: Lab) -> list[dict[str, str]]:
    """bootsvc's log in the lab so far."""
    return log_lines(lab.log_path("bootsvc"))


def server_events(lab: Lab, name: str) -> list[dict[str, str]]:
    return [line for line in server_log(lab) if line.get("event") == name]


def _probe_files(version: str) -> dict[str, str]:
    return {
        "/etc/hostname": f"overlay-v{version}\n",
        "/etc/hosts": f"127.0.0.1\tlocalhost\n10.77.0.1\tbootsvc overlay-v{version}\n",
        "/etc/corosync/corosync.conf": f"totem {{\n\tcluster_name: probe-v{version}\n}}\n",
    }


def _probe_overlay(version: str, directory: Path) -> Path:
    """An uncompressed newc cpio with the probe files under /bootsvc/root,
    built with GNU cpio like any initrd."""
    root = directory / f"probe-{version}"
    for path, text in _probe_files(version).items():
        target = root / "bootsvc" / "root" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    target.chmod(0o400)
    members = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
        input="\n".join(members).encode(),
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    out = directory / f"overlay-probe-{version}.cpio"
    out.write_bytes(archive)
    return out


def _with_probe(manifest: Path, directory: Path) -> Path:
    """A copy of a built manifest whose version also loads its probe overlay."""
    data = yaml.safe_load(manifest.read_text())
    # Not what the build made any more: its record would name the wrong files.
    data.pop("build", None)
    for key in ("kernel", "rootfs"):
        data[key]["path"] = str(manifest.parent / data[key]["path"])
    for entry in data["initrds"]:
        entry["path"] = str(manifest.parent / entry["path"])
    data["initrds"].append({"path": str(_probe_overlay(str(data["version"]), directory))})
    out = directory / f"manifest-{data['version']}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def lab_up(
    tmp_path_factory: pytest.TempPathFactory,
    manifests: tuple[Path, ...],
    mode: LabDhcpTftp,
    name: str = "",
    probes: bool = True,
    **server_settings: str,
) -> Iterator[Lab]:
    """A lab with `manifests` imported, each version with its probe overlay
    unless `probes` is false (an image that brings bootsvc's own)."""
    if os.geteuid() != 0:
        pytest.skip("end-to-end boots need root (network namespaces, tap devices)")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"missing {missing}: scripts/test.sh installs scripts/test-packages.txt"
    base = tmp_path_factory.mktemp(f"e2e-{mode}{name}")
    settings = Settings(
        data_dir=base / "data",
        lab_dir=base / "labs",
        lab_dhcp_tftp=mode,
        lab_server_settings=server_settings,
    )
    new = Lab.up(settings, f"e2e{name or mode.value[0]}{os.getpid()}")
    try:
        for manifest in manifests:
            new.import_image(_with_probe(manifest, base) if probes else manifest)
        yield new
    finally:
        try:
            new.down()
        except LabError as exc:
            pytest.fail(f"lab down failed: {exc}")


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path, busybox_test_v2: Path
) -> Iterator[Lab]:
    """bootsvc as the lab's only DHCP, TFTP and HTTP server."""
    yield from lab_up(tmp_path_factory, (busybox_test_v1, busybox_test_v2), LabDhcpTftp.BOOTSVC)


@pytest.fixture(scope="module")
def proxy_lab(
    tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path, busybox_test_v2: Path
) -> Iterator[Lab]:
    """dnsmasq as the site's DHCP server handing out addresses only, bootsvc
    beside it as ProxyDHCP, TFTP and HTTP."""
    yield from lab_up(tmp_path_factory, (busybox_test_v1, busybox_test_v2), LabDhcpTftp.PROXY)


@pytest.fixture(scope="module")
def http_boot_lab(tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path) -> Iterator[Lab]:
    """bootsvc as the only DHCP and HTTP server, with no TFTP: UEFI PXE
    finds no loader, and the firmware falls back to UEFI HTTP Boot."""
    yield from lab_up(
        tmp_path_factory, (busybox_test_v1,), LabDhcpTftp.BOOTSVC, "h", tftp_listen=""
    )


@pytest.fixture(scope="module")
def probe_files() -> dict[str, dict[str, str]]:
    """By version, the files of its probe overlay, by path in the final root."""
    return {version: _probe_files(version) for version in ("1", "2")}


@pytest.fixture(scope="module")
def hypervisor_manifests() -> tuple[Path, Path]:
    """debian-hypervisor versions 1 and 2, built once per machine (the
    second reuses the first's installed root)."""
    return images.manifest("debian-hypervisor", "1"), images.manifest("debian-hypervisor", "2")


@pytest.fixture(scope="module")
def cluster_lab(
    tmp_path_factory: pytest.TempPathFactory, hypervisor_manifests: tuple[Path, Path]
) -> Iterator[Lab]:
    """bootsvc as the only DHCP, TFTP and HTTP server of a hypervisor
    cluster, its agents asking every 10 s what to boot."""
    yield from lab_up(
        tmp_path_factory,
        hypervisor_manifests,
        LabDhcpTftp.BOOTSVC,
        "c",
        probes=False,
        agent_interval_s="10",
    )


@pytest.fixture(scope="module")
def dracut_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """bootsvc as the only DHCP, TFTP and HTTP server, with debian-dracut
    version 1 (built once per machine) and only bootsvc's own overlay."""
    manifest = images.manifest("debian-dracut", "1")
    yield from lab_up(tmp_path_factory, (manifest,), LabDhcpTftp.BOOTSVC, "d", probes=False)
