"""The Flask application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bootsvc.core.boot.bootscript import BootSite
from bootsvc.core.cmdb.records import refuse_unstorable
from bootsvc.errors import BootsvcError, PayloadTooLarge
from bootsvc.logs import event
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.web import (
    agent,
    api,
    artifacts,
    attest,
    boot,
    fleetlock,
    health,
    loaders,
    metrics,
    nodefiles,
    ui,
)
from bootsvc.web.clientaddr import UnmappedClients
from bootsvc.web.context import Services

log = logging.getLogger("bootsvc.http")


def create_app(settings: Settings, db: Database | None = None) -> Flask:
    # Both paths given: Flask's own search for them fails on editable installs.
    app = Flask(
        "bootsvc",
        root_path=str(Path(__file__).parent),
        instance_path=str(settings.data_dir.resolve() / "instance"),
    )

    # Larger bodies are refused before they are read (uploads set their own).
    app.config["MAX_CONTENT_LENGTH"] = settings.http_max_body_bytes
    database = db or Database(settings.effective_database_url, settings.database_pool_size)
    app.extensions["bootsvc"] = Services(
        settings=settings,
        db=database,
        store=ArtifactStore(settings.data_dir),
        site=BootSite.from_settings(settings),
    )
    app.wsgi_app = UnmappedClients(app.wsgi_app)  # type: ignore[method-assign]
    metrics.install(app)
    app.register_blueprint(api.register_all())
    app.register_blueprint(boot.blueprint)
    app.register_blueprint(artifacts.blueprint)
    app.register_blueprint(loaders.blueprint)
    app.register_blueprint(agent.blueprint)
    app.register_blueprint(fleetlock.blueprint)
    app.register_blueprint(attest.blueprint)
    app.register_blueprint(health.blueprint)
    nodefiles.install(app, settings, database)
    ui.install(app, settings)

    @app.url_value_preprocessor
    def _path_values(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        # Every route's path segments (/boot/nodes/HOST/..., /api/v1/nodes/HOST)
        # end up in a query; a NUL in one fails on PostgreSQL.
        refuse_unstorable(values or {}, "path")

    @app.errorhandler(BootsvcError)
    def _domain_error(error: BootsvcError) -> tuple[Response, int]:
        g.refusal = error.message
        return jsonify(error.to_json()), error.status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_error: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = request.max_content_length
        return _domain_error(PayloadTooLarge(f"request body is larger than {limit} bytes"))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        body = {
            "error": (error.name or "error").lower().replace(" ", "-"),
            "message": error.description,
        }
        return jsonify(body), status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.error("http.error", exc_info=error, extra={"fields": {"path": request.path}})
        return jsonify({"error": "internal", "message": "internal error; see the server log"}), 500

    @app.after_request
    def _log_api(response: Response) -> Response:
        if request.path.startswith(api.PREFIX):
            event(
                log,
                "http.api",
                method=request.method,
                path=request.path,
                status=response.status_code,
                token=g.get("token_name"),
                ip=request.remote_addr,
                error=g.get("refusal"),
            )
        return response

    return app
