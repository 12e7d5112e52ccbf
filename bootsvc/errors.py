"""Errors that users can cause, each with the HTTP status the API answers with.

Every front end maps these the same way: the API returns the status with a JSON
body, the CLI prints the message on one line and exits non-zero. Anything else
escaping the domain is a bug.
"""

from __future__ import annotations

from typing import Any


class BootsvcError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(BootsvcError, ValueError):
    """Also a ValueError, so that pydantic validators can raise it directly."""

    status = 400
    code = "invalid"


class Unauthorized(BootsvcError):
    status = 401
    code = "unauthorized"


class Forbidden(BootsvcError):
    status = 403
    code = "forbidden"


class NotFound(BootsvcError):
    status = 404
    code = "not-found"


class Conflict(BootsvcError):
    status = 409
    code = "conflict"


class PayloadTooLarge(BootsvcError):
    status = 413
    code = "too-large"


class UnsupportedMediaType(BootsvcError):
    status = 415
    code = "unsupported-media-type"


class ChecksumMismatch(BootsvcError):
    status = 422
    code = "checksum-mismatch"


class SchemaOutdated(BootsvcError):
    status = 503
    code = "schema-outdated"


class Unavailable(BootsvcError):
    """This server cannot answer now, through no fault of the client's."""

    status = 503
    code = "unavailable"


class SettingsError(BootsvcError):
    code = "settings"
