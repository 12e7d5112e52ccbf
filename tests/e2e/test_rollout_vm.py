"""A real virtual machine follows a promotion and a rollback: it boots
version 1; version 2 is promoted (its cluster gets a rollout, the VM is the
canary), the VM is reset and reports version 2; the channel is rolled back
(a rollout the other way), and a reset brings it back to version 1. What
bootsvc recorded is read back through the API and from inside the lab
network, as the node's agent would ask."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bootsvc.lab import server
from bootsvc.lab.console import Boot
from bootsvc.lab.lab import Lab, Vm
from bootsvc.lab.qemu import Firmware

pytestmark = pytest.mark.e2e

BOOT_TIMEOUT_SECONDS = 150.0
NAME, MAC = "e2e-roll", "52:54:00:e2:e0:11"


def _up(vm: Vm, boots: int) -> Boot:
    seen = vm.wait_up(BOOT_TIMEOUT_SECONDS, boots=boots)
    assert len(seen) >= boots, f"{vm.name} did not come up a {boots}. time"
    boot = seen[boots - 1]
    assert (boot.fields["mac"], boot.fields["report"]) == (MAC, "ok")
    return boot


def _rollout(lab: Lab, token: str, number: int) -> dict[str, Any]:
    found: dict[str, Any] = server.api(lab.network, f"/rollouts/{number}", token)
    return found


def _settled(lab: Lab, token: str, number: int) -> dict[str, Any]:
    """The rollout once the VM's up report has been taken in."""
    deadline = time.monotonic() + 30
    rollout = _rollout(lab, token, number)
    while rollout["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        rollout = _rollout(lab, token, number)
    return rollout


def _desired(lab: Lab, token: str) -> str:
    """What the node should boot now, as an admin sees it (/boot/desired
    answers the node itself only)."""
    status: dict[str, str] = server.api(lab.network, f"/nodes/{NAME}/status", token)
    return status["desired"]


def test_a_vm_follows_a_promotion_and_a_rollback(lab: Lab) -> None:
    lab.cli("image", "promote", "busybox-test", "1", "--channel", "stable")
    lab.cli("cluster", "add", "e2e", "--domain", "e2e.lab")
    lab.cli("cluster", "assign", "e2e", "busybox-test@stable")
    lab.cli("node", "add", NAME, "--mac", MAC, "--cluster", "e2e")
    token = lab.token("e2e-rollout")

    vm = lab.boot(NAME, Firmware.BIOS, MAC)
    assert _up(vm, 1).fields["version"] == "1"

    promoted = lab.cli("image", "promote", "busybox-test", "2", "--channel", "stable")
    assert "rollout 1 on cluster e2e: 1 nodes in 1 waves, running" in promoted
    assert _desired(lab, token) == "busybox-test 2"
    vm.reset()
    assert _up(vm, 2).fields["version"] == "2"
    forward = _settled(lab, token, 1)
    assert (forward["state"], forward["trigger"], forward["version"]) == ("done", "promote", "2")
    fleet = server.api(lab.network, "/fleet", token)
    assert fleet["by_version"] == {"busybox-test 2": [NAME]}

    rolled = lab.cli("image", "rollback", "busybox-test", "--channel", "stable")
    assert "busybox-test@stable: 2 -> 1" in rolled
    assert "rollout 2 on cluster e2e" in rolled
    assert _desired(lab, token) == "busybox-test 1"
    vm.reset()
    assert _up(vm, 3).fields["version"] == "1"
    back = _settled(lab, token, 2)
    assert (back["state"], back["trigger"], back["version"]) == ("done", "rollback", "1")

    history = server.api(lab.network, f"/nodes/{NAME}/boots", token)
    assert [(b["version"], b["outcome"]) for b in history[:3]] == [
        ("1", "up"),
        ("2", "up"),
        ("1", "up"),
    ]
    assert all(b["duration_s"] and b["duration_s"] > 0 for b in history[:3])
    status = server.api(lab.network, f"/nodes/{NAME}/status", token)
    assert (status["booted"], status["desired"], status["status"]) == (
        "busybox-test 1",
        "busybox-test 1",
        "up",
    )
    steps = server.api(lab.network, "/audit?subject=rollout/2", token)
    assert [s["action"] for s in reversed(steps)] == [
        "rollout.start",
        "rollout.wave",
        "rollout.node-healthy",
        "rollout.done",
    ]
