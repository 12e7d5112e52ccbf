"""rollout start|list|status|pause|resume|abort."""

from __future__ import annotations

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_fields, print_json, print_table
from bootsvc.core.rollout import rollouts
from bootsvc.core.views.fleet import RolloutView, rollout_view
from bootsvc.errors import InvalidInput


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else ""


def show_rollout(view: RolloutView) -> None:
    origin = f"{view.trigger} of {view.image}@{view.channel}" if view.channel else view.trigger
    print_fields(
        [
            ("rollout", f"{view.id}: {view.image} {view.version} on cluster {view.cluster}"),
            ("state", f"{view.state}, wave {view.wave} of {view.waves}"),
            ("reason", view.reason or None),
            ("started by", f"{view.created_by} ({origin}) at {_when(view.created_at)}"),
            (
                "policy",
                f"canary {view.canary}, max-unavailable {view.max_unavailable}, "
                f"{view.max_attempts} boot attempts, health timeout {view.health_timeout_s} s",
            ),
            ("nodes", ", ".join(f"{n} {state}" for state, n in sorted(view.counts.items()))),
        ]
    )
    if view.members:
        print_table(
            ["node", "wave", "state", "from", "attempts", "since", "reason"],
            [
                [
                    m.hostname,
                    m.wave,
                    m.state,
                    m.from_version,
                    m.attempts,
                    _when(m.booting_since or m.started_at),
                    m.reason,
                ]
                for m in view.members
            ],
        )


@click.group()
def rollout() -> None:
    """Roll image versions out to clusters, wave by wave."""


@rollout.command()
@click.argument("image")
@click.argument("version")
@click.option("--cluster", required=True, help="Cluster whose nodes boot IMAGE.")
@click.option("--canary", type=click.IntRange(0), help="Nodes in the first wave.")
@click.option(
    "--max-unavailable", type=click.IntRange(1), help="Nodes per later wave and reboot slots."
)
@json_option
@click.pass_obj
def start(
    app: App,
    image: str,
    version: str,
    cluster: str,
    canary: int | None,
    max_unavailable: int | None,
    as_json: bool,
) -> None:
    """Roll VERSION of IMAGE out to the nodes of a cluster."""
    with app.db.write() as session:
        view = rollout_view(
            rollouts.start(
                session,
                app.store,
                app.settings,
                image,
                version,
                cluster,
                app.actor,
                canary,
                max_unavailable,
            )
        )
    if as_json:
        print_json(view)
        return
    click.echo(f"started rollout {view.id}")
    show_rollout(view)


def _pick(app: App, rollout_id: int | None, cluster: str | None) -> int:
    if (rollout_id is None) == (cluster is None):
        raise InvalidInput("give either a rollout ID or --cluster")
    if rollout_id is not None:
        return rollout_id
    with app.db.read() as session:
        return rollouts.current(session, str(cluster)).id


@rollout.command("list")
@click.option("--cluster", help="Only this cluster's rollouts.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@json_option
@click.pass_obj
def list_(app: App, cluster: str | None, limit: int, as_json: bool) -> None:
    """List rollouts, newest first."""
    with app.db.read() as session:
        views = [
            rollout_view(r, with_members=False)
            for r in rollouts.list_rollouts(session, cluster, limit)
        ]
    if as_json:
        print_json(views)
        return
    print_table(
        ["id", "cluster", "image", "version", "state", "wave", "trigger", "started"],
        [
            [
                v.id,
                v.cluster,
                v.image,
                v.version,
                v.state,
                f"{v.wave}/{v.waves}",
                v.trigger,
                _when(v.created_at),
            ]
            for v in views
        ],
    )


@rollout.command()
@click.argument("rollout_id", required=False, type=int)
@click.option("--cluster", help="The rollout under way on this cluster.")
@json_option
@click.pass_obj
def status(app: App, rollout_id: int | None, cluster: str | None, as_json: bool) -> None:
    """Show a rollout: its waves and where each node is."""
    chosen = _pick(app, rollout_id, cluster)
    with app.db.read() as session:
        view = rollout_view(rollouts.get(session, chosen))
    if as_json:
        print_json(view)
    else:
        show_rollout(view)


def _step(verb: str, help_text: str) -> click.Command:
    @click.argument("rollout_id", required=False, type=int)
    @click.option("--cluster", help="The rollout under way on this cluster.")
    @click.pass_obj
    def command(app: App, rollout_id: int | None, cluster: str | None) -> None:
        chosen = _pick(app, rollout_id, cluster)
        steps = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}
        with app.db.write() as session:
            view = rollout_view(steps[verb](session, chosen, app.actor), with_members=False)
        click.echo(f"rollout {view.id}: {view.state}, wave {view.wave} of {view.waves}")

    command.__doc__ = help_text
    return rollout.command(verb)(command)


_step("pause", "Start no further wave; the nodes already moving carry on.")
_step("resume", "Carry on after a pause, or retry the failed nodes after a halt.")
_step("abort", "Stop for good: every node of the rollout boots its old version again.")

COMMANDS = [rollout]
