"""Domain errors, and how the factory maps them to pages and JSON problem bodies."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class Invalid(DomainError):
    status = 422
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def problem(status: int, title: str, detail: str, **extra: Any) -> tuple[Any, int]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.content_type = "application/problem+json"
    return response, status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Any:
        if wants_json():
            return problem(exc.status, exc.title, exc.message, field=exc.field, errors=exc.details)
        return (
            render_template("errors/error.html", status=exc.status, message=exc.message),
            exc.status,
        )

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        message = _("The form expired or was not sent from Cerchia. Please try again.")
        if wants_json():
            return problem(400, "CSRF check failed", message)
        return render_template("errors/error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        messages = {
            404: _("This page does not exist."),
            405: _("This action is not allowed here."),
            413: _("The file is too large."),
        }
        message = messages.get(status, exc.name)
        if wants_json():
            return problem(status, exc.name, message)
        return render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = _("Something went wrong on our side. The error was logged.")
        if wants_json():
            return problem(500, "Internal error", message)
        return render_template("errors/error.html", status=500, message=message), 500
