"""The secrets check through the production server, with curl as the node:
the script goes to 127.0.0.1, a request for the secrets from 127.0.0.2 is
refused, the node's own is answered once, and GNU cpio reads the answer
with the modes the node needs."""

from __future__ import annotations

import gzip
import re
import subprocess
from pathlib import Path

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory, nodeclusters
from tests.support.live import live_server

MAC = nodeclusters.mac(0x11, 0)


def curl(source: str, url: str, out: Path) -> str:
    """The HTTP status of GET url from the address `source`."""
    done = subprocess.run(
        ["curl", "-s", "--interface", source, "-o", str(out), "-w", "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout


def test_secrets_through_the_server(
    db: Database, store: ArtifactStore, data_dir: Path, tmp_path: Path
) -> None:
    nodeclusters.two_node_cluster(db)
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="pair1", interfaces=[{"mac": MAC}], image="hv=1")
    # pair1 boots at 127.0.0.1, the address bootsvc leased to it.
    factory.lease(db, "127.0.0.1", MAC)
    with live_server(data_dir, db.url) as server:
        script = tmp_path / "script"
        assert curl("127.0.0.1", f"{server.url}/boot/node.ipxe?mac={MAC}", script) == "200"
        urls = dict(re.findall(r"^initrd --name (\S+) (\S+) \|\|", script.read_text(), re.M))
        secrets = urls["bootsvc-secrets.cpio.gz"]
        body = tmp_path / "secrets.cpio.gz"
        assert curl("127.0.0.2", secrets, body) == "403"
        assert curl("127.0.0.1", secrets, body) == "200"
        listing = subprocess.run(
            ["cpio", "-itv", "--quiet"],
            input=gzip.decompress(body.read_bytes()),
            capture_output=True,
            check=True,
        ).stdout.decode()
        assert re.search(r"^-r-------- .* bootsvc/root/etc/corosync/authkey$", listing, re.M)
        assert re.search(r"^-rw------- .* bootsvc/root/etc/ssh/ssh_host_rsa_key$", listing, re.M)
        assert curl("127.0.0.1", secrets, body) == "403"
        overlay = tmp_path / "overlay.cpio.gz"
        assert curl("127.0.0.2", urls["bootsvc-overlay.cpio.gz"], overlay) == "200"
        log = server.log_text()
    refused = [line for line in log.splitlines() if "event=boot.secrets_refused" in line]
    assert len(refused) == 2 and "ip=127.0.0.2" in refused[0] and "stage=secrets" in refused[0]
    assert "unknown, spent or replaced token" in refused[1]
    assert "token=" not in log
