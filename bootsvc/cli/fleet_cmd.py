"""fleet status|servers|release."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_json, print_table
from bootsvc.core.boot import fleet
from bootsvc.core.peers import registry
from bootsvc.core.rollout import fleetlock
from bootsvc.core.views.fleet import EnlistmentView


def _server_state(live: bool) -> str:
    return "live" if live else "silent"


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "never"


_TALLY_TITLES = {
    "cap": "not enlisted, at the cap",
    "rate": "not enlisted, over the rate",
    "expired": "new nodes expired",
}


def _echo_enlistment(view: EnlistmentView) -> None:
    click.echo(
        f"new nodes: {view.new} of at most {view.max_new} "
        f"({view.burst} then {view.rate_per_minute}/min per address, "
        f"expire after {view.expire_after_s} s unheard)"
    )
    for kind, tally in view.tallies.items():
        last = " ".join(part for part in (tally.last_mac, tally.last_ip) if part)
        click.echo(
            f"{_TALLY_TITLES.get(kind, kind)}: {tally.count}, last {_when(tally.last_at)}"
            + (f" ({last})" if last else "")
        )


@click.group("fleet")
def fleet_group() -> None:
    """The fleet: versions, failures, silence, reboot slots."""


@fleet_group.command()
@click.option("--cluster", help="Only this cluster's nodes.")
@json_option
@click.pass_obj
def status(app: App, cluster: str | None, as_json: bool) -> None:
    """Nodes by version, behind their channel, failed, and not heard from."""
    with app.db.read() as session:
        view = fleet.status(session, app.settings, cluster)
        boot_servers = registry.status(session, app.settings.rollout_tick_s)
    if as_json:
        print_json(view)
        return
    click.echo(f"fleet at {view.at:%Y-%m-%d %H:%M:%S} UTC, {len(view.nodes)} nodes")
    for version, hosts in view.by_version.items():
        click.echo(f"  {version}: {len(hosts)} ({', '.join(hosts)})")
    for title, hosts in (
        ("behind their channel", view.behind_channel),
        ("waiting to reboot into their version", view.pending_reboot),
        ("failed", view.failed),
        (f"not heard from in {view.silent_after_s} s", view.not_heard_from),
        ("pending factory resets", view.pending_reset),
    ):
        click.echo(f"{title}: {', '.join(hosts) if hosts else 'none'}")
    for r in view.rollouts:
        click.echo(
            f"rollout {r.id} on {r.cluster}: {r.image} {r.version}, {r.state}, "
            f"wave {r.wave} of {r.waves}" + (f" ({r.reason})" if r.reason else "")
        )
    for slot in view.reboot_slots:
        click.echo(f"reboot slot: {slot.hostname} ({slot.group}) since {_when(slot.taken_at)}")
    for server in boot_servers:
        versions = ", ".join(server.versions) or "no version"
        click.echo(f"boot server {server.url} ({_server_state(server.live)}): {versions}")
    _echo_enlistment(view.enlistment)
    print_table(
        ["node", "cluster", "status", "booted", "desired", "boot s", "failures", "last seen"],
        [
            [
                v.hostname,
                v.cluster,
                v.status,
                v.booted,
                v.desired,
                v.boot_s,
                v.failures,
                _when(v.last_seen),
            ]
            for v in view.nodes
        ],
    )


@fleet_group.command()
@json_option
@click.pass_obj
def servers(app: App, as_json: bool) -> None:
    """The boot servers on this database, and the versions each can serve."""
    with app.db.read() as session:
        views = registry.status(session, app.settings.rollout_tick_s)
    if as_json:
        print_json(views)
        return
    print_table(
        ["server", "state", "heartbeat", "versions", "missing files"],
        [
            [
                v.url,
                _server_state(v.live),
                _when(v.heartbeat_at),
                ", ".join(v.versions) or "none",
                ", ".join(v.incomplete) or "none",
            ]
            for v in views
        ],
    )


@fleet_group.command()
@click.argument("hostname")
@click.pass_obj
def release(app: App, hostname: str) -> None:
    """Free the reboot slot of a node that will not come back to free it."""
    with app.db.write() as session:
        freed = fleetlock.release(session, hostname, app.actor)
    click.echo(f"{hostname}: " + ("reboot slot freed" if freed else "held no reboot slot"))


COMMANDS = [fleet_group]
