"""100 concurrent downloads of a 200 MB artifact from bootsvc (gunicorn,
sendfile) and from nginx (sendfile on) serving the same file, in the same
run, alternating rounds. Each client is a curl process writing to /dev/null.

Run (as root, with nginx installed): .venv/bin/python -m bench.http_download
Target (issue 2): bootsvc at least 0.9 of nginx's throughput.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import fresh_sqlite
from bootsvc.core.catalog import catalog
from bootsvc.store.artifacts import ArtifactStore
from tests.support.live import free_port, live_server

NGINX_CONF = """
daemon off;
user root root;
worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""


def make_artifact(store: ArtifactStore, size: int) -> tuple[str, Path]:
    source = Path(tempfile.mkdtemp()) / "root.squashfs"
    block = os.urandom(1 << 20)
    with source.open("wb") as out:
        for _ in range(size >> 20):
            out.write(block)
    blob = store.ingest_file(source)
    source.unlink()
    return blob.sha256, store.path(blob.sha256)


def round_trip(url: str, clients: int) -> float:
    """Seconds for `clients` parallel curls to each download `url` once."""
    start = time.perf_counter()
    processes = [subprocess.Popen(["curl", "-sf", "-o", "/dev/null", url]) for _ in range(clients)]
    codes = [p.wait() for p in processes]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"{url}: {sum(1 for c in codes if c)} downloads failed")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is needed: apt-get install nginx-light")
    db, data_dir = fresh_sqlite()
    store = ArtifactStore(data_dir)
    sha, path = make_artifact(store, args.size_mb << 20)
    ref = catalog.FileRef("root.squashfs", sha, path.stat().st_size)
    with db.write() as session:
        initrd = catalog.FileRef("initrd.img", sha, ref.size)
        catalog.add_version(session, "hv", "1", ref, [initrd], None, "", "", "bench")
    www = data_dir / "www"
    www.mkdir()
    os.link(path, www / "root.squashfs")
    nginx_port = free_port()
    conf = data_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=data_dir, port=nginx_port))
    nginx = subprocess.Popen(["nginx", "-c", str(conf)])
    try:
        env = {
            "BOOTSVC_HTTP_WORKERS": str(os.cpu_count() or 2),
            "BOOTSVC_HTTP_THREADS": str(args.clients + 16),
        }
        with live_server(data_dir, db.url, env=env) as server:
            urls = {
                "bootsvc": f"{server.url}/artifacts/{sha}/root.squashfs",
                "nginx": f"http://127.0.0.1:{nginx_port}/root.squashfs",
            }
            for name, url in urls.items():
                check = subprocess.run(["curl", "-sf", url], capture_output=True, check=True).stdout
                assert hashlib.sha256(check).hexdigest() == sha, name
            totals = dict.fromkeys(urls, 0.0)
            for _ in range(args.rounds):
                for name, url in urls.items():
                    totals[name] += round_trip(url, args.clients)
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    volume = args.clients * args.size_mb * args.rounds
    rates = {name: volume / seconds for name, seconds in totals.items()}
    for name, rate in rates.items():
        work = f"{args.clients} clients x {args.size_mb} MB x {args.rounds} rounds"
        print(f"{name:8s} {rate:8.0f} MB/s ({work})")
    print(f"ratio bootsvc/nginx: {rates['bootsvc'] / rates['nginx']:.2f} (target >= 0.9)")
    sys.exit(0)


if __name__ == "__main__":
    main()
