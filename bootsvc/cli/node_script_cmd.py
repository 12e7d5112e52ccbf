"""node script: the iPXE script a node would get if it booted now."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.node_cmd import node
from bootsvc.core import bootscript, cmdb, names
from bootsvc.core.bootscript import BootSite, Machine
from bootsvc.core.nodeconfig.delivery import Delivery
from bootsvc.errors import InvalidInput

# Shown where the script carries its secrets token: a preview mints none.
TOKEN_PLACEHOLDER = "PREVIEW-TOKEN"  # noqa: S105 (a placeholder, not a secret)


@node.command()
@click.argument("hostname")
@click.option("--mac", help="Boot from this interface (default: the node's first with a MAC).")
@click.pass_obj
def script(app: App, hostname: str, mac: str | None) -> None:
    """Show the iPXE script HOSTNAME would get if it booted now.

    A preview: it is not a boot attempt, so it records no report, enlists
    nothing and spends no secrets token (the script shows a placeholder
    where the real one goes)."""
    settings = app.settings
    with app.db.read() as session:
        found = cmdb.get_node(session, hostname)
        wanted = names.mac(mac) if mac is not None else None
        interface = next(
            (i for i in found.interfaces if i.mac and (wanted is None or i.mac == wanted)), None
        )
        if interface is None:
            raise InvalidInput(
                f"node {hostname!r} has no interface with MAC {wanted}"
                if wanted
                else f"node {hostname!r} has no interface with a MAC to boot from"
            )
        machine = Machine(mac=interface.mac, ip=interface.ip)
        site = BootSite.from_settings(settings)
        shown = bootscript.node_script(app.db, site, session, found, machine)
    text = shown.text
    if isinstance(shown.config, Delivery):
        text = text.replace(shown.config.token.secret, TOKEN_PLACEHOLDER)
    click.echo(text, nl=not text.endswith("\n"))


# `script` joins the node group above; this module adds no top-level command.
COMMANDS: list[click.Command] = []
