"""The iPXE scripts: the generic /boot.ipxe every iPXE fetches first, and
each node's own script, rendered from templates/ipxe/ for the version the
boot plan chose. Served over HTTP and TFTP alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session

from bootsvc.core import bootplan, cmdb, cmdline, render
from bootsvc.core.bootplan import BootFile, BootPlan, NoBoot
from bootsvc.errors import Conflict
from bootsvc.store.db import Database
from bootsvc.store.models import Node

RETRY_DELAY_SECONDS = 5
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class BootSite:
    """What scripts need to know about this server."""

    base_url: str
    template_dir: Path | None
    default_image: str


@dataclass(frozen=True)
class Machine:
    """What iPXE tells us about the machine asking."""

    mac: str | None
    ip: str | None
    uuid: str | None = None
    serial: str | None = None
    asset: str | None = None
    arch: str | None = None
    platform: str | None = None

    def facts(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in (
                ("arch", self.arch),
                ("platform", self.platform),
                ("asset", self.asset),
            )
            if value
        }


@dataclass(frozen=True)
class NodeScript:
    text: str
    hostname: str | None
    node_id: int | None
    plan: BootPlan | NoBoot


def first_script(site: BootSite) -> str:
    return render.render(site.template_dir, "ipxe/boot.ipxe.j2", {"base_url": site.base_url})


def identify(session: Session, machine: Machine) -> Node | None:
    if machine.mac:
        node = cmdb.find_by_mac(session, machine.mac)
        if node is not None:
            return node
    if machine.uuid:
        node = cmdb.find_by_uuid(session, machine.uuid)
        if node is not None:
            return node
    if machine.serial:
        return cmdb.find_by_serial(session, machine.serial)
    return None


def _enlist(db: Database, machine: Machine, mac: str) -> None:
    """Record a first boot. Two first boots at once race on the MAC's unique
    index; the loser finds the winner's row."""
    try:
        with db.write() as session:
            if identify(session, machine) is None:
                cmdb.enlist(
                    session,
                    mac,
                    machine.facts(),
                    uuid=machine.uuid,
                    serial=machine.serial,
                    asset_tag=machine.asset,
                )
    except Conflict:
        pass


def serve_node_script(db: Database, site: BootSite, machine: Machine) -> NodeScript:
    """The script for the machine asking, enlisting it on its first boot."""
    with db.read() as session:
        node = identify(session, machine)
        if node is not None or not machine.mac:
            return node_script(site, session, node, machine)
    _enlist(db, machine, machine.mac)
    with db.read() as session:
        return node_script(site, session, identify(session, machine), machine)


def artifact_url(site: BootSite, file: BootFile, mac: str | None = None) -> str:
    url = f"{site.base_url}/artifacts/{file.sha256}/{quote(file.name)}"
    return f"{url}?{urlencode({'mac': mac}, safe=':')}" if mac else url


def kernel_cmdline(
    site: BootSite, plan: BootPlan, node: Node, mac: str | None, ip: str | None
) -> str:
    values = {
        "base_url": site.base_url,
        "image": plan.image,
        "version": plan.version,
        "hostname": node.hostname,
        "mac": mac or "",
        "ip": ip or "",
        "cluster": node.cluster.name if node.cluster else "",
    }
    if plan.rootfs is not None:
        values["rootfs_url"] = artifact_url(site, plan.rootfs)
    parts = [cmdline.render(plan.cmdline_template, values)]
    # UEFI iPXE hands initrds to the kernel's EFI stub by name; BIOS ignores these.
    parts += [f"initrd={initrd.name}" for initrd in plan.initrds]
    if mac:
        parts.append("BOOTIF=01-" + mac.replace(":", "-"))
    parts.append(f"bootsvc.url={site.base_url}")
    return " ".join(part for part in parts if part)


def _noboot(site: BootSite, node: Node | None, machine: Machine, plan: NoBoot) -> NodeScript:
    context = {"reason": plan.reason, "mac": machine.mac or "?"}
    if node is not None:
        context["hostname"] = node.hostname
    text = render.render(site.template_dir, "ipxe/noboot.ipxe.j2", context)
    return NodeScript(text, node.hostname if node else None, node.id if node else None, plan)


def node_script(
    site: BootSite, session: Session, node: Node | None, machine: Machine
) -> NodeScript:
    if node is None:
        return _noboot(site, None, machine, NoBoot("machine is unknown and sent no MAC address"))
    plan = bootplan.resolve(session, node, site.default_image)
    if isinstance(plan, NoBoot):
        return _noboot(site, node, machine, plan)
    report = {"mac": machine.mac or "", "image": plan.image, "version": plan.version}
    context = {
        "base_url": site.base_url,
        "hostname": node.hostname,
        "mac": machine.mac or "",
        "plan": plan,
        "kernel": {"name": plan.kernel.name, "url": artifact_url(site, plan.kernel, machine.mac)},
        "initrds": [
            {"name": initrd.name, "url": artifact_url(site, initrd, machine.mac)}
            for initrd in plan.initrds
        ],
        "cmdline": kernel_cmdline(site, plan, node, machine.mac, machine.ip),
        "report_url": f"{site.base_url}/boot/report?{urlencode(report, safe=':')}",
        "retry_delay": RETRY_DELAY_SECONDS,
        "max_attempts": MAX_ATTEMPTS,
    }
    text = render.render(site.template_dir, "ipxe/node.ipxe.j2", context)
    return NodeScript(text, node.hostname, node.id, plan)
