"""RQ jobs for scoring runs. Thin: open a job context, call the service, commit."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from rq import Retry
from sqlalchemy.orm import Session

from app.db import utcnow
from app.jobs import QUEUE_GRAPH, enqueue_after_commit, get_queue, job_context, report_progress
from app.segments import runs
from app.segments.models import ScoreRun

log = logging.getLogger(__name__)
JOB_TIMEOUT = 3600
NIGHTLY_HOUR_UTC = 1


def run_scoring(run_id: int) -> dict[str, Any]:
    """Execute a scoring run. Running it twice does nothing the second time."""

    def progress(stage: str, meta: dict[str, Any]) -> None:
        report_progress(stage=stage, **meta)

    try:
        with job_context() as session:
            return runs.execute_run(session, run_id, progress)
    except Exception as exc:
        with job_context() as session:
            runs.fail_run(session, run_id, f"{type(exc).__name__}: {exc}")
        raise


def enqueue_run(session: Session, run: ScoreRun) -> None:
    enqueue_after_commit(
        session, QUEUE_GRAPH, run_scoring, run.id,
        job_id=f"score-run-{run.id}", job_timeout=JOB_TIMEOUT, result_ttl=86400,
        failure_ttl=7 * 86400,
    )  # fmt: skip


def nightly_scoring() -> dict[str, Any]:
    """The nightly run, then schedule the next night. A run already going is left alone."""
    from app.errors import Conflict

    schedule_nightly()
    try:
        with job_context() as session:
            run = runs.start_run(session, None, trigger="nightly")
            run_id = run.id
    except Conflict:
        return {"skipped": "a run is already in progress"}
    return run_scoring(run_id)


def next_nightly(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    at = now.replace(hour=NIGHTLY_HOUR_UTC, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def schedule_nightly() -> str:
    """Schedule tomorrow's run with a deterministic job id: scheduling twice is harmless."""
    at = next_nightly()
    job_id = f"nightly-score-{at:%Y%m%d}"
    queue = get_queue(QUEUE_GRAPH)
    if queue.fetch_job(job_id) is None:
        queue.enqueue_at(
            at, nightly_scoring, job_id=job_id, job_timeout=JOB_TIMEOUT,
            retry=Retry(max=2, interval=[300, 900]),
        )  # fmt: skip
    return job_id
