from __future__ import annotations

import re
import shlex
import subprocess

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


def grub_checked(text: str) -> str:
    """GRUB's own parser (grub-common's grub-script-check) accepts it."""
    checked = subprocess.run(
        ["grub-script-check"], check=False, input=text.encode(), capture_output=True
    )
    assert checked.returncode == 0, checked.stderr.decode() + text
    return text


def grub_words(line: str) -> list[str]:
    return shlex.split(line.strip().removesuffix("; then"))


def test_grub_config_is_the_ipxe_script_rendered_for_grub(
    db: Database, store: ArtifactStore
) -> None:
    cmdline = "boot=live fetch={{ rootfs_url }}"
    factory.version(db, store, "hv", "1", cmdline=cmdline, rootfs=True, kernel_signed=True)
    factory.promote(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv@stable")
    ipxe = script(db).text
    grub = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=IP), bootscript.GRUB)
    text = grub_checked(grub.text)
    lines = text.splitlines()
    linux = grub_words(next(line for line in lines if line.strip().startswith("if linux ")))
    kernel = next(line for line in ipxe.splitlines() if line.startswith("kernel "))
    # The same command line, token aside: each script mints its own.
    tokenless = re.compile(r"bootsvc\.token=\S+")
    ipxe_cmdline = kernel.removesuffix(" || goto retry").split(" ", 4)[4]
    # One word per parameter: GRUB would pass one word as one parameter.
    assert tokenless.sub("", " ".join(linux[3:])) == tokenless.sub("", ipxe_cmdline)
    assert any(word.startswith("bootsvc.token=") for word in linux[3:])
    assert re.fullmatch(r"/artifacts/[0-9a-f]{64}/vmlinuz", linux[2])
    initrd = grub_words(next(line for line in lines if line.strip().startswith("if initrd ")))
    assert re.fullmatch(r"/artifacts/[0-9a-f]{64}/initrd0\.img", initrd[2])
    assert initrd[3].startswith("/boot/nodes/hv1/bootsvc-overlay.cpio.gz?mac=52")
    assert re.fullmatch(r"/boot/nodes/hv1/bootsvc-secrets\.cpio\.gz\?token=\S+", initrd[4])
    report = grub_words(next(line for line in lines if line.strip().startswith("cat ")))
    assert report[1].startswith("/boot/report?mac=") and report[1].endswith("&stage=kernel-loaded")
    assert "for attempt in 1 2 3 4 5 6 7 8 9 10; do" in text
    assert grub_words(next(line for line in lines if "configfile" in line))[1] == (
        f"/grub/node/{MAC}.cfg"
    )


def test_kernel_parameters_reach_grub_one_word_each() -> None:
    """GRUB quotes a word with a space in it as the kernel's own `name="a b"`."""
    cmdline = 'console=ttyS0 quiet  msg="a b" "x=c d" ip=::::h:eth0:dhcp'
    assert bootscript.kernel_words(cmdline) == [
        "console=ttyS0",
        "quiet",
        "msg=a b",
        "x=c d",
        "ip=::::h:eth0:dhcp",
    ]


def test_grub_config_for_a_machine_that_boots_nothing_says_why(db: Database) -> None:
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], state="disabled")
    grub = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=IP), bootscript.GRUB)
    text = grub_checked(grub.text)
    assert "bootsvc: hv1: node is disabled" in text and "\nexit\n" in text


def test_first_grub_config_loads_the_machines_own() -> None:
    text = grub_checked(bootscript.first_grub_config(SITE))
    assert 'configfile "/grub/node/${net_default_mac}.cfg?arch=${grub_cpu}"' in text


def test_a_machine_is_refused_a_version_of_another_architecture(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1", architecture="arm64")
    factory.promote(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv@stable")
    for buildarch in ("x86_64", "i386"):
        refused = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=IP, arch=buildarch))
        assert refused.plan == NoBoot("hv 1 is built for arm64, and this machine is x86_64")
        assert "hv 1 is built for arm64" in refused.text and "kernel " not in refused.text
    arm = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=IP, arch="arm64"))
    assert isinstance(arm.plan, BootPlan) and "kernel " in arm.text


def test_secure_boot_node_is_refused_a_version_whose_kernel_is_not_signed(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1", kernel_signed=False)
    factory.promote(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv@stable")
    grub = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=IP), bootscript.GRUB)
    assert grub.plan == NoBoot(
        "hv 1: its kernel is not signed, and a Secure Boot node boots only a signed kernel"
    )
    text = grub_checked(grub.text)
    assert "bootsvc: hv1: hv 1: its kernel is not signed" in text
    assert "linux " not in text and "/artifacts/" not in text
    # The same version still boots through iPXE: only the Secure Boot path refuses it.
    assert isinstance(script(db).plan, BootPlan)
