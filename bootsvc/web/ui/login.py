"""Logging in to the admin pages with an API token. The session is Flask's
signed cookie: it holds the token's row id and a CSRF token, never the token
itself, and lapses ui_session_ttl_s after the last page loaded with it.
Every request checks the token again, so a revoked token logs out at once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request

from bootsvc.core.access import tokens
from bootsvc.core.cmdb.records import refuse_unstorable
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.errors import Forbidden, Unauthorized
from bootsvc.logs import event
from bootsvc.settings import Settings
from bootsvc.store.models import ApiToken
from bootsvc.web.auth import check_scope
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import PREFIX, blueprint
from bootsvc.web.ui.page import go, page

log = logging.getLogger("bootsvc.http")

# Pages anyone may load: the login form and its answer.
_OPEN = {"ui.login", "ui.login_submit"}


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the pages: the API token they logged in with."""

    name: str
    role: str

    def may(self, scope: str) -> bool:
        return scope in tokens.ROLE_SCOPES[self.role]


def session_key(settings: Settings) -> bytes:
    """Derived from the secrets key, which servers sharing a database share,
    so that a login holds on each of them."""
    path = settings.effective_secrets_key_file
    Vault.from_file(path)
    return hmac.new(path.read_bytes(), b"bootsvc admin pages", hashlib.sha256).digest()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, read only from a request that sends one: Flask
    builds its signing serializer for every request otherwise, and no
    machine's boot request carries a cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def viewer() -> Viewer:
    found: Viewer = g.viewer
    return found


def require(scope: str) -> None:
    """Refuse an action the viewer's role may not take, in the API's words."""
    who = viewer()
    check_scope(who.name, who.role, scope)


def notify(text: str) -> None:
    """A line the next page shows once: what the last action did."""
    session["notice"] = text


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise Forbidden(
            "the form carried no valid CSRF token, so nothing was changed; "
            "reload the page and try again"
        )


@blueprint.before_request
def _gate() -> Response | None:
    refuse_unstorable(request.args.to_dict(), "query")
    refuse_unstorable(request.form.to_dict(), "form")
    cookie = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
    if cookie and not session:
        # Flask drops a cookie that is not signed with our key or too old.
        session.clear()
        if request.endpoint != "ui.login":
            raise Unauthorized(
                "your session is not valid (it expired, or this server did not sign it); "
                "log in again"
            )
    if request.method == "POST":
        _check_csrf()
    if request.endpoint in _OPEN:
        return None
    token_id = session.get("token")
    if not isinstance(token_id, int):
        if request.method == "GET":
            return go(url_for("ui.login", next=request.full_path))
        raise Unauthorized("log in first: nothing was changed")
    with services().db.read() as db_session:
        row = db_session.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            session.clear()
            raise Unauthorized("the token of this session is unknown or revoked; log in again")
        g.viewer = Viewer(row.name, row.role)
    # The API's audit entries name the token the same way (web.auth.actor).
    g.token_name = row.name
    return None


def _next_page() -> str:
    wanted = request.args.get("next", "")
    # Only a page of ours: never a redirect to somewhere else.
    if wanted.startswith(PREFIX + "/") and not wanted.startswith("//"):
        return wanted
    return url_for("ui.fleet_page")


@blueprint.get("/login")
def login() -> Response:
    session.setdefault("csrf", secrets.token_urlsafe(32))
    return page("login.html", error=None, next=_next_page())


@blueprint.post("/login")
def login_submit() -> Response:
    secret = request.form.get("token", "").strip()
    with services().db.read() as db_session:
        row = tokens.authenticate(db_session, secret)
        found = (row.id, row.name) if row is not None else None
    if found is None:
        event(log, "ui.login_refused", ip=request.remote_addr)
        return page("login.html", 401, error="the token is unknown or revoked", next=_next_page())
    session.clear()
    session["token"], session["csrf"] = found[0], secrets.token_urlsafe(32)
    session.permanent = True
    event(log, "ui.login", token=found[1], ip=request.remote_addr)
    return go(_next_page())


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    return go(url_for("ui.login"))


@blueprint.get("/")
def home() -> Response:
    return go(url_for("ui.fleet_page"))
