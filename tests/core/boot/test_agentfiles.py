"""The node agent. Its script passes shellcheck and its units systemd's own
check. Run off a node against a live bootsvc, with Pacemaker's real tools on
a CIB file (crm_simulate, Pacemaker's scheduler, plays the cluster moving
resources away), it takes a FleetLock slot, drains its node, sets noout and
reboots; after the boot it reports healthy, leaves standby, unsets noout and
gives the slot back. Ceph and systemctl are recording stand-ins: there is no
Ceph cluster to talk to, and the test must not reboot this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from bootsvc.core.boot import agentfiles
from bootsvc.core.catalog import releases
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry, NodeBoot, RebootSlot, Rollout
from tests.support import factory
from tests.support.live import live_server
from tests.support.rolloutkit import boot, make_cluster

DATA = Path(__file__).parent / "data"
TOOLS = (
    "shellcheck",
    "systemd-analyze",
    "crm_mon",
    "crm_standby",
    "crm_simulate",
    "crm_resource",
    "curl",
)
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason="scripts/test.sh installs shellcheck, systemd and pacemaker-cli-utils",
)


def _write(root: Path, values: dict[str, object]) -> dict[str, Path]:
    written = {}
    for file, text in agentfiles.render_files(None, values):
        path = root / file.target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(file.mode)
        written[file.target] = path
    return written


def test_script_and_units_pass_their_checkers(tmp_path: Path, settings: Settings) -> None:
    agent = str(tmp_path / agentfiles.AGENT.lstrip("/"))
    files = _write(tmp_path, agentfiles.context(settings, agent_path=agent))
    assert {f.target for f in agentfiles.FILES} == set(files)
    shellcheck = subprocess.run(
        ["shellcheck", "-s", "sh", agent], capture_output=True, text=True, check=False
    )
    assert shellcheck.returncode == 0, shellcheck.stdout
    units = tmp_path / "etc/systemd/system"
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"}

    def verify(*names: str) -> str:
        done = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", *names],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=tmp_path,
        )
        return done.stdout + done.stderr

    unit_files = [str(p) for t, p in files.items() if t.endswith((".service", ".timer"))]
    # timers.target and multi-user.target load the drop-ins that start the units.
    assert verify(*unit_files, "timers.target", "multi-user.target") == ""
    broken = units / "broken.service"
    service = files["/etc/systemd/system/bootsvc-agent.service"].read_text()
    broken.write_text(service.replace("Type=oneshot", "Type=oneshoot"))
    assert "Failed to parse service type" in verify(str(broken))


RECORDER = """#!/bin/sh
echo "$(basename "$0") $* standby=$(crm_standby --node c1n0 --query 2>/dev/null | sed -n \
    's/.*value=//p') running=$(crm_mon -1 --output-as=xml | tr '>' '\\n' | \
    grep '<node name="c1n0" ' | sed -n 's/.* resources_running="\\([0-9]*\\)".*/\\1/p')" \
    >>"$CALLS"
