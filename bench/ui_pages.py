"""Server time of the admin pages at fleet scale: the fleet page and the
node list (first page, a search by MAC, a later page) for 10,000 nodes in
clusters of 20, each with a boot on record, through the app in-process
(Flask's test client, logged in as a reader). The target is 300 ms a page.

Run: .venv/bin/python -m bench.ui_pages [--nodes 10000] [--samples 20]
"""

from __future__ import annotations

import argparse
import re
import time

from bench.common import fresh_sqlite, percentiles
from bench.fleet_scale import _fleet, _mac
from bootsvc.core.access import tokens
from bootsvc.core.cmdb.records import TokenRecord
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.web.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--cluster-size", type=int, default=20)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    db, data_dir = fresh_sqlite()
    settings = Settings(data_dir=data_dir, database_url=db.url)
    _fleet(db, ArtifactStore(data_dir), args.nodes, args.cluster_size)
    with db.write() as session:
        _row, secret = tokens.create(session, TokenRecord(name="bench", role="reader"), "bench")
    client = create_app(settings, db).test_client()
    form = client.get("/ui/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    login = client.post("/ui/login", data={"csrf": csrf.group(1), "token": secret})
    assert login.status_code == 303
    middle = _mac(args.nodes // 2)
    for path in ("/ui/fleet", "/ui/nodes", f"/ui/nodes?q={middle}", "/ui/nodes?page=100"):
        taken = []
        for _ in range(args.samples):
            start = time.perf_counter()
            response = client.get(path)
            taken.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, path
        cuts = percentiles(taken)
        p50, p99, most = cuts["p50"], cuts["p99"], cuts["max"]
        print(f"{path}: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {most:.0f} ms")


if __name__ == "__main__":
    main()
