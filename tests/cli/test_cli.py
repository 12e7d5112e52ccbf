from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bootsvc.cli import cli
from tests.cli.conftest import Run

RunProcess = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def image_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "kernel": tmp_path / "vmlinuz",
        "initrd": tmp_path / "initrd.img",
        "rootfs": tmp_path / "root.squashfs",
    }
    for name, path in files.items():
        path.write_bytes(name.encode() * 1000)
    return files


def test_import_promote_rollback_delete(run: Run, image_files: dict[str, Path]) -> None:
    for version in ("1", "2"):
        image_files["kernel"].write_bytes(f"kernel {version}".encode())
        out = run(
            "image",
            "import",
            "--name",
            "hv",
            "--version",
            version,
            "--kernel",
            str(image_files["kernel"]),
            "--initrd",
            str(image_files["initrd"]),
            "--rootfs",
            str(image_files["rootfs"]),
            "--cmdline",
            "boot=live fetch={{ rootfs_url }}",
        )
        assert f"imported hv {version}" in out.output
    assert "hv@stable: (new) -> 1" in run("image", "promote", "hv", "1").output
    assert "hv@stable: 1 -> 2" in run("image", "promote", "hv", "2").output
    assert "hv@stable: 2 -> 1" in run("image", "rollback", "hv").output
    listed = json.loads(run("image", "list", "--json").output)
    assert listed[0]["channels"][0]["version"] == "1"
    shown = json.loads(run("image", "show", "hv", "2", "--json").output)
    assert [f["role"] for f in shown["files"]] == ["initrd", "kernel", "rootfs"]
    assert shown["imported_by"].startswith("cli:")
    run("image", "delete", "hv", "2")
    assert json.loads(run("image", "show", "hv", "--json").output)["versions"][0]["version"] == "1"


def test_import_from_manifest(run: Run, image_files: dict[str, Path], tmp_path: Path) -> None:
    import hashlib

    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "format": "bootsvc-image/1",
                "name": "hv",
                "version": "2026.11.1",
                "kernel": {
                    "path": "vmlinuz",
                    "sha256": hashlib.sha256(image_files["kernel"].read_bytes()).hexdigest(),
                },
                "initrds": ["initrd.img"],
                "rootfs": "root.squashfs",
                "cmdline": "boot=live fetch={{ rootfs_url }}",
                "notes": "first build",
            }
        )
    )
    run("image", "import", str(manifest))
    shown = json.loads(run("image", "show", "hv", "2026.11.1", "--json").output)
    assert shown["notes"] == "first build" and len(shown["files"]) == 3


