"""The busybox-test recipe: what its build packs, and its build cache. The
image booting for real is tests/e2e."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

from bootsvc.core.catalog import imports
from bootsvc.images import builder, recipes

EXPECTED_MODULES = ("virtio_net.ko", "virtio_pci.ko", "squashfs.ko", "loop.ko", "overlay.ko")


def _unpack(initrd: Path, into: Path) -> list[str]:
    """Unpack a gzip newc initrd with GNU cpio; return its member list."""
    archive = gzip.decompress(initrd.read_bytes())
    into.mkdir()
    subprocess.run(
        ["cpio", "-i", "-d", "--quiet", "--no-absolute-filenames", "-D", str(into)],
        input=archive,
        check=True,
    )
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=archive, capture_output=True, check=True
    )
    return listing.stdout.decode().splitlines()


def test_manifest_is_importable_and_matches_the_files(busybox_test_v1: Path) -> None:
    files = imports.read_manifest(busybox_test_v1)
    assert (files.image, files.version) == ("busybox-test", "1")
    assert files.rootfs is not None
    assert "fetch={{ rootfs_url }}" in files.cmdline
    for local in (files.kernel, *files.initrds, files.rootfs):
        assert local.sha256 == hashlib.sha256(local.path.read_bytes()).hexdigest()


def test_initramfs_carries_init_modules_and_the_overlay_hook(
    busybox_test_v1: Path, tmp_path: Path
) -> None:
    root = tmp_path / "initramfs"
    listing = _unpack(busybox_test_v1.parent / "initrd.img", root)
    load_order = (root / "lib" / "modules" / "load-order").read_text().split()
    for module in EXPECTED_MODULES:
        assert any(path.endswith("/" + module) for path in load_order), module
    # Every module the init loads is in the archive, and dependencies come first.
    assert all(path.lstrip("/") in listing for path in load_order)
    names = [path.rsplit("/", 1)[1] for path in load_order]
    assert names.index("virtio.ko") < names.index("virtio_net.ko")
    hook = (recipes.default_dir() / "common" / "bootsvc-overlay").read_bytes()
    assert (root / "scripts" / "init-bottom" / "bootsvc-overlay").read_bytes() == hook
    assert "switch_root /newroot /sbin/init" in (root / "init").read_text()


def test_version_is_baked_into_the_root_filesystem(
    busybox_test_v1: Path, busybox_test_v2: Path, tmp_path: Path
) -> None:
    baked = {}
    for manifest in (busybox_test_v1, busybox_test_v2):
        out = tmp_path / manifest.parent.name
        subprocess.run(
            ["unsquashfs", "-q", "-d", str(out), str(manifest.parent / "root.squashfs"), "etc"],
            check=True,
            capture_output=True,
        )
        baked[manifest] = (out / "etc" / "bootsvc-image").read_text()
    assert baked[busybox_test_v1] == "IMAGE=busybox-test\nVERSION=1\n"
    assert baked[busybox_test_v2] == "IMAGE=busybox-test\nVERSION=2\n"


def test_builds_are_reproducible_across_versions(
    busybox_test_v1: Path, busybox_test_v2: Path
) -> None:
    """Only the root differs between versions: kernel and initramfs are the
    same bytes, so a second version costs the catalog one new artifact."""
    one, two = imports.read_manifest(busybox_test_v1), imports.read_manifest(busybox_test_v2)
    assert one.kernel.sha256 == two.kernel.sha256
    assert one.initrds[0].sha256 == two.initrds[0].sha256
    assert one.rootfs is not None and two.rootfs is not None
    assert one.rootfs.sha256 != two.rootfs.sha256


def test_a_second_build_of_the_same_inputs_is_a_cache_hit(busybox_test_v1: Path) -> None:
    before = busybox_test_v1.stat().st_mtime_ns
    cache = busybox_test_v1.parents[3]
    again = builder.build(builder.BuildRequest(recipes.SAMPLE_IMAGE, "1"), cache)
    assert again.cached
    assert again.manifest == busybox_test_v1
    assert again.manifest.stat().st_mtime_ns == before


def test_cache_key_follows_every_input(tmp_path: Path) -> None:
    path = tmp_path / "images" / "busybox-test"
    shutil.copytree(recipes.find(recipes.SAMPLE_IMAGE, recipes.default_dir()).path, path)
    shutil.copytree(recipes.default_dir() / "common", tmp_path / "images" / "common")
    recipe = recipes.find(recipes.SAMPLE_IMAGE, tmp_path / "images")
    kernel = "linux-image-6.1.0-1-amd64"
    key = recipes.input_key(recipe, "1", kernel)
    assert recipes.input_key(recipe, "1", kernel) == key
    assert recipes.input_key(recipe, "2", kernel) != key
    assert recipes.input_key(recipe, "1", "linux-image-6.1.0-2-amd64") != key
    assert recipes.input_key(recipe, "1", kernel, ["--extra-package", "vim"]) != key
    init = path / "rootfs" / "sbin" / "init"
    init.write_text(init.read_text() + "\n")
    changed = recipes.input_key(recipe, "1", kernel)
    assert changed != key
    hook = tmp_path / "images" / "common" / "bootsvc-overlay"
    hook.chmod(0o644)
    assert recipes.input_key(recipe, "1", kernel) != changed


def test_initrd_is_padded_so_an_overlay_after_it_unpacks_on_uefi(busybox_test_v1: Path) -> None:
    """The EFI stub joins initrd= files without padding, and the kernel
    unpacks the next archive (the overlay) only from a 4-byte boundary."""
    assert (busybox_test_v1.parent / "initrd.img").stat().st_size % 4 == 0
