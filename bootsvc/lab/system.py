"""Running the host tools the lab drives (ip, dnsmasq, qemu, curl), in the
lab's network namespace when it has one."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from bootsvc.errors import BootsvcError
from bootsvc.hosttools import require_tools


class LabError(BootsvcError):
    """The lab could not do what was asked; the message says which step."""

    code = "lab"


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    """argv run inside `netns` (`ip netns exec` keeps the process id, so the
    pid of the started process is that of the command itself)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(argv: Sequence[str], netns: str | None = None, input_text: str | None = None) -> str:
    """Run a command to completion and return its output; raise LabError with
    its error output when it fails."""
    command = in_netns(argv, netns)
    try:
        done = subprocess.run(
            command, input=input_text, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise LabError(f"{command[0]} is not installed") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        detail = message[-1] if message else f"exit status {done.returncode}"
        raise LabError(f"{' '.join(argv[:3])}: {detail}")
    return done.stdout


LAB_PACKAGES = {
    "ip": "iproute2",
    "curl": "curl",
    "dnsmasq": "dnsmasq-base",
    "radvd": "radvd",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-system-aarch64": "qemu-system-arm",
}


def require(*tools: str) -> None:
    require_tools({tool: LAB_PACKAGES[tool] for tool in tools})


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab creates network namespaces and tap devices: run it as root")


def clean_environment() -> dict[str, str]:
    """The caller's environment without BOOTSVC_* variables, which would
    override the lab's own settings file in the processes it starts."""
    return {key: value for key, value in os.environ.items() if not key.startswith("BOOTSVC_")}
