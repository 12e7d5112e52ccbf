"""`bootsvc node` writes keep the CMDB's rules: a rename or a move of a MAC,
IP, serial or UUID needs --replace; refusals are one line and change
nothing. Its listings stop quietly when the reader goes away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Run

RunProcess = Callable[..., subprocess.CompletedProcess[str]]
MAC1, MAC2, MAC3 = "52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"
HINT = "send replace: true (--replace on the CLI)"


def listing(run: Run) -> list[dict[str, object]]:
    nodes: list[dict[str, object]] = json.loads(run("node", "list", "--json").output)
    return nodes


def test_a_rename_needs_replace(run: Run, run_process: RunProcess) -> None:
    run("node", "add", "n1", "--mac", MAC1)
    before = listing(run)
    refused = run_process("node", "add", "n9", "--mac", MAC1)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"Error: MAC {MAC1} belongs to node n1; this record is for n9; {HINT} to rename n1 to n9\n"
    )
    assert listing(run) == before
    assert run("node", "add", "n9", "--mac", MAC1, "--replace").output == "updated node n9\n"
    assert [node["hostname"] for node in listing(run)] == ["n9"]


def test_moving_a_mac_or_serial_needs_replace(run: Run) -> None:
    run("node", "add", "n1", "--mac", MAC1, "--serial", "SN1")
    run("node", "set", "n1", "--mac", MAC2)
    run("node", "add", "n2", "--mac", MAC3)
    before = listing(run)
    refused = run("node", "set", "n2", "--mac", MAC2, code=1)
    assert refused.output == (
        f"Error: MAC {MAC2} belongs to node n1; this record is for n2; {HINT} to move it\n"
    )
    refused = run("node", "add", "n2", "--mac", MAC3, "--serial", "SN1", code=1)
    assert "serial SN1 belongs to node n1; this record is for n2" in refused.output
    assert listing(run) == before
    run("node", "set", "n2", "--mac", MAC2, "--replace")
    run("node", "add", "n2", "--mac", MAC3, "--serial", "SN1", "--replace")
    nodes = {str(node["hostname"]): node for node in listing(run)}
    assert [i["mac"] for i in nodes["n1"]["interfaces"]] == [MAC1]  # type: ignore[attr-defined]
    assert [i["mac"] for i in nodes["n2"]["interfaces"]] == [MAC3, MAC2]  # type: ignore[attr-defined]
    assert (nodes["n1"]["serial"], nodes["n2"]["serial"]) == (None, "SN1")


def test_an_import_refusal_is_one_line_and_writes_nothing(
    run: Run, run_process: RunProcess, tmp_path: Path
) -> None:
    run("node", "add", "n1", "--mac", MAC1)
    clash = tmp_path / "clash.csv"
    clash.write_text(f"hostname,mac\nn5,{MAC3}\na,{MAC2}\nb,{MAC2}\n")
    moving = tmp_path / "moving.csv"
    moving.write_text(f"hostname,mac\nn2,{MAC1}\nn2,{MAC3}\n")
    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"hostname": "n3", "serial": "S3", "facts": {"x": "y" * 70_000}}]))
    before = listing(run)
    for path, flags, message in (
        (clash, ["--replace"], f"records 2 (a) and 3 (b) both list MAC {MAC2}; nothing was"),
        (moving, [], f"record 1 (n2): MAC {MAC1} belongs to node n1; this record is for n2"),
        (big, [], "record 1 (n3): facts are 70008 bytes as JSON, more than the 65536 allowed"),
    ):
        result = run_process("node", "import", str(path), *flags)
        assert result.returncode == 1
        assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1
    assert listing(run) == before


def test_a_listing_into_a_closed_pipe_ends_quietly(
    run: Run, env: dict[str, str], tmp_path: Path
) -> None:
    rows = "\n".join(f"host{n},52:54:00:01:{n // 256:02x}:{n % 256:02x}" for n in range(3000))
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("hostname,mac\n" + rows + "\n")
    run("node", "import", str(nodes))
    # Row by row, far more than a pipe holds: `head` is gone long before the end.
    command = f'"{sys.executable}" -m bootsvc node list | head -n 1; exit "${{PIPESTATUS[0]}}"'
    result = subprocess.run(
        ["bash", "-c", command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode == 141
    assert result.stdout.split() == ["HOSTNAME", "STATE", "MAC", "IP", "CLUSTER", "ROLES", "IMAGE"]
