"""MakeCredential on the server, opened by a real TPM (swtpm) with tpm2-tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bootsvc.core.attestation import credential
from bootsvc.errors import InvalidInput
from tests.support.swtpm import soft_tpm


def test_the_registered_tpm_recovers_the_secret(tmp_path: Path) -> None:
    with soft_tpm(tmp_path) as tpm:
        pem, ak_name = tpm.create_keys()
        secret = os.urandom(credential.SECRET_BYTES)
        done = tpm.activate(credential.make_credential(credential.load_ek(pem), ak_name, secret))
        assert done.returncode == 0, done.stderr
        assert tpm.secret() == secret


def test_another_tpm_cannot_open_it(tmp_path: Path) -> None:
    with soft_tpm(tmp_path / "a") as owner, soft_tpm(tmp_path / "b") as thief:
        pem, ak_name = owner.create_keys()
        thief.create_keys()
        sealed = credential.make_credential(credential.load_ek(pem), ak_name, b"s" * 32)
        done = thief.activate(sealed)
        assert done.returncode != 0
        assert not (thief.workdir / "secret.out").exists()


def test_a_credential_for_another_ak_name_is_refused_by_the_tpm(tmp_path: Path) -> None:
    with soft_tpm(tmp_path) as tpm:
        pem, ak_name = tpm.create_keys()
        other_name = ak_name[:2] + bytes(32)
        done = tpm.activate(credential.make_credential(credential.load_ek(pem), other_name, b"x"))
        assert done.returncode != 0


def test_the_fingerprint_is_the_sha256_of_the_der_key() -> None:
    key = rsa.generate_private_key(65537, 2048).public_key()
    pem = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    loaded = credential.load_ek(pem.replace("\n", "\r\n"))
    assert credential.canonical_pem(loaded) == pem
    assert len(credential.fingerprint(loaded)) == 64


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("not a key", "not a PEM public key"),
        (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode(),
            "RSA 2048",
        ),
    ],
)
def test_keys_other_than_an_rsa_2048_ek_are_refused(pem: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        credential.load_ek(pem)


@pytest.mark.parametrize("name", ["zz", "000b" + "00" * 31, "0004" + "00" * 32])
def test_ak_names_other_than_sha256_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="ak_name"):
        credential.parse_name(name)
