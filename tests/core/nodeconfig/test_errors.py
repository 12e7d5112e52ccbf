"""Bad input gives a clear error naming the node and the template and line
(or the setting), and the node is held in the rescue script instead of
booting half-configured, with the reason in a failed boot report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bootsvc.core.boot import bootscript, reports
from bootsvc.core.boot.bootplan import BootPlan
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.core.nodeconfig.render import rendered
from tests.support import factory, nodeclusters


def failure(db: Database, hostname: str, template_dir: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        rendered(db, hostname, template_dir)
    return caught.value


def set_settings(db: Database, cluster: str, **settings: Any) -> None:
    with db.write() as session:
        cmdb.patch_cluster(session, cluster, factory.ACTOR, settings=settings)


def test_template_errors_name_the_node_template_and_line(db: Database, tmp_path: Path) -> None:
    nodeclusters.two_node_cluster(db)
    site = tmp_path / "site"
    (site / "overlay/etc").mkdir(parents=True)
    (site / "overlay/etc/hostname.j2").write_text("{{ node.hostname }}\n{% if %}\n")
    error = failure(db, "pair1", site)
    assert (error.template, error.line) == ("overlay/etc/hostname.j2", 2)
    assert error.message.startswith("node pair1: template overlay/etc/hostname.j2 line 2: syntax")
    (site / "overlay/etc/hostname.j2").write_text("{{ node.hostname }}\n\n{{ node.nickname }}\n")
    error = failure(db, "pair1", site)
    assert (error.template, error.line) == ("overlay/etc/hostname.j2", 3)
    assert "nickname" in error.reason


def test_a_missing_setting_names_the_template_line_and_setting(db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    set_settings(db, "pair", pacemaker={"stonith_timeout": "90s"})
    error = failure(db, "pair2")
    assert error.template == "overlay/usr/local/lib/bootsvc/pacemaker-properties.j2"
    assert error.line == 7
    assert error.setting == "pacemaker.stonith_enabled"
    assert error.message == (
        "node pair2: template overlay/usr/local/lib/bootsvc/pacemaker-properties.j2 line 7, "
        "setting pacemaker.stonith_enabled: cluster pair: pacemaker.stonith_enabled is missing"
    )
    set_settings(db, "pair", pacemaker={"stonith_enabled": "maybe"})
    assert "stonith_enabled" in failure(db, "pair2").reason


def test_a_malformed_setting_is_named(db: Database) -> None:
    nodeclusters.three_node_cluster(db)
    set_settings(db, "lab", time={"servers": ["ntp1.example.org", "not a host!"]})
    error = failure(db, "hv1")
    assert error.template == "overlay/etc/chrony/chrony.conf.j2"
    assert error.setting == "time.servers.1" and "not a host!" in error.reason


def test_interfaces_that_do_not_match_the_layout(db: Database) -> None:
    nodeclusters.three_node_cluster(db)
    layout = dict(nodeclusters.THREE_SETTINGS["network"])
    layout["bridges"] = {**layout["bridges"], "br-ex": {"ports": ["eth9"], "networks": ["mgmt"]}}
    set_settings(db, "lab", network=layout)
    error = failure(db, "hv1")
    assert error.setting == "network.bridges.br-ex.ports"
    assert error.reason == "hv1 has no interface eth9 (it has eth0, eth1, eth2, eth3, eth4)"
    # A node whose facts override the layout is judged by its own.
    with db.write() as session:
        node = cmdb.get_node(session, "hv2")
        node.facts = {**node.facts, "network": {"bridges": {"br-ex": {"ports": ["bond0"]}}}}
    error = failure(db, "hv2")
    assert error.setting == "facts.addresses.storage"
    assert error.reason.startswith("hv2 has an address in network storage, which no bridge")


def test_the_ring_needs_its_own_bridge(db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    layout = {"bridges": {"br0": {"ports": ["eth1"], "networks": ["ring", "mgmt"]}}}
    set_settings(db, "pair", network=layout)
    error = failure(db, "pair1")
    assert error.setting == "network.bridges"
    assert "ring network ring needs an Open vSwitch bridge of its own" in error.reason


def test_a_member_without_a_ring_address_stops_every_member(db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    factory.node(db, hostname="pair3", cluster="pair", interfaces=[{"mac": "52:54:00:d0:00:01"}])
    error = failure(db, "pair1")
    assert error.template == "overlay/etc/corosync/corosync.conf.j2"
    assert error.reason.startswith("member pair3 has no address in network ring (10.31.0.0/24)")


def test_the_node_is_held_in_the_rescue_script_until_fixed(
    db: Database, store: ArtifactStore, caplog: pytest.LogCaptureFixture
) -> None:
    nodeclusters.two_node_cluster(db)
    factory.version(db, store, "hv", "1")
    factory.node(
        db, hostname="pair1", interfaces=[{"mac": nodeclusters.mac(0x11, 0)}], image="hv=1"
    )
    set_settings(db, "pair", pacemaker={})
    site = BootSite("http://10.1.0.1:8080", None, "")
    machine = Machine(mac=nodeclusters.mac(0x11, 0), ip="10.1.0.11")
    log = logging.getLogger("bootsvc.http")
    with caplog.at_level(logging.INFO, "bootsvc.http"):
        held = bootscript.deliver_node_script(db, site, machine, log)
    assert held.text.startswith("#!ipxe")
    assert "kernel " not in held.text and "is held back" in held.text
    assert "chain --autofree http://10.1.0.1:8080/boot/node.ipxe?mac=${mac:hexhyp}" in held.text
    reason = next(line for line in held.text.splitlines() if "node pair1:" in line)
    assert reason.startswith("echo bootsvc: node pair1: template ")
    assert reason.endswith("pacemaker.stonith_enabled is missing")
    with db.read() as session:
        report = reports.recent(session, "pair1")[0]
    assert report.stage == "failed" and report.version == "1"
    assert report.details["template"] == "overlay/usr/local/lib/bootsvc/pacemaker-properties.j2"
    assert report.details["line"] == 7 and report.details["setting"] == "pacemaker.stonith_enabled"
    logged = next(r for r in caplog.records if r.getMessage() == "boot.config_failed")
    fields = logged.fields  # type: ignore[attr-defined]
    assert (fields["mac"], fields["ip"], fields["stage"]) == (machine.mac, machine.ip, "failed")
    set_settings(db, "pair", pacemaker={"stonith_enabled": True})
    fixed = bootscript.deliver_node_script(db, site, machine, log)
    assert isinstance(fixed.plan, BootPlan) and "kernel --name vmlinuz" in fixed.text


def test_ceph_settings_need_a_monitor(db: Database) -> None:
    nodeclusters.three_node_cluster(db)
    for hostname in ("hv1", "hv2", "hv3"):
        with db.write() as session:
            cmdb.patch_node(session, hostname, NodeRecord(roles=["hypervisor"]), factory.ACTOR)
    error = failure(db, "hv2")
    assert error.template == "overlay/etc/ceph/ceph.conf.j2"
    assert error.reason == "cluster lab has ceph settings but no member with role ceph-mon"
