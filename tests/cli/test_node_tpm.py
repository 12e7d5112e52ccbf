"""bootsvc node tpm: register, accept (after asking) and forget a node's TPM key."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bootsvc.core.attestation import credential, registry
from bootsvc.store.db import Database
from tests.cli.conftest import Run
from tests.support import factory

MAC = "52:54:00:00:73:01"


def ek_file(tmp_path: Path) -> tuple[Path, str]:
    key = rsa.generate_private_key(65537, 2048).public_key()
    path = tmp_path / "ek.pem"
    path.write_bytes(key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return path, credential.fingerprint(key)


def enroll(db: Database, pem: str) -> None:
    """What the node's first boot does (POST /boot/nodes/hv1/attest)."""
    with db.write() as session:
        registry.attest(session, "hv1", credential.load_ek(pem))


def test_register_show_and_forget(run: Run, tmp_path: Path) -> None:
    run("node", "add", "hv1", "--mac", MAC)
    path, fingerprint = ek_file(tmp_path)
    said = run("node", "tpm", "hv1", "--ek", str(path)).stdout
    assert said == f"node hv1: TPM key registered (EK sha256 {fingerprint})\n"
    shown_text = run("node", "show", "hv1").output
    assert f"accepted, EK sha256 {fingerprint}" in " ".join(shown_text.split())
    shown = json.loads(run("node", "show", "hv1", "--json").output)
    assert (shown["tpm"]["state"], shown["tpm"]["ek_sha256"]) == ("accepted", fingerprint)
    assert run("node", "tpm", "hv1", "--forget").stdout == "node hv1: TPM key forgotten\n"
    assert json.loads(run("node", "show", "hv1", "--json").output)["tpm"] is None
    audit = run("audit").output
    assert "node.tpm-register" in audit and "node.tpm-forget" in audit


def test_accept_shows_the_fingerprint_and_asks(run: Run, db: Database, tmp_path: Path) -> None:
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], facts={"tpm": True})
    path, fingerprint = ek_file(tmp_path)
    enroll(db, path.read_text())
    refused = run("node", "tpm", "hv1", "--accept", input="n\n", code=1)
    assert f"(pending, EK sha256 {fingerprint})" in refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        "Error: node hv1: TPM key not accepted; nothing changed"
    )
    assert json.loads(run("node", "show", "hv1", "--json").output)["tpm"]["state"] == "pending"
    accepted = run("node", "tpm", "hv1", "--accept", input="y\n")
    assert accepted.stdout == f"node hv1: TPM key accepted (EK sha256 {fingerprint})\n"
    again = run("node", "tpm", "hv1", "--accept", "--yes").stdout
    assert again.startswith("node hv1: its TPM key was already accepted")


def test_bad_input_is_one_line_and_changes_nothing(run: Run, tmp_path: Path) -> None:
    run("node", "add", "hv1", "--mac", MAC)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert run("node", "tpm", "hv1", "--ek", str(junk), code=1).stderr == (
        "Error: ek_public is not a PEM public key\n"
    )
    missing = run("node", "tpm", "hv1", "--ek", str(tmp_path / "absent.pem"), code=1).stderr
    assert missing.startswith("Error: cannot read") and missing.count("\n") == 1
    assert run("node", "tpm", "hv1", "--accept", "--yes", code=1).stderr == (
        "Error: node hv1 has no TPM key to accept\n"
    )
    assert "give one of --ek FILE, --accept or --forget" in run("node", "tpm", "hv1", code=1).output
    assert json.loads(run("node", "show", "hv1", "--json").output)["tpm"] is None
