"""systemd's readiness protocol (sd_notify): one datagram of `KEY=value`
lines to the socket named in $NOTIFY_SOCKET. Outside systemd the variable is
unset and every call does nothing."""

from __future__ import annotations

import os
import socket

NOTIFY_SOCKET = "NOTIFY_SOCKET"


def notify(*lines: str) -> bool:
    """Send `lines` (e.g. "READY=1", "STATUS=...") to systemd; False when no
    manager listens. A failed send is no reason to stop serving."""
    address = os.environ.get(NOTIFY_SOCKET)
    if not address:
        return False
    if address.startswith("@"):
        # An abstract socket: systemd writes its leading NUL as "@".
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(lines).encode(), address)
    except OSError:
        return False
    return True
