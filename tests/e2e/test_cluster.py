"""The whole promise, on three diskless VMs of images/debian-hypervisor
booted from bootsvc under TCG: they form one cluster (corosync quorate with
three votes, Pacemaker with three nodes online, the CMDB's Open vSwitch
bridge, Ceph with three monitors in quorum and an OSD each on their local
disks), move to a promoted version one reboot at a time without losing
quorum, and one of them comes back from a factory reset as a new node of
its cluster, with a new OSD. One node also lists, as an OSD device, a disk
holding a file system bootsvc did not make: it is left alone, its boot
report says why, and the rollout goes on. One node has a TPM (swtpm) whose
key an admin registered before its first boot: its secrets (corosync's
authkey among them) reach it only sealed to that TPM. Checked over SSH as an
admin would, with the key from the cluster's ssh setting. Each step's time
is printed (pytest -s) for docs/benchmarks.md."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootsvc.lab import server
from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from tests.e2e.conftest import server_events
from tests.support.swtpm import endorsement_key

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

IMAGE = "debian-hypervisor"
NODES = {
    "hv1": ("52:54:00:c1:00:01", "10.77.0.11"),
    "hv2": ("52:54:00:c1:00:02", "10.77.0.12"),
    "hv3": ("52:54:00:c1:00:03", "10.77.0.13"),
}
# The node whose secrets are sealed to its TPM.
TPM_NODE = "hv2"
MEMORY_MB = 3072
# Two vCPUs: the node that reboots during the rollout, booting while the
# others idle, gets both of the host's cores.
CPUS = 2
# A state disk (/dev/vda) and an OSD disk (/dev/vdb), sparse.
DISKS_GIB = (2, 6)
# The node with a third disk (/dev/vdc) that already holds a file system.
FOREIGN_NODE, FOREIGN_DEVICE = "hv1", "/dev/vdc"
FOREIGN_UUID = "6f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5"
FIRST_BOOT_S = 1500.0
REBOOT_S = 1200.0
STEPS: dict[str, float] = {}


def _ssh_key(directory: Path) -> tuple[Path, str]:
    key = directory / "admin"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, key.with_suffix(".pub").read_text().strip()


class Admin:
    """Commands on the nodes over SSH, from inside the lab network. One
    connection per node carries every command (ControlMaster), so that
    polling does not cost a TCG guest a login, and a user manager, each time."""

    def __init__(self, lab: Lab, key: Path) -> None:
        self.lab = lab
        self.key = key

    def run(
        self, host: str, command: str, timeout: float = 60, tries: int = 3
    ) -> subprocess.CompletedProcess[str]:
        assert self.lab.network.netns is not None
        argv = ["ip", "netns", "exec", self.lab.network.netns, "ssh", "-i", str(self.key)]
        argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        argv += ["-o", "ConnectTimeout=30", "-o", "LogLevel=ERROR"]
        argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.key.parent}/%h"]
        argv += ["-o", "ControlPersist=120", "-o", "ServerAliveInterval=5"]
        argv += [f"root@{NODES[host][1]}", command]
        # sshd on a busy TCG guest can miss a connection's first seconds:
        # ssh's own failures (255) are tried again, the command's are not.
        # Output goes to files: the connection's master, left running, keeps
        # a pipe open.
        for _ in range(tries):
            with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
                try:
                    code = subprocess.run(
                        argv, stdout=out, stderr=err, timeout=timeout, check=False
                    ).returncode
                except subprocess.TimeoutExpired:
                    code = 255
                out.seek(0)
                err.seek(0)
                done = subprocess.CompletedProcess(argv, code, out.read(), err.read())
            if done.returncode != 255:
                break
        return done

    def out(self, host: str, command: str) -> str:
        done = self.run(host, command)
        assert done.returncode == 0, f"{host}: {command}: {done.stderr}"
        return done.stdout

    def ceph(self, host: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.out(host, "ceph -s --format json"))
        return found

    def osds_up(self, host: str) -> int:
        up: int = self.ceph(host)["osdmap"]["num_up_osds"]
        return up

    def osds(self, host: str) -> dict[str, str]:
        """Each node's OSD, by the OSD's uuid (an id may be given again
        once its OSD is purged), from the cluster's own maps."""
        tree = json.loads(self.out(host, "ceph osd tree --format json"))
        uuids = {
            osd["osd"]: osd["uuid"]
            for osd in json.loads(self.out(host, "ceph osd dump --format json"))["osds"]
        }
        return {
            node["name"]: uuids[child]
            for node in tree["nodes"]
            if node["type"] == "host"
            for child in node.get("children", [])
        }

    def quorate(self, host: str) -> bool | None:
        """Whether `host` sees a quorate membership; None when it does not answer."""
        done = self.run(host, "corosync-quorumtool -s", timeout=20, tries=1)
        found = re.search(r"^Quorate:\s+(\w+)", done.stdout, re.MULTILINE)
        return None if found is None else found.group(1) == "Yes"

    def votes(self, host: str) -> int:
        """The votes of a quorate membership, as `host` sees it."""
        shown = self.out(host, "corosync-quorumtool -s")
        assert re.search(r"^Quorate:\s+Yes", shown, re.M), shown
        found = re.search(r"^Total votes:\s+(\d+)", shown, re.M)
        assert found is not None, shown
        return int(found.group(1))


