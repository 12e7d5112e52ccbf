"""node script: the iPXE script a node would get if it booted now."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.node_cmd import node
from bootsvc.core.boot import bootscript
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb import cmdb, names
from bootsvc.errors import InvalidInput


@node.command()
@click.argument("hostname")
@click.option("--mac", help="Boot from this interface (default: the node's first with a MAC).")
@click.pass_obj
def script(app: App, hostname: str, mac: str | None) -> None:
    """Show the iPXE script HOSTNAME would get if it booted now.

    A preview: it is not a boot attempt, so it records no report and spends
    no secrets token (the script shows a placeholder where the real one
    goes). The same as GET /boot/node.ipxe?mac=MAC&preview=1."""
    wanted = names.mac(mac) if mac is not None else None
    with app.db.read() as session:
        found = cmdb.get_node(session, hostname)
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
    text = bootscript.preview_node_script(app.db, BootSite.from_settings(app.settings), machine)
    click.echo(text, nl=not text.endswith("\n"))


# `script` joins the node group above; this module adds no top-level command.
COMMANDS: list[click.Command] = []
