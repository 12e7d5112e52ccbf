"""TPM2_MakeCredential done on the server, in the file format that
`tpm2_activatecredential -i FILE` reads (tpm2-tools' credential file).

The endorsement key is the RSA 2048 one of the default `tpm2_createek -G rsa`
template (name algorithm SHA-256, AES-128-CFB). Following the TPM 2.0
specification, part 1 section 24 (credential protection):

- a random seed is encrypted to the EK with RSA-OAEP-SHA256, label "IDENTITY\\0";
- KDFa(seed, "STORAGE", AK name) gives an AES-128 key that encrypts the
  credential (as a TPM2B_DIGEST) in CFB mode with a zero IV;
- KDFa(seed, "INTEGRITY") gives an HMAC-SHA256 key over that ciphertext and
  the AK name: the TPM releases the credential only to the AK of that name,
  loaded beside the EK whose private part opens the seed.

File: magic 0xBADCC0DE, version 1 (big-endian uint32 each), then the
TPM2B_ID_OBJECT (uint16 size, TPM2B_DIGEST HMAC, encrypted credential) and the
TPM2B_ENCRYPTED_SECRET (uint16 size, encrypted seed).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from bootsvc.errors import InvalidInput

MAGIC = 0xBADCC0DE
VERSION = 1
SECRET_BYTES = 32  # a SHA-256 digest: the largest credential an EK of this template takes
_SEED_BYTES = 32
_AES_KEY_BITS = 128
_TPM_ALG_SHA256 = 0x000B
_EK_KEY_BITS = 2048


def load_ek(pem: str) -> rsa.RSAPublicKey:
    """An endorsement key as the client sends it (`tpm2_createek -f pem`)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnicodeEncodeError):
        raise InvalidInput("ek_public is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != _EK_KEY_BITS:
        raise InvalidInput("ek_public must be an RSA 2048 endorsement key")
    return key


def canonical_pem(key: rsa.RSAPublicKey) -> str:
    """One text per key, whatever line endings or headers the client used."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """sha256 of the key's DER SubjectPublicKeyInfo, in hex: what an admin
    compares with `openssl pkey -pubin -outform der | sha256sum` on the node."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def parse_name(text: str) -> bytes:
    """An AK name in hex (`tpm2_createak -n`): a SHA-256 algorithm id and digest."""
    try:
        name = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput("ak_name is not hex") from None
    if len(name) != 2 + 32 or struct.unpack(">H", name[:2])[0] != _TPM_ALG_SHA256:
        raise InvalidInput("ak_name must be a SHA-256 TPM name (000b and 32 bytes)")
    return name


def kdfa(key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """KDFa with HMAC-SHA256 (spec part 1, 11.4.10.2): counter mode, the label
    ends with one zero byte."""
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        block = struct.pack(">I", counter) + label + b"\0" + context_u + context_v
        out += hmac.new(key, block + struct.pack(">I", bits), hashlib.sha256).digest()
    return out[: bits // 8]


def _tpm2b(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def make_credential(ek: rsa.RSAPublicKey, ak_name: bytes, secret: bytes) -> bytes:
    """The credential file that only the TPM holding `ek`, with the AK named
    `ak_name` loaded, turns back into `secret`."""
    if not 0 < len(secret) <= SECRET_BYTES:
        raise ValueError(f"a credential holds 1 to {SECRET_BYTES} bytes")
    seed = os.urandom(_SEED_BYTES)
    encrypted_seed = ek.encrypt(
        seed,
        padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"IDENTITY\0"
        ),
    )
    storage_key = kdfa(seed, b"STORAGE", ak_name, b"", _AES_KEY_BITS)
    encryptor = Cipher(algorithms.AES(storage_key), CFB(bytes(16))).encryptor()
    enc_identity = encryptor.update(_tpm2b(secret)) + encryptor.finalize()
    hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", 256)
    integrity = hmac.new(hmac_key, enc_identity + ak_name, hashlib.sha256).digest()
    id_object = _tpm2b(integrity) + enc_identity
    return struct.pack(">II", MAGIC, VERSION) + _tpm2b(id_object) + _tpm2b(encrypted_seed)
