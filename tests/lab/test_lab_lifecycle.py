"""`bootsvc lab up` and `down` through the real command line: what up
creates, and that down removes all of it, also after a crash left no state
file and a dead service behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.lab import processes
from bootsvc.lab.lab import STATE, LabState
from bootsvc.lab.network import namespaces, netns_name

pytestmark = pytest.mark.netns


def _bootsvc(data_dir: Path, *args: str, mode: str = "proxy") -> subprocess.CompletedProcess[str]:
    """By default a lab with two processes to lose: bootsvc as ProxyDHCP
    beside dnsmasq."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTSVC_")}
    env["BOOTSVC_LAB_DHCP_TFTP"] = mode
    return subprocess.run(
        [sys.executable, "-m", "bootsvc", "--data-dir", str(data_dir), "lab", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture
def lab_name(tmp_path: Path) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    name = f"life{os.getpid()}"
    yield name
    _bootsvc(tmp_path, "down", "--lab", name)


def test_up_then_down_after_a_crash_leaves_nothing(tmp_path: Path, lab_name: str) -> None:
    up = _bootsvc(tmp_path, "up", "--lab", lab_name)
    assert up.returncode == 0, up.stderr
    assert "bootsvc at http://10.77.0.1:8080" in up.stdout
    netns = netns_name(lab_name)
    assert netns in namespaces()
    addresses = subprocess.run(
        ["ip", "-n", netns, "-br", "addr", "show", "br0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "10.77.0.1/24" in addresses

    state_file = tmp_path / "lab" / lab_name / STATE
    state = LabState.model_validate_json(state_file.read_text())
    assert set(state.pids) == {"bootsvc", "dnsmasq"}
    started = processes.netns_pids(netns)
    assert set(state.pids.values()) <= started

    again = _bootsvc(tmp_path, "up", "--lab", lab_name)
    assert again.returncode != 0
    assert "already up" in again.stderr

    status = _bootsvc(tmp_path, "status", "--lab", lab_name)
    assert "bootsvc: pid" in status.stdout and "running" in status.stdout

    # A crash: dnsmasq died, and the state file was left half written.
    os.kill(state.pids["dnsmasq"], signal.SIGKILL)
    state_file.write_text('{"name": ')

    down = _bootsvc(tmp_path, "down", "--lab", lab_name)
    assert down.returncode == 0, down.stderr
    assert "removed" in down.stdout
    assert netns not in namespaces()
    assert not [pid for pid in started if processes.alive(pid)]
    assert "was not up" in _bootsvc(tmp_path, "down", "--lab", lab_name).stdout


def test_an_ipv6_lab_serves_over_ipv6_only_and_goes_away(tmp_path: Path, lab_name: str) -> None:
    """radvd beside bootsvc; no IPv4 on the lab network; the first script
    and the loader over TFTP come from the IPv6 address."""
    up = _bootsvc(tmp_path, "up", "--lab", lab_name, mode="bootsvc-ipv6")
    assert up.returncode == 0, up.stderr
    assert "bootsvc at http://[fd00:77::1]:8080" in up.stdout
    netns = netns_name(lab_name)

    def inside(*argv: str) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, check=True
        ).stdout

    assert "inet6 fd00:77::1/64" in inside("ip", "addr", "show", "br0")
    assert "inet " not in inside("ip", "addr", "show", "br0")
    state = LabState.model_validate_json((tmp_path / "lab" / lab_name / STATE).read_text())
    assert set(state.pids) == {"bootsvc", "radvd"}
    first = inside("curl", "-gsf", "http://[fd00:77::1]:8080/boot.ipxe")
    assert "chain --autofree http://[fd00:77::1]:8080/boot/node.ipxe?" in first
    loader = tmp_path / "snponly.efi"
    inside("curl", "-gsf", "-o", str(loader), "tftp://[fd00:77::1]/snponly.efi")
    assert loader.read_bytes() == Path("/usr/lib/ipxe/snponly.efi").read_bytes()
    started = processes.netns_pids(netns)

    down = _bootsvc(tmp_path, "down", "--lab", lab_name, mode="bootsvc-ipv6")
    assert down.returncode == 0, down.stderr
    assert netns not in namespaces()
    assert not [pid for pid in started if processes.alive(pid)]


@pytest.fixture
def host_netns(tmp_path: Path) -> Iterator[str]:
    """A namespace standing in for the vagrant boot server: a bridge with the
    lab address, which `lab up --interface` serves on without creating one."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    netns = f"bootsvc-test-host{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        for argv in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "add", "lab0", "type", "bridge"],
            ["ip", "addr", "add", "10.77.0.1/24", "dev", "lab0"],
            ["ip", "link", "set", "lab0", "up"],
        ):
            subprocess.run(["ip", "netns", "exec", netns, *argv], check=True)
        yield netns
    finally:
        for pid in processes.netns_pids(netns):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", netns], check=True)


def test_a_lab_on_an_existing_interface_starts_and_stops(tmp_path: Path, host_netns: str) -> None:
    def in_host(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTSVC_")}
        env["BOOTSVC_LAB_DHCP_TFTP"] = "proxy"
        command = [sys.executable, "-m", "bootsvc", "--data-dir", str(tmp_path), "lab", *args]
        return subprocess.run(
            ["ip", "netns", "exec", host_netns, *command],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    up = in_host("up", "--lab", "host", "--interface", "lab0")
    assert up.returncode == 0, up.stderr
    assert "bootsvc at http://10.77.0.1:8080 in interface lab0" in up.stdout
    state = LabState.model_validate_json((tmp_path / "lab" / "host" / STATE).read_text())
    assert state.netns is None
    assert set(state.pids) == {"bootsvc", "dnsmasq"}
    answer = subprocess.run(
        ["ip", "netns", "exec", host_netns, "curl", "-sf", "http://10.77.0.1:8080/boot.ipxe"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert answer.stdout.startswith("#!ipxe"), answer.stderr

    down = in_host("down", "--lab", "host")
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in state.pids.values() if processes.alive(pid)]
    # The interface is the host's: down leaves it alone.
    link = subprocess.run(
        ["ip", "-n", host_netns, "link", "show", "lab0"], capture_output=True, check=False
    )
    assert link.returncode == 0
