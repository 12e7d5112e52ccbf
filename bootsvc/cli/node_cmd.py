"""node add|import|list|show|set|accept|reset|tpm|remove."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bootsvc.cli import App
from bootsvc.cli.output import json_option, print_fields, print_json, print_table
from bootsvc.core.attestation import registry as tpm_registry
from bootsvc.core.boot import boots as boot_history
from bootsvc.core.boot import fleet
from bootsvc.core.cmdb import cmdb, disks, documents, names, nodefile
from bootsvc.core.cmdb.records import NodeRecord, parse
from bootsvc.core.views.fleet import boot_view
from bootsvc.core.views.objects import NodeView, ResetView, TpmView, node_view, tpm_view
from bootsvc.errors import InvalidInput
from bootsvc.store.models import ImageVersion


def _record(fields: dict[str, Any]) -> NodeRecord:
    return parse(
        NodeRecord, {key: value for key, value in fields.items() if value not in (None, ())}
    )


def _interface(
    mac: str | None, ip: str | None, name: str | None, vlan: int | None
) -> list[dict[str, Any]]:
    if mac is None:
        if ip or name or vlan:
            raise InvalidInput("--ip, --interface and --vlan need --mac")
        return []
    item: dict[str, Any] = {"mac": mac}
    for key, value in (("ip", ip), ("name", name), ("vlan", vlan)):
        if value is not None:
            item[key] = value
    return [item]


def _reset_text(reset: ResetView | None) -> str | None:
    if reset is None:
        return None
    asked = f" by {reset.requested_by}" if reset.requested_by else ""
    when = f" at {reset.requested_at:%Y-%m-%d %H:%M:%S}" if reset.requested_at else ""
    return f"pending at its next boot (audit {reset.id}{asked}{when})"


def _tpm_text(tpm: TpmView | None) -> str | None:
    if tpm is None:
        return None
    return f"{tpm.state}, EK sha256 {tpm.ek_sha256}"


def _show(view: NodeView) -> None:
    print_fields(
        [
            ("hostname", view.hostname),
            ("state", view.state),
            ("disks", view.disks),
            ("factory reset", _reset_text(view.reset)),
            ("tpm", _tpm_text(view.tpm)),
            ("cluster", view.cluster),
            ("nodeid", view.corosync_nodeid),
            ("roles", view.roles),
            ("image", view.image),
            ("serial", view.serial),
            ("asset tag", view.asset_tag),
            ("uuid", view.uuid),
            ("facts", view.facts or None),
        ]
    )
    print_table(
        ["interface", "mac", "ip", "vlan"],
        [[i.name, i.mac, i.ip, i.vlan] for i in view.interfaces],
    )


@click.group()
def node() -> None:
    """CMDB nodes."""


_node_options = [
    click.option("--mac", help="MAC address of the boot interface."),
    click.option("--ip", help="IP address of that interface."),
    click.option("--interface", "ifname", help="Interface name (default eth0, eth1, ...)."),
    click.option("--vlan", type=int, help="VLAN of that interface."),
    click.option("--serial", help="Serial number."),
    click.option("--asset-tag", help="Asset tag."),
    click.option("--uuid", help="SMBIOS UUID."),
    click.option("--cluster", help="Cluster name."),
    click.option("--role", "roles", multiple=True, help="Role (repeatable)."),
    click.option("--image", help="IMAGE@CHANNEL to follow, or IMAGE=VERSION to pin."),
]


def node_options(function: Any) -> Any:
    for option in reversed(_node_options):
        function = option(function)
    return function


replace_option = click.option(
    "--replace",
    is_flag=True,
    help="Rename the node, or move to it a MAC, IP, serial or UUID another node holds, "
    "rather than refuse.",
)


@node.command()
@click.argument("hostname")
@node_options
@click.option("--state", type=click.Choice(["new", "active", "disabled"]), help="Default: active.")
@replace_option
@json_option
@click.pass_obj
def add(
    app: App,
    hostname: str,
    mac: str | None,
    ip: str | None,
    ifname: str | None,
    vlan: int | None,
    serial: str | None,
    asset_tag: str | None,
    uuid: str | None,
    cluster: str | None,
    roles: tuple[str, ...],
    image: str | None,
    state: str | None,
    replace: bool,
    as_json: bool,
) -> None:
    """Register a node (or update the one with this hostname, MAC or serial)."""
    record = _record(
        {
            "hostname": hostname,
            "interfaces": _interface(mac, ip, ifname, vlan),
            "serial": serial,
            "asset_tag": asset_tag,
            "uuid": uuid,
            "cluster": cluster,
            "roles": list(roles),
            "image": image,
            "state": state,
        }
    )
    with app.db.write() as session:
        result = cmdb.upsert_node(
            session,
            record,
            app.actor,
            replace=replace,
            max_facts_bytes=app.settings.cmdb_max_facts_bytes,
        )
        view = node_view(result.node)
    if as_json:
        print_json(view)
        return
    verb = "added" if result.created else ("updated" if result.changed else "unchanged:")
    click.echo(f"{verb} node {view.hostname}")


@node.command("set")
@click.argument("hostname")
@node_options
@click.option("--rename", help="New hostname.")
@click.option("--state", type=click.Choice(["new", "active", "disabled"]))
@click.option("--no-image", is_flag=True, help="Clear the image assignment.")
@replace_option
@click.pass_obj
def set_(
    app: App,
    hostname: str,
    mac: str | None,
    ip: str | None,
    ifname: str | None,
    vlan: int | None,
    serial: str | None,
    asset_tag: str | None,
    uuid: str | None,
    cluster: str | None,
    roles: tuple[str, ...],
    image: str | None,
    rename: str | None,
    state: str | None,
    no_image: bool,
    replace: bool,
) -> None:
    """Change fields of a node; --mac adds or updates that interface."""
    given = {
        "hostname": rename,
        "serial": serial,
        "asset_tag": asset_tag,
        "uuid": uuid,
        "cluster": cluster,
        "roles": list(roles),
        "image": image,
        "state": state,
    }
    fields: dict[str, Any] = {key: value for key, value in given.items() if value not in (None, [])}
    if no_image:
        fields["image"] = None
    with app.db.write() as session:
        if mac:
            current = node_view(cmdb.get_node(session, hostname))
            others = [
                i.model_dump(exclude_none=True)
                for i in current.interfaces
                if i.mac != names.mac(mac)
            ]
            fields["interfaces"] = others + _interface(mac, ip, ifname, vlan)
        elif ip or ifname or vlan:
            raise InvalidInput("--ip, --interface and --vlan need --mac")
        record = parse(NodeRecord, fields)
        node = cmdb.patch_node(
            session,
            hostname,
            record,
            app.actor,
            replace=replace,
            max_facts_bytes=app.settings.cmdb_max_facts_bytes,
        )
        view = node_view(node)
    click.echo(f"node {view.hostname}: {view.state}, image {view.image or '(none)'}")


@node.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@replace_option
@click.pass_obj
def import_(app: App, path: Path, replace: bool) -> None:
    """Import nodes from a CSV, YAML or JSON file: all of them, or none."""
    fmt = nodefile.format_for(path.name, None)
    records = nodefile.parse_nodes(documents.read_text(path), fmt)
    with app.db.write() as session:
        results = cmdb.import_nodes(
            session,
            records,
            app.actor,
            replace=replace,
            max_facts_bytes=app.settings.cmdb_max_facts_bytes,
        )
    created = sum(r.created for r in results)
    updated = sum(r.changed and not r.created for r in results)
    unchanged = len(results) - created - updated
    counts = f"{created} created, {updated} updated, {unchanged} unchanged"
    click.echo(f"imported {len(results)} nodes: {counts}")


@node.command("list")
@click.option("--cluster", help="Only nodes of this cluster.")
@click.option("--state", type=click.Choice(["new", "active", "disabled"]))
@json_option
@click.pass_obj
def list_(app: App, cluster: str | None, state: str | None, as_json: bool) -> None:
    """List nodes."""
    with app.db.read() as session:
        views = [node_view(n) for n in cmdb.list_nodes(session, cluster, state)]
    if as_json:
        print_json(views)
        return
    print_table(
        ["hostname", "state", "mac", "ip", "cluster", "roles", "image"],
        [
            [
                v.hostname,
                v.state,
                v.interfaces[0].mac if v.interfaces else "",
                v.interfaces[0].ip if v.interfaces else "",
                v.cluster,
                ",".join(v.roles),
                v.image,
            ]
            for v in views
        ],
    )


@node.command()
@click.argument("hostname")
@json_option
@click.pass_obj
def show(app: App, hostname: str, as_json: bool) -> None:
    """Show a node, what it should boot and why, and how its boots went."""
    with app.db.read() as session:
        view = node_view(cmdb.get_node(session, hostname))
        status = fleet.node_status(session, app.settings, hostname)
    if as_json:
        print_json({**view.model_dump(mode="json"), "boot": status.model_dump(mode="json")})
        return
    _show(view)
    print_fields(
        [
            ("should boot", status.desired or "nothing"),
            ("because", status.reason),
            ("channel at", status.channel_version),
            ("booted", status.booted),
            ("up since", f"{status.booted_at:%Y-%m-%d %H:%M:%S}" if status.booted_at else None),
            ("boot took", f"{status.boot_s} s" if status.boot_s is not None else None),
            ("status", status.status),
            ("refused", status.refused),
            ("failed boots", status.failures),
            ("last seen", f"{status.last_seen:%Y-%m-%d %H:%M:%S}" if status.last_seen else None),
        ]
    )


@node.command()
@click.argument("hostname")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_obj
def boots(app: App, hostname: str, limit: int, as_json: bool) -> None:
    """A node's boots, newest first: version, outcome, how long each took."""
    with app.db.read() as session:
        node_id = cmdb.get_node(session, hostname).id
        views = [
            boot_view(boot, session.get(ImageVersion, boot.version_id or 0))
            for boot in boot_history.history(session, node_id, limit)
        ]
    if as_json:
        print_json(views)
        return
    print_table(
        ["script", "image", "version", "outcome", "boot s", "ip"],
        [
            [
                f"{v.script_at:%Y-%m-%d %H:%M:%S}" if v.script_at else "",
                v.image,
                v.version,
                v.outcome,
                v.duration_s,
                v.ip,
            ]
            for v in views
        ],
    )


