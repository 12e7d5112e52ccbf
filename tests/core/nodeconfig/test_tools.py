"""The rendered files, checked by the programs that read them on a node:
corosync, ceph, Open vSwitch, systemd (units and networkd), chrony,
Pacemaker, cloud-init, ssh-keygen and ceph-authtool. The database backend
does not matter here, so these run on SQLite only."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootsvc.core.nodeconfig import cloudinit, secretfiles
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.store.db import Database
from tests.core.nodeconfig.render import context, rendered, text
from tests.core.nodeconfig.tools import extract, isolated, need, run
from tests.support import nodeclusters

THREE = ("hv1", "hv2", "hv3")
PAIR = ("pair1", "pair2")
RING = {"hv1": "10.30.0.11", "hv2": "10.30.0.12", "hv3": "10.30.0.13"}
RING |= {"pair1": "10.31.0.11", "pair2": "10.31.0.12"}


@pytest.fixture
def clusters(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "bootsvc.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    nodeclusters.three_node_cluster(db)
    nodeclusters.two_node_cluster(db)
    yield db
    db.dispose()


def secrets_of(db: Database, hostname: str, key_file: Path) -> list[NodeFile]:
    store = secretfiles.SecretStore(db, Vault.from_file(key_file))
    return secretfiles.render(Templates(None), context(db, hostname), store)


def node_root(db: Database, hostname: str, tmp_path: Path, with_secrets: bool = False) -> Path:
    files = list(rendered(db, hostname).values())
    if with_secrets:
        files += secrets_of(db, hostname, tmp_path / "secrets.key")
    return extract(files, tmp_path / hostname)


def test_corosync_accepts_the_config_of_every_member(clusters: Database, tmp_path: Path) -> None:
    """`corosync -t` finds the local node by its ring address, so each config
    is checked on a network of its own where that address is configured."""
    need("corosync", "unshare")
    for hostname in THREE + PAIR:
        root = node_root(clusters, hostname, tmp_path, with_secrets=True)
        script = (
            f"ip link set lo up; ip addr add {RING[hostname]}/32 dev lo; "
            "mount -t tmpfs tmpfs /etc/corosync; "
            f"cp {root}/etc/corosync/corosync.conf {root}/etc/corosync/authkey /etc/corosync/; "
            "corosync -t"
        )
        checked = isolated(script)
        assert checked.returncode == 0, f"{hostname}: {checked.stderr}"
        # The same file on a machine that has none of the ring addresses.
        elsewhere = isolated(script.replace(RING[hostname], "10.99.0.1"))
        said = elsewhere.stdout + elsewhere.stderr
        assert elsewhere.returncode != 0 and "No valid name found" in said


def test_ceph_reads_fsid_and_monitors_back(clusters: Database, tmp_path: Path) -> None:
    need("ceph-conf", "ceph", "unshare")
    root = node_root(clusters, "hv3", tmp_path)
    conf = str(root / "etc/ceph/ceph.conf")
    with clusters.read() as session:
        from bootsvc.core.cmdb import cmdb

        fsid = cmdb.get_cluster(session, "lab").ceph_fsid
    assert run("ceph-conf", "-c", conf, "--lookup", "fsid").stdout.strip() == fsid
    monitors = [f"[v2:10.20.0.1{n}:3300/0,v1:10.20.0.1{n}:6789/0]" for n in (1, 2, 3)]
    assert run("ceph-conf", "-c", conf, "--lookup", "mon_host").stdout.split() == monitors
    osd = run("ceph-conf", "-c", conf, "-n", "osd.0", "--lookup", "osd_memory_target")
    assert osd.stdout.strip() == str(4 << 30)
    # The Ceph client builds its first monitor map from mon_host; on a
    # network of its own, with no route anywhere, it gets no further.
    client = isolated(
        f"ceph -c {conf} --connect-timeout 1 --debug-monc 10 --keyring /dev/null -s || true",
        timeout=60,
    )
    parsed = re.findall(r"^\d+: (\[v2:\S+\]) mon\.", client.stderr, re.MULTILINE)
    assert parsed == monitors, client.stderr[-2000:]


def test_keyrings_by_role(clusters: Database, tmp_path: Path) -> None:
    need("ceph-authtool")
    key_file = tmp_path / "secrets.key"
    keyrings: dict[str, dict[str, str]] = {}
    for hostname in THREE:
        found = {f.path: f for f in secrets_of(clusters, hostname, key_file)}
        for path, file in found.items():
            if "keyring" not in path:
                continue
            assert file.mode == 0o600
            target = tmp_path / f"{hostname}-{Path(path).name}"
            target.write_bytes(file.content)
            listed = run("ceph-authtool", "-l", str(target))
            assert listed.returncode == 0, listed.stderr
            entities = re.findall(r"^\[(\S+)\]\n\s+key = (\S+)", listed.stdout, re.MULTILINE)
            keyrings.setdefault(hostname, {})[path] = " ".join(sorted(n for n, _ in entities))
            for name, key in entities:
                printed = run("ceph-authtool", str(target), "-n", name, "-p").stdout.strip()
                assert printed == key
    assert keyrings["hv1"] == {
        "/etc/ceph/ceph.client.admin.keyring": "client.admin",
        "/etc/ceph/ceph.mon.keyring": "client.admin client.bootstrap-osd client.libvirt mon.",
        "/etc/ceph/ceph.client.bootstrap-osd.keyring": "client.bootstrap-osd",
        "/etc/ceph/ceph.client.libvirt.keyring": "client.libvirt",
    }
    assert keyrings["hv3"] == {
        "/etc/ceph/ceph.mon.keyring": "client.admin client.bootstrap-osd client.libvirt mon.",
        "/etc/ceph/ceph.client.libvirt.keyring": "client.libvirt",
    }


def test_ssh_host_keys_and_corosync_authkey(clusters: Database, tmp_path: Path) -> None:
    need("ssh-keygen")
    found = {f.path: f for f in secrets_of(clusters, "pair1", tmp_path / "secrets.key")}
    authkey = found["/etc/corosync/authkey"]
    assert authkey.mode == 0o400 and len(authkey.content) == 256
    for kind in ("ed25519", "ecdsa", "rsa"):
        private = tmp_path / f"ssh_host_{kind}_key"
        private.write_bytes(found[f"/etc/ssh/ssh_host_{kind}_key"].content)
        private.chmod(0o600)
        public = found[f"/etc/ssh/ssh_host_{kind}_key.pub"].content.decode()
        derived = run("ssh-keygen", "-y", "-f", str(private))
        assert derived.returncode == 0, derived.stderr
        assert public.split()[:2] == derived.stdout.split()[:2]
        assert public.split()[2] == "root@pair1"


def test_ovs_layout_applies_to_a_scratch_ovsdb_and_again(
    clusters: Database, tmp_path: Path
) -> None:
    """The layout script against a scratch ovsdb-server with ovs-vswitchd
    running (there is no kernel datapath here, so bridges stay empty shells,
    but the database is what a node would have), twice."""
    need("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "unshare")
    root = node_root(clusters, "hv2", tmp_path)
    run_dir = tmp_path / "ovs"
    run_dir.mkdir()
    env = {**os.environ, "OVS_RUNDIR": str(run_dir), "OVS_LOGDIR": str(run_dir)}
    db_file = run_dir / "conf.db"
    schema = "/usr/share/openvswitch/vswitch.ovsschema"
    assert run("ovsdb-tool", "create", str(db_file), schema).returncode == 0
    socket = f"unix:{run_dir}/db.sock"
    daemons = [
        subprocess.Popen(
            ["ovsdb-server", str(db_file), f"--remote=p{socket}", f"--pidfile={run_dir}/db.pid"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 10
        while run("ovs-vsctl", "--no-wait", "init", env=env).returncode != 0:
            assert time.monotonic() < deadline, "ovsdb-server did not start"
            time.sleep(0.1)
        daemons.append(
            subprocess.Popen(
                ["unshare", "-rn", "ovs-vswitchd", socket, f"--pidfile={run_dir}/vs.pid"],
                env=env,
                stderr=subprocess.DEVNULL,
            )
        )
        layout = str(root / "usr/local/lib/bootsvc/ovs-layout")
        first = run("sh", layout, env=env)
        assert first.returncode == 0, first.stderr

        def vsctl(*args: str) -> str:
            return run("ovs-vsctl", "--no-wait", *args, env=env).stdout.strip()

        shown = vsctl("show")
        assert vsctl("list-br").split() == ["br-ex", "br-ring"]
        assert vsctl("list-ports", "br-ex").split() == ["bond0", "mgmt", "storage"]
        assert vsctl("list-ports", "br-ring").split() == ["ring", "ringbond"]
        assert vsctl("get", "port", "storage", "tag") == "20"
        assert vsctl("get", "port", "ring", "tag") == "30"
        assert vsctl("get", "port", "mgmt", "tag") == "[]"
        assert vsctl("get", "interface", "ring", "type") == "internal"
        assert vsctl("get", "port", "ringbond", "bond_mode") == "balance-slb"
        again = run("sh", layout, env=env)
        assert again.returncode == 0, again.stderr
        assert vsctl("show") == shown
    finally:
        for daemon in reversed(daemons):
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(10)


def test_units_pass_systemd_analyze_verify(clusters: Database, tmp_path: Path) -> None:
    """Units of the three-node and two-node clusters, with their scripts
    where the units expect them (a private mount namespace)."""
    need("systemd-analyze", "unshare")
    for hostname in ("hv1", "pair1"):
        root = node_root(clusters, hostname, tmp_path)
        units = " ".join(str(p) for p in sorted((root / "etc/systemd/system").glob("*.service")))
        checked = isolated(
            f"mount -t tmpfs tmpfs /usr/local; cp -a {root}/usr/local/. /usr/local/; "
            f"systemd-analyze verify {units}",
            network=False,
        )
        assert checked.returncode == 0 and checked.stderr == "", checked.stderr
        for unit in ("bootsvc-up", "bootsvc-pacemaker-properties", "bootsvc-agent"):
            assert f"/{unit}.service" in units
        assert ("/bootsvc-ceph.service" in units) is (hostname == "hv1")


def test_node_scripts_pass_shellcheck(clusters: Database, tmp_path: Path) -> None:
    """What runs on a node at boot: the disks, Ceph, OVS and report scripts
    of a monitor with OSDs, of a monitor without, and of a plain member."""
    need("shellcheck")
    for hostname in ("hv1", "hv3", "pair1"):
        scripts = sorted(
            (node_root(clusters, hostname, tmp_path) / "usr/local/lib/bootsvc").iterdir()
        )
        checked = run("shellcheck", "--shell=sh", "--severity=warning", *map(str, scripts))
        assert checked.returncode == 0, checked.stdout
        names = {path.name for path in scripts}
        assert {"disks", "ceph"} <= names or hostname == "pair1"


HOLD_TAP = """
import fcntl, os, struct, time
tap = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tap, 0x400454CA, struct.pack("16sH", b"ring", 0x0002 | 0x1000))
time.sleep(60)
"""


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-networkd must drop to its own user")
def test_networkd_parses_the_files_and_addresses_an_internal_port(
    clusters: Database, tmp_path: Path
) -> None:
    """systemd-networkd reads every file in a namespace of its own, and gives
    a link named like an OVS internal port (a tap here) its address."""
    need("unshare", "ip")
    root = node_root(clusters, "hv3", tmp_path)
    networkd = "/lib/systemd/systemd-networkd"
    log = tmp_path / "networkd.log"
    script = (
        "mount -t tmpfs tmpfs /etc/systemd/network; "
        f"cp {root}/etc/systemd/network/* /etc/systemd/network/; "
        "mount -t tmpfs tmpfs /run; mkdir -p /run/systemd/netif; "
        "chown -R systemd-network: /run/systemd/netif; "
        # This namespace's links, on a read-only /sys: networkd then takes
        # them as initialised without udev, as in a container.
        "mount -t sysfs -o ro sysfs /sys; "
        "ip link set lo up; ip tuntap add ring mode tap; "
        # An open tap has a carrier, as an OVS internal port always does.
        f"{sys.executable} -c {shlex.quote(HOLD_TAP)} >/dev/null 2>&1 & hold=$!; "
        f"SYSTEMD_LOG_TARGET=console {networkd} >/dev/null 2>{log} & networkd=$!; "
        "for i in $(seq 100); do "
        "  ip -4 -o addr show ring | grep -q 10.30.0.13/24 && break; sleep 0.1; "
        "done; "
        "kill $networkd $hold; wait; ip -4 -o addr show ring"
    )
    done = run("unshare", "-mn", "sh", "-euc", script, timeout=60)
    said = log.read_text()
    assert "10.30.0.13/24" in done.stdout, done.stderr + said
    assert "ring: Configuring with /etc/systemd/network/05-bootsvc-ring.network" in said
    complaints = [
        line
        for line in said.splitlines()
        if re.search(r"Unknown|ignoring|Failed to parse|Invalid", line)
    ]
    assert complaints == []


def test_chrony_accepts_its_config(clusters: Database, tmp_path: Path) -> None:
    need("chronyd")
    root = node_root(clusters, "hv1", tmp_path)
    parsed = run("chronyd", "-p", "-f", str(root / "etc/chrony/chrony.conf"))
    assert parsed.returncode == 0, parsed.stderr
    assert "server ntp1.lab.example.org iburst" in parsed.stdout


def test_pacemaker_properties_are_set_once(clusters: Database, tmp_path: Path) -> None:
    """The oneshot on a scratch CIB of a formed cluster (a DC elected, this
    machine a member): it sets the properties, then leaves them alone."""
    need("cibadmin", "crm_attribute", "crm_verify")
    root = node_root(clusters, "hv1", tmp_path)
    cib = tmp_path / "cib.xml"
    env = {**os.environ, "CIB_file": str(cib)}
    cib.write_text(run("cibadmin", "--empty").stdout)
    uname = os.uname().nodename
    assert (
        run(
            "cibadmin", "--create", "-o", "nodes", "-X", f'<node id="1" uname="{uname}"/>', env=env
        ).returncode
        == 0
    )
    attribute = ("crm_attribute", "--type", "crm_config", "--name")
    assert run(*attribute, "dc-version", "--update", "2.1.5", env=env).returncode == 0
    script = str(root / "usr/local/lib/bootsvc/pacemaker-properties")
    first = run("sh", script, env=env)
    assert first.returncode == 0, first.stderr

    def query(kind: str, name: str) -> str:
        found = run("crm_attribute", "--type", kind, "--name", name, "--query", "--quiet", env=env)
        return found.stdout.strip()

    assert query("crm_config", "stonith-enabled") == "false"
    assert query("crm_config", "no-quorum-policy") == "stop"
    assert query("crm_config", "cluster-recheck-interval") == "5min"
    assert query("rsc_defaults", "resource-stickiness") == "100"
    verified = run("crm_verify", "--xml-file", str(cib))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # An admin's later change survives the next boot's run.
    assert run(*attribute, "no-quorum-policy", "--update", "freeze", env=env).returncode == 0
    before = cib.read_text()
    assert run("sh", script, env=env).returncode == 0
    assert query("crm_config", "no-quorum-policy") == "freeze"
    assert cib.read_text() == before


def test_cloud_init_reads_the_nocloud_documents(clusters: Database, tmp_path: Path) -> None:
    need("cloud-init")
    ctx = context(clusters, "hv3")
    documents = {
        name: cloudinit.document(Templates(None), ctx, name, "0123456789abcdef")
        for name in cloudinit.DOCUMENTS
    }
    for name, body in documents.items():
        (tmp_path / name).write_text(body)
    assert yaml.safe_load(documents["meta-data"]) == {
        "instance-id": "bootsvc-hv3-0123456789abcdef",
        "local-hostname": "hv3",
    }
    schema = run("cloud-init", "schema", "--config-file", str(tmp_path / "user-data"))
    assert schema.returncode == 0, schema.stdout + schema.stderr
    written = {entry["path"] for entry in yaml.safe_load(documents["user-data"])["write_files"]}
    assert {"/etc/hostname", "/etc/corosync/corosync.conf", "/etc/ceph/ceph.conf"} <= written
    parse = (
        "import sys, yaml\n"
        "from cloudinit.net.network_state import parse_net_config_data\n"
        "state = parse_net_config_data(yaml.safe_load(open(sys.argv[1])))\n"
        "for i in state.iter_interfaces():\n"
        "    addresses = [s.get('address') for s in i.get('subnets', []) if s.get('address')]\n"
        "    print(i['name'], i['type'], *addresses)\n"
    )
    # cloud-init's own code, from its Debian package, with the system Python.
    parsed = run("/usr/bin/python3", "-c", parse, str(tmp_path / "network-config"))
    assert parsed.returncode == 0, parsed.stderr
    interfaces = {line.split()[0]: line.split()[1:] for line in parsed.stdout.splitlines()}
    assert interfaces["bond0"] == ["bond"]
    assert interfaces["eth4"] == ["physical"]
    assert interfaces["backup"] == ["vlan", "10.40.0.13"]


def test_the_overlay_unpacks_with_modes_and_links(clusters: Database, tmp_path: Path) -> None:
    need("cpio")
    root = node_root(clusters, "pair2", tmp_path)
    assert (root / "etc/hostname").read_text() == "pair2\n"
    wanted = root / "etc/systemd/system/multi-user.target.wants/bootsvc-up.service"
    assert str(wanted.readlink()) == "/etc/systemd/system/bootsvc-up.service"
    assert (root / "usr/local/lib/bootsvc/report-up").stat().st_mode & 0o777 == 0o755
    assert text(rendered(clusters, "pair2"), "/etc/hostname") == "pair2\n"
