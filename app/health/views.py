from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("health", __name__)


@bp.before_request
@login_required
def _require_login() -> None:
    return None
