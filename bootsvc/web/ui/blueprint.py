"""The blueprint every admin page hangs on, and how its errors look: the
page says what the API would have said, with the same status."""

from __future__ import annotations

from flask import Blueprint, Response
from werkzeug.exceptions import HTTPException

from bootsvc.errors import BootsvcError, NotFound
from bootsvc.web.ui.page import page

PREFIX = "/ui"

blueprint = Blueprint("ui", __name__, url_prefix=PREFIX)


@blueprint.errorhandler(BootsvcError)
def _refused(error: BootsvcError) -> Response:
    return page(
        "error.html",
        error.status,
        title=_TITLES.get(error.status, "Refused"),
        message=error.message,
    )


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return page("error.html", status, title=error.name, message=error.description or "")


@blueprint.route("/<path:_rest>", methods=["GET", "POST"])
def _unknown(_rest: str) -> Response:
    raise NotFound("there is no such page")


_TITLES = {
    400: "Invalid input",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
}
