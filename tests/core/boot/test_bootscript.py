from __future__ import annotations

import re

from bootsvc.core.boot import bootscript
from bootsvc.core.boot.bootplan import BootPlan, NoBoot
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb import cmdb
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory

SITE = BootSite(base_url="http://10.0.0.1:8080", template_dir=None, default_image="")
MAC = "52:54:00:aa:bb:01"
# The address the scripts are fetched from.
IP = "10.0.0.50"


def script(
    db: Database, site: BootSite = SITE, mac: str = MAC, **extra: str
) -> bootscript.NodeScript:
    return bootscript.serve_node_script(db, site, Machine(mac=mac, ip=IP, **extra))


def test_first_script_chains_with_identity_variables() -> None:
    text = bootscript.first_script(SITE)
    assert text.startswith("#!ipxe\n")
    chain = next(line for line in text.splitlines() if line.startswith("chain"))
    for variable in (
        "${mac:hexhyp}",
        "${uuid}",
        "${serial:uristring}",
        "${asset:uristring}",
        "${buildarch}",
    ):
        assert variable in chain
    assert "http://10.0.0.1:8080/boot/node.ipxe?" in chain


def test_assigned_node_gets_kernel_initrds_and_initrd_names(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(
        db,
        store,
        "hv",
        "1",
        cmdline="boot=live fetch={{ rootfs_url }} host={{ hostname }}",
        rootfs=True,
        initrds=2,
    )
    factory.promote(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv@stable")
    result = script(db)
    assert isinstance(result.plan, BootPlan) and result.plan.version == "1"
    text = result.text
    kernel = next(line for line in text.splitlines() if line.startswith("kernel "))
    assert "--name vmlinuz" in kernel
    assert (
        "initrd=initrd0.img initrd=initrd1.img "
        "initrd=bootsvc-overlay.cpio.gz initrd=bootsvc-secrets.cpio.gz"
    ) in kernel
    assert "BOOTIF=01-52-54-00-aa-bb-01" in kernel
    assert "host=hv1" in kernel
    assert re.search(
        r"fetch=http://10\.0\.0\.1:8080/artifacts/[0-9a-f]{64}/root\.squashfs ", kernel
    )
    initrds = [line for line in text.splitlines() if line.startswith("initrd ")]
    assert [line.split()[2] for line in initrds] == [
        "initrd0.img",
        "initrd1.img",
        "bootsvc-overlay.cpio.gz",
        "bootsvc-secrets.cpio.gz",
    ]
    assert "stage=kernel-loaded" in text
    token = factory.boot_token(text)
    assert re.search(
        rf"^imgfetch .*/boot/report\?\S*&token={token}&stage=kernel-loaded ", text, re.M
    )
    assert "boot || goto retry" in text


def test_unknown_machine_is_enlisted_and_exits(db: Database) -> None:
    result = script(db, mac="52:54:00:aa:bb:99", arch="x86_64")
    assert isinstance(result.plan, NoBoot)
    assert "waits for an admin" in result.plan.reason
    assert result.text.rstrip().endswith("exit")
    with db.read() as session:
        node = cmdb.find_by_mac(session, "52:54:00:aa:bb:99")
        assert node is not None and node.state == "new" and node.facts["arch"] == "x86_64"
    again = script(db, mac="52:54:00:aa:bb:99")
    assert again.node_id == result.node_id


def test_default_image_boots_new_and_unassigned_nodes(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    site = BootSite(base_url=SITE.base_url, template_dir=None, default_image="hv@stable")
    result = script(db, site, mac="52:54:00:aa:bb:98")
    assert isinstance(result.plan, BootPlan) and "default image" in result.plan.reason


def test_pinned_version_wins_over_channel(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.version(db, store, "hv", "2")
    factory.promote(db, store, "hv", "2")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], image="hv=1")
    result = script(db)
    assert isinstance(result.plan, BootPlan) and (result.plan.version, result.plan.reason) == (
        "1",
        "pinned",
    )


def test_disabled_node_and_empty_channel_exit_with_a_reason(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], image="hv@stable")
    result = script(db)
    assert isinstance(result.plan, NoBoot) and "points at no version" in result.plan.reason
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], state="disabled")
    assert "disabled" in script(db).text


def test_identity_falls_back_to_uuid_and_serial(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], serial="SN-77", image="hv=1")
    result = script(db, mac="52:54:00:aa:bb:55", serial="SN-77")
    assert result.hostname == "hv1"
