"""What each node was last served, kept so that `bootsvc node render --diff`
can show what its next boot would change. Written only when it changed, so
a boot with an unchanged overlay costs no write."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from bootsvc.core.nodeconfig import cpio
from bootsvc.core.nodeconfig.context import BootInfo
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.core.nodeconfig.overlay import Overlay
from bootsvc.store.db import Database
from bootsvc.store.models import ServedOverlay
from bootsvc.store.types import utcnow

# Built once: every overlay request asks it.
_HELD = select(ServedOverlay.digest).where(ServedOverlay.node_id == bindparam("node_id"))


def is_served(reading: Connection, overlay: Overlay) -> bool:
    """Whether `overlay` is the one the node was last served."""
    return reading.scalar(_HELD, {"node_id": overlay.node_id}) == overlay.sha256


def keep(db: Database, overlay: Overlay, boot: BootInfo) -> None:
    """Keep `overlay` as the node's last served one."""
    with db.write() as session:
        row = session.get(ServedOverlay, overlay.node_id, with_for_update=True)
        if row is None:
            row = ServedOverlay(node_id=overlay.node_id)
            session.add(row)
        row.digest = overlay.sha256
        row.archive = overlay.archive
        row.mac, row.image, row.version = boot.mac, boot.image, boot.version
        row.served_at = utcnow()


@dataclass(frozen=True)
class Served:
    files: list[NodeFile]
    mac: str | None
    image: str | None
    version: str | None
    at: datetime


def last_served(session: Session, node_id: int) -> Served | None:
    row = session.get(ServedOverlay, node_id)
    if row is None:
        return None
    return Served(cpio.unpack(row.archive), row.mac, row.image, row.version, row.served_at)


def _lines(file: NodeFile | None) -> list[str]:
    if file is None:
        return []
    header = f"# mode {file.mode:04o}, owner {file.owner[0]}:{file.owner[1]}\n"
    if file.link is not None:
        return [header, f"-> {file.link}\n"]
    body = file.content.decode("utf-8", errors="replace")
    return [header, *body.splitlines(keepends=True)]


def diff(before: list[NodeFile], after: list[NodeFile], path: str | None = None) -> str:
    """A unified diff per file (mode and owner on the first line of each)."""
    old = {f.path: f for f in before}
    new = {f.path: f for f in after}
    chunks: list[str] = []
    for name in sorted(set(old) | set(new)):
        if path is not None and name != path:
            continue
        chunks.extend(
            difflib.unified_diff(
                _lines(old.get(name)),
                _lines(new.get(name)),
                fromfile=f"served{name}" if name in old else "/dev/null",
                tofile=f"now{name}" if name in new else "/dev/null",
            )
        )
    return "".join(chunks)
