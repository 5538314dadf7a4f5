from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.auth import service
from app.auth.forms import ApiTokenForm, LoginForm
from app.auth.models import ApiToken
from app.extensions import db

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("contacts.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("contacts.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        with db.transaction() as session:
            user = service.authenticate(
                session,
                form.email.data or "",
                form.password.data or "",
                request.remote_addr or "unknown",
                max_attempts=current_app.config["LOGIN_MAX_ATTEMPTS"],
                window_s=current_app.config["LOGIN_WINDOW_SECONDS"],
            )
        if user is not None:
            login_user(user, remember=bool(form.remember.data))
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong email or password."), "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/settings/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> Any:
    form = ApiTokenForm()
    new_secret = None
    if form.validate_on_submit():
        with db.transaction() as session:
            _token, new_secret = service.create_api_token(
                session, current_user, form.name.data or "", form.scopes.data or []
            )
    items = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    ).all()
    return render_template("auth/tokens.html", form=form, tokens=items, new_secret=new_secret)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    with db.transaction() as session:
        service.revoke_api_token(session, current_user, token_id)
    flash(_("Token revoked."), "success")
    return redirect(url_for("auth.tokens"))
