"""What each name means to bootsvc's TFTP server: the glue between
bootsvc.net.tftp (which knows nothing of nodes) and the domain.

- `boot.ipxe`: the first iPXE script, in its TFTP flavour;
- `node/<mac>.ipxe`: that machine's own script, rendered on request (never
  written to disk), logged and recorded like its HTTP twin;
- `artifacts/<sha256>/<name>`: a kernel or initrd of a published version;
- `boot/nodes/<host>/...` and `boot/report?...`: a node's overlay, secrets
  and boot reports, for the signed GRUB (bootsvc.core.boot.tftpnodefiles);
- `shimx64.efi`, `grubx64.efi`: the signed loaders of the Secure Boot path;
- `grub/grub.cfg`: the first config that signed GRUB reads, and
  `grub/node/<mac>.cfg?arch=<cpu>` that machine's own, the GRUB twin of its
  iPXE script;
- anything else: a file below `loader_dir` (the iPXE loaders).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from bootsvc.core.boot import bootscript, secureboot
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.boot.tftpnodefiles import NodeFilesOverTftp
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import names
from bootsvc.errors import InvalidInput
from bootsvc.net.tftp import (
    DirectorySource,
    FileMissing,
    OpenedFile,
    ReadRequest,
    in_memory,
    open_file,
)
from bootsvc.settings import LOADERS
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.tftp")

_NODE_SCRIPT = re.compile(
    re.escape(bootscript.TFTP_NODE_SCRIPT).replace(re.escape("{mac}"), "([^/]+)")
)
_GRUB_NODE_CONFIG = re.compile(
    re.escape(secureboot.GRUB_NODE_CONFIG).replace(re.escape("{mac}"), "([^/]+)")
)
_ARTIFACT = re.compile(r"artifacts/([^/]+)/([^/]+)")
_ARCH = re.compile(r"[A-Za-z0-9_]{1,32}")


class BootFiles:
    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        site: BootSite,
        loader_dir: Path,
        signed_loaders: Mapping[str, Path] | None = None,
        node_files: NodeFilesOverTftp | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.site = site
        self.loaders = DirectorySource(loader_dir, LOADERS)
        self.signed_loaders = dict(signed_loaders or {})
        self.node_files = node_files

    def open(self, request: ReadRequest) -> OpenedFile:
        name = request.filename.lstrip("/")
        if name == "boot.ipxe":
            return in_memory(bootscript.first_script(self.site).encode())
        if name == secureboot.GRUB_CONFIG:
            return in_memory(bootscript.first_grub_config(self.site).encode())
        if found := _NODE_SCRIPT.fullmatch(name):
            return self._node_script(found[1], request.ip)
        parts = urlsplit(name)
        if found := _GRUB_NODE_CONFIG.fullmatch(parts.path):
            arch = dict(parse_qsl(parts.query)).get("arch")
            return self._node_script(found[1], request.ip, bootscript.GRUB, arch)
        if found := _ARTIFACT.fullmatch(name):
            return self._artifact(found[1], found[2])
        if self.node_files and (opened := self.node_files.open(name, request.ip)):
            return opened
        if name in self.signed_loaders:
            return _signed_loader(self.signed_loaders[name])
        return self.loaders.open(request)

    def _node_script(
        self,
        raw_mac: str,
        ip: str,
        loader: bootscript.ScriptFormat = bootscript.IPXE,
        arch: str | None = None,
    ) -> OpenedFile:
        try:
            mac = names.mac(raw_mac)
        except InvalidInput:
            raise FileMissing("not a MAC address") from None
        # As over HTTP: an architecture that is no word is not heard.
        machine = Machine(mac=mac, ip=ip, arch=arch if arch and _ARCH.fullmatch(arch) else None)
        script = bootscript.deliver_node_script(self.db, self.site, machine, log, loader)
        return in_memory(script.text.encode(), mac)

    def _artifact(self, sha256: str, name: str) -> OpenedFile:
        try:
            digest = names.sha256(sha256)
            names.file_name(name)
        except InvalidInput:
            raise FileMissing("no such artifact") from None
        published = self.db.read_statements(lambda reading: catalog.is_published(reading, digest))
        path = self.store.path(digest)
        if not published or not path.is_file():
            raise FileMissing("no such artifact")
        return open_file(path)


def _signed_loader(path: Path) -> OpenedFile:
    try:
        return open_file(path)
    except FileNotFoundError:
        raise FileMissing("signed loader not installed") from None
