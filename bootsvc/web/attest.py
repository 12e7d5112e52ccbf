"""POST /boot/nodes/HOST/attest: a node's secrets, sealed to its TPM.

The node's initramfs (images/busybox-test/initramfs/bootsvc-attest) sends its endorsement
key and the name of an attestation key it just made. If the EK is the node's
accepted one, it gets a TPM2 credential only that TPM can activate and its
secrets archive sealed with the secret inside (bootsvc.core.attestation).
A key first seen from a node that expects one waits for an admin (403
tpm-pending); any other key gets 403 and changes nothing. The address and
token do not matter here: the TPM is the proof.
"""

from __future__ import annotations

import base64
import logging

from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Response, jsonify, request

from bootsvc.core.attestation import bundle, credential, registry
from bootsvc.core.attestation.registry import Outcome
from bootsvc.core.cmdb.documents import load_json
from bootsvc.core.nodeconfig import cpio, delivery
from bootsvc.errors import BootsvcError, Forbidden, InvalidInput, NotFound
from bootsvc.logs import event
from bootsvc.web import nodefiles
from bootsvc.web.context import services

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("attest", __name__)

ATTEST_NAME = "attest"


class UnsupportedMediaType(BootsvcError):
    status = 415
    code = "unsupported-media-type"


class TpmPending(Forbidden):
    code = "tpm-pending"


def _body() -> tuple[rsa.RSAPublicKey, bytes]:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("the body must be application/json")
    data = load_json(request.get_data(cache=False), "attest body")
    if not isinstance(data, dict):
        raise InvalidInput("attest body must be a JSON object")
    pem, name = data.get("ek_public"), data.get("ak_name")
    if not isinstance(pem, str) or not isinstance(name, str):
        raise InvalidInput("attest body needs ek_public (PEM) and ak_name (hex)")
    return credential.load_ek(pem), credential.parse_name(name)


@blueprint.post(delivery.node_path("<hostname>", ATTEST_NAME))
def attest(hostname: str) -> Response:
    where = nodefiles.request_fields(hostname, "attest")
    try:
        key, ak_name = _body()
    except BootsvcError as exc:
        event(log, "boot.attest_refused", logging.WARNING, reason=exc.message, **where)
        raise
    try:
        with services().db.write() as session:
            found = registry.attest(session, hostname, key)
    except NotFound as exc:
        event(log, "boot.attest_refused", logging.WARNING, reason=exc.message, **where)
        raise
    fields = {"ek_sha256": found.fingerprint, **where}
    if found.outcome in (Outcome.ENROLLED, Outcome.PENDING):
        event(
            log,
            "boot.attest_pending",
            logging.WARNING,
            first_seen=found.outcome is Outcome.ENROLLED,
            **fields,
        )
        raise TpmPending(
            f"this TPM's key (sha256 {found.fingerprint}) waits for an admin: "
            f"bootsvc node tpm {hostname} --accept"
        )
    if found.outcome is not Outcome.SEALED or found.ek is None:
        reason = (
            f"not the node's registered TPM (sha256 {found.registered})"
            if found.outcome is Outcome.MISMATCH
            else "the node expects no TPM"
        )
        event(log, "boot.attest_refused", logging.WARNING, reason=reason, **fields)
        raise Forbidden("secrets are only for the node's own TPM")
    files = nodefiles.secret_files(hostname, where["mac"])
    sealed = bundle.seal_to_tpm(found.ek, ak_name, cpio.pack_gz(files))
    event(log, "boot.attest", files=len(files), **fields)
    return jsonify(
        credential=base64.b64encode(sealed.credential).decode(),
        bundle=base64.b64encode(sealed.bundle).decode(),
    )
