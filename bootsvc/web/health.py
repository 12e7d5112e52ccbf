"""/healthz and /readyz, for systemd, load balancers and monitoring.

/healthz says only that this process answers HTTP. /readyz says whether it
can do its job: the database answers, the artifact store is readable and
writable, its secrets key opens the secrets in the database, and every other
enabled service answers. Neither needs a token, and
neither says more than a short reason: the full error goes to the log."""

from __future__ import annotations

import logging
from functools import cache

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from bootsvc.errors import BootsvcError
from bootsvc.logs import event
from bootsvc.serve.probes import probes_for
from bootsvc.store import schema
from bootsvc.web import nodefiles
from bootsvc.web.context import services

log = logging.getLogger("bootsvc.http")

blueprint = Blueprint("health", __name__)

OK = "ok"


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify({"status": "alive"}), 200


@cache
def _head_revision() -> str:
    return schema.head_revision()


def _database() -> str:
    """Reachable, and at the schema this bootsvc needs."""
    try:
        current = schema.current_revision(services().db)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        event(log, "http.readyz.database", level=logging.WARNING, error=error)
        return f"unreachable ({type(exc).__name__})"
    if current != _head_revision():
        return f"schema {current or 'empty'}, needs {_head_revision()}: run `bootsvc db upgrade`"
    return OK


def _secrets_key() -> str:
    """Opens what other servers sealed: servers sharing a database share the key."""
    try:
        problem = nodefiles.secret_store().key_problem()
    except BootsvcError as exc:
        problem = exc.message
    except SQLAlchemyError as exc:
        return f"unreachable ({type(exc).__name__})"
    if problem is not None:
        event(log, "http.readyz.secrets_key", level=logging.WARNING, error=problem)
    return problem or OK


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"database": _database(), "artifact_store": services().store.problem() or OK}
    checks["secrets_key"] = _secrets_key()
    # This request is the proof that HTTP answers.
    checks["http"] = OK
    for name, probe in probes_for(services().settings, with_http=False).items():
        checks[name] = probe() or OK
    ready = all(value == OK for value in checks.values())
    return jsonify({"status": "ready" if ready else "not-ready", "checks": checks}), (
        200 if ready else 503
    )
