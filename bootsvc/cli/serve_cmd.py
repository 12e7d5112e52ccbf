"""serve, db upgrade, db status."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from bootsvc.cli import App
from bootsvc.settings import DhcpMode
from bootsvc.store import schema


@click.command()
@click.option("--http-listen", help="host:port for HTTP (default 0.0.0.0:8080).")
@click.option("--advertise-url", help="Base URL that nodes use to reach this server.")
@click.option("--tftp-listen", help="host:port for TFTP; TFTP is off unless set.")
@click.option("--dns-listen", help="host:port for DNS; DNS is off unless set.")
@click.option(
    "--dhcp-mode",
    type=click.Choice([mode.value for mode in DhcpMode]),
    help="DHCP mode; DHCP is off unless set.",
)
@click.option("--dhcp-interface", help="Interface DHCP listens on.")
@click.pass_obj
def serve(
    app: App,
    http_listen: str | None,
    advertise_url: str | None,
    tftp_listen: str | None,
    dns_listen: str | None,
    dhcp_mode: str | None,
    dhcp_interface: str | None,
) -> None:
    """Run the boot services until stopped (SIGTERM or Ctrl-C)."""
    from bootsvc.serve.supervisor import serve as run

    app.override(
        http_listen=http_listen,
        advertise_url=advertise_url,
        tftp_listen=tftp_listen,
        dns_listen=dns_listen,
        dhcp_mode=dhcp_mode,
        dhcp_interface=dhcp_interface,
    )
    raise SystemExit(run(app.settings))


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@click.pass_obj
def upgrade(app: App) -> None:
    """Bring the database schema up to date."""
    before, after = schema.upgrade(app.db)
    if before == after:
        click.echo(f"schema is up to date ({after})")
    else:
        click.echo(f"schema upgraded from {before or 'empty'} to {after}")


@db.command()
@click.pass_obj
def status(app: App) -> None:
    """Show the schema revision and whether it is current."""
    current, head = schema.current_revision(app.db), schema.head_revision()
    state = "current" if current == head else "outdated: run `bootsvc db upgrade`"
    where = make_url(app.settings.effective_database_url).render_as_string(hide_password=True)
    click.echo(f"database {where}: revision {current or 'none'}, needs {head} ({state})")


COMMANDS = [serve, db]
