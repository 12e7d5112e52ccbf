"""A software TPM 2.0 (swtpm, socket mode on loopback) and the tpm2-tools
steps a node's initramfs runs against it (images/common/bootsvc-attest)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live import free_port

TOOLS = ("swtpm", "tpm2_createek", "tpm2_createak", "tpm2_activatecredential")


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (swtpm, tpm2-tools)")


@dataclass
class SoftTpm:
    workdir: Path
    port: int

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={self.port}"}
        return subprocess.run(
            argv, cwd=self.workdir, env=env, capture_output=True, text=True, check=False
        )

    def check(self, *argv: str) -> str:
        done = self.run(*argv)
        assert done.returncode == 0, f"{argv[0]} failed: {done.stderr}"
        return done.stdout

    def create_keys(self) -> tuple[str, bytes]:
        """The EK (PEM) and a fresh AK's name, as the node's client makes them.
        Without a resource manager, transient objects are flushed after each
        step (the TPM holds three)."""
        self.check("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pem", "-f", "pem")
        self.check("tpm2_flushcontext", "-t")
        self.check(
            "tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "rsa", "-g", "sha256",
            "-s", "rsassa", "-u", "ak.pub", "-n", "ak.name",
        )  # fmt: skip
        self.check("tpm2_flushcontext", "-t")
        self.check("tpm2_flushcontext", "-s")
        return (self.workdir / "ek.pem").read_text(), (self.workdir / "ak.name").read_bytes()

    def activate(self, credential: bytes) -> subprocess.CompletedProcess[str]:
        """tpm2_activatecredential on `credential`; the secret lands in secret.out."""
        (self.workdir / "cred.bin").write_bytes(credential)
        (self.workdir / "secret.out").unlink(missing_ok=True)
        self.check("tpm2_startauthsession", "--policy-session", "-S", "session.ctx")
        self.check("tpm2_policysecret", "-S", "session.ctx", "-c", "e")
        try:
            return self.run(
                "tpm2_activatecredential", "-c", "ak.ctx", "-C", "ek.ctx", "-i", "cred.bin",
                "-o", "secret.out", "-P", "session:session.ctx",
            )  # fmt: skip
        finally:
            self.run("tpm2_flushcontext", "session.ctx")

    def secret(self) -> bytes:
        return (self.workdir / "secret.out").read_bytes()


def _start(state: Path) -> tuple[subprocess.Popen[bytes], int]:
    """swtpm on a free port and the one after it (where the swtpm TCTI looks
    for the control channel); another port pair if those were taken."""
    for _attempt in range(10):
        port = free_port()
        process = subprocess.Popen(
            [
                "swtpm", "socket", "--tpm2",
                "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                "--flags", "not-need-init,startup-clear",
                "--tpmstate", f"dir={state}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            try:
                for each in (port, port + 1):
                    socket.create_connection(("127.0.0.1", each), timeout=1).close()
            except OSError:
                time.sleep(0.05)
                continue
            return process, port
        process.kill()
        process.wait()
    raise AssertionError("swtpm did not start")


@contextmanager
def _running(state: Path) -> Iterator[int]:
    """swtpm on the TPM state in `state`, for as long as the block runs: its port."""
    require_tools()
    state.mkdir(parents=True, exist_ok=True)
    process, port = _start(state)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def soft_tpm(workdir: Path) -> Iterator[SoftTpm]:
    with _running(workdir / "state") as port:
        yield SoftTpm(workdir, port)


def endorsement_key(state: Path) -> str:
    """The EK (PEM) of the TPM whose state is in `state`, made there if it is
    new: what an admin registers by hand before the node's first boot. The
    EK derives from the TPM's seed, so the VM's TPM later makes the same."""
    with _running(state) as port, tempfile.TemporaryDirectory() as workdir:
        tpm = SoftTpm(Path(workdir), port)
        tpm.check("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pem", "-f", "pem")
        tpm.check("tpm2_flushcontext", "-t")
        return (Path(workdir) / "ek.pem").read_text()


def _openssl(*argv: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *argv], input=data, capture_output=True, check=True).stdout


def _hmac_hex(key_hex: str, data: bytes) -> str:
    out = _openssl(
        "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{key_hex}", "-hex", data=data
    )
    return out.decode().split()[-1]


def open_bundle(secret: bytes, sealed: bytes, tmp_path: Path) -> bytes | None:
    """A sealed bundle opened with the openssl command line, as the node's
    client does it (format: bootsvc.core.attestation.bundle); None when its
    HMAC does not match."""
    enc_key = _hmac_hex(secret.hex(), b"bootsvc-attest enc")
    mac_key = _hmac_hex(secret.hex(), b"bootsvc-attest mac")
    ciphertext, tag = sealed[:-32], sealed[-32:]
    if _hmac_hex(mac_key, ciphertext) != tag.hex():
        return None
    (tmp_path / "ciphertext").write_bytes(ciphertext)
    return _openssl(
        "enc", "-d", "-aes-256-ctr", "-K", enc_key, "-iv", "0" * 32,
        "-in", str(tmp_path / "ciphertext"),
    )  # fmt: skip
