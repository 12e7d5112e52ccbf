"""token create|list|revoke."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_json, print_table
from bootsvc.core.access import tokens
from bootsvc.core.cmdb.records import TokenRecord, parse
from bootsvc.core.views.objects import token_view


@click.group()
def token() -> None:
    """API tokens."""


@token.command()
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "cmdb", "reader"]), required=True)
@click.pass_obj
def create(app: App, name: str, role: str) -> None:
    """Create a token and print its secret (shown only this once)."""
    record = parse(TokenRecord, {"name": name, "role": role})
    with app.db.write() as session:
        _row, secret = tokens.create(session, record, app.actor)
    click.echo(secret)


@token.command("list")
@json_option
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    with app.db.read() as session:
        views = [token_view(t) for t in tokens.list_tokens(session)]
    if as_json:
        print_json(views)
        return
    print_table(
        ["name", "role", "created", "by", "revoked"],
        [
            [
                v.name,
                v.role,
                f"{v.created_at:%Y-%m-%d %H:%M}",
                v.created_by,
                f"{v.revoked_at:%Y-%m-%d %H:%M}" if v.revoked_at else "",
            ]
            for v in views
        ],
    )


@token.command()
@click.argument("name")
@click.pass_obj
def revoke(app: App, name: str) -> None:
    """Revoke a token."""
    with app.db.write() as session:
        tokens.revoke(session, name, app.actor)
    click.echo(f"revoked token {name}")


COMMANDS = [token]
