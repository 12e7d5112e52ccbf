"""A booting node's own files over HTTP, none of them written ahead of time:

- /boot/nodes/HOST/bootsvc-overlay.cpio.gz: its public files, as the extra
  initrd its iPXE script loads (anyone on the provisioning network may
  fetch it, like kernels and initrds);
- /boot/nodes/HOST/bootsvc-secrets.cpio.gz?token=...: its secrets, once, to
  the address its script went to, with the token in that script; 403 for
  anything else, with the reason in the log only;
- /boot/nocloud/HOST/{meta-data,user-data,network-config,vendor-data}: the
  public files again, for images that run cloud-init.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from bootsvc.core.access.nodeaccess import Refused
from bootsvc.core.nodeconfig import (
    bootfetch,
    cloudinit,
    cpio,
    delivery,
    leases,
    onetime,
    secretfiles,
)
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.core.nodeconfig.overlay import Overlays
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.errors import Forbidden, NotFound, SettingsError, Unavailable
from bootsvc.logs import event
from bootsvc.net.link import neighbour_mac
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.web.context import services

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("nodefiles", __name__)

_KEY = "bootsvc.nodefiles"
GZIP = "application/gzip"


@dataclass
class NodeFiles:
    settings: Settings
    db: Database

    @property
    def templates(self) -> Templates:
        """The overlay cache's, which notices template edits."""
        return self.overlays.templates

    @property
    def overlays(self) -> Overlays:
        site = services().site
        return delivery.overlays(self.db, site.template_dir, site.agent)

    @property
    def leased(self) -> onetime.LeaseCheck | None:
        """With bootsvc's own DHCP or DHCPv6, a secrets request must also
        come from an address bootsvc leased to the node."""
        return leases.lease_check(self.settings)

    @cached_property
    def secrets(self) -> secretfiles.SecretStore:
        """The key file is read (or made) on the first secrets request."""
        return secretfiles.SecretStore(
            self.db, Vault.from_file(self.settings.effective_secrets_key_file)
        )

    @property
    def fetch(self) -> bootfetch.SecretFetch:
        site = services().site.for_client(request.remote_addr)
        return bootfetch.SecretFetch(
            self.overlays, self.secrets, site.api_url, site.agent, self.leased
        )


def install(app: Flask, settings: Settings, db: Database) -> None:
    app.extensions[_KEY] = NodeFiles(settings, db)
    app.register_blueprint(blueprint)


def _nodefiles() -> NodeFiles:
    found: NodeFiles = current_app.extensions[_KEY]
    return found


def _boot_info() -> BootInfo:
    site = services().site.for_client(request.remote_addr)
    return bootfetch.boot_info(site.api_url, request.args)


def _gzip(body: bytes, **headers: str) -> Response:
    return Response(body, mimetype=GZIP, headers={"Cache-Control": "no-store", **headers})


def request_fields(hostname: str, stage: str, mac: str | None = None) -> dict[str, Any]:
    ip = request.remote_addr
    return {
        "mac": mac or (neighbour_mac(ip) if ip else None),
        "ip": ip,
        "stage": stage,
        "node": hostname,
    }


@blueprint.get(delivery.node_path("<hostname>", delivery.OVERLAY_NAME))
def overlay(hostname: str) -> Response:
    ctx = services()
    boot = _boot_info()
    where = request_fields(hostname, "overlay", boot.mac)
    site = ctx.site
    try:
        found = bootfetch.overlay(ctx.db, site.template_dir, site.agent, hostname, boot)
    except ConfigError as exc:
        event(log, "boot.overlay_failed", logging.WARNING, error=exc.message, **where)
        raise
    event(log, "boot.overlay", bytes=len(found.archive), sha256=found.sha256[:16], **where)
    return _gzip(found.archive, ETag=f'"{found.sha256}"')


@blueprint.get(delivery.node_path("<hostname>", delivery.SECRETS_NAME))
def node_secrets(hostname: str) -> Response:
    ctx = services()
    where = request_fields(hostname, "secrets")
    token = request.args.get("token", "")
    try:
        spent, found = _nodefiles().fetch.spend(ctx.db, hostname, token, request.remote_addr)
    except Refused as exc:
        event(log, "boot.secrets_refused", logging.WARNING, reason=str(exc), **where)
        raise Forbidden("secrets are only for the node they belong to") from None
    except SettingsError as exc:
        # This server's fault, not the node's: the node retries, the log says why.
        event(log, "boot.secrets_failed", logging.ERROR, error=exc.message, **where)
        raise Unavailable("this server cannot open the node's secrets; its log says why") from None
    where["mac"] = spent.mac or where["mac"]
    event(log, "boot.secrets", files=len(found), **where)
    return _gzip(cpio.pack_gz(found))


def secret_store() -> secretfiles.SecretStore:
    """This server's sealed store, its key read (or made) on first use."""
    return _nodefiles().secrets


def secret_files(hostname: str, mac: str | None) -> list[NodeFile]:
    """The node's secret files as they are now; the caller decides who gets them."""
    return _nodefiles().fetch.files(hostname, mac)


@blueprint.get("/boot/nocloud/<hostname>/<document>")
def nocloud(hostname: str, document: str) -> Response:
    if document not in cloudinit.DOCUMENTS:
        raise NotFound(f"NoCloud has no document {document!r}")
    ctx = services()
    boot = _boot_info()
    found = _nodefiles().overlays.get(hostname, boot)
    snapshot = _nodefiles().overlays.snapshot(hostname)
    context = NodeContext(snapshot, hostname, boot, ctx.site.agent)
    text = cloudinit.document(_nodefiles().templates, context, document, found.sha256)
    event(log, "boot.nocloud", document=document, **request_fields(hostname, "nocloud", boot.mac))
    return Response(text, mimetype="text/plain", headers={"Cache-Control": "no-store"})
