"""audit, reports: what happened."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_json, print_table
from bootsvc.core import audit as audit_log
from bootsvc.core.boot import reports as boot_reports
from bootsvc.core.views.objects import audit_view


@click.command()
@click.option("--subject", help="Only entries about this subject, e.g. node/hv1.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_obj
def audit(app: App, subject: str | None, limit: int, as_json: bool) -> None:
    """Show the audit log, newest first."""
    with app.db.read() as session:
        views = [audit_view(e) for e in audit_log.entries(session, subject, limit)]
    if as_json:
        print_json(views)
        return
    print_table(
        ["at", "actor", "action", "subject", "from", "to"],
        [
            [f"{v.at:%Y-%m-%d %H:%M:%S}", v.actor, v.action, v.subject, v.from_value, v.to_value]
            for v in views
        ],
    )


@click.command()
@click.option("--node", help="Only this node's reports.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_obj
def reports(app: App, node: str | None, limit: int, as_json: bool) -> None:
    """Show boot reports, newest first."""
    with app.db.read() as session:
        views = boot_reports.recent(session, node, limit)
    if as_json:
        print_json(views)
        return
    print_table(
        ["at", "node", "mac", "ip", "stage", "image", "version"],
        [
            [f"{v.at:%Y-%m-%d %H:%M:%S}", v.node, v.mac, v.ip, v.stage, v.image, v.version]
            for v in views
        ],
    )


COMMANDS = [audit, reports]
