"""install: make this installation a systemd service."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Install under this directory instead of / (for images and tests).",
)
def install(root: Path | None) -> None:
    """Write the systemd unit, /etc/bootsvc/bootsvc.toml (never overwritten),
    the bootsvc system user and its data directory. Safe to run again."""
    from bootsvc.install import installer

    if not installer.may_install(root):
        raise click.ClickException("bootsvc install must run as root (or give --root DIR)")
    command = installer.bootsvc_command()
    target = installer.Installation((root or Path("/")).absolute(), command)
    for line in installer.install(target):
        click.echo(line)
    click.echo(
        f"next: edit /{installer.CONFIG}, then `runuser -u bootsvc -- {command} db upgrade`"
        " and `systemctl enable --now bootsvc`"
    )


COMMANDS = [install]
