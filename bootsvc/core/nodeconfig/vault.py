"""Secrets at rest: sealed with AES-256-GCM (the `cryptography` package)
under a key kept in a file outside the database, so that a copy of the
database alone reveals no secret. Servers that share a database share the
key file (setting `secrets_key_file`).

Each sealed value is bound to the row it belongs to (its associated data
names the owner and the secret), so a sealed value copied onto another row
does not open there.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bootsvc.errors import SettingsError

FORMAT = b"\x01"
NONCE_BYTES = 12


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SettingsError("the secrets key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> Vault:
        """The key in `path` (base64), made with mode 0600 when missing."""
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = cls._create(path)
        except OSError as exc:
            raise SettingsError(f"cannot read secrets key {path}: {exc.strerror}") from None
        try:
            return cls(base64.b64decode(text, validate=True))
        except ValueError:
            raise SettingsError(f"secrets key {path} is not 32 bytes in base64") from None

    @staticmethod
    def _create(path: Path) -> str:
        """Write the key beside `path`, then link it into place: a process
        racing us reads either no file or the whole key, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.b64encode(os.urandom(32)).decode()
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            text = path.read_text().strip()
        finally:
            draft.unlink()
        return text

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if sealed[:1] != FORMAT:
            raise SettingsError(f"secret {context}: unknown format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise SettingsError(
                f"secret {context} does not open with this secrets key "
                "(is secrets_key_file the one the other servers use?)"
            ) from None
