"""The CMDB side of attested delivery: a node's TPM endorsement key, how it
gets there (registered by an admin, or first seen at boot and then accepted
by one), and what a node's boot gets from it.

A node attests when its EK is accepted, or when its fact `tpm` is true (it
has a TPM whose key is not known yet): its kernel command line then says
`bootsvc.attest=1` and its secrets go only sealed to the accepted key,
never by the one-time token. Only such a node may enroll its key at boot,
so nobody can park a key for a node that does not expect one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.attestation import credential
from bootsvc.core.cmdb import cmdb
from bootsvc.errors import Conflict, NotFound
from bootsvc.logs import event
from bootsvc.store.models import Node, NodeTpm
from bootsvc.store.types import utcnow

log = logging.getLogger("bootsvc.cmdb")

PENDING, ACCEPTED = "pending", "accepted"
# The kernel argument that has the node's initramfs attest.
ARGUMENT = "bootsvc.attest"
# The node fact that says it has a TPM whose key is to be enrolled.
FACT = "tpm"


def subject(node: Node) -> str:
    return f"node/{node.hostname}"


def ek_fingerprint(tpm: NodeTpm) -> str:
    return credential.fingerprint(credential.load_ek(tpm.ek_public))


def expects_tpm(facts: dict[str, Any]) -> bool:
    return facts.get(FACT) is True


# Built once: every node script asks it.
_TPM_STATE = select(NodeTpm.state).where(NodeTpm.node_id == bindparam("node_id"))


def sealed_reason(session: Session, node_id: int, facts: dict[str, Any]) -> str | None:
    """Why the node's secrets go only sealed to its TPM (and its initramfs
    attests), or None when they go by the one-time token as usual."""
    if session.connection().scalar(_TPM_STATE, {"node_id": node_id}) == ACCEPTED:
        return "sealed to the node's TPM"
    if expects_tpm(facts):
        return "sealed to the node's TPM, once an admin accepts its key"
    return None


@dataclass(frozen=True)
class TpmChange:
    node: Node
    tpm: NodeTpm | None
    changed: bool


def register(session: Session, hostname: str, pem: str, actor: str) -> TpmChange:
    """An admin's own word for the node's key: accepted at once, replacing
    whatever was there."""
    key = credential.load_ek(pem)
    node = cmdb.get_node(session, hostname, lock=True)
    tpm = session.get(NodeTpm, node.id)
    fingerprint = credential.fingerprint(key)
    before = ek_fingerprint(tpm) if tpm is not None else None
    if tpm is not None and before == fingerprint and tpm.state == ACCEPTED:
        return TpmChange(node, tpm, changed=False)
    if tpm is None:
        tpm = NodeTpm(node_id=node.id, ek_public="", state=ACCEPTED)
        session.add(tpm)
    tpm.ek_public = credential.canonical_pem(key)
    tpm.state = ACCEPTED
    tpm.updated_at = utcnow()
    audit.record(session, actor, "node.tpm-register", subject(node), before, fingerprint)
    session.flush()
    return TpmChange(node, tpm, changed=True)


def accept(
    session: Session, hostname: str, actor: str, fingerprint: str | None = None
) -> TpmChange:
    """Accept the key the node enrolled at boot; `fingerprint`, when given,
    must be that key's (the one the admin was shown)."""
    node = cmdb.get_node(session, hostname, lock=True)
    tpm = session.get(NodeTpm, node.id)
    if tpm is None:
        raise NotFound(f"node {node.hostname} has no TPM key to accept")
    found = ek_fingerprint(tpm)
    if fingerprint is not None and fingerprint.lower() != found:
        raise Conflict(
            f"node {node.hostname}: its TPM key has fingerprint {found}, not {fingerprint}"
        )
    if tpm.state == ACCEPTED:
        return TpmChange(node, tpm, changed=False)
    tpm.state = ACCEPTED
    tpm.updated_at = utcnow()
    audit.record(session, actor, "node.tpm-accept", subject(node), PENDING, found)
    session.flush()
    return TpmChange(node, tpm, changed=True)


def forget(session: Session, hostname: str, actor: str) -> TpmChange:
    node = cmdb.get_node(session, hostname, lock=True)
    tpm = session.get(NodeTpm, node.id)
    if tpm is None:
        return TpmChange(node, None, changed=False)
    audit.record(
        session, actor, "node.tpm-forget", subject(node), ek_fingerprint(tpm), state=tpm.state
    )
    session.delete(tpm)
    session.flush()
    return TpmChange(node, None, changed=True)


class Outcome(Enum):
    SEALED = "sealed"  # the key is the node's accepted one
    ENROLLED = "enrolled"  # first seen: kept as pending
    PENDING = "pending"  # the pending key again: waits for an admin
    MISMATCH = "mismatch"  # not the node's key
    NOT_EXPECTED = "not-expected"  # the node expects no TPM


@dataclass(frozen=True)
class Attestation:
    outcome: Outcome
    fingerprint: str
    # The node's accepted key, for SEALED.
    ek: rsa.RSAPublicKey | None = None
    # The registered key's fingerprint, for MISMATCH.
    registered: str | None = None


def attest(session: Session, hostname: str, key: rsa.RSAPublicKey) -> Attestation:
    """What a node presenting `key` at boot gets; a key first seen from a
    node that expects one is kept, pending, with an audit entry."""
    node = cmdb.get_node(session, hostname, lock=True)
    tpm = session.get(NodeTpm, node.id)
    fingerprint = credential.fingerprint(key)
    if tpm is None:
        if not expects_tpm(node.facts):
            return Attestation(Outcome.NOT_EXPECTED, fingerprint)
        session.add(
            NodeTpm(node_id=node.id, ek_public=credential.canonical_pem(key), state=PENDING)
        )
        audit.record(
            session, f"node:{node.hostname}", "node.tpm-enroll", subject(node), None, fingerprint
        )
        event(log, "node.tpm-enrolled", node=node.hostname, ek_sha256=fingerprint)
        return Attestation(Outcome.ENROLLED, fingerprint)
    registered = credential.load_ek(tpm.ek_public)
    if credential.fingerprint(registered) != fingerprint:
        return Attestation(
            Outcome.MISMATCH, fingerprint, registered=credential.fingerprint(registered)
        )
    if tpm.state != ACCEPTED:
        return Attestation(Outcome.PENDING, fingerprint)
    return Attestation(Outcome.SEALED, fingerprint, ek=registered)
