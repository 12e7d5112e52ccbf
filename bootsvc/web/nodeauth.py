"""Requests a booted node makes for itself (boot reports, its agent's
questions, FleetLock) carry the boot token from its script, as `?token=` or
`Authorization: Bearer`, and must come from the address it is bound to.
Anything else is refused with 403 and logged, and changes nothing."""

from __future__ import annotations

import logging

from flask import request
from sqlalchemy.orm import Session

from bootsvc.core.access import nodeaccess
from bootsvc.errors import Forbidden
from bootsvc.logs import event

log = logging.getLogger("bootsvc.http")


def presented_token() -> str:
    kind, _, secret = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() == "bearer" and secret.strip():
        return secret.strip()
    return request.args.get("token", "")


def booted_node(session: Session, stage: str, mac: str | None = None) -> nodeaccess.Caller:
    """The node making this request; Forbidden, logged, for anyone else."""
    try:
        return nodeaccess.boot_caller(session, presented_token(), request.remote_addr, mac)
    except nodeaccess.Refused as exc:
        event(
            log,
            "boot.node_request_refused",
            logging.WARNING,
            mac=mac,
            ip=request.remote_addr,
            stage=stage,
            path=request.path,
            reason=str(exc),
        )
        raise Forbidden("only the node itself, from its own address, may do this") from None
