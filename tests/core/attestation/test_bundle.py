"""The sealed bundle opens with the openssl command line, as the initramfs does it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from bootsvc.core.attestation import bundle


def _openssl(*argv: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *argv], input=data, capture_output=True, check=True).stdout


def _hmac_hex(key_hex: str, data: bytes) -> str:
    out = _openssl(
        "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{key_hex}", "-hex", data=data
    )
    return out.decode().split()[-1]


def _open_like_the_node(secret: bytes, sealed: bytes, tmp_path: Path) -> bytes | None:
    enc_key = _hmac_hex(secret.hex(), b"bootsvc-attest enc")
    mac_key = _hmac_hex(secret.hex(), b"bootsvc-attest mac")
    ciphertext, tag = sealed[:-32], sealed[-32:]
    if _hmac_hex(mac_key, ciphertext) != tag.hex():
        return None
    (tmp_path / "ct").write_bytes(ciphertext)
    return _openssl(
        "enc", "-d", "-aes-256-ctr", "-K", enc_key, "-iv", "0" * 32, "-in", str(tmp_path / "ct")
    )


def test_openssl_opens_the_bundle_with_the_credential_secret(tmp_path: Path) -> None:
    secret, archive = os.urandom(32), os.urandom(5000)
    assert _open_like_the_node(secret, bundle.seal(secret, archive), tmp_path) == archive


def test_a_wrong_secret_or_an_altered_byte_fails_the_hmac(tmp_path: Path) -> None:
    secret = os.urandom(32)
    sealed = bundle.seal(secret, b"corosync authkey")
    assert _open_like_the_node(os.urandom(32), sealed, tmp_path) is None
    altered = bytes([sealed[0] ^ 1]) + sealed[1:]
    assert _open_like_the_node(secret, altered, tmp_path) is None


def test_each_sealing_uses_a_fresh_secret() -> None:
    ek = rsa.generate_private_key(65537, 2048).public_key()
    name = bytes.fromhex("000b") + bytes(32)
    first = bundle.seal_to_tpm(ek, name, b"same archive")
    second = bundle.seal_to_tpm(ek, name, b"same archive")
    assert first.bundle != second.bundle
    assert first.credential != second.credential
