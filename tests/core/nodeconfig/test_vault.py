"""Secrets at rest: sealed under a key file made once with mode 0600, bound
to the row they belong to, and unreadable with another key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.errors import SettingsError


def test_key_file_is_made_once_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.key"
    first = Vault.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = first.seal(b"authkey bytes", "cluster/1/corosync/authkey")
    assert b"authkey" not in sealed
    # Another server (or process) reading the same file opens it.
    assert Vault.from_file(path).open(sealed, "cluster/1/corosync/authkey") == b"authkey bytes"
    assert list(path.parent.iterdir()) == [path]


def test_a_sealed_value_opens_only_on_its_own_row_and_key(tmp_path: Path) -> None:
    vault = Vault.from_file(tmp_path / "a.key")
    sealed = vault.seal(b"secret", "node/1/ssh/ed25519")
    with pytest.raises(SettingsError, match="does not open"):
        vault.open(sealed, "node/2/ssh/ed25519")
    with pytest.raises(SettingsError, match="secrets_key_file"):
        Vault.from_file(tmp_path / "b.key").open(sealed, "node/1/ssh/ed25519")
    (tmp_path / "bad.key").write_text("not base64 at all!\n")
    with pytest.raises(SettingsError, match="not 32 bytes"):
        Vault.from_file(tmp_path / "bad.key")
