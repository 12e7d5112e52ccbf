"""A node's own files over TFTP, for the signed GRUB, which cannot speak
HTTP: the TFTP twins of /boot/nodes/HOST/{overlay,secrets} and /boot/report,
by the same names with the query in the file name. The same checks as over
HTTP: secrets once per token to the script's address, reports only with the
node's boot token from its own address. A refusal is a TFTP error and a log
line with the reason."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bootsvc.core.access import nodeaccess
from bootsvc.core.boot import reports
from bootsvc.core.boot.bootscript import BootSite
from bootsvc.core.cmdb.names import unicast_mac
from bootsvc.core.nodeconfig import bootfetch, cpio, delivery
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.errors import InvalidInput, SettingsError
from bootsvc.logs import event
from bootsvc.net.tftp import AccessDenied, FileMissing, OpenedFile, Refused, in_memory
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.tftp")

_NODE_FILE = re.compile(r"boot/nodes/([A-Za-z0-9-]{1,63})/([^/]+)")
REPORT = "boot/report"


class NodeFilesOverTftp:
    def __init__(self, db: Database, site: BootSite, secrets: bootfetch.SecretFetch) -> None:
        self.db = db
        self.site = site
        self.secrets = secrets

    def open(self, name: str, ip: str) -> OpenedFile | None:
        """The file, or None for a name that is none of these."""
        parts = urlsplit(name)
        query = dict(parse_qsl(parts.query))
        if parts.path == REPORT:
            return self._report(query, ip)
        found = _NODE_FILE.fullmatch(parts.path)
        if found is None:
            return None
        hostname, file = found[1], found[2]
        if file == delivery.OVERLAY_NAME:
            return self._overlay(hostname, query, ip)
        if file == delivery.SECRETS_NAME:
            return self._secrets(hostname, query.get("token", ""), ip)
        return None

    def _overlay(self, hostname: str, query: dict[str, str], ip: str) -> OpenedFile:
        where: dict[str, Any] = {"ip": ip, "stage": "overlay", "node": hostname}
        try:
            boot = bootfetch.boot_info(self.site.api_url, query)
            found = bootfetch.overlay(
                self.db, self.site.template_dir, self.site.agent, hostname, boot
            )
        except (InvalidInput, ConfigError) as exc:
            event(log, "boot.overlay_failed", logging.WARNING, error=exc.message, **where)
            raise FileMissing("no overlay") from None
        event(log, "boot.overlay", bytes=len(found.archive), mac=boot.mac, **where)
        return in_memory(found.archive, boot.mac)

    def _secrets(self, hostname: str, token: str, ip: str) -> OpenedFile:
        where: dict[str, Any] = {"ip": ip, "stage": "secrets", "node": hostname}
        try:
            spent, files = self.secrets.spend(self.db, hostname, token, ip)
        except nodeaccess.Refused as exc:
            event(log, "boot.secrets_refused", logging.WARNING, reason=str(exc), **where)
            raise AccessDenied("secrets are only for the node they belong to") from None
        except SettingsError as exc:
            event(log, "boot.secrets_failed", logging.ERROR, error=exc.message, **where)
            raise Refused("this server cannot open the node's secrets; its log says why") from None
        event(log, "boot.secrets", files=len(files), mac=spent.mac, **where)
        return in_memory(cpio.pack_gz(files), spent.mac)

    def _report(self, query: dict[str, str], ip: str) -> OpenedFile:
        stage = query.get("stage", "")
        where: dict[str, Any] = {"ip": ip, "stage": stage}
        try:
            if stage not in reports.STAGES:
                raise InvalidInput(f"stage must be one of {', '.join(reports.STAGES)}")
            mac = unicast_mac(query.get("mac", ""))
            with self.db.write() as session:
                caller = nodeaccess.boot_caller(session, query.get("token", ""), ip, mac)
                image, version = query.get("image"), query.get("version")
                version_id = (
                    reports.version_id_of(session, image, version) if image and version else None
                )
                reports.record(session, stage, mac, ip, caller.node_id, version_id)
                hostname = caller.hostname
        except (InvalidInput, nodeaccess.Refused) as exc:
            reason = exc.message if isinstance(exc, InvalidInput) else str(exc)
            event(log, "boot.report_refused", logging.WARNING, error=reason[:200], **where)
            raise AccessDenied("report refused") from None
        event(log, "boot.report", mac=mac, node=hostname, image=image, version=version, **where)
        return in_memory(b"ok\n", mac)
