"""Running the real tools from Debian's packages on rendered files, each
confined to namespaces of its own (user, mount, network) so that nothing on
the host changes and no packet leaves."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from bootsvc.core.nodeconfig import cpio
from bootsvc.core.nodeconfig.files import NodeFile


def need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    assert not missing, f"missing {missing}: scripts/test.sh installs scripts/test-packages.txt"


def run(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def extract(files: list[NodeFile], into: Path) -> Path:
    """Unpack the overlay as initrd tools would (GNU cpio, relative names
    only) and return the root its files land in."""
    into.mkdir(parents=True, exist_ok=True)
    unpacked = subprocess.run(
        ["cpio", "-idm", "--no-absolute-filenames", "--quiet"],
        input=gzip.decompress(cpio.pack_gz(files)),
        cwd=into,
        capture_output=True,
        check=False,
    )
    assert unpacked.returncode == 0, unpacked.stderr
    return into / cpio.PREFIX


def isolated(
    script: str, *, network: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`script` as root of a user namespace with its own mounts (and network)."""
    flags = "-rmn" if network else "-rm"
    return run("unshare", flags, "sh", "-euc", script, timeout=timeout)
