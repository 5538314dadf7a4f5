"""The JSON API under /api/v1 (bearer tokens, problem+json errors, OpenAPI document)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from app.errors import DomainError

bp = Blueprint("api", __name__, url_prefix="/api/v1")

API_TITLE = "Cerchia API"
API_VERSION = "1.0.0"


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    from app.api.openapi import problem_with_errors

    return problem_with_errors(exc)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 document, generated from the schemas that validate the requests."""
    from app.api.openapi import openapi_document

    return jsonify(openapi_document(bp, title=API_TITLE, version=API_VERSION))


from app.api import campaigns as campaigns_api  # noqa: E402,F401
from app.api import contacts  # noqa: E402,F401
from app.api import health as health_api  # noqa: E402,F401
from app.api import loyalty as loyalty_api  # noqa: E402,F401
