"""New secrets, each in the format of the tool that reads it."""

from __future__ import annotations

import base64
import os
import struct
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# corosync-keygen's default: 2048 bits of randomness.
COROSYNC_AUTHKEY_BYTES = 256
SSH_HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
CEPH_AES_KEY = 1
_OPENSSH_MAGIC = b"openssh-key-v1\0"


def corosync_authkey() -> bytes:
    return os.urandom(COROSYNC_AUTHKEY_BYTES)


def ceph_key() -> bytes:
    """A CephX secret as ceph-authtool writes it: base64 of the encoded
    CryptoKey (type AES, creation time, length, 16 random bytes)."""
    secret = os.urandom(16)
    encoded = struct.pack("<HIIH", CEPH_AES_KEY, int(time.time()), 0, len(secret)) + secret
    return base64.b64encode(encoded)


def ssh_host_key(kind: str) -> bytes:
    """A private host key in OpenSSH's format, as ssh-keygen -A makes them."""
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unknown SSH host key type {kind!r}")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


def _ssh_string(data: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">I", data, offset)
    end = offset + 4 + length
    if end > len(data):
        raise ValueError("truncated OpenSSH private key")
    return data[offset + 4 : end], end


def ssh_public_line(private: bytes, comment: str) -> bytes:
    """The .pub line of an OpenSSH private key, from the public key its
    header carries in the clear: loading the key itself checks an RSA key's
    primes, which costs far more than the rest of a node's secrets."""
    armored = b"".join(line for line in private.splitlines() if not line.startswith(b"-----"))
    data = base64.b64decode(armored)
    if not data.startswith(_OPENSSH_MAGIC):
        raise ValueError("not an OpenSSH private key")
    offset = len(_OPENSSH_MAGIC)
    for _field in ("cipher", "kdf", "kdf options"):
        _value, offset = _ssh_string(data, offset)
    offset += 4  # the number of keys: ssh-keygen writes one
    blob, _end = _ssh_string(data, offset)
    kind, _rest = _ssh_string(blob, 0)
    return kind + b" " + base64.b64encode(blob) + b" " + comment.encode() + b"\n"
