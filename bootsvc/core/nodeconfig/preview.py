"""`bootsvc node render` and its API twin: the files a node would get if it
booted now, and how they differ from what it was last served. Secrets are
named, never shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bootsvc.core.boot import bootplan
from bootsvc.core.boot.bootplan import BootPlan
from bootsvc.core.cmdb import cmdb
from bootsvc.core.nodeconfig import files, inputs, secretfiles, served
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext
from bootsvc.core.nodeconfig.problems import ConfigError, Problem
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.errors import NotFound
from bootsvc.store.db import Database


class FileView(BaseModel):
    path: str
    mode: str
    owner: str
    content: str | None = None
    link: str | None = None


class NodeConfigView(BaseModel):
    hostname: str
    image: str | None
    version: str | None
    files: list[FileView]
    secrets: list[str]


class ConfigDiffView(BaseModel):
    hostname: str
    served_at: datetime | None
    served_version: str | None
    changed: bool
    diff: str


def _only(found: list[files.NodeFile], path: str | None) -> list[files.NodeFile]:
    if path is None:
        return found
    chosen = [f for f in found if f.path == path]
    if not chosen:
        raise NotFound(f"the node gets no public file {path}")
    return chosen


@dataclass(frozen=True)
class Previews:
    db: Database
    template_dir: Path | None
    api_url: str
    default_image: str
    agent: Mapping[str, Any]

    def _render(
        self, hostname: str
    ) -> tuple[NodeContext, list[files.NodeFile], served.Served | None]:
        with self.db.read() as session:
            node = cmdb.get_node(session, hostname)
            plan = bootplan.resolve(session, node, self.default_image)
            last = served.last_served(session, node.id)
            macs = [i.mac for i in sorted(node.interfaces, key=lambda i: i.name)]
            name = node.hostname
            snapshot = inputs.load(session, name)
        image, version = (plan.image, plan.version) if isinstance(plan, BootPlan) else (None, None)
        mac = last.mac if last is not None and last.mac else next(iter(macs), None)
        ctx = NodeContext(snapshot, name, BootInfo(self.api_url, mac, image, version), self.agent)
        return ctx, files.public(Templates(self.template_dir), ctx), last

    def files(self, hostname: str, path: str | None = None) -> NodeConfigView:
        """The node's public files, and the paths of its secret files."""
        ctx, found, _last = self._render(hostname)
        try:
            secret_paths = [spec.path for spec in secretfiles.secret_files(ctx)]
        except Problem as exc:
            raise ConfigError(ctx.node.hostname, exc.reason, setting=exc.setting) from None
        return NodeConfigView(
            hostname=ctx.node.hostname,
            image=ctx.boot.image,
            version=ctx.boot.version,
            files=[FileView(**f.view()) for f in _only(found, path)],
            secrets=secret_paths,
        )

    def diff(self, hostname: str, path: str | None = None) -> ConfigDiffView:
        """What the node's next boot would change, against what it was last served."""
        ctx, found, last = self._render(hostname)
        text = served.diff(last.files if last is not None else [], found, path)
        return ConfigDiffView(
            hostname=ctx.node.hostname,
            served_at=last.at if last else None,
            served_version=last.version if last else None,
            changed=bool(text),
            diff=text,
        )
