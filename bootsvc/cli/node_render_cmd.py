"""node render: the files a node would get if it booted now."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.node_cmd import node
from bootsvc.cli.output import json_option, print_json
from bootsvc.core.nodeconfig.context import agent_values
from bootsvc.core.nodeconfig.preview import Previews


@node.command()
@click.argument("hostname")
@click.argument("path", required=False)
@click.option("--diff", "show_diff", is_flag=True, help="Compare with what it was last served.")
@json_option
@click.pass_obj
def render(app: App, hostname: str, path: str | None, show_diff: bool, as_json: bool) -> None:
    """Show the files HOSTNAME would get if it booted now (or just PATH).

    Secret files are listed by path; their contents are never shown. With
    --diff, show what its next boot would change against what it was last
    served. A configuration that does not render is an error naming the
    node, and the template and line or the setting at fault."""
    settings = app.settings
    previews = Previews(
        app.db,
        settings.template_dir,
        settings.base_url,
        settings.default_image,
        agent_values(settings),
    )
    if show_diff:
        compared = previews.diff(hostname, path)
        if as_json:
            print_json(compared)
        elif compared.served_at is None:
            click.echo(f"# {compared.hostname} was never served; everything is new")
            click.echo(compared.diff, nl=False)
        else:
            click.echo(compared.diff or f"# {compared.hostname}: no change", nl=not compared.diff)
        return
    found = previews.files(hostname, path)
    if as_json:
        print_json(found)
        return
    for file in found.files:
        click.echo(f"==> {file.path} (mode {file.mode}, owner {file.owner}) <==")
        click.echo(
            f"-> {file.link}" if file.link is not None else file.content, nl=file.link is not None
        )
    if path is None:
        for secret in found.secrets:
            click.echo(f"==> {secret} (secret, not shown) <==")


# `render` joins the node group above; this module adds no top-level command.
COMMANDS: list[click.Command] = []
