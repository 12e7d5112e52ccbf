"""cluster add|list|show|set|remove."""

from __future__ import annotations

from typing import Any

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_fields, print_json, print_table
from bootsvc.core.cmdb import assignments, cmdb
from bootsvc.core.cmdb.documents import NotYaml, load_yaml
from bootsvc.core.cmdb.records import ClusterRecord, NetworkRecord, parse
from bootsvc.core.views.objects import cluster_view
from bootsvc.errors import InvalidInput

_network_help = "NAME=CIDR[,gateway=IP][,vlan=N] (repeatable; replaces the cluster's networks)."
_setting_help = "KEY=VALUE (repeatable); VALUE is read as YAML, so 3 is a number and [a, b] a list."


def _networks(values: tuple[str, ...]) -> list[NetworkRecord]:
    found = []
    for text in values:
        name, sep, rest = text.partition("=")
        if not sep:
            raise InvalidInput(f"--network {text!r}: expected NAME=CIDR[,gateway=IP][,vlan=N]")
        cidr, *extras = rest.split(",")
        item: dict[str, Any] = {"name": name, "cidr": cidr}
        for extra in extras:
            key, sep, value = extra.partition("=")
            if key not in {"gateway", "vlan"} or not sep:
                raise InvalidInput(f"--network {text!r}: unknown part {extra!r}")
            item[key] = value
        found.append(parse(NetworkRecord, item, prefix=f"--network {name}: "))
    return found


def _settings(values: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--setting {text!r}: expected KEY=VALUE")
        try:
            found[key] = load_yaml(value, f"--setting {key}") if value else None
        except NotYaml:
            found[key] = value

    return found


@click.group()
def cluster() -> None:
    """CMDB clusters."""


@cluster.command()
@click.argument("name")
@click.option("--domain", required=True, help="DNS domain of the cluster.")
@click.option("--network", "networks", multiple=True, help=_network_help)
@click.option("--setting", "settings", multiple=True, help=_setting_help)
@click.pass_obj
def add(
    app: App, name: str, domain: str, networks: tuple[str, ...], settings: tuple[str, ...]
) -> None:
    """Create a cluster (or update the one with this name)."""
    fields: dict[str, Any] = {"name": name, "domain": domain}
    if networks:
        fields["networks"] = [n.model_dump() for n in _networks(networks)]
    if settings:
        fields["settings"] = _settings(settings)
    record = parse(ClusterRecord, fields)
    with app.db.write() as session:
        result = cmdb.upsert_cluster(session, record, app.actor)
    verb = "added" if result.created else ("updated" if result.changed else "unchanged:")
    click.echo(f"{verb} cluster {name}")


@cluster.command("set")
@click.argument("name")
@click.option("--domain", help="DNS domain of the cluster.")
@click.option("--network", "networks", multiple=True, help=_network_help)
@click.option(
    "--setting", "settings", multiple=True, help=_setting_help + " An empty VALUE removes KEY."
)
@click.pass_obj
def set_(
    app: App, name: str, domain: str | None, networks: tuple[str, ...], settings: tuple[str, ...]
) -> None:
    """Change a cluster's domain, networks or settings."""
    with app.db.write() as session:
        cmdb.patch_cluster(
            session,
            name,
            app.actor,
            domain=parse(ClusterRecord, {"name": name, "domain": domain}).domain
            if domain
            else None,
            networks=_networks(networks) if networks else None,
            settings=_settings(settings),
        )
    click.echo(f"updated cluster {name}")


@cluster.command("list")
@json_option
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List clusters."""
    with app.db.read() as session:
        views = [cluster_view(c) for c in cmdb.list_clusters(session)]
    if as_json:
        print_json(views)
        return
    print_table(
        ["cluster", "domain", "members", "networks"],
        [
            [v.name, v.domain, len(v.members), " ".join(f"{n.name}={n.cidr}" for n in v.networks)]
            for v in views
        ],
    )


@cluster.command()
@click.argument("name")
@json_option
@click.pass_obj
def show(app: App, name: str, as_json: bool) -> None:
    """Show a cluster."""
    with app.db.read() as session:
        view = cluster_view(cmdb.get_cluster(session, name))
        followed = assignments.list_for(session, name)
    if as_json:
        print_json(view)
        return
    print_fields(
        [
            ("cluster", view.name),
            ("domain", view.domain),
            ("members", view.members),
            ("settings", view.settings or None),
            *[
                (f"role {a.role} follows" if a.role else "follows", f"{a.image}@{a.channel}")
                for a in followed
            ],
        ]
    )
    if view.networks:
        print_table(
            ["network", "cidr", "gateway", "vlan"],
            [[n.name, n.cidr, n.gateway, n.vlan] for n in view.networks],
        )


@cluster.command()
@click.argument("name")
@click.argument("image_channel", metavar="IMAGE@CHANNEL")
@click.option("--role", help="Only the nodes of this role in the cluster.")
@click.pass_obj
def assign(app: App, name: str, image_channel: str, role: str | None) -> None:
    """Make the nodes of a cluster (or of one role in it) follow IMAGE@CHANNEL.
    A node's own assignment or pin comes first."""
    with app.db.write() as session:
        changed = assignments.assign(session, name, role, image_channel, app.actor)
    who = f"role {role} of cluster {name}" if role else f"cluster {name}"
    click.echo(f"{who} {'follows' if changed else 'already follows'} {image_channel}")


@cluster.command()
@click.argument("name")
@click.option("--role", help="The role whose assignment to remove.")
@click.pass_obj
def unassign(app: App, name: str, role: str | None) -> None:
    """Remove the image assignment of a cluster (or of one role in it)."""
    with app.db.write() as session:
        assignments.unassign(session, name, role, app.actor)
    click.echo(f"removed the image assignment of {f'role {role} of ' if role else ''}{name}")


@cluster.command()
@click.argument("name")
@click.pass_obj
def remove(app: App, name: str) -> None:
    """Remove a cluster that has no members."""
    with app.db.write() as session:
        cmdb.remove_cluster(session, name, app.actor)
    click.echo(f"removed cluster {name}")


COMMANDS = [cluster]
