"""Reading a VM's serial console: following the log file QEMU writes, and
the marker lines the test image prints once it is up (see
images/busybox-test/rootfs/sbin/init)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

UP = "BOOTSVC-LAB-UP"
READY = "BOOTSVC-LAB-READY"
FILE_BEGIN = "BOOTSVC-LAB-FILE-BEGIN "
FILE_END = "BOOTSVC-LAB-FILE-END "
_FIELD = re.compile(r"(\w+)=(\S*)")
# Firmware clears the screen and sets colours; a terminal following the
# console should get the text only.
_CONTROL = re.compile(r"\x1b(\[[0-9;?=]*[A-Za-z]|[()][0-9A-Za-z]|[A-Za-z])|\r")


def printable(text: str) -> str:
    return _CONTROL.sub("", text)


@dataclass
class Boot:
    """What one boot printed after it came up."""

    fields: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)


def parse(text: str) -> list[Boot]:
    """Every boot that reached READY in a console log, in order (a VM that
    reboots prints one block per boot)."""
    boots: list[Boot] = []
    current: Boot | None = None
    open_file: str | None = None
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if open_file is not None:
            if line == FILE_END + open_file and current is not None:
                current.files[open_file] = "\n".join(lines) + "\n"
                open_file = None
            else:
                lines.append(line)
        elif line.startswith(UP + " "):
            current = Boot(dict(_FIELD.findall(line)))
        elif line.startswith(FILE_BEGIN) and current is not None:
            open_file, lines = line[len(FILE_BEGIN) :], []
        elif line.startswith(READY) and current is not None:
            boots.append(current)
            current = None
    return boots


class Follower:
    """Reads a console file as it grows, from where it last stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.text = ""

    def poll(self) -> str:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        new = data.decode("utf-8", errors="replace")
        self.text += new
        return new


def wait_for_boots(
    follower: Follower,
    count: int,
    timeout: float,
    echo: Callable[[str], None] | None = None,
    alive: Callable[[], bool] | None = None,
) -> list[Boot]:
    """Follow the console until `count` boots reached READY. `echo` gets the
    console text as it comes, `alive` says whether the VM still runs. Returns
    the boots seen, also when the time is up or the VM is gone."""
    deadline = time.monotonic() + timeout
    while True:
        new = follower.poll()
        if new and echo is not None:
            echo(new)
        boots = parse(follower.text)
        if len(boots) >= count or time.monotonic() > deadline:
            return boots
        if alive is not None and not alive():
            follower.poll()
            return parse(follower.text)
        time.sleep(0.2)
