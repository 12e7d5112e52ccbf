"""The dracut module that dracut images (kickstart/, any dracut variant) carry:
its scripts pass shellcheck, and installed the way dracut installs a module,
its pre-pivot hook, sourced as dracut's init sources it, copies the per-node
files into $NEWROOT with their modes and owners and never ends the init."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from bootsvc.images import recipes

MODULE = recipes.default_dir() / "common" / "dracut" / "95bootsvc"
BUSYBOX = Path("/bin/busybox")

# The helpers dracut gives module-setup.sh, as stand-ins that do what they
# mean inside a chroot: copy files in, hooks as /lib/dracut/hooks/STAGE/NN-NAME,
# programs as busybox applets.
DRACUT_HELPERS = r"""
initdir=$1 moddir=$2
inst_simple() { mkdir -p "$initdir$(dirname "$2")"; cp "$1" "$initdir$2"; }
inst_hook() {
    mkdir -p "$initdir/lib/dracut/hooks/$1"
    cp "$3" "$initdir/lib/dracut/hooks/$1/$2-${3##*/}"
}
inst_multiple() {
    [ "$1" = -o ] && shift
    for tool in "$@"; do ln -sf busybox "$initdir/bin/$tool"; done
}
inst_libdir_file() { :; }
. "$moddir/module-setup.sh"
check; [ $? = 255 ] || { echo "check: included without being asked for" >&2; exit 1; }
depends
install
"""

# What dracut's init does around the hooks: warn() from dracut-lib, then the
# stage's hooks sourced in order, then the rest of the boot.
INIT = r"""
warn() { echo "warn: $*" >&2; }
NEWROOT=$1
for hook in /lib/dracut/hooks/pre-pivot/*.sh; do . "$hook"; done
echo "init goes on"
"""

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chroot and chown need root")


def _shellcheck(shell: str, *scripts: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["shellcheck", "-s", shell, *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_module_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("scripts/test.sh installs shellcheck")
    hooks = (MODULE / "bootsvc-pre-pivot.sh", MODULE / "bootsvc-attest-pre-pivot.sh")
    module = _shellcheck("bash", MODULE / "module-setup.sh", *hooks)
    assert module.returncode == 0, module.stdout
    # dracut's init may be dash or busybox: the hooks and what they run are POSIX sh.
    hook = _shellcheck("sh", *hooks, MODULE / "bootsvc-overlay", MODULE / "bootsvc-attest")
    assert hook.returncode == 0, hook.stdout


@pytest.mark.parametrize("script", ["bootsvc-overlay", "bootsvc-attest"])
def test_module_carries_the_shared_scripts_themselves(script: str) -> None:
    shared = recipes.default_dir() / "common" / script
    assert (MODULE / script).read_bytes() == shared.read_bytes()


@pytest.fixture
def initramfs(tmp_path: Path) -> Path:
    """A chroot laid out by the module's own install(), with busybox for tools."""
    root = tmp_path / "initramfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for tool in ("sh", "cat"):
        (root / "bin" / tool).symlink_to("busybox")
    subprocess.run(
        ["bash", "-c", DRACUT_HELPERS, "module-setup", str(root), str(MODULE)], check=True
    )
    (root / "run").mkdir()
    (root / "sysroot").mkdir()
    return root


def _boot(initramfs: Path, newroot: str = "/sysroot") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(initramfs), "/bin/sh", "-c", INIT, "init", newroot],
        capture_output=True,
        text=True,
        check=True,
    )


def _deliver(initramfs: Path) -> None:
    """What the kernel unpacks from bootsvc's per-node initrd."""
    delivered = initramfs / "bootsvc" / "root"
    (delivered / "etc" / "corosync").mkdir(parents=True)
    (delivered / "etc" / "hostname").write_text("hv1\n")
    authkey = delivered / "etc" / "corosync" / "authkey"
    authkey.write_bytes(b"\x01" * 128)
    authkey.chmod(0o400)
    os.chown(authkey, 0, 0)
    conf = delivered / "etc" / "ceph" / "ceph.client.admin.keyring"
    conf.parent.mkdir()
    conf.write_text("[client.admin]\n")
    conf.chmod(0o640)
    os.chown(conf, 0, 167)


@root_only
def test_hook_copies_per_node_files_into_newroot_with_modes_and_owners(initramfs: Path) -> None:
    _deliver(initramfs)
    booted = _boot(initramfs)
    assert booted.stdout.splitlines()[-1] == "init goes on"
    newroot = initramfs / "sysroot"
    assert (newroot / "etc" / "hostname").read_text() == "hv1\n"
    authkey = (newroot / "etc" / "corosync" / "authkey").stat()
    assert (authkey.st_mode & 0o7777, authkey.st_uid) == (0o400, 0)
    keyring = (newroot / "etc" / "ceph" / "ceph.client.admin.keyring").stat()
    assert (keyring.st_mode & 0o7777, keyring.st_gid) == (0o640, 167)
    # The root's boot report reads the count from /run, which moves into the root.
    assert (initramfs / "run" / "bootsvc-overlay-files").read_text() == "3\n"


@root_only
def test_without_per_node_files_the_hook_copies_nothing_and_boot_goes_on(
    initramfs: Path,
) -> None:
    booted = _boot(initramfs)
    assert booted.stdout.strip() == "init goes on"
    assert booted.stderr == ""
    assert list((initramfs / "sysroot").iterdir()) == []


@root_only
def test_a_missing_newroot_is_warned_about_and_does_not_end_the_init(initramfs: Path) -> None:
    _deliver(initramfs)
    booted = _boot(initramfs, newroot="/nowhere")
    assert booted.stdout.splitlines()[-1] == "init goes on"
    assert "warn: bootsvc-overlay: the per-node files were not copied into /nowhere" in (
        booted.stderr
    )
    assert not (initramfs / "run" / "bootsvc-overlay-files").exists()


@root_only
def test_a_failed_attestation_is_said_and_the_boot_goes_on_with_the_other_files(
    initramfs: Path,
) -> None:
    _deliver(initramfs)
    # The chroot has no procfs or devtmpfs: the kernel command line is a
    # plain file there, and /dev/null is made by hand.
    (initramfs / "dev").mkdir()
    os.mknod(initramfs / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (initramfs / "proc").mkdir()
    (initramfs / "proc" / "cmdline").write_text(
        "root=live:http://192.0.2.1/root bootsvc.attest=1 bootsvc.url=http://127.0.0.1:9\n"
    )
    booted = _boot(initramfs)
    assert booted.stdout.splitlines()[-1] == "init goes on"
    assert "bootsvc-attest: FAILED:" in booted.stdout
    assert "warn: bootsvc-attest: no secrets from the TPM" in booted.stderr
    assert (initramfs / "sysroot" / "etc" / "hostname").read_text() == "hv1\n"
