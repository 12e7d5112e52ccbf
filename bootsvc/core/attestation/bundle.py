"""A node's secrets archive sealed with the secret of a TPM credential, in a
form the initramfs opens with the `openssl` command line alone.

From the 32-byte credential secret S (hex keys, as openssl's -K and hexkey: take):

    enc_key = HMAC-SHA256(key=S, "bootsvc-attest enc")
    mac_key = HMAC-SHA256(key=S, "bootsvc-attest mac")
    bundle  = ciphertext || HMAC-SHA256(key=mac_key, ciphertext)
    ciphertext = AES-256-CTR(enc_key, iv=0, archive)

Encrypt-then-MAC: the node checks the last 32 bytes with
`openssl dgst -sha256 -mac HMAC -macopt hexkey:MAC_KEY` before it decrypts
with `openssl enc -d -aes-256-ctr -K ENC_KEY -iv 0`. A zero IV is safe because
every bundle has its own fresh secret, so no key encrypts twice.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bootsvc.core.attestation import credential

_ENC_LABEL = b"bootsvc-attest enc"
_MAC_LABEL = b"bootsvc-attest mac"


def _keys(secret: bytes) -> tuple[bytes, bytes]:
    enc = hmac.new(secret, _ENC_LABEL, hashlib.sha256).digest()
    mac = hmac.new(secret, _MAC_LABEL, hashlib.sha256).digest()
    return enc, mac


def _ctr(key: bytes, data: bytes) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return cipher.update(data) + cipher.finalize()


def seal(secret: bytes, archive: bytes) -> bytes:
    enc_key, mac_key = _keys(secret)
    ciphertext = _ctr(enc_key, archive)
    return ciphertext + hmac.new(mac_key, ciphertext, hashlib.sha256).digest()


@dataclass(frozen=True)
class Sealed:
    """What the node gets: the credential file for tpm2_activatecredential,
    and the archive sealed with the secret inside it."""

    credential: bytes
    bundle: bytes


def seal_to_tpm(ek: rsa.RSAPublicKey, ak_name: bytes, archive: bytes) -> Sealed:
    secret = os.urandom(credential.SECRET_BYTES)
    return Sealed(credential.make_credential(ek, ak_name, secret), seal(secret, archive))
