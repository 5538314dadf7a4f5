"""RQ jobs for contacts: running an import in the background.

Safe to run twice: a run is executed only by the job that moves it from 'pending' (or
'failed', when the job is retried from RQ's failed-job registry: a failed import was rolled
back whole) to 'running' with a conditional UPDATE; a run that is done, running or gone
is skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import update
from sqlalchemy.orm import Session

from app import jobs
from app.contacts.import_service import execute_import_run
from app.contacts.models import ImportRun
from app.db import utcnow

log = logging.getLogger(__name__)

IMPORT_RESULT_TTL = 24 * 3600
IMPORT_FAILURE_TTL = 7 * 24 * 3600


def import_job_id(import_run_id: int) -> str:
    return f"import-{import_run_id}"


def run_import(import_run_id: int) -> dict[str, Any]:
    """Execute one pending ImportRun; commit its rows and its report together."""
    with jobs.job_context() as session:
        claimed = session.execute(
            update(ImportRun)
            .where(ImportRun.id == import_run_id, ImportRun.status.in_(("pending", "failed")))
            .values(status="running", error=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            run = session.get(ImportRun, import_run_id)
            status = run.status if run is not None else "missing"
            log.info("import %s not run: status %s", import_run_id, status)
            return {"import_run_id": import_run_id, "status": status, "skipped": True}
    try:
        with jobs.job_context() as session:
            run = session.get(ImportRun, import_run_id)
            if run is None:
                return {"import_run_id": import_run_id, "status": "missing", "skipped": True}
            jobs.report_progress(processed=0, total=run.total_rows)

            def progress(done: int, total: int) -> None:
                jobs.report_progress(processed=done, total=total)

            execute_import_run(session, run, progress)
            outcome = {
                "import_run_id": import_run_id,
                "status": run.status,
                "created": run.created_count,
                "updated": run.updated_count,
                "rejected": sum(1 for r in run.rejected if r.get("level") != "warning"),
                "error": run.error,
            }
    except Exception:
        # The import was rolled back; the run says so, and the job fails visibly.
        log.exception("import %s failed", import_run_id)
        with jobs.job_context() as session:
            _mark_failed(session, import_run_id)
        raise
    jobs.report_progress(processed=run.processed_rows, total=run.total_rows)
    return outcome


def _mark_failed(session: Session, import_run_id: int) -> None:
    session.execute(
        update(ImportRun)
        .where(ImportRun.id == import_run_id, ImportRun.status == "running")
        .values(
            status="failed",
            error="An unexpected error stopped the import; nothing of it was saved. "
            "The error was logged.",
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def enqueue_import(session: Session, run: ImportRun) -> None:
    """Queue the run once the transaction that created it has committed."""
    jobs.enqueue_after_commit(
        session,
        jobs.QUEUE_IMPORTS,
        run_import,
        run.id,
        job_id=import_job_id(run.id),
        job_timeout=current_app.config.get("IMPORT_JOB_TIMEOUT", 3600),
        result_ttl=IMPORT_RESULT_TTL,
        failure_ttl=IMPORT_FAILURE_TTL,
        description=f"import {run.kind} #{run.id} ({run.filename})",
    )


def import_progress(import_run_id: int) -> dict[str, int] | None:
    """{processed, total} from the running job's meta, None when unknown."""
    try:
        job = Job.fetch(import_job_id(import_run_id), connection=jobs.redis_conn())
    except (NoSuchJobError, RedisError):
        return None
    meta = job.meta
    if "total" not in meta:
        return None
    return {"processed": int(meta.get("processed", 0)), "total": int(meta.get("total", 0))}
