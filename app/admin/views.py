from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import audit, jobs
from app.admin import service
from app.auth.models import Role
from app.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _admins_only() -> None:
    if current_user.role != Role.ADMIN:
        abort(403)


@bp.get("/jobs")
def job_queues() -> Any:
    conn = jobs.redis_conn()
    return render_template(
        "admin/jobs.html",
        queues=service.queue_summaries(conn, jobs.ALL_QUEUES),
        failed=service.failed_jobs(conn, jobs.ALL_QUEUES),
    )


@bp.post("/jobs/<job_id>/retry")
def retry(job_id: str) -> Any:
    service.retry_failed_job(jobs.redis_conn(), job_id)
    with db.transaction() as session:
        audit.record(session, current_user.id, "job.retry", "rq_job", None, job_id=job_id)
    flash(_("The job is back on its queue."), "success")
    return redirect(url_for("admin.job_queues"))
