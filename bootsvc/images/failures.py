"""Why a build failed, in a few words, from what it printed.

apt and mmdebstrap say why in their own words somewhere in thousands of
lines; these patterns find the cause so the admin reads "no package X in the
package sources" instead of the last line of a failed build.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NO_SPACE = "No space left on device"
_MISSING_PACKAGE = (
    re.compile(r"Unable to locate package (\S+)"),
    re.compile(r"Package '?([^'\s]+)'? has no installation candidate"),
)
# "Err:1 URL suite file" and "Failed to fetch URL  reason" name what apt
# tried; the reason is on the same line or, after Err:, on the next.
_FETCH = re.compile(r"(?:^Err:\d+|Failed to fetch)\s+(\S+)(.*)$")
_UNREACHABLE = (
    "Could not connect to",
    "Could not resolve",
    "Temporary failure resolving",
    "Connection refused",
    "Connection timed out",
    "No route to host",
    "Network is unreachable",
    "Unable to connect to",
)


def _repository(url: str, mirror: str | None) -> str:
    if mirror and url.startswith(mirror.rstrip("/")):
        return mirror
    for part in ("/dists/", "/pool/"):
        url = url.split(part, 1)[0]
    return url


def _unreachable(lines: Sequence[str], mirror: str | None) -> str | None:
    for number, line in enumerate(lines):
        fetched = _FETCH.search(line.strip())
        if fetched is None:
            continue
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        for reason in (fetched.group(2).strip(), following):
            if any(marker in reason for marker in _UNREACHABLE):
                return f"mirror {_repository(fetched.group(1), mirror)} is unreachable: {reason}"
    return None


def _missing_packages(lines: Sequence[str]) -> list[str]:
    found: list[str] = []
    for line in lines:
        for pattern in _MISSING_PACKAGE:
            match = pattern.search(line)
            if match and match.group(1) not in found:
                found.append(match.group(1))
    return found


def cause(lines: Sequence[str], mirror: str | None = None) -> str | None:
    """The cause of a failed build in a few words, or None when the output
    shows none of the failures known here. An unreachable mirror comes before
    missing packages: apt cannot find any package on a mirror it cannot reach."""
    for line in lines:
        if NO_SPACE in line:
            return f"no space left on device ({line.strip()})"
    unreachable = _unreachable(lines, mirror)
    if unreachable:
        return unreachable
    missing = _missing_packages(lines)
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return f"no package{plural} {', '.join(missing)} in the package sources"
    return None
