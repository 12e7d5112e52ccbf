"""What a node's iPXE script loads besides its image: the overlay (public,
by hostname) and its secrets (with a one-time token), both as extra
initrds over HTTP. The script is only given them once the overlay has
rendered; a node whose configuration does not render gets the rescue
script instead (bootsvc.core.boot.bootscript). The secrets, and the boot token
its reports carry, are withheld from a script that did not go to the node's
own address (bootsvc.core.access.nodeaccess)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session

from bootsvc.core.access.nodeaccess import Verdict, new_boot_token
from bootsvc.core.nodeconfig import onetime
from bootsvc.core.nodeconfig.context import BootInfo
from bootsvc.core.nodeconfig.overlay import Overlays
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.store.db import Database

OVERLAY_NAME = "bootsvc-overlay.cpio.gz"
SECRETS_NAME = "bootsvc-secrets.cpio.gz"

_OVERLAYS: WeakKeyDictionary[Database, dict[Any, Overlays]] = WeakKeyDictionary()


def overlays(db: Database, template_dir: Path | None, agent: Mapping[str, Any]) -> Overlays:
    """This process's overlay cache for the database, template directory and
    node agent settings."""
    by_site = _OVERLAYS.setdefault(db, {})
    key = (template_dir, tuple(sorted(agent.items())))
    if key not in by_site:
        by_site[key] = Overlays(db, Templates(template_dir), agent=agent)
    return by_site[key]


def node_path(hostname: str, name: str) -> str:
    """Hostnames are letters, digits and '-': nothing to quote."""
    return f"/boot/nodes/{hostname}/{name}"


def overlay_url(boot: BootInfo, hostname: str) -> str:
    query = {key: value for key, value in vars(boot).items() if key != "url" and value}
    return f"{boot.url}{node_path(hostname, OVERLAY_NAME)}?{urlencode(query, safe=':')}"


def secrets_url(boot: BootInfo, hostname: str, token: onetime.Minted) -> str:
    return f"{boot.url}{node_path(hostname, SECRETS_NAME)}?{urlencode({'token': token.secret})}"


@dataclass(frozen=True)
class Delivery:
    """`token` and `secrets_url` are None when the secrets are withheld, and
    `withheld` says why; `boot_token` is None when the script did not go to
    the node's own address."""

    overlay_url: str
    secrets_url: str | None
    token: onetime.Minted | None
    boot_token: str | None
    withheld: str = ""
    overlay_name: str = OVERLAY_NAME
    secrets_name: str = SECRETS_NAME

    @property
    def extra_initrds(self) -> tuple[str, ...]:
        if self.secrets_url is None:
            return (self.overlay_name,)
        return (self.overlay_name, self.secrets_name)


def prepare(
    db: Database,
    template_dir: Path | None,
    agent: Mapping[str, Any],
    boot: BootInfo,
    node_id: int,
    hostname: str,
    verdict: Verdict,
    token_ttl_s: int,
    session: Session,
    sealed: str | None = None,
) -> Delivery:
    """Render (or find cached) the node's overlay and, for a script going to
    the node's own address, mint its tokens; ConfigError when the overlay
    does not render. `sealed` says why the node's secrets go only sealed to
    its TPM (bootsvc.core.attestation): then no secrets token is minted."""
    overlays(db, template_dir, agent).get(hostname, boot, session.connection())
    url = overlay_url(boot, hostname)
    if verdict.ip is None:
        return Delivery(url, None, None, None, withheld=verdict.reason)
    if sealed is not None:
        return Delivery(url, None, None, new_boot_token(), withheld=sealed)
    token = onetime.mint(node_id, boot.mac, verdict.ip, token_ttl_s)
    return Delivery(url, secrets_url(boot, hostname, token), token, new_boot_token())
