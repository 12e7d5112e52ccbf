"""image kickstart: the kickstart an EL image is built from."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from bootsvc.cli.image_cmd import image
from bootsvc.images import kickstart


@image.command("kickstart")
@click.argument("family", type=click.Choice(sorted(kickstart.FAMILIES)))
@click.option("--version", "version_name", required=True, help="Version the image reports.")
@click.option("--image", "image_name", help="Image name (default: FAMILY).")
@click.option("--mirror", help="Rocky Linux 9 tree to install from instead of its mirror lists.")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of standard output.",
)
def kickstart_command(
    family: str,
    version_name: str,
    image_name: str | None,
    mirror: str | None,
    output: Path | None,
) -> None:
    """Render the kickstart of FAMILY for livemedia-creator --make-pxe-live
    (kickstart/README.md), with the overlay hook and boot report embedded."""
    text = kickstart.render(family, version_name, image=image_name, mirror=mirror)
    if output is None:
        click.echo(text, nl=False)
        return
    # Whole or not at all: a build host must never read half a kickstart.
    fd, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        Path(partial).chmod(0o644)
        Path(partial).replace(output)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    click.echo(f"wrote {output}", err=True)


# `kickstart` joins the image group above; this module adds no top-level command.
COMMANDS: list[click.Command] = []
