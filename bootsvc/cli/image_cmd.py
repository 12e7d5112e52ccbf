"""image build|import|list|show|promote|rollback|delete."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from bootsvc.cli import App
from bootsvc.cli.output import (
    StatusLine,
    json_option,
    print_fields,
    print_json,
    print_table,
    size_text,
)
from bootsvc.core.catalog import catalog, imports, releases
from bootsvc.core.views.objects import VersionView, channel_move_view, image_view, version_view
from bootsvc.errors import InvalidInput
from bootsvc.images import builder, export

_FILE = click.Path(path_type=Path, dir_okay=False)
# Below this, a progress bar would only flicker; a pipe has no size to show.
PROGRESS_MIN_BYTES = 8 * 2**20


@contextmanager
def _progress(label: str, size: int | None) -> Iterator[Callable[[int], None]]:
    if size is None or size < PROGRESS_MIN_BYTES:
        yield lambda _count: None
        return
    with click.progressbar(length=size, label=f"importing {label}", file=sys.stderr) as bar:
        yield bar.update


@click.group()
def image() -> None:
    """Image catalog: versions and channels."""


@image.command()
@click.argument("recipe")
@click.option("--version", "version_name", required=True, help="Version to build.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also put the build's files in this directory (hard links or copies).",
)
@click.option("--import", "import_", is_flag=True, help="Import the build into the catalog.")
@click.option("--channel", help="With --import: point this channel at the version.")
@click.option("--mirror", help="Debian mirror for recipes that install packages.")
@click.option(
    "--extra-package",
    "extra_packages",
    multiple=True,
    help="Also install this package (repeatable; recipes that install packages).",
)
@click.pass_obj
def build(
    app: App,
    recipe: str,
    version_name: str,
    out: Path | None,
    import_: bool,
    channel: str | None,
    mirror: str | None,
    extra_packages: tuple[str, ...],
) -> None:
    """Build image RECIPE (images/RECIPE/build.sh) at --version, or find the
    same build in the cache; print where it is."""
    if channel and not import_:
        raise click.UsageError("--channel needs --import")
    request = builder.BuildRequest(
        recipe, version_name, mirror=mirror, extra_packages=extra_packages
    )
    status = StatusLine(f"building {recipe} {version_name}") if sys.stderr.isatty() else None
    try:
        done = builder.build(
            request,
            app.settings.effective_image_cache_dir,
            app.settings.image_recipes_dir,
            progress=status,
        )
    finally:
        if status is not None:
            status.clear()
    manifest = done.manifest
    if out is not None:
        export.export(done.directory, out)
        manifest = out / builder.MANIFEST
    how = "found in the build cache" if done.cached else f"built in {done.seconds:.0f} s"
    click.echo(f"{recipe} {version_name} {how}: {manifest}")
    if import_:
        view = _import(app, imports.read_manifest(manifest))
        if channel:
            _promote(app, view.image, view.version, channel)


@image.command("import")
@click.argument("manifest", required=False, type=_FILE)
@click.option("--name", help="Image name.")
@click.option("--version", "version_name", help="Version name.")
@click.option("--kernel", type=_FILE, help="Kernel file.")
@click.option(
    "--initrd", "initrds", type=_FILE, multiple=True, help="Initrd file (repeatable, in order)."
)
@click.option("--rootfs", type=_FILE, help="Root filesystem (squashfs).")
@click.option(
    "--cmdline",
    default="",
    help="Kernel command-line template, e.g. 'boot=live fetch={{ rootfs_url }}'.",
)
@click.option("--notes", default="", help="Release notes.")
@click.option("--kernel-sha256", help="Expected sha256 of the kernel.")
@click.option("--initrd-sha256", multiple=True, help="Expected sha256 of each initrd, in order.")
@click.option("--rootfs-sha256", help="Expected sha256 of the rootfs.")
@json_option
@click.pass_obj
def import_(
    app: App,
    manifest: Path | None,
    name: str | None,
    version_name: str | None,
    kernel: Path | None,
    initrds: tuple[Path, ...],
    rootfs: Path | None,
    cmdline: str,
    notes: str,
    kernel_sha256: str | None,
    initrd_sha256: tuple[str, ...],
    rootfs_sha256: str | None,
    as_json: bool,
) -> None:
    """Import a version from MANIFEST, or from --kernel/--initrd/--rootfs files."""
    if manifest is not None:
        if any([name, version_name, kernel, initrds, rootfs]):
            raise InvalidInput(
                "give either a MANIFEST or --name/--version/--kernel/--initrd, not both"
            )
        files = imports.read_manifest(manifest)
    else:
        if not (name and version_name and kernel and initrds):
            raise InvalidInput(
                "without a MANIFEST, --name, --version, --kernel and --initrd are required"
            )
        if initrd_sha256 and len(initrd_sha256) != len(initrds):
            raise InvalidInput("give one --initrd-sha256 per --initrd")
        sums: list[str | None] = list(initrd_sha256) or [None] * len(initrds)
        files = imports.VersionFiles(
            image=name,
            version=version_name,
            kernel=imports.LocalFile(kernel, kernel_sha256),
            initrds=[
                imports.LocalFile(path, digest) for path, digest in zip(initrds, sums, strict=True)
            ],
            rootfs=imports.LocalFile(rootfs, rootfs_sha256) if rootfs else None,
            cmdline=cmdline,
            notes=notes,
        )
    _import(app, files, as_json)


def _import(app: App, files: imports.VersionFiles, as_json: bool = False) -> VersionView:
    view = imports.import_version(app.db, app.store, files, app.actor, progress=_progress)
    if as_json:
        print_json(view)
    else:
        summary = f"{size_text(view.size)}, {len(view.files)} files"
        click.echo(f"imported {view.image} {view.version} ({summary})")
    return view


@image.command("list")
@json_option
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List images with their versions and channels."""
    with app.db.read() as session:
        views = [image_view(i) for i in catalog.list_images(session)]
    if as_json:
        print_json(views)
        return
    print_table(
        ["image", "versions", "channels"],
        [
            [v.name, len(v.versions), " ".join(f"{c.name}={c.version}" for c in v.channels)]
            for v in views
        ],
    )


