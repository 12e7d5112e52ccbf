"""The admin pages, /ui: HTML views over the same core calls the API makes.
A login is an API token; its role decides what the pages offer and what the
server accepts."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from bootsvc.settings import Settings
from bootsvc.web.ui.blueprint import PREFIX, blueprint
from bootsvc.web.ui.login import CookieSessions, session_key


def install(app: Flask, settings: Settings) -> None:
    app.secret_key = session_key(settings)
    app.session_interface = CookieSessions()
    app.config.update(
        SESSION_COOKIE_NAME="bootsvc_ui",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.advertise_url.startswith("https:"),
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.ui_session_ttl_s),
    )
    # Each module adds its routes to the blueprint when imported.
    from bootsvc.web.ui import audit, fleet, images, login, nodes, rollouts  # noqa: F401

    app.register_blueprint(blueprint)
