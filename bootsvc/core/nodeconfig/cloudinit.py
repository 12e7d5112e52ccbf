"""The overlay's files as cloud-init NoCloud documents, for images that run
cloud-init: meta-data names the instance (its id changes with the files, so
cloud-init applies a changed configuration), user-data writes every file and
enables the units the overlay enables, network-config describes the links
cloud-init can render (Open vSwitch internal ports come from the networkd
files that user-data writes, with the layout unit).

A node finds them with `ds=nocloud-net;s={base_url}/boot/nocloud/{hostname}/`
on its kernel command line."""

from __future__ import annotations

import base64
from pathlib import PurePosixPath
from typing import Any

from bootsvc.core.nodeconfig import files
from bootsvc.core.nodeconfig.context import NodeContext
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.core.nodeconfig.templating import Templates

DOCUMENTS = ("meta-data", "user-data", "network-config", "vendor-data")


def _file_view(file: NodeFile) -> dict[str, Any]:
    view: dict[str, Any] = {"path": file.path, "mode": f"{file.mode:04o}"}
    # cloud-init looks owners up by name.
    view["owner"] = "root:root" if file.owner == (0, 0) else f"{file.owner[0]}:{file.owner[1]}"
    if file.link is not None:
        view["link"] = file.link
        parent = PurePosixPath(file.path).parent.name
        view["unit"] = PurePosixPath(file.path).name if parent.endswith(".wants") else None
    else:
        view["b64"] = base64.b64encode(file.content).decode()
    return view


def document(templates: Templates, ctx: NodeContext, name: str, instance: str) -> str:
    """One NoCloud document; `instance` names this set of files."""
    public = files.public(templates, ctx)
    values = {
        **ctx.values(),
        "instance_id": f"bootsvc-{ctx.node.hostname}-{instance[:16]}",
        "written": [_file_view(f) for f in public],
    }
    return templates.render(ctx.node.hostname, f"cloud-init/{name}.j2", values)
