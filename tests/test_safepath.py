from __future__ import annotations

from pathlib import Path

import pytest

from bootsvc.safepath import OutsideRoot, resolve_within


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "efi").mkdir(parents=True)
    (base / "undionly.kpxe").write_bytes(b"bios")
    (base / "efi" / "snponly.efi").write_bytes(b"uefi")
    (tmp_path / "secret").write_text("no")
    (base / "link-out").symlink_to(tmp_path / "secret")
    (base / "link-in").symlink_to(base / "efi" / "snponly.efi")
    (base / "dir-out").symlink_to(tmp_path)
    return base


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("undionly.kpxe", "undionly.kpxe"),
        ("/undionly.kpxe", "undionly.kpxe"),
        ("./efi//snponly.efi", "efi/snponly.efi"),
        ("efi\\snponly.efi", "efi/snponly.efi"),
        ("link-in", "efi/snponly.efi"),
    ],
)
def test_names_inside_resolve(root: Path, name: str, target: str) -> None:
    assert resolve_within(root, name) == (root / target).resolve()


@pytest.mark.parametrize(
    "name", ["../secret", "efi/../../secret", "/../secret", "link-out", "dir-out/secret"]
)
def test_names_leaving_the_root_are_refused(root: Path, name: str) -> None:
    with pytest.raises(OutsideRoot):
        resolve_within(root, name)


def test_trusted_names_follow_their_link_out_and_nothing_else_does(root: Path) -> None:
    secret = (root.parent / "secret").resolve()
    assert resolve_within(root, "link-out", trusted={"link-out"}) == secret
    assert resolve_within(root, "/link-out", trusted={"link-out"}) == secret
    for name in ("link-out", "dir-out/secret", "../secret", "efi/../../secret"):
        with pytest.raises(OutsideRoot):
            resolve_within(root, name, trusted={"dir-out", "secret", "efi"})


@pytest.mark.parametrize(
    "name", ["", "/", "efi", "missing", "efi/missing", "undionly.kpxe/x", "x" * 300]
)
def test_no_regular_file_is_not_found(root: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError):
        resolve_within(root, name)
