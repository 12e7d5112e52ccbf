"""The TFTP child of `bootsvc serve`: bootsvc.net.tftp's server, answering
with bootsvc.core.boot.tftpfiles, until SIGTERM."""

from __future__ import annotations

import logging
import signal
from urllib.parse import urlsplit

from bootsvc.core.boot.bootscript import BootSite
from bootsvc.core.boot.secureboot import signed_loaders
from bootsvc.core.boot.tftpfiles import BootFiles
from bootsvc.core.boot.tftpnodefiles import NodeFilesOverTftp
from bootsvc.core.nodeconfig import delivery, leases
from bootsvc.core.nodeconfig.bootfetch import SecretFetch
from bootsvc.core.nodeconfig.secretfiles import SecretStore
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.logs import event
from bootsvc.net.tftp import TftpServer
from bootsvc.safepath import OutsideRoot, resolve_within
from bootsvc.serve import signals
from bootsvc.settings import LOADERS, WILDCARD_HOSTS, Settings, parse_host_port
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.tftp")

TFTP_PORT = 69


def tftp_url(settings: Settings) -> str:
    """What scripts served over TFTP start their own URLs with: the TFTP
    address, or the HTTP host when TFTP listens on every address."""
    host, port = parse_host_port(settings.tftp_listen)
    if host in WILDCARD_HOSTS:
        host = urlsplit(settings.base_url).hostname or host
    if ":" in host:
        host = f"[{host}]"
    return f"tftp://{host}" if port == TFTP_PORT else f"tftp://{host}:{port}"


def _check_loaders(settings: Settings) -> None:
    """Say at start which loaders cannot be served."""
    for name in LOADERS:
        try:
            resolve_within(settings.loader_dir, name, LOADERS)
        except (OutsideRoot, FileNotFoundError) as exc:
            reason = "outside loader_dir" if isinstance(exc, OutsideRoot) else "missing"
            event(
                log,
                "tftp.loader-unavailable",
                level=logging.WARNING,
                file=name,
                loader_dir=settings.loader_dir,
                reason=reason,
            )


def _secret_fetch(settings: Settings, db: Database, site: BootSite) -> SecretFetch:
    """As over HTTP (bootsvc.web.nodefiles): with bootsvc's own DHCP, the
    address must also be one it leased to the node."""
    return SecretFetch(
        delivery.overlays(db, site.template_dir, site.agent),
        SecretStore(db, Vault.from_file(settings.effective_secrets_key_file)),
        site.api_url,
        site.agent,
        leases.lease_check(settings),
    )


def run(settings: Settings) -> None:
    host, port = parse_host_port(settings.tftp_listen)
    db = Database(settings.effective_database_url, settings.database_pool_size)
    site = BootSite.from_settings(settings, tftp_url(settings))

    files = BootFiles(
        db,
        ArtifactStore(settings.data_dir),
        site,
        settings.loader_dir,
        signed_loaders(settings),
        NodeFilesOverTftp(db, site, _secret_fetch(settings, db, site)),
    )
    server = TftpServer(files, (host, port), max_sessions=settings.tftp_max_sessions)
    # Its worker threads start with the first request, after this.
    signals.when_signalled(lambda _signum: server.stop(), signal.SIGTERM)
    _check_loaders(settings)
    shown = f"[{host}]" if ":" in host else host
    event(log, "tftp.listening", address=f"{shown}:{server.address[1]}", scripts=site.base_url)
    try:
        server.serve_forever()
    finally:
        db.dispose()