@node.command()
@click.argument("hostname")
@click.pass_obj
def accept(app: App, hostname: str) -> None:
    """Accept a node enlisted by its first boot."""
    with app.db.write() as session:
        _node, changed = cmdb.set_state(session, hostname, "active", app.actor)
    click.echo(f"node {hostname} {'accepted' if changed else 'was already active'}")


def _confirm_reset(app: App, hostname: str) -> None:
    """Name what will be wiped and ask; anything but yes changes nothing."""
    with app.db.read() as session:
        node = cmdb.get_node(session, hostname)
        if node.reset_id is not None:
            return
        name, wipe = node.hostname, disks.Wipe.of(node)
    _confirm(
        f"Factory-reset {name}? Its next boot wipes {wipe.describe()}",
        f"node {name}: no reset requested; nothing changed",
    )


def _confirm(prompt: str, refusal: str) -> None:
    """Ask on stderr; anything but yes stops with `refusal`."""
    try:
        confirmed = click.confirm(prompt, default=False, err=True)
    except click.Abort:
        # No answer (end of input): end the question's line before the error.
        click.echo(err=True)
        confirmed = False
    if not confirmed:
        raise click.ClickException(refusal)


@node.command()
@click.argument("hostname")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--cancel", is_flag=True, help="Cancel a pending reset instead.")
@json_option
@click.pass_obj
def reset(app: App, hostname: str, yes: bool, cancel: bool, as_json: bool) -> None:
    """Reset a node to factory state at its next boot: its state partition
    and Ceph OSD devices are wiped and it comes back like a new node."""
    if not cancel and not yes:
        _confirm_reset(app, hostname)
    with app.db.write() as session:
        if cancel:
            change = disks.cancel_reset(session, hostname, app.actor)
        else:
            change = disks.request_reset(session, hostname, app.actor)
        view = node_view(change.node)
    if as_json:
        print_json(view)
        return
    if cancel:
        said = "reset cancelled" if change.changed else "no reset was pending"
    else:
        said = "factory reset " + ("requested" if change.changed else "already pending")
        said += f" (audit {change.node.reset_id}), at its next boot"
    click.echo(f"node {view.hostname}: {said}")


