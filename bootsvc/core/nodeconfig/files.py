"""Which files a node gets: the one place that decides, as a list of specs
(target path, template, mode, owner). What goes into them is up to the
templates, under templates/overlay/ by target path, which a site overrides
with a file of the same name in its template directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bootsvc.core.boot import agentfiles
from bootsvc.core.nodeconfig.context import NodeContext
from bootsvc.core.nodeconfig.network import Link
from bootsvc.core.nodeconfig.problems import ConfigError, Problem
from bootsvc.core.nodeconfig.templating import Templates

SCRIPTS = "/usr/local/lib/bootsvc"
UNITS = "/etc/systemd/system"
# 05-: before the images' own catch-all files (debian-hypervisor's
# 10-boot.network), since networkd takes the first file that matches a link.
NETWORKD = "/etc/systemd/network"
NETWORKD_PREFIX = "05-bootsvc-"


@dataclass(frozen=True)
class FileSpec:
    path: str
    template: str | None = None
    mode: int = 0o644
    owner: tuple[int, int] = (0, 0)
    link: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Rendered from `extra` alone, the same for every node.
    shared: bool = False

    @classmethod
    def overlay(cls, path: str, mode: int = 0o644, **extra: Any) -> FileSpec:
        """A file rendered from the template of the same path under overlay/."""
        return cls(path, f"overlay{path}.j2", mode, extra=extra)


@dataclass(frozen=True)
class NodeFile:
    """A file as the node gets it: contents, or a symlink's target."""

    path: str
    mode: int
    owner: tuple[int, int]
    content: bytes = b""
    link: str | None = None

    def view(self) -> dict[str, Any]:
        found: dict[str, Any] = {"path": self.path, "mode": f"{self.mode:04o}"}
        found["owner"] = f"{self.owner[0]}:{self.owner[1]}"
        if self.link is not None:
            found["link"] = self.link
        else:
            found["content"] = self.content.decode("utf-8", errors="replace")
        return found


def _unit(name: str, script: str | None = None) -> list[FileSpec]:
    """A unit, its script, and the link that enables it."""
    unit = f"{UNITS}/{name}"
    specs = [FileSpec.overlay(unit)]
    if script:
        specs.insert(0, FileSpec.overlay(f"{SCRIPTS}/{script}", 0o755))
    specs.append(FileSpec(f"{UNITS}/multi-user.target.wants/{name}", link=unit))
    return specs


def _networkd(link: Link) -> list[FileSpec]:
    stem = f"{NETWORKD}/{NETWORKD_PREFIX}{link.name}"
    specs = [FileSpec(f"{stem}.network", "overlay/etc/systemd/network/link.network.j2")]
    if link.has_netdev:
        specs.insert(0, FileSpec(f"{stem}.netdev", "overlay/etc/systemd/network/link.netdev.j2"))
    return [FileSpec(s.path, s.template, extra={"link": link}) for s in specs]


def _agent(ctx: NodeContext) -> list[FileSpec]:
    """The node agent, the same on every node; its own module
    says where its files go."""
    return [
        FileSpec(file.target, file.template, file.mode, extra=ctx.agent, shared=True)
        for file in agentfiles.FILES
    ]


def public_files(ctx: NodeContext) -> list[FileSpec]:
    specs = [
        FileSpec.overlay("/etc/hostname"),
        FileSpec.overlay("/etc/hosts"),
        FileSpec.overlay("/etc/bootsvc/boot.env"),
        # Named apart from the image recipes' own bootsvc-report.service
        # (debian-hypervisor's prints the lab's console markers).
        *_unit("bootsvc-up.service", "report-up"),
        *_agent(ctx),
    ]
    for link in ctx.net.links:
        specs += _networkd(link)
    if ctx.net.bridges:
        specs += _unit("bootsvc-ovs-layout.service", "ovs-layout")
    if ctx.corosync is not None:
        specs.append(FileSpec.overlay("/etc/corosync/corosync.conf"))
        specs += _unit("bootsvc-pacemaker-properties.service", "pacemaker-properties")
    if ctx.disks is not None:
        specs.append(FileSpec.overlay("/etc/bootsvc/disks.env"))
        specs += _unit("bootsvc-disks.service", "disks")
    if ctx.ceph is not None:
        specs.append(FileSpec.overlay("/etc/ceph/ceph.conf"))
        if ctx.disks is not None:
            specs += _unit("bootsvc-ceph.service", "ceph")
    if ctx.settings.has("time"):
        specs.append(FileSpec.overlay("/etc/chrony/chrony.conf"))
    if ctx.settings.has("ssh"):
        specs.append(FileSpec.overlay("/root/.ssh/authorized_keys", 0o600))
    return specs


def _render(templates: Templates, ctx: NodeContext, specs: list[FileSpec]) -> list[NodeFile]:
    base = {**ctx.values(), "files": [spec.path for spec in specs]}
    rendered = []
    for spec in specs:
        if spec.link is not None or spec.template is None:
            rendered.append(NodeFile(spec.path, 0o777, spec.owner, link=spec.link))
            continue
        if spec.shared:
            text = templates.render_shared(ctx.node.hostname, spec.template, dict(spec.extra))
        else:
            text = templates.render(ctx.node.hostname, spec.template, {**base, **spec.extra})
        rendered.append(NodeFile(spec.path, spec.mode, spec.owner, text.encode()))
    return rendered


def public(templates: Templates, ctx: NodeContext) -> list[NodeFile]:
    """Every public file of the node, or a ConfigError naming the node, and
    the template and line or the setting of the first that fails."""
    try:
        specs = public_files(ctx)
    except Problem as exc:
        raise ConfigError(ctx.node.hostname, exc.reason, setting=exc.setting) from None
    return _render(templates, ctx, specs)
