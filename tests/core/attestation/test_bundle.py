"""The sealed bundle opens with the openssl command line, as the initramfs does it."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from bootsvc.core.attestation import bundle
from tests.support.swtpm import open_bundle


def test_openssl_opens_the_bundle_with_the_credential_secret(tmp_path: Path) -> None:
    secret, archive = os.urandom(32), os.urandom(5000)
    assert open_bundle(secret, bundle.seal(secret, archive), tmp_path) == archive


def test_a_wrong_secret_or_an_altered_byte_fails_the_hmac(tmp_path: Path) -> None:
    secret = os.urandom(32)
    sealed = bundle.seal(secret, b"corosync authkey")
    assert open_bundle(os.urandom(32), sealed, tmp_path) is None
    altered = bytes([sealed[0] ^ 1]) + sealed[1:]
    assert open_bundle(secret, altered, tmp_path) is None


def test_each_sealing_uses_a_fresh_secret() -> None:
    ek = rsa.generate_private_key(65537, 2048).public_key()
    name = bytes.fromhex("000b") + bytes(32)
    first = bundle.seal_to_tpm(ek, name, b"same archive")
    second = bundle.seal_to_tpm(ek, name, b"same archive")
    assert first.bundle != second.bundle
    assert first.credential != second.credential
