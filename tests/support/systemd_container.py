"""A Debian system with systemd as PID 1, in a systemd-nspawn container on a
network namespace the test made, for proving bootsvc's unit under a real
service manager (this machine's PID 1 is not systemd).

The container runs this checkout's bootsvc with Debian's python3 and the
test venv's packages, both bind-mounted read-only; its root is built once by
mmdebstrap and kept in the build cache.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sysconfig
import time
from pathlib import Path

from bootsvc.settings import default_image_cache_dir

SUITE = "bookworm"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "curl", "iproute2", "procps")
MIRROR = "http://deb.debian.org/debian"
CHECKOUT = Path(__file__).resolve().parents[2]
SOURCE_MOUNT = "/opt/bootsvc-src"
PACKAGES_MOUNT = "/opt/bootsvc-deps"


def root_tree() -> Path:
    """The container's root: Debian (the same Python 3.11 as the venv's
    wheels) with systemd, made once per package list and kept."""
    key = hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)} {MIRROR}".encode()).hexdigest()[:16]
    root = default_image_cache_dir() / "systemd-root" / key
    if root.is_dir():
        return root
    partial = root.with_name(key + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    include = f"--include={','.join(PACKAGES)}"
    mmdebstrap = ["mmdebstrap", "--quiet", "--variant=minbase", include, SUITE, str(partial)]
    subprocess.run([*mmdebstrap, MIRROR], check=True)
    # bootsvc and its packages come from the bind mounts, ahead of Debian's.
    pth = partial / "usr/lib/python3/dist-packages/0-bootsvc.pth"
    pth.write_text(f"{SOURCE_MOUNT}\n{PACKAGES_MOUNT}\n")
    for mount in (SOURCE_MOUNT, PACKAGES_MOUNT):
        (partial / mount.lstrip("/")).mkdir(parents=True)
    partial.rename(root)
    return root


class SystemdContainer:
    """One booted container; `run` executes a command inside it as root."""

    def __init__(self, netns: str, work: Path) -> None:
        self.root = work / "root"
        # A writable copy, so that a run never changes the cached tree.
        subprocess.run(["cp", "-a", "--reflink=auto", str(root_tree()), str(self.root)], check=True)
        self.log = work / "nspawn.log"
        argv = [
            "systemd-nspawn", "--quiet", "--directory", str(self.root), "--boot",
            "--register=no", "--keep-unit", "--console=pipe",
            # A namespace of the test's own: nspawn then grants no CAP_NET_ADMIN by itself.
            f"--network-namespace-path=/run/netns/{netns}", "--capability=CAP_NET_ADMIN",
            f"--bind-ro={CHECKOUT}:{SOURCE_MOUNT}",
            f"--bind-ro={sysconfig.get_paths()['purelib']}:{PACKAGES_MOUNT}",
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self._leader()
        self._wait_until_running()

    def _leader(self) -> int:
        """The container's PID 1, as the host sees it: the child of nspawn
        that became systemd (before its exec it is a copy of nspawn)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = subprocess.run(
                ["ps", "--ppid", str(self.process.pid), "-o", "pid=,comm="],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.splitlines()
            for pid, comm in (line.split(maxsplit=1) for line in found if line.strip()):
                if comm.strip() == "systemd":
                    return int(pid)
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.2)
        raise AssertionError(f"systemd-nspawn started no PID 1: {self.log.read_text()}")

    def _wait_until_running(self) -> None:
        deadline = time.monotonic() + 90
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise AssertionError(f"the container's systemd is {state!r}: {self.log.read_text()}")

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["nsenter", "--target", str(self.pid), "--all", *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
        return done

    def stop(self) -> None:
        """Power the container off as `poweroff` does, then remove its tree."""
        self.run("systemctl", "poweroff", "--no-block", check=False)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
