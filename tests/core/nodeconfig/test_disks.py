"""A node's disks as bootsvc-disks handles them, run on real block devices
(loop devices) with the real tools (sgdisk, mkfs.ext4, blkid, wipefs), in a
mount namespace of its own: the state partition is made only on a blank
device and with the CMDB's consent, found again by its label on later
boots, wiped by a reset, and a device holding other data is left alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.store.db import Database
from tests.core.nodeconfig.render import rendered, text
from tests.core.nodeconfig.tools import extract, need, run
from tests.support import factory


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    """The path the node keeps on its state partition."""
    return tmp_path / "kept"


@pytest.fixture
def solo(tmp_path: Path, sqlite_template: Path, kept: Path) -> Iterator[Database]:
    path = tmp_path / "bootsvc.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    with db.write() as session:
        settings = {"state": {"paths": [str(kept)]}}
        record = {"name": "solo", "domain": "solo.lab", "settings": settings}
        cmdb.upsert_cluster(session, ClusterRecord.model_validate(record), factory.ACTOR)
    yield db
    db.dispose()


@pytest.fixture
def loop_devices(tmp_path: Path) -> Iterator[list[str]]:
    """Two blank 64 MiB loop devices, detached afterwards."""
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    need("losetup", "sgdisk", "mkfs.ext4", "wipefs", "blkid", "lsblk", "unshare")
    attached: list[str] = []
    for number in range(2):
        backing = tmp_path / f"disk{number}.img"
        backing.write_bytes(b"")
        os.truncate(backing, 64 << 20)
        found = run("losetup", "--find", "--partscan", "--show", str(backing))
        assert found.returncode == 0, found.stderr
        attached.append(found.stdout.strip())
    yield attached
    for device in attached:
        run("losetup", "-d", device)


def _node(db: Database, facts: dict[str, Any]) -> None:
    factory.node(
        db,
        hostname="hv1",
        cluster="solo",
        roles=["hypervisor"],
        interfaces=[{"name": "eth0", "mac": "52:54:00:d1:5c:01"}],
        facts=facts,
    )


def _boot(db: Database, tmp_path: Path, consent: str, after: str = "") -> dict[str, Any]:
    """bootsvc-disks as the node runs it at boot, with `bootsvc.disks=` on
    its command line; then `after`, with the kept paths still mounted."""
    root = extract(list(rendered(db, "hv1").values()), tmp_path / f"root-{consent}")
    scratch = tmp_path / f"scratch-{consent}"
    (scratch / "run").mkdir(parents=True)
    (scratch / "varlib").mkdir()
    (scratch / "cmdline").write_text(f"console=ttyS0 bootsvc.disks={consent}\n")
    script = (
        f"mount --bind {scratch}/cmdline /proc/cmdline; "
        f"mount --bind {scratch}/run /run; mount --bind {scratch}/varlib /var/lib; "
        f"mkdir -p /etc/bootsvc; mount --bind {root}/etc/bootsvc /etc/bootsvc; "
        f"sh {root}/usr/local/lib/bootsvc/disks; echo status=$?; {after}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "status=0" in done.stdout, done.stdout + done.stderr
    found: dict[str, Any] = json.loads((scratch / "run" / "bootsvc" / "disks.json").read_text())
    found["output"] = done.stdout
    return found


def _digest(device: str) -> str:
    with Path(device).open("rb") as disk:
        return hashlib.sha256(disk.read()).hexdigest()


def test_first_use_makes_the_partition_later_boots_keep_it_and_a_reset_wipes_it(
    solo: Database, tmp_path: Path, kept: Path, loop_devices: list[str]
) -> None:
    device = loop_devices[0]
    _node(solo, {"state": {"device": device}})

    first = _boot(solo, tmp_path, "first-use", f"echo kept > {kept}/marker")
    assert (first["state"], first["device"]) == ("created", device)
    label = run("blkid", "-o", "value", "-s", "LABEL", f"{device}p1")
    assert label.stdout.strip() == "bootsvc-state"

    later = _boot(solo, tmp_path, "keep", f"cat {kept}/marker")
    assert later["state"] == "mounted"
    assert "kept" in later["output"].splitlines()

    reset = _boot(solo, tmp_path, "reset-42", f"ls -A {kept}; echo listed")
    assert (reset["state"], reset["reset"]) == ("reset", "42")
    assert "marker" not in reset["output"]
    assert "listed" in reset["output"]


def test_a_device_with_data_bootsvc_did_not_make_is_left_alone(
    solo: Database, tmp_path: Path, loop_devices: list[str]
) -> None:
    device = loop_devices[1]
    made = run("mkfs.ext4", "-q", "-L", "site-data", device)
    assert made.returncode == 0, made.stderr
    before = _digest(device)
    _node(solo, {"state": {"device": device}})

    found = _boot(solo, tmp_path, "first-use")
    assert found["state"] == "refused"
    assert device in found["reason"] and "ext4" in found["reason"]
    assert "compute only" in found["reason"]
    assert _digest(device) == before


def test_no_consent_no_partition(solo: Database, tmp_path: Path, loop_devices: list[str]) -> None:
    """A node the CMDB knows has made its partition before finds none: its
    disk was replaced or renamed. Nothing is formatted behind the CMDB's back."""
    device = loop_devices[0]
    _node(solo, {"state": {"device": device}})
    before = _digest(device)

    found = _boot(solo, tmp_path, "keep")
    assert found["state"] == "refused"
    assert "consent" in found["reason"]
    assert _digest(device) == before


def test_a_node_without_a_state_device_runs_compute_only(
    solo: Database, tmp_path: Path, loop_devices: list[str]
) -> None:
    _node(solo, {"state": {}})
    found = _boot(solo, tmp_path, "first-use")
    assert found["state"] == "absent"
    assert "compute only" in found["reason"]


def test_disks_files_follow_the_facts(solo: Database, kept: Path) -> None:
    _node(solo, {"state": {"device": "/dev/disk/by-id/virtio-state"}})
    files = rendered(solo, "hv1")
    env = text(files, "/etc/bootsvc/disks.env")
    assert "BOOTSVC_STATE_DEVICE=/dev/disk/by-id/virtio-state" in env
    assert f"BOOTSVC_STATE_PATHS={kept}" in env
    assert "/etc/systemd/system/multi-user.target.wants/bootsvc-disks.service" in files

    _node(solo, {})
    assert "/etc/bootsvc/disks.env" not in rendered(solo, "hv1")


@pytest.mark.parametrize("device", ["/dev/../etc/shadow", "/dev/vdb; reboot", "vdb", 7])
def test_a_device_fact_that_is_no_device_path_names_the_node(
    solo: Database, device: object
) -> None:
    _node(solo, {"state": {"device": device}})
    with pytest.raises(ConfigError, match=r"hv1.*state\.device"):
        rendered(solo, "hv1")
