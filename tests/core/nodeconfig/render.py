"""Rendering a node's files the way the overlay does, for tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bootsvc.core.nodeconfig import files, inputs
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.store.db import Database

BOOT = BootInfo("http://10.0.0.1:8080", "52:54:00:c0:01:00", "hv", "7")


def context(
    db: Database, hostname: str, boot: BootInfo = BOOT, agent: Mapping[str, Any] | None = None
) -> NodeContext:
    with db.read() as session:
        snapshot = inputs.load(session, hostname)
    return NodeContext(snapshot, hostname, boot, agent)


def rendered(
    db: Database,
    hostname: str,
    template_dir: Path | None = None,
    boot: BootInfo = BOOT,
    agent: Mapping[str, Any] | None = None,
) -> dict[str, files.NodeFile]:
    """`agent` moves the files the node's scripts read (bootsvc.core.boot.agentfiles)."""
    found = files.public(Templates(template_dir), context(db, hostname, boot, agent))
    return {file.path: file for file in found}


def text(found: dict[str, files.NodeFile], path: str) -> str:
    return found[path].content.decode()