"""


class Cluster:
    """A Pacemaker cluster on a CIB file: Pacemaker's scheduler (crm_simulate)
    carries out what the node asked (standby) once it has asked it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shutil.copy(DATA / "cib.xml", path)
        self._simulate("--node-up", "c1n0", "--node-up", "c1n1", "--node-up", "c1n2")
        assert self.running_on("vm1") == "c1n0"

    def _simulate(self, *args: str) -> None:
        subprocess.run(
            ["crm_simulate", "-x", str(self.path), "-S", "-O", str(self.path), *args],
            capture_output=True,
            check=True,
        )

    def _ask(self, *command: str) -> str:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, "CIB_file": str(self.path)},
            check=True,
        ).stdout

    def standby(self, node: str) -> bool:
        return self._ask("crm_standby", "--node", node, "--query").split()[-1] == "value=on"

    def running_on(self, resource: str) -> str:
        return self._ask("crm_resource", "--locate", "--resource", resource).split()[-1]

    def move_when_asked(self, node: str, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            if self.standby(node):
                self._simulate()
                return


def test_the_agent_reboots_its_node_when_bootsvc_and_fleetlock_say_so(
    db: Database, store: ArtifactStore, settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    hosts = make_cluster(db, "c1", size=3, roles=("ceph-osd", "hypervisor"))
    for mac in hosts.values():
        boot(db, mac)
    cluster = Cluster(tmp_path / "cib.xml")
    shims = tmp_path / "bin"
    shims.mkdir()
    for tool in ("ceph", "systemctl"):
        (shims / tool).write_text(RECORDER)
        (shims / tool).chmod(0o755)
    # As systemd on a node whose bootsvc units all came up: none is failed.
    (shims / "systemctl").write_text(
        RECORDER.replace("#!/bin/sh\n", '#!/bin/sh\n[ "$1" = is-failed ] && exit 1\n')
    )
    calls = tmp_path / "calls"
    calls.touch()
    image_file = tmp_path / "bootsvc-image"
    image_file.write_text("IMAGE=hv\nVERSION=1\n")
    cmdline = tmp_path / "cmdline"
    values = agentfiles.context(
        settings,
        cmdline_file=str(cmdline),
        image_file=str(image_file),
        run_dir=str(tmp_path / "run"),
        drain_timeout_s=30,
        health_timeout_s=10,
        poll_s=1,
    )
    agent = _write(tmp_path / "root", values)[agentfiles.AGENT]
    env = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "CIB_file": str(cluster.path),
        "CALLS": str(calls),
    }
    mac = hosts["c1n0"]
    # c1n0 boots at 127.0.0.1, the address bootsvc leased to it.
    factory.lease(db, "127.0.0.1", mac)
    with live_server(data_dir, db.url) as server:

        def node_boots() -> str:
            """c1n0 fetches its script; its kernel runs with the script's arguments."""
            script = requests.get(f"{server.url}/boot/node.ipxe", params={"mac": mac}, timeout=10)
            assert script.status_code == 200
            cmdline.write_text(factory.kernel_arguments(script.text))
            return script.text

        first = node_boots()
        up = {"mac": mac, "stage": "up", "image": "hv", "version": "1"}
        token = {"Authorization": f"Bearer {factory.boot_token(first)}"}
        assert requests.post(f"{server.url}/boot/report", json=up, headers=token, timeout=10).ok

        def run(mode: str) -> str:
            done = subprocess.run(
                [str(agent), mode], env=env, capture_output=True, text=True, timeout=90, check=False
            )
            assert done.returncode == 0, done.stderr
            return done.stderr

        assert run("check") == ""
        assert calls.read_text() == ""
        with db.write() as session:
            releases.promote(session, store, settings, "hv", "2", "stable", "test")
        stop = threading.Event()
        mover = threading.Thread(target=cluster.move_when_asked, args=("c1n0", stop))
        mover.start()
        try:
            said = run("check")
        finally:
            stop.set()
            mover.join()
        assert "runs hv 1; bootsvc wants hv 2" in said and "rebooting into hv 2" in said
        assert calls.read_text().splitlines() == [
            "ceph osd set-group noout c1n0 standby=on running=0",
            "systemctl reboot standby=on running=0",
        ]
        assert cluster.running_on("vm1") != "c1n0"
        with db.read() as session:
            holders = session.scalar(select(func.count()).select_from(RebootSlot))
        assert holders == 1

        assert "boots hv 2" in node_boots()
        image_file.write_text("IMAGE=hv\nVERSION=2\n")
        said = run("booted")
        assert "up on hv 2; reboot slot released" in said
        assert run("check") == ""
    assert calls.read_text().splitlines()[2:] == [
        "ceph osd unset-group noout c1n0 standby=off running=0"
    ]
    assert not cluster.standby("c1n0")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(RebootSlot)) == 0
        last = session.scalar(select(NodeBoot).order_by(NodeBoot.id.desc()))
        assert last is not None and last.outcome == "up"
        assert last.details["by"] == "bootsvc-agent"
        rollout = session.scalar(select(Rollout))
        assert rollout is not None and rollout.wave == 2
        locks = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject == "fleetlock/c1/default")
                .order_by(AuditEntry.id)
            )
        )
    assert locks == ["fleetlock.lock", "fleetlock.unlock"]
