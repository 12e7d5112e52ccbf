"""Boot storm: N machines power on at once, against the reference stack
(dnsmasq + nginx) and bootsvc in the same run; prints both and the ratios.

    sudo .venv/bin/python -m bench.storm --nodes 100 [--scale 1.0]

Needs root (network namespaces), dnsmasq, nginx and iPXE's loaders in
/usr/lib/ipxe, and room for N neighbours in the kernel's table (past
net.ipv4.neigh.default.gc_thresh3, 1024 by default, both stacks lose
boots). --scale shrinks the 8 MB kernel, 42 MB initrd and 260 MB root of
the debian-hypervisor image; the summary says which was used.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

from bench.storm import stacks
from bench.storm.run import Storm, run
from bootsvc.net.link import neighbour_limit

# The server's neighbours besides the machines: the simulator's own address,
# and entries of other namespaces on this host, which count against the same limit.
NEIGHBOUR_MARGIN = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--scale", type=float, default=1.0, help="of the real image's sizes")
    parser.add_argument("--uefi-share", type=float, default=0.5)
    parser.add_argument("--spread", type=float, default=1.0, help="power-on spread, seconds")
    parser.add_argument("--stacks", default="reference,bootsvc")
    parser.add_argument(
        "--first-boot", action="store_true", help="no earlier boot made the nodes' secrets"
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--restart-at",
        type=float,
        metavar="SHARE",
        help="restart each stack once this share of the nodes has its node script",
    )
    parser.add_argument("--database-url", default="", help="bootsvc's (default: SQLite)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="BOOTSVC_X=VALUE", help="bootsvc setting"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    if missing := stacks.needed_tools():
        raise SystemExit(f"missing: {', '.join(missing)}")
    limit = neighbour_limit()
    if limit is not None and args.nodes + NEIGHBOUR_MARGIN > limit:
        raise SystemExit(
            f"{args.nodes} machines need more neighbour entries than the kernel keeps"
            f" ({limit}): sysctl -w net.ipv4.neigh.default.gc_thresh3={args.nodes * 2}"
        )
    sizes = stacks.Sizes.scaled(args.scale)
    print(
        f"storm: {args.nodes} nodes, kernel {sizes.kernel >> 20} MiB, initrd "
        f"{sizes.initrd >> 20} MiB, root {sizes.root >> 20} MiB (scale {args.scale})",
        flush=True,
    )
    settings = tuple((key, value) for key, _, value in (item.partition("=") for item in args.set))
    storm = Storm(
        args.nodes, sizes, args.uefi_share, args.spread, database_url=args.database_url,
        settings=settings, first_boot=args.first_boot, keep=args.keep,
        restart_share=args.restart_at,
    )  # fmt: skip
    found = {}
    for summary in run(storm, args.stacks.split(",")):
        found[summary.stack] = summary
        print(summary.line(), flush=True)
        for why, count in summary.lost_why.items():
            print(f"  lost {count}: {why}")
    if {"bootsvc", "reference"} <= found.keys():
        ours, theirs = found["bootsvc"], found["reference"]
        print(
            f"ratio bootsvc/reference: wall {ours.wall_s / theirs.wall_s:.2f}, "
            f"p50 {ours.p50_s / theirs.p50_s:.2f}, p99 {ours.p99_s / theirs.p99_s:.2f}, "
            f"server CPU {ours.server_cpu_s / max(theirs.server_cpu_s, 0.01):.2f}"
        )
    print(json.dumps({name: asdict(summary) for name, summary in found.items()}))


if __name__ == "__main__":
    main()
