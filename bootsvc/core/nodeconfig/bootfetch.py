"""What a booting node fetches for itself, whatever carries it: iPXE over
HTTP (bootsvc.web.nodefiles) and the signed GRUB, which speaks only TFTP
(bootsvc.core.boot.tftpfiles). The overlay is public; the secrets go once,
for the one-time token, to the address the script went to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from bootsvc.core.cmdb import names
from bootsvc.core.nodeconfig import delivery, onetime, secretfiles, served
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.core.nodeconfig.overlay import Overlay, Overlays
from bootsvc.errors import InvalidInput
from bootsvc.store.db import Database


def boot_info(url: str, query: Mapping[str, str]) -> BootInfo:
    """The boot an overlay request names (mac, image, version); InvalidInput
    for a malformed one."""
    try:
        mac = names.mac(query["mac"]) if query.get("mac") else None
        image = names.object_name(query["image"], "image") if query.get("image") else None
        version = names.object_name(query["version"], "version") if query.get("version") else None
    except InvalidInput as exc:
        raise InvalidInput(f"query: {exc.message}") from None
    return BootInfo(url, mac, image, version)


def overlay(
    db: Database, template_dir: Any, agent: Mapping[str, Any], hostname: str, boot: BootInfo
) -> Overlay:
    """The node's overlay, kept as the one it was last served; ConfigError
    when it does not render. Found and checked on one connection."""
    overlays = delivery.overlays(db, template_dir, agent)

    def read(reading: Connection) -> tuple[Overlay, bool]:
        found = overlays.get(hostname, boot, reading)
        return found, served.is_served(reading, found)

    found, was_served = db.read_statements(read)
    if not was_served:
        served.keep(db, found, boot)
    return found


@dataclass(frozen=True)
class SecretFetch:
    """Where the secrets come from: the overlay cache (its templates, and
    the nodes it has read), the sealed store, and whether the address must
    also hold a lease from bootsvc."""

    overlays: Overlays
    store: secretfiles.SecretStore
    url: str
    agent: Mapping[str, Any]
    leased: onetime.LeaseCheck | None

    def files(self, hostname: str, mac: str | None) -> list[NodeFile]:
        """The node's secret files as they are now; the caller decides who gets them."""
        snapshot = self.overlays.snapshot(hostname)
        context = NodeContext(snapshot, hostname, BootInfo(self.url, mac), self.agent)
        return secretfiles.render(self.overlays.templates, context, self.store)

    def spend(
        self, db: Database, hostname: str, token: str, ip: str | None
    ) -> tuple[onetime.Spent, list[NodeFile]]:
        """The secret files for a valid token, which is spent; Refused otherwise."""
        with db.write() as session:
            spent = onetime.spend(session, hostname, token, ip, self.leased)
        return spent, self.files(hostname, spent.mac)
