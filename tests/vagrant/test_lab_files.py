"""The vagrant lab's files: cluster.yaml is the one place for the cluster's
values, the Vagrantfile and provision.sh take theirs from it, and what
provision.sh feeds bootsvc from it registers the cluster and its nodes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.conftest import Run

VAGRANT = Path(__file__).resolve().parents[2] / "vagrant"
CLUSTER_FILE = VAGRANT / "cluster.yaml"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(CLUSTER_FILE.read_text())
    return found


def _records(*args: str) -> subprocess.CompletedProcess[str]:
    """records.py as provision.sh runs it."""
    return subprocess.run(
        [sys.executable, str(VAGRANT / "records.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _shared_values(values: dict[str, Any]) -> list[str]:
    """Values that only cluster.yaml may spell out."""
    node, lab = values["node"], values["lab"]
    found = [values["image"], values["cluster"]["domain"], lab["server_ip"], lab["host_ip"]]
    found += [node["interface"], node["pci_slot"], str(node["memory_mb"])]
    for host, nic in values["nodes"].items():
        found += [host, nic["mac"], nic["ip"]]
    return found


def _code(path: Path) -> str:
    """The file without its comment lines (Ruby and shell), which may give examples."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


@pytest.mark.parametrize(
    ("name", "reads"),
    [
        ("Vagrantfile", 'File.join(__dir__, "cluster.yaml")'),
        ("provision.sh", 'records cluster "$LAB_FILE"'),
    ],
)
def test_lab_files_take_the_cluster_values_from_cluster_yaml(
    values: dict[str, Any], name: str, reads: str
) -> None:
    text = _code(VAGRANT / name)
    assert not [value for value in _shared_values(values) if value in text]
    assert reads in text


def test_vagrantfile_points_provision_at_the_synced_cluster_yaml() -> None:
    text = _code(VAGRANT / "Vagrantfile")
    assert '"LAB_FILE" => "/srv/bootsvc/vagrant/cluster.yaml"' in text
    assert 'server.vm.synced_folder "..", "/srv/bootsvc"' in text


def test_the_nodes_nic_is_named_by_its_pci_slot_and_bridged(values: dict[str, Any]) -> None:
    node = values["node"]
    assert node["interface"] == f"enp0s{int(node['pci_slot'], 16)}"
    bridges = values["cluster"]["settings"]["network"]["bridges"]
    assert bridges == {"br-ring": {"ports": [node["interface"]], "networks": ["ring"]}}
    assert [len(values["nodes"]), len(set(values["nodes"]))] == [3, 3]


def test_provision_registers_the_cluster_and_nodes_of_cluster_yaml(
    run: Run, values: dict[str, Any], tmp_path: Path
) -> None:
    for part in ("kernel", "initrd", "rootfs"):
        (tmp_path / part).write_bytes(part.encode() * 100)
    run(
        "image", "import", "--name", values["image"], "--version", "1",
        "--kernel", str(tmp_path / "kernel"), "--initrd", str(tmp_path / "initrd"),
        "--rootfs", str(tmp_path / "rootfs"),
    )  # fmt: skip
    run("image", "promote", values["image"], "1", "--channel", values["channel"])
    key = tmp_path / "admin.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@bootsvc\n")
    arguments = _records("cluster", str(CLUSTER_FILE), str(key)).stdout.splitlines()
    run("cluster", "add", *arguments)
    nodes = tmp_path / "nodes.json"
    nodes.write_text(_records("nodes", str(CLUSTER_FILE)).stdout)
    assert "3 created" in run("node", "import", str(nodes)).output

    cluster = json.loads(run("cluster", "show", values["cluster"]["name"], "--json").output)
    assert cluster["domain"] == values["cluster"]["domain"]
    networks = {n["name"]: n["cidr"] for n in cluster["networks"]}
    assert networks == values["cluster"]["networks"]
    ssh = {"authorized_keys": [key.read_text().strip()]}
    assert cluster["settings"] == {**values["cluster"]["settings"], "ssh": ssh}
    assert sorted(cluster["members"]) == sorted(values["nodes"])
    for host, nic in values["nodes"].items():
        node = json.loads(run("node", "show", host, "--json").output)
        interface = {"name": values["node"]["interface"], "mac": nic["mac"], "ip": nic["ip"]}
        assert [{k: i[k] for k in interface} for i in node["interfaces"]] == [interface]
        assert sorted(node["roles"]) == sorted(values["node"]["roles"])
        assert node["facts"] == values["node"]["facts"]
        assert node["image"] == f"{values['image']}@{values['channel']}"


def test_records_hands_the_lab_server_settings_to_lab_up(values: dict[str, Any]) -> None:
    done = _records("host-settings", str(CLUSTER_FILE))
    assert done.returncode == 0
    assert "[lab_server_settings]" in done.stdout
    for key, value in values["lab"]["server_settings"].items():
        assert f"{key} = {value}" in done.stdout


def test_records_without_a_command_prints_its_usage() -> None:
    done = _records()
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage:")


def test_provision_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("scripts/test.sh installs shellcheck")
    done = subprocess.run(
        ["shellcheck", str(VAGRANT / "provision.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_vagrant_validates_the_vagrantfile(tmp_path: Path) -> None:
    """Vagrant with vagrant-libvirt loads it and knows every option it sets."""
    if shutil.which("vagrant") is None:
        pytest.skip("scripts/test.sh installs vagrant and vagrant-libvirt")
    copy = tmp_path / "vagrant"
    copy.mkdir()
    for name in ("Vagrantfile", "cluster.yaml", "provision.sh"):
        shutil.copy(VAGRANT / name, copy / name)
    done = subprocess.run(
        ["vagrant", "validate"],
        cwd=copy,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "VAGRANT_HOME": str(tmp_path / "vagrant.d"),
            "VAGRANT_DEFAULT_PROVIDER": "libvirt",
            "VAGRANT_CHECKPOINT_DISABLE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validated successfully" in done.stdout