def test_nodes_clusters_and_tokens(run: Run, tmp_path: Path) -> None:
    run(
        "cluster",
        "add",
        "c1",
        "--domain",
        "c1.lab",
        "--network",
        "ring=10.10.0.0/24,vlan=10",
        "--setting",
        "two_node=true",
    )
    add_hv1 = ["node", "add", "hv1", "--mac", "52:54:00:00:00:01", "--ip", "10.0.0.11"]
    add_hv1 += ["--cluster", "c1", "--role", "hypervisor", "--role", "ceph-mon"]
    run(*add_hv1)
    assert "unchanged" in run(*add_hv1).output
    shown = json.loads(run("node", "show", "hv1", "--json").output)
    assert shown["roles"] == ["ceph-mon", "hypervisor"] and shown["cluster"] == "c1"
    cluster = json.loads(run("cluster", "show", "c1", "--json").output)
    assert cluster["settings"] == {"two_node": True} and cluster["networks"][0]["vlan"] == 10
    # A value that is not YAML is kept as the text it is.
    run("cluster", "set", "c1", "--setting", "note=a: [b")
    noted = json.loads(run("cluster", "show", "c1", "--json").output)
    assert noted["settings"] == {"two_node": True, "note": "a: [b"}

    assert cluster["members"] == ["hv1"]
    csv_file = tmp_path / "nodes.csv"
    csv_file.write_text(
        "hostname,mac,ip\nhv2,52:54:00:00:00:02,10.0.0.12\nhv3,52:54:00:00:00:03,10.0.0.13\n"
    )
    assert "2 created" in run("node", "import", str(csv_file)).output
    run(
        "node",
        "set",
        "hv2",
        "--mac",
        "52:54:00:00:00:22",
        "--ip",
        "10.0.0.22",
        "--interface",
        "eth1",
    )
    assert [
        i["mac"] for i in json.loads(run("node", "show", "hv2", "--json").output)["interfaces"]
    ] == ["52:54:00:00:00:02", "52:54:00:00:00:22"]
    assert [n["hostname"] for n in json.loads(run("node", "list", "--json").output)] == [
        "hv1",
        "hv2",
        "hv3",
    ]
    run("node", "remove", "hv3")
    secret = run("token", "create", "integration", "--role", "cmdb").output.strip()
    assert secret.startswith("bsv_")
    assert secret not in run("token", "list").output
    run("token", "revoke", "integration")
    assert "token.revoke" in run("audit").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["node", "add", "hv1", "--mac", "zz"],
            "Error: interfaces.0.mac: 'zz' is not a MAC address",
        ),
        (["node", "show", "nobody"], "Error: node 'nobody' does not exist"),
        (["image", "promote", "hv", "1"], "Error: image 'hv' does not exist"),
        (
            [
                "image",
                "import",
                "--name",
                "hv",
                "--version",
                "1",
                "--kernel",
                "/nonexistent/vmlinuz",
                "--initrd",
                "/nonexistent/initrd.img",
            ],
            "Error: /nonexistent/vmlinuz: no such file",
        ),
        (["cluster", "add", "c1", "--domain", "bad_domain!"], "is not a DNS domain"),
        (["token", "create", "t", "--role", "root"], "Invalid value for '--role'"),
        # A binary file where text belongs, and the top level's own options.
        (["image", "import", "/bin/true"], "Error: /bin/true: not UTF-8 text"),
        (["--config", "/bin/true", "node", "list"], "/bin/true: not UTF-8 text"),
        (["--config", "/", "node", "list"], "Error: Invalid value for '--config'"),
        # A setting's value goes through the same YAML loader as files.
        (
            ["cluster", "add", "c1", "--domain", "c1.example", "--setting", "x=" + "[" * 2000],
            "Error: --setting x: nested too deeply",
        ),
        # YAML reads 1 as a number: not a say about Secure Boot.
        (
            ["cluster", "add", "c1", "--domain", "c1.example", "--setting", "secure_boot=1"],
            "Error: settings: secure_boot must be true or false, not 1",
        ),
    ],
)
def test_errors_are_one_line_and_exit_nonzero(
    run_process: RunProcess, args: list[str], message: str
) -> None:
    result = run_process(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr


def test_duplicate_mac_names_the_owner(run: Run) -> None:
    run("node", "add", "hv1", "--mac", "52:54:00:00:00:01", "--ip", "10.0.0.1")
    result = run("node", "add", "hv2", "--mac", "52:54:00:00:00:02", "--ip", "10.0.0.1", code=1)
    assert result.output.strip() == (
        "Error: IP 10.0.0.1 belongs to node hv1; this record is for hv2; "
        "send replace: true (--replace on the CLI) to move it"
    )


def test_serve_refuses_an_outdated_schema(tmp_path: Path) -> None:
    import os
    import sys

    data = tmp_path / "fresh"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bootsvc",
            "--data-dir",
            str(data),
            "serve",
            "--http-listen",
            "127.0.0.1:18999",
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith("BOOTSVC_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "database schema is empty" in result.stderr
    assert "run `bootsvc db upgrade`" in result.stderr


def test_a_group_without_a_command_shows_its_help() -> None:
    result = CliRunner().invoke(cli, ["node"], prog_name="bootsvc")
    assert result.output.startswith("Usage: bootsvc node") and "Commands:" in result.output
    assert "Error" not in result.output


def test_secure_boot_that_is_not_a_boolean_changes_nothing(run: Run, tmp_path: Path) -> None:
    run("cluster", "add", "c1", "--domain", "c1.example", "--setting", "secure_boot=true")
    refused = run("cluster", "set", "c1", "--setting", "secure_boot=enabled", code=1)
    assert refused.output.strip() == (
        'Error: settings: secure_boot must be true or false, not "enabled"'
    )
    shown = json.loads(run("cluster", "show", "c1", "--json").output)
    assert shown["settings"] == {"secure_boot": True}

    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "- {hostname: hv1, interfaces: [{mac: '52:54:00:00:00:01'}], facts: {secure_boot: 'no'}}\n"
    )
    refused = run("node", "import", str(nodes), code=1)
    assert 'secure_boot must be true or false, not "no"' in refused.output
    assert json.loads(run("node", "list", "--json").output) == []
