"""EL hypervisor kickstarts: the templates under kickstart/, rendered with the
files every image carries embedded (the overlay hook and its dracut module from
images/common, the boot report), so that one .ks file is all livemedia-creator
needs on the build host."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bootsvc import datafiles
from bootsvc.core.cmdb import names
from bootsvc.errors import InvalidInput
from bootsvc.images import recipes

FAMILIES = {"el9-hypervisor": "el9-hypervisor.ks.j2"}
# CentOS Stream's SIG repositories (Ceph, Open vSwitch), which EL9 rebuilds use too.
SIG_MIRROR = "https://mirror.stream.centos.org/SIGs/9-stream"
# Ends each embedded file's here-document in %post.
END_MARKER = "BOOTSVC_FILE_END"
_URL = re.compile(r"https?://[^\s\"'%]+")


def kickstart_dir() -> Path:
    return datafiles.shipped("kickstart")


def embedded_files() -> dict[str, Path]:
    """The files each kickstart writes into the image, by the name its template uses."""
    common = recipes.default_dir() / "common"
    module = common / "dracut" / "95bootsvc"
    files = kickstart_dir() / "files"
    return {
        "bootsvc-overlay": common / "bootsvc-overlay",
        "module-setup.sh": module / "module-setup.sh",
        "bootsvc-pre-pivot.sh": module / "bootsvc-pre-pivot.sh",
        "bootsvc-attest": common / "bootsvc-attest",
        "bootsvc-attest-pre-pivot.sh": module / "bootsvc-attest-pre-pivot.sh",
        "bootsvc-report": files / "bootsvc-report",
        "bootsvc-report.service": files / "bootsvc-report.service",
        "10-boot.network": files / "10-boot.network",
    }


def _embeddable(name: str, path: Path) -> str:
    """A file's text, refused if it could end its here-document or the %post
    section early (a line of its own that is the marker or starts with %)."""
    text = path.read_text()
    for number, line in enumerate(text.splitlines(), 1):
        if line == END_MARKER or line.lstrip().startswith("%"):
            raise InvalidInput(
                f"{path}:{number}: cannot be embedded in a kickstart: {line!r}", file=name
            )
    return text if text.endswith("\n") else text + "\n"


def _mirror(url: str | None, what: str) -> str | None:
    if url is None:
        return None
    if not _URL.fullmatch(url):
        raise InvalidInput(f"{url!r} is not an http or https URL for the {what}")
    return url.rstrip("/")


def render(
    family: str,
    version: str,
    image: str | None = None,
    mirror: str | None = None,
    sig_mirror: str = SIG_MIRROR,
) -> str:
    """The kickstart of `family` for `version` of `image` (the family's name by
    default). `mirror` is a Rocky Linux 9 tree (.../rocky/9) to use instead of
    the mirror lists; `sig_mirror` the CentOS SIGs tree (.../SIGs/9-stream)."""
    template = FAMILIES.get(family)
    if template is None:
        raise InvalidInput(
            f"no kickstart {family!r}; there is {', '.join(sorted(FAMILIES))}", family=family
        )
    environment = Environment(
        loader=FileSystemLoader(kickstart_dir()),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 - a kickstart, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    files = {name: _embeddable(name, path) for name, path in embedded_files().items()}
    return environment.get_template(template).render(
        image=names.object_name(image or family, "image name"),
        version=names.object_name(version, "version"),
        mirror=_mirror(mirror, "Rocky Linux mirror"),
        sig_mirror=_mirror(sig_mirror, "CentOS SIG mirror"),
        files=files,
        end_marker=END_MARKER,
    )
