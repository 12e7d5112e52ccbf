"""Run Debian's dig and read its output: the DNS tests' independent client."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

_STATUS = re.compile(r"status: ([A-Z]+)")
_FLAGS = re.compile(r";; flags: ([a-z ]*);")


def dig(port: int, *args: str, server: str = "127.0.0.1", prefix: Sequence[str] = ()) -> str:
    """dig's full output; `prefix` runs it elsewhere (ip netns exec NAME)."""
    argv = [*prefix, "dig", f"@{server}", "-p", str(port), "+time=2", "+tries=1", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


def records(output: str, section: str = "ANSWER") -> list[tuple[str, str, str]]:
    """(owner, type, data) of every record in that section of every reply."""
    found: list[tuple[str, str, str]] = []
    inside = False
    for line in output.splitlines():
        if line.startswith(";; ") and line.endswith(" SECTION:"):
            inside = line == f";; {section} SECTION:"
        elif not line.strip():
            inside = False
        elif inside and not line.startswith(";"):
            owner, _ttl, _class, rtype, *data = line.split()
            found.append((owner, rtype, " ".join(data)))
    return found


def flags(output: str) -> set[str]:
    match = _FLAGS.search(output)
    return set(match.group(1).split()) if match else set()


def rcode(output: str) -> str:
    match = _STATUS.search(output)
    return match.group(1) if match else "no answer"
