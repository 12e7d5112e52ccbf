"""The EL kickstarts: rendered, they pass pykickstart's ksvalidator for their
release, and their %post, run in a busybox chroot with dracut and systemctl
standing in, writes the embedded files byte for byte into the image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pykickstart.parser import KickstartParser
from pykickstart.version import RHEL9, makeVersion

from bootsvc.errors import InvalidInput
from bootsvc.images import kickstart

KSVALIDATOR = Path(sys.executable).parent / "ksvalidator"
BUSYBOX = Path("/bin/busybox")


def _validate(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rendered.ks"
    path.write_text(text)
    return subprocess.run(
        [str(KSVALIDATOR), "-v", "RHEL9", str(path)], capture_output=True, text=True, check=False
    )


def _post(text: str) -> str:
    handler = makeVersion(RHEL9)
    KickstartParser(handler).readKickstartFromString(text)
    (post,) = handler.scripts
    assert post.errorOnFail
    script: str = post.script
    return script


@pytest.mark.parametrize("mirror", [None, "https://dl.rockylinux.org/pub/rocky/9/"])
def test_rendered_kickstart_passes_ksvalidator(tmp_path: Path, mirror: str | None) -> None:
    checked = _validate(kickstart.render("el9-hypervisor", "2026.11.1", mirror=mirror), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_broken_template_is_caught_by_ksvalidator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "kickstart"
    shutil.copytree(kickstart.kickstart_dir(), broken)
    template = broken / "el9-hypervisor.ks.j2"
    template.write_text(template.read_text().replace("firewall --disabled", "frobnicate --now"))
    monkeypatch.setattr(kickstart, "kickstart_dir", lambda: broken)
    checked = _validate(kickstart.render("el9-hypervisor", "1"), tmp_path)
    assert checked.returncode != 0
    assert "frobnicate" in checked.stdout + checked.stderr


def test_repositories_come_from_the_mirror_when_given() -> None:
    handler = makeVersion(RHEL9)
    rendered = kickstart.render("el9-hypervisor", "1", mirror="http://mirror.example/rocky/9/")
    KickstartParser(handler).readKickstartFromString(rendered)
    assert handler.url.url == "http://mirror.example/rocky/9/BaseOS/x86_64/os/"
    urls = {repo.name: repo.baseurl or repo.mirrorlist for repo in handler.repo.repoList}
    assert urls["highavailability"] == "http://mirror.example/rocky/9/HighAvailability/x86_64/os/"
    assert urls["centos-ceph-squid"].startswith(kickstart.SIG_MIRROR)
    assert urls["centos-nfv-openvswitch"].startswith(kickstart.SIG_MIRROR)


def test_post_script_passes_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("scripts/test.sh installs shellcheck")
    script = tmp_path / "post.sh"
    script.write_text(_post(kickstart.render("el9-hypervisor", "1")))
    checked = subprocess.run(
        ["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout


def test_report_script_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("scripts/test.sh installs shellcheck")
    report = kickstart.embedded_files()["bootsvc-report"]
    checked = subprocess.run(
        ["shellcheck", "-s", "sh", str(report)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_post_writes_the_embedded_files_into_the_image(tmp_path: Path) -> None:
    image = tmp_path / "image"
    (image / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, image / "bin" / "busybox")
    for tool in ("sh", "cat", "mkdir", "chmod", "dirname", "printf", "rm", "echo"):
        (image / "bin" / tool).symlink_to("busybox")
    # Recording stand-ins: the image's own dracut and systemctl are not here.
    for tool in ("dracut", "systemctl"):
        (image / "bin" / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> /calls\n')
        (image / "bin" / tool).chmod(0o755)
    (image / "etc" / "ssh").mkdir(parents=True)
    (image / "etc" / "ssh" / "ssh_host_ed25519_key").write_text("made at install\n")
    (image / "etc" / "dracut.conf.d").mkdir()
    (image / "post.sh").write_text(_post(kickstart.render("el9-hypervisor", "2026.11.1")))

    subprocess.run(["chroot", str(image), "/bin/sh", "/post.sh"], check=True)

    targets = {
        "bootsvc-overlay": "usr/lib/dracut/modules.d/95bootsvc/bootsvc-overlay",
        "module-setup.sh": "usr/lib/dracut/modules.d/95bootsvc/module-setup.sh",
        "bootsvc-pre-pivot.sh": "usr/lib/dracut/modules.d/95bootsvc/bootsvc-pre-pivot.sh",
        "bootsvc-attest": "usr/lib/dracut/modules.d/95bootsvc/bootsvc-attest",
        "bootsvc-attest-pre-pivot.sh": (
            "usr/lib/dracut/modules.d/95bootsvc/bootsvc-attest-pre-pivot.sh"
        ),
        "bootsvc-report": "usr/local/sbin/bootsvc-report",
        "bootsvc-report.service": "etc/systemd/system/bootsvc-report.service",
        "10-boot.network": "etc/systemd/network/10-boot.network",
    }
    assert set(targets) == set(kickstart.embedded_files())
    for name, source in kickstart.embedded_files().items():
        written = image / targets[name]
        assert written.read_bytes() == source.read_bytes(), name
        executable = name not in {"bootsvc-report.service", "10-boot.network"}
        assert written.stat().st_mode & 0o777 == (0o755 if executable else 0o644), name
    assert (image / "etc" / "bootsvc-image").read_text() == (
        "IMAGE=el9-hypervisor\nVERSION=2026.11.1\n"
    )
    conf = (image / "etc" / "dracut.conf.d" / "90-bootsvc.conf").read_text()
    assert 'add_dracutmodules+=" livenet dmsquash-live bootsvc "' in conf
    assert (image / "calls").read_text().splitlines() == [
        "dracut --regenerate-all --force",
        "systemctl enable bootsvc-report.service",
    ]
    assert list((image / "etc" / "ssh").iterdir()) == []
    assert (image / "etc" / "machine-id").read_text() == ""


def test_image_name_and_version_are_checked() -> None:
    rendered = kickstart.render("el9-hypervisor", "3", image="hv-rocky")
    assert "printf 'IMAGE=%s\\nVERSION=%s\\n' 'hv-rocky' '3'" in rendered
    with pytest.raises(InvalidInput, match="version"):
        kickstart.render("el9-hypervisor", "1'; reboot; '")
    with pytest.raises(InvalidInput, match="image name"):
        kickstart.render("el9-hypervisor", "1", image="a b")
    with pytest.raises(InvalidInput, match="no kickstart 'el8-hypervisor'"):
        kickstart.render("el8-hypervisor", "1")
    with pytest.raises(InvalidInput, match="Rocky Linux mirror"):
        kickstart.render("el9-hypervisor", "1", mirror="ftp://mirror.example/rocky/9")


def test_a_file_that_would_end_post_early_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = tmp_path / "bootsvc-overlay"
    hook.write_text("#!/bin/sh\n%end\n")
    files = {**kickstart.embedded_files(), "bootsvc-overlay": hook}
    monkeypatch.setattr(kickstart, "embedded_files", lambda: files)
    with pytest.raises(InvalidInput, match="cannot be embedded"):
        kickstart.render("el9-hypervisor", "1")