def _confirm_accept(app: App, hostname: str) -> str:
    """Show the pending key's fingerprint and ask; returns that fingerprint,
    which the accept then insists on."""
    with app.db.read() as session:
        node = cmdb.get_node(session, hostname)
        found = tpm_view(node.tpm)
        name = node.hostname
    if found is None:
        raise click.ClickException(f"node {name} has no TPM key to accept")
    _confirm(
        f"Accept the TPM key of {name} ({found.state}, EK sha256 {found.ek_sha256})? "
        "Its secrets will go only to that TPM",
        f"node {name}: TPM key not accepted; nothing changed",
    )
    return found.ek_sha256


@node.command()
@click.argument("hostname")
@click.option(
    "--ek",
    "ek_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Register this endorsement key (PEM, from tpm2_createek -f pem), accepted at once.",
)
@click.option("--accept", is_flag=True, help="Accept the key the node enrolled at boot.")
@click.option("--forget", is_flag=True, help="Forget the node's key.")
@click.option("--yes", is_flag=True, help="Accept without asking.")
@json_option
@click.pass_obj
def tpm(
    app: App,
    hostname: str,
    ek_file: Path | None,
    accept: bool,
    forget: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Attested delivery: register, accept or forget a node's TPM key. Its
    secrets then go only sealed to that TPM (see `bootsvc node show`)."""
    if sum((ek_file is not None, accept, forget)) != 1:
        raise click.UsageError("give one of --ek FILE, --accept or --forget")
    if ek_file is not None:
        try:
            pem = ek_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {ek_file}: {exc}") from None
        with app.db.write() as session:
            change = tpm_registry.register(session, hostname, pem, app.actor)
            view = node_view(change.node)
        said = "TPM key registered" if change.changed else "that TPM key was already accepted"
    elif accept:
        expected = None if yes else _confirm_accept(app, hostname)
        with app.db.write() as session:
            change = tpm_registry.accept(session, hostname, app.actor, expected)
            view = node_view(change.node)
        said = "TPM key accepted" if change.changed else "its TPM key was already accepted"
    else:
        with app.db.write() as session:
            change = tpm_registry.forget(session, hostname, app.actor)
            view = node_view(change.node)
        said = "TPM key forgotten" if change.changed else "no TPM key was registered"
    if as_json:
        print_json(view)
        return
    shown = f" (EK sha256 {view.tpm.ek_sha256})" if view.tpm else ""
    click.echo(f"node {view.hostname}: {said}{shown}")


@node.command()
@click.argument("hostname")
@click.pass_obj
def remove(app: App, hostname: str) -> None:
    """Remove a node from the CMDB."""
    with app.db.write() as session:
        cmdb.remove_node(session, hostname, app.actor)
    click.echo(f"removed node {hostname}")


COMMANDS = [node]
