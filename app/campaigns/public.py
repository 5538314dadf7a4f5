"""Public doors (no login, no CSRF): the open pixel, the click redirect, the one-click
unsubscribe and the drop landing page. Each reads only what its signed link names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, send_file

from app.campaigns import drops, tracking
from app.campaigns.jobs import signer_from
from app.errors import DomainError
from app.extensions import csrf, db

public_bp = Blueprint("campaigns_public", __name__)


def _signer() -> tracking.LinkSigner:
    return signer_from(current_app.config)


@public_bp.get("/t/o/<token>.gif")
def open_pixel(token: str) -> Response:
    """Always a GIF: a bad token records nothing but must not break the mail's layout."""
    try:
        delivery_id = _signer().read_delivery_id("open", token)
        with db.transaction() as session:
            tracking.record_open(session, delivery_id)
    except DomainError:
        pass
    response = Response(tracking.PIXEL_GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, max-age=0"
    return response


@public_bp.get("/t/c/<token>")
def click(token: str) -> Any:
    try:
        delivery_id, target = _signer().read_click(token)
    except DomainError as exc:
        return render_template("campaigns/public_message.html", message=exc.message), 400
    with db.transaction() as session:
        try:
            tracking.record_click(session, delivery_id, target)
        except DomainError:
            pass  # the delivery has gone: the signed target is still where they want to go
    return redirect(target, code=302)


@public_bp.route("/t/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """GET shows a button (link scanners prefetch GETs); POST, or the RFC 8058 one-click
    POST from the mail client, opts the person out."""
    try:
        delivery_id = _signer().read_delivery_id("unsubscribe", token)
    except DomainError as exc:
        return render_template("campaigns/public_message.html", message=exc.message), 400
    if request.method == "GET":
        return render_template("campaigns/unsubscribe.html", token=token, done=False)
    with db.transaction() as session:
        tracking.unsubscribe(session, delivery_id)
    return render_template("campaigns/unsubscribe.html", token=token, done=True)


def _client_ip() -> str:
    return request.remote_addr or ""


def _view_drop(session: Any, token: str) -> Any:
    """Open a reserved drop for this visitor: the link's checks and the view record."""
    config = current_app.config
    return drops.view(
        session,
        str(config["SECRET_KEY"]),
        token,
        _client_ip(),
        request.headers.get("User-Agent"),
        int(config.get("DROP_FORWARD_NETWORKS", 3)),
    )


@public_bp.get("/d/<token>")
def drop_landing(token: str) -> Any:
    try:
        with db.transaction() as session:
            opened = _view_drop(session, token)
            drop = opened.drop
            page = render_template("campaigns/drop_landing.html", drop=drop, token=token)
    except DomainError as exc:
        return (
            render_template("campaigns/public_message.html", message=exc.message),
            exc.status if exc.status != 422 else 400,
        )
    response = Response(page)
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@public_bp.get("/d/<token>/file")
def drop_file(token: str) -> Any:
    try:
        with db.transaction() as session:
            opened = _view_drop(session, token)
            drop = opened.drop
            stored, name = drop.stored_path, drop.file_name
    except DomainError as exc:
        return (
            render_template("campaigns/public_message.html", message=exc.message),
            exc.status if exc.status != 422 else 400,
        )
    if not stored or not Path(stored).is_file():
        return render_template("campaigns/public_message.html", message="—"), 404
    response = send_file(stored, as_attachment=True, download_name=name or "file")
    response.headers["Cache-Control"] = "no-store, private"
    return response


for _view in (open_pixel, click, unsubscribe, drop_landing, drop_file):
    csrf.exempt(_view)
