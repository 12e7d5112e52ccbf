"""The lab cluster file (cluster.yaml) as bootsvc input, for provision.sh.
Run with the Python that has bootsvc installed (it brings PyYAML and tomli-w).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tomli_w
import yaml

USAGE = """usage:
  records.py host-settings FILE    TOML for the boot server's bootsvc.toml
  records.py cluster FILE PUBKEY   `bootsvc cluster add` arguments, one a line
  records.py nodes FILE            the nodes as a `bootsvc node import` JSON list
"""


def load(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(path.read_text())
    return found


def host_settings(lab: dict[str, Any]) -> str:
    """The settings `bootsvc lab up` passes on to the lab's own bootsvc."""
    return tomli_w.dumps({"lab_server_settings": lab["lab"]["server_settings"]})


def cluster_arguments(lab: dict[str, Any], public_key: str) -> list[str]:
    """The cluster, with `public_key` as the admin key in its ssh setting."""
    cluster = lab["cluster"]
    arguments = [cluster["name"], "--domain", cluster["domain"]]
    for name, cidr in cluster["networks"].items():
        arguments += ["--network", f"{name}={cidr}"]
    settings = {**cluster["settings"], "ssh": {"authorized_keys": [public_key]}}
    for key, value in settings.items():
        arguments += ["--setting", f"{key}={json.dumps(value)}"]
    return arguments


def node_records(lab: dict[str, Any]) -> list[dict[str, Any]]:
    node = lab["node"]
    return [
        {
            "hostname": host,
            "cluster": lab["cluster"]["name"],
            "roles": node["roles"],
            "image": f"{lab['image']}@{lab['channel']}",
            "interfaces": [{"name": node["interface"], "mac": nic["mac"], "ip": nic["ip"]}],
            "facts": node["facts"],
        }
        for host, nic in lab["nodes"].items()
    ]


def main(argv: list[str]) -> int:
    match argv:
        case ["host-settings", path]:
            sys.stdout.write(host_settings(load(Path(path))))
        case ["cluster", path, key_file]:
            public_key = Path(key_file).read_text().strip()
            print("\n".join(cluster_arguments(load(Path(path)), public_key)))
        case ["nodes", path]:
            print(json.dumps(node_records(load(Path(path))), indent=2))
        case _:
            sys.stderr.write(USAGE)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
