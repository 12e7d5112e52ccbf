"""systemd's readiness protocol (sd_notify): one datagram of `KEY=value`
lines to the socket named in $NOTIFY_SOCKET. Outside systemd the variable is
unset and sending does nothing."""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

NOTIFY_SOCKET = "NOTIFY_SOCKET"


class Notifier:
    """Takes $NOTIFY_SOCKET out of the environment, so that no child process
    (gunicorn notifies by itself when it sees it) speaks for the service."""

    def __init__(self, environ: MutableMapping[str, str] = os.environ) -> None:
        address = environ.pop(NOTIFY_SOCKET, "")
        # An abstract socket: systemd writes its leading NUL as "@".
        self.address = "\0" + address[1:] if address.startswith("@") else address

    def send(self, *lines: str) -> bool:
        """Send `lines` (e.g. "READY=1", "STATUS=..."); False when no manager
        listens. A failed send is no reason to stop serving."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError:
            return False
        return True
