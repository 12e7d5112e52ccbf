"""Background processes of a lab (bootsvc, dnsmasq, QEMU).

They run in their own session, so a Ctrl-C in the terminal that started them
reaches only the lab's own handling, and they outlive `bootsvc lab up`. A
process is stopped only when it is known to belong to the lab: it runs in the
lab's namespace, or its command line names the lab's directory (a pid from a
stale state file may by now belong to someone else).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bootsvc import digits
from bootsvc.lab.system import LabError, clean_environment, in_netns, run

STOP_GRACE_SECONDS = 10.0
CMDLINE_ATTEMPTS = 50


def start(argv: Sequence[str], netns: str | None, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = in_netns(argv, netns)
    with log_path.open("ab") as log_file:
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=clean_environment(),
                start_new_session=True,
            )
        except FileNotFoundError:
            raise LabError(f"{command[0]} is not installed") from None


def _reap(pid: int) -> bool:
    """True when `pid` is gone (reaping it if it was our child)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return _is_zombie(pid)
    return done == pid


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def alive(pid: int) -> bool:
    return not _reap(pid)


def netns_pids(netns: str) -> set[int]:
    try:
        text = run(["ip", "netns", "pids", netns])
    except LabError:
        return set()
    return {pid for word in text.split() if (pid := digits.number(word)) is not None}


def _cmdline(pid: int) -> list[bytes]:
    """The arguments of `pid`. Right after an exec the kernel shows them empty
    for a moment, so an empty answer is asked again a few times."""
    for _attempt in range(CMDLINE_ATTEMPTS):
        try:
            data = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return []
        if data:
            return data.split(b"\0")
        time.sleep(0.01)
    return []


def names_dir(pid: int, directory: Path) -> bool:
    """Whether the command line of `pid` names a file in `directory`."""
    argv = _cmdline(pid)
    marker = str(directory).encode() + b"/"
    return any(marker in arg for arg in argv)


def _signal(pids: Iterable[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def stop(pids: Iterable[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL for whatever is left after `grace` seconds."""
    waiting = {pid for pid in pids if alive(pid)}
    _signal(waiting, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while waiting and time.monotonic() < deadline:
        time.sleep(0.1)
        waiting = {pid for pid in waiting if alive(pid)}
    _signal(waiting, signal.SIGKILL)
    for pid in waiting:
        while alive(pid):
            time.sleep(0.05)