def _wait(what: str, timeout: float, check: Callable[[], bool], every: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


def _status(lab: Lab, token: str, host: str) -> dict[str, Any]:
    found: dict[str, Any] = server.api(lab.network, f"/nodes/{host}/status", token)
    return found


def _up_on(lab: Lab, token: str, version: str) -> Callable[[], bool]:
    def check() -> bool:
        return all(
            (s["booted"], s["status"]) == (f"{IMAGE} {version}", "up")
            for s in (_status(lab, token, host) for host in NODES)
        )

    return check


def _register(lab: Lab, directory: Path, public_key: str) -> None:
    settings = {
        "corosync": {"ring": "ring"},
        "pacemaker": {"stonith_enabled": False},
        "ssh": {"authorized_keys": [public_key]},
        "ceph": {
            "public_network": "ring",
            "overrides": {
                "global": {"osd_pool_default_size": 3, "mon_clock_drift_allowed": 2},
                "osd": {"osd_memory_target": 939524096},
            },
        },
        "network": {"bridges": {"br-ring": {"ports": ["enp0s1"], "networks": ["ring"]}}},
    }
    lab.cli("image", "promote", IMAGE, "1", "--channel", "stable")
    lab.cli("cluster", "add", "hv", "--domain", "hv.lab", "--network", "ring=10.77.0.0/24")
    for key, value in settings.items():
        lab.cli("cluster", "set", "hv", "--setting", f"{key}={json.dumps(value)}")
    nodes = [
        {
            "hostname": host,
            "cluster": "hv",
            "roles": ["ceph-mon", "ceph-osd", "ceph-admin", "hypervisor"],
            "image": f"{IMAGE}@stable",
            "interfaces": [{"name": "enp0s1", "mac": mac, "ip": ip}],
            "facts": {"state": {"device": "/dev/vda"}, "ceph": {"osd_devices": _osd_devices(host)}},
        }
        for host, (mac, ip) in NODES.items()
    ]
    listing = directory / "nodes.yaml"
    listing.write_text(yaml.safe_dump(nodes))
    lab.cli("node", "import", str(listing))
    ek = directory / "ek.pem"
    ek.write_text(endorsement_key(lab.vm_files(TPM_NODE).tpm_state))
    lab.cli("node", "tpm", TPM_NODE, "--ek", str(ek))


def _osd_devices(host: str) -> list[str]:
    return ["/dev/vdb", FOREIGN_DEVICE] if host == FOREIGN_NODE else ["/dev/vdb"]


def _foreign_disk(lab: Lab) -> tuple[int, ...]:
    """The foreign node's disks, its third made beforehand with a file system
    of someone else's, as a disk moved from another machine would be."""
    disk = lab.vm_files(FOREIGN_NODE).disk(len(DISKS_GIB))
    disk.parent.mkdir(parents=True, exist_ok=True)
    with disk.open("wb") as sparse:
        sparse.truncate(1 << 30)
    mkfs = ["mkfs.ext4", "-q", "-F", "-L", "theirs", "-U", FOREIGN_UUID, str(disk)]
    subprocess.run(mkfs, check=True)
    return (*DISKS_GIB, 1)


def _left_alone(lab: Lab, token: str, host: str) -> str:
    """What the node's newest `up` report from its overlay says bootsvc-ceph
    left alone (the image's own `up` report carries no Ceph details)."""
    reports = server.api(lab.network, f"/reports?node={host}&limit=50", token)
    up = next(r for r in reports if r["stage"] == "up" and "ceph" in r["details"])
    found: str = up["details"]["ceph"]["left_alone"]
    return found


def _step(name: str, started: float) -> float:
    STEPS[name] = time.monotonic() - started
    print(f"cluster step {name}: {STEPS[name]:.0f} s")
    return time.monotonic()


def test_three_hypervisors_form_a_cluster_update_and_reset(
    cluster_lab: Lab, tmp_path: Path
) -> None:
    lab = cluster_lab
    key, public_key = _ssh_key(tmp_path)
    admin = Admin(lab, key)
    token = lab.token("e2e-cluster", "admin")
    _register(lab, tmp_path, public_key)

    started = time.monotonic()
    for host, (mac, _) in NODES.items():
        tpm = host == TPM_NODE
        disks = _foreign_disk(lab) if host == FOREIGN_NODE else DISKS_GIB
        lab.boot(host, Firmware.BIOS, mac, memory_mb=MEMORY_MB, disks_gib=disks, tpm=tpm, cpus=CPUS)
    _wait("three nodes up on version 1", FIRST_BOOT_S, _up_on(lab, token, "1"))
    started = _step("first boot of three nodes to healthy", started)

    assert admin.votes("hv1") == 3
    # hv2 holds corosync's authkey, which reached it only sealed to its TPM.
    sealed = [e["node"] for e in server_events(lab, "boot.attest")]
    by_token = [e["node"] for e in server_events(lab, "boot.secrets")]
    assert (TPM_NODE in sealed, TPM_NODE in by_token) == (True, False), (sealed, by_token)
    online = admin.out("hv2", "crm_mon -1")
    assert "Online: [ hv1 hv2 hv3 ]" in online
    for host in NODES:
        assert "br-ring" in admin.out(host, "ovs-vsctl list-br").split()
        assert "enp0s1" in admin.out(host, "ovs-vsctl list-ports br-ring").split()
    _wait("every OSD up", REBOOT_S, lambda: admin.osds_up("hv3") == 3)
    ceph = admin.ceph("hv3")
    assert sorted(ceph["quorum_names"]) == sorted(NODES)
    assert (ceph["osdmap"]["num_osds"], ceph["osdmap"]["num_in_osds"]) == (3, 3)
    assert "rbd" in admin.out("hv1", "ceph osd pool ls").split()
    # libvirt's key, which hypervisors use for their VMs' disks, can use the pool.
    libvirt = "rbd -n client.libvirt --keyring /etc/ceph/ceph.client.libvirt.keyring"
    probe = f"{libvirt} create rbd/probe --size 16; {libvirt} ls rbd | grep -qx probe"
    _wait(
        "client.libvirt makes an RBD image",
        REBOOT_S,
        lambda: admin.run("hv2", probe, timeout=120).returncode == 0,
    )
    admin.out("hv2", f"{libvirt} rm rbd/probe")
    before = admin.osds("hv1")
    assert sorted(before) == sorted(NODES)
    assert f"{FOREIGN_DEVICE} holds data bootsvc did not create" in _left_alone(
        lab, token, FOREIGN_NODE
    )
    started = _step("checks over SSH", started)

    # A factory reset of hv3, carried out at its next boot, which the
    # rollout to version 2 brings: the agents reboot the nodes one at a
    # time, and quorum holds. A node that is booting sees no quorum until it
    # joins; the cluster has lost it when no node that answers sees it.
    assert "factory reset requested" in lab.cli("node", "reset", "hv3", "--yes")
    lab.cli("image", "promote", IMAGE, "2", "--channel", "stable")
    lost: list[str] = []

    def moved() -> bool:
        with ThreadPoolExecutor(len(NODES)) as pool:
            seen = dict(zip(NODES, pool.map(admin.quorate, NODES), strict=True))
        answered = [quorate for quorate in seen.values() if quorate is not None]
        if answered and not any(answered):
            lost.append(f"{time.monotonic() - started:.0f} s: {seen}")
        return _up_on(lab, token, "2")() and _status(lab, token, "hv3")["reset"] is None

    _wait("three nodes up on version 2, hv3 reset", 2 * REBOOT_S, moved, every=3)
    assert not lost, f"quorum lost during the rollout: {lost}"
    started = _step("rolling update to version 2, with the reset of hv3", started)

    assert admin.votes("hv1") == 3
    assert sorted(admin.ceph("hv1")["quorum_names"]) == sorted(NODES)
    _wait("every OSD up", REBOOT_S, lambda: admin.osds_up("hv1") == 3)
    after = admin.osds("hv1")
    assert after["hv1"] == before["hv1"] and after["hv2"] == before["hv2"]
    assert after["hv3"] != before["hv3"]
    assert admin.ceph("hv1")["osdmap"]["num_osds"] == 3
    # After its reboot onto version 2, the foreign disk keeps its file system.
    assert FOREIGN_DEVICE in _left_alone(lab, token, FOREIGN_NODE)
    uuid = admin.out(FOREIGN_NODE, f"blkid -o value -s UUID {FOREIGN_DEVICE}").strip()
    assert uuid == FOREIGN_UUID
    _step("the new OSD of hv3 up", started)
    print("cluster steps:", json.dumps({k: round(v) for k, v in STEPS.items()}))
