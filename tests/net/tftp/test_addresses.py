"""Listening on 0.0.0.0, each transfer answers from the address its request
was sent to (IP_PKTINFO); clients drop replies from any other. Run in a
network namespace of the test's own, whose loopback has 127.0.0.0/8."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
]

REPO = Path(__file__).resolve().parents[3]
INSIDE = """
import sys, threading
from pathlib import Path
from bootsvc.net.tftp import DirectorySource, TftpServer
from tests.net.tftp.lockstep import rrq
from tests.net.tftp.raw import Peer

server = TftpServer(DirectorySource(Path(sys.argv[1])), ("0.0.0.0", 69))
threading.Thread(target=server.serve_forever, daemon=True).start()
for address in ("127.0.0.2", "127.0.0.3"):
    peer = Peer((address, 69))
    peer.send(rrq("hello.txt"))
    got = peer.receive()
    print(address, got[2][0] if got else None, got[1][2:].decode().strip() if got else "")
server.stop()
"""


def test_replies_come_from_the_address_asked(tftp_root: Path) -> None:
    name = f"bstftpaddr{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        result = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-c", INSIDE, str(tftp_root)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
    assert result.stdout.splitlines() == [
        "127.0.0.2 127.0.0.2 hello from bootsvc",
        "127.0.0.3 127.0.0.3 hello from bootsvc",
    ]