def _secure_boot_field(view: VersionView) -> str:
    if view.kernel_signed:
        return "yes: the kernel is signed"
    if view.kernel_signed is False:
        return "refused: the kernel is not signed"
    return "refused: the kernel was imported before signatures were read"


def _build_fields(view: VersionView) -> list[tuple[str, str]]:
    if view.build is None:
        return [("built", "(no build record)")]
    build = view.build
    return [
        ("built", f"{build.built_at:%Y-%m-%d %H:%M:%S} UTC on {build.host}"),
        ("recipe", f"{build.recipe}, inputs {build.recipe_hash}"),
        ("packages", f"{len(build.packages)} (--json lists them)"),
    ]


@image.command()
@click.argument("name")
@click.argument("version", required=False)
@json_option
@click.pass_obj
def show(app: App, name: str, version: str | None, as_json: bool) -> None:
    """Show an image, or one VERSION of it."""
    with app.db.read() as session:
        if version is None:
            image_data = image_view(catalog.get_image(session, name))
            versions = [version_view(v) for v in catalog.get_image(session, name).versions]
        else:
            one = version_view(catalog.get_version(session, name, version))
    if version is not None:
        if as_json:
            print_json(one)
            return
        print_fields(
            [
                ("image", one.image),
                ("version", one.version),
                ("imported", f"{one.imported_at:%Y-%m-%d %H:%M:%S} by {one.imported_by}"),
                ("size", size_text(one.size)),
                ("cmdline", one.cmdline),
                ("notes", one.notes),
                ("architecture", one.architecture or "not read at import"),
                ("secure boot", _secure_boot_field(one)),
                *_build_fields(one),
            ]
        )
        print_table(
            ["role", "name", "size", "sha256"],
            [[f.role, f.name, size_text(f.size), f.sha256] for f in one.files],
        )
        return
    if as_json:
        print_json(
            {
                **image_data.model_dump(mode="json"),
                "versions": [v.model_dump(mode="json") for v in versions],
            }
        )
        return
    click.echo(f"image {image_data.name}")
    print_table(
        ["version", "size", "imported", "by", "channels"],
        [
            [
                v.version,
                size_text(v.size),
                f"{v.imported_at:%Y-%m-%d %H:%M}",
                v.imported_by,
                " ".join(c.name for c in image_data.channels if c.version == v.version),
            ]
            for v in versions
        ],
    )


_canary = click.option("--canary", type=click.IntRange(0), help="Canary of each rollout.")
_max_unavailable = click.option(
    "--max-unavailable", type=click.IntRange(1), help="Batch size of each rollout."
)


def _rollouts(release: releases.Release) -> list[str]:
    lines = [f"rollout {n} aborted: superseded by this rollback" for n in release.superseded]
    lines += [
        f"rollout {rollout.id} on cluster {rollout.cluster.name}: "
        f"{len(rollout.members)} nodes in {rollout.waves} waves, {rollout.state}"
        for rollout in release.rollouts
    ]
    return lines


@image.command()
@click.argument("name")
@click.argument("version")
@click.option("--channel", default="stable", show_default=True)
@_canary
@_max_unavailable
@click.pass_obj
def promote(
    app: App,
    name: str,
    version: str,
    channel: str,
    canary: int | None,
    max_unavailable: int | None,
) -> None:
    """Point CHANNEL of image NAME at VERSION; each cluster following it gets
    a rollout."""
    _promote(app, name, version, channel, canary, max_unavailable)


def _promote(
    app: App,
    name: str,
    version: str,
    channel: str,
    canary: int | None = None,
    max_unavailable: int | None = None,
) -> None:
    with app.db.write() as session:
        release = releases.promote(
            session,
            app.store,
            app.settings,
            name,
            version,
            channel,
            app.actor,
            canary,
            max_unavailable,
        )
        move = channel_move_view(release.move)
        lines = _rollouts(release)
    if move.changed:
        click.echo(f"{name}@{channel}: {move.previous or '(new)'} -> {version}")
    else:
        click.echo(f"{name}@{channel} already at {version}")
    for line in lines:
        click.echo(line)


@image.command()
@click.argument("name")
@click.option("--channel", default="stable", show_default=True)
@_canary
@_max_unavailable
@click.pass_obj
def rollback(
    app: App, name: str, channel: str, canary: int | None, max_unavailable: int | None
) -> None:
    """Point CHANNEL back at the version it held before, and roll the
    clusters following it back too."""
    with app.db.write() as session:
        release = releases.rollback(
            session, app.settings, name, channel, app.actor, canary, max_unavailable
        )
        move = channel_move_view(release.move)
        lines = _rollouts(release)
    click.echo(f"{name}@{channel}: {move.previous} -> {move.channel.version}")
    for line in lines:
        click.echo(line)


@image.command()
@click.argument("name")
@click.argument("version", required=False)
@click.pass_obj
def delete(app: App, name: str, version: str | None) -> None:
    """Delete VERSION of image NAME, or the whole image; refused while in use."""
    released = catalog.delete(app.db, app.store, name, version, app.actor)
    what = f"{name} {version}" if version else f"image {name}"
    click.echo(f"deleted {what}; freed {len(released)} artifacts")


COMMANDS = [image]
