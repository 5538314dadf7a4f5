"""Import and export pages: upload, column mapping, progress and report, CSV export."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import (
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.auth.models import Role, User
from app.contacts import importers
from app.contacts.import_forms import ImportUploadForm, chosen_mapping, mapping_form
from app.contacts.import_service import create_import_run, export_contacts_csv
from app.contacts.jobs import enqueue_import, import_progress
from app.contacts.models import ImportRun
from app.contacts.service import (
    ContactFilter,
    can_edit_all,
    filtered_contacts_query,
    iter_filtered_contacts,
)
from app.contacts.views import bp
from app.errors import Forbidden, Invalid, NotFound
from app.extensions import db

PENDING_KEY = "import_pending"


def _upload_dir() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / "uploads"


def _pending_dir() -> Path:
    return _upload_dir() / "pending"


def _check_can_import() -> None:
    if current_user.role == Role.MARKETER:
        raise Forbidden(_("Marketers can read contacts but not import them."))


def _start_run(filename: str, data: bytes, kind: str, mapping: dict[str, str] | None) -> Any:
    with db.transaction() as tx:
        run = create_import_run(tx, current_user.id, filename, data, kind, mapping, _upload_dir())
        enqueue_import(tx, run)
    return redirect(url_for("contacts.import_status", run_id=run.id))


def _keep_pending(data: bytes, filename: str) -> str:
    """Keep an upload between the upload and the mapping step; the token is tied to the
    user's session, so nobody else can use it."""
    token = uuid.uuid4().hex
    _pending_dir().mkdir(parents=True, exist_ok=True)
    (_pending_dir() / token).write_bytes(data)
    pending = dict(session.get(PENDING_KEY) or {})
    pending[token] = filename[:255]
    session[PENDING_KEY] = dict(list(pending.items())[-5:])
    return token


def _render_mapping(token: str, filename: str, info: dict[str, Any], form: Any = None) -> Any:
    form = form or mapping_form(info["headers"], info["suggested_mapping"])
    form.token.data = token
    columns = [
        (header, getattr(form, f"col_{i}"), [row[i] if i < len(row) else "" for row in
                                             info["sample_rows"][:3]])
        for i, header in enumerate(info["headers"])
    ]  # fmt: skip
    return render_template(
        "contacts/import_mapping.html", form=form, filename=filename, columns=columns
    )


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_upload() -> Any:
    _check_can_import()
    form = ImportUploadForm()
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        filename = upload.filename or "upload.csv"
        data = upload.read()
        kind = form.kind.data or "contacts"
        try:
            if kind == "contacts":
                info = importers.preview(data, filename)
                if info["format"] == "csv":
                    token = _keep_pending(data, filename)
                    return _render_mapping(token, filename, info)
            return _start_run(filename, data, kind, None)
        except Invalid as exc:
            form.file.errors = [*form.file.errors, exc.message]
            status = 422
    elif request.method == "POST":
        status = 400
    return render_template("contacts/import_upload.html", form=form), status


@bp.post("/import/mapping")
@login_required
def import_mapping() -> Any:
    _check_can_import()
    token = request.form.get("token", "")
    pending = session.get(PENDING_KEY) or {}
    if token not in pending or not token.isalnum():
        raise Invalid(_("This upload has expired. Please upload the file again."))
    filename = pending[token]
    path = _pending_dir() / token
    if not path.exists():
        raise Invalid(_("This upload has expired. Please upload the file again."))
    data = path.read_bytes()
    info = importers.preview(data, filename)
    form = mapping_form(info["headers"], info["suggested_mapping"])
    if form.validate_on_submit():
        mapping = chosen_mapping(form, info["headers"])
        try:
            response = _start_run(filename, data, "contacts", mapping)
        except Invalid as exc:
            form.token.errors = [exc.message]
            return _render_mapping(token, filename, info, form), 422
        path.unlink(missing_ok=True)
        session[PENDING_KEY] = {k: v for k, v in pending.items() if k != token}
        return response
    return _render_mapping(token, filename, info, form), 400


def _visible_run(run_id: int) -> ImportRun:
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(_("No such import."))
    if run.created_by_id != current_user.id and not can_edit_all(current_user):
        raise NotFound(_("No such import."))
    return run


def _run_state(run: ImportRun) -> dict[str, Any]:
    processed, total = run.processed_rows, run.total_rows
    if run.status in ("pending", "running"):
        live = import_progress(run.id)
        if live is not None:
            processed, total = live["processed"], live["total"] or total
    rejected = [r for r in run.rejected or [] if r.get("level") != "warning"]
    warnings = [r for r in run.rejected or [] if r.get("level") == "warning"]
    return {
        "id": run.id,
        "kind": run.kind,
        "format": run.file_format,
        "filename": run.filename,
        "status": run.status,
        "processed": processed,
        "total": total,
        "percent": int(100 * processed / total) if total else (100 if run.status == "done" else 0),
        "created": run.created_count,
        "updated": run.updated_count,
        "rejected": rejected,
        "warnings": warnings,
        "error": run.error,
    }


@bp.get("/import/<int:run_id>")
@login_required
def import_status(run_id: int) -> Any:
    run = _visible_run(run_id)
    return render_template("contacts/import_status.html", run=run, state=_run_state(run))


@bp.get("/import/<int:run_id>.json")
@login_required
def import_status_json(run_id: int) -> Any:
    return jsonify(_run_state(_visible_run(run_id)))


def _filter_from_args() -> ContactFilter:
    args = request.args
    return ContactFilter(
        q=args.get("q", ""),
        tag=args.get("tag", ""),
        owner_id=args.get("owner_id", type=int),
        organization_id=args.get("organization_id", type=int),
        consent=args.get("consent", ""),
        tier=args.get("tier", ""),
        sort=args.get("sort", "name") or "name",
    )


@bp.get("/contacts/export.csv")
@login_required
def export_csv() -> Any:
    f = _filter_from_args()
    filtered_contacts_query(current_user, f)  # bad filters fail here, before streaming
    user = current_user._get_current_object()
    owners = dict(db.session.execute(select(User.id, User.email)).tuples().all())

    def generate() -> Any:
        yield "\ufeff"  # so that Excel reads the accents right
        yield from export_contacts_csv(iter_filtered_contacts(db.session, user, f), owners)

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
