"""dhcp export|leases."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_table
from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.directory import Directory
from bootsvc.core.dhcp.export import TEMPLATES, export
from bootsvc.core.dhcp.networks import address_int
from bootsvc.core.dhcp6 import leases as leases6


@click.group()
def dhcp() -> None:
    """DHCP: leases, and configuration for a site's own DHCP server."""


@dhcp.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(sorted(TEMPLATES)), required=True, help="Server type."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output).",
)
@click.pass_obj
def export_(app: App, fmt: str, output: Path | None) -> None:
    """Host reservations and boot options for Kea, dnsmasq or ISC dhcpd."""
    text = export(Directory(app.db, app.settings), app.settings, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


@dhcp.command("leases")
@click.option("--all", "show_all", is_flag=True, help="Also leases that have ended.")
@json_option
@click.pass_obj
def leases_(app: App, show_all: bool, as_json: bool) -> None:
    """List DHCP leases by address, then DHCPv6 leases (with their DUID)."""
    now = time.time()
    with app.db.read() as session:
        found = sorted(leases.rows(session), key=lambda lease: address_int(lease.ip))
        found6 = sorted(
            leases6.rows(session), key=lambda lease: int(ipaddress.IPv6Address(lease.address))
        )
    views = [lease.view(now) for lease in found if show_all or lease.active(now)]
    views += [lease.view(now) for lease in found6 if show_all or lease.active(now)]
    if as_json:
        click.echo(json.dumps(views, indent=2))
        return
    print_table(
        ["ip", "mac", "state", "expires", "hostname"],
        [
            [view["ip"], view["mac"], view["state"], view["expires_at"], view["hostname"]]
            for view in views
        ],
    )


COMMANDS = [dhcp]
