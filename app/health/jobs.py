"""RQ jobs for health: the daily snapshot (with its alerts) and the daily digest.

Thin: open a job context, call the services, commit. Deterministic job ids per day; the
database makes a second run of the same day do nothing (`health_runs.as_of` is unique,
alerts have a unique key, a digest only takes alerts not emailed yet).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Flask, current_app
from rq import Retry
from sqlalchemy.orm import Session

from app.db import utcnow
from app.health import alerts, snapshots
from app.health.scoring import HealthParams
from app.jobs import QUEUE_DEFAULT, enqueue_after_commit, get_queue, job_context, report_progress
from app.mail import MailSettings

JOB_TIMEOUT = 3600
DAILY_HOUR_UTC = 2
DIGEST_HOUR_UTC = 6


def params_from_config(config: Any) -> HealthParams:
    return HealthParams(response_target_hours=float(config.get("RESPONSE_TARGET_HOURS", 48)))


def run_daily_health(day: str | None = None) -> dict[str, Any]:
    """Health as of `day` (ISO date, default today), then the alerts it raises."""
    with job_context() as session:
        config = current_app.config
        as_of = date.fromisoformat(day) if day else utcnow().date()
        report_progress(stage="computing", as_of=as_of.isoformat())
        params = params_from_config(config)
        run = snapshots.record_health(session, as_of, trigger="daily", params=params)
        raised = alerts.raise_daily_alerts(session, run, params.response_target_hours)
        if run is None:
            return {"skipped": f"health as of {as_of} is already stored", "alerts": raised}
        pruned = snapshots.prune_snapshots(session, today=as_of)
        report_progress(stage="done")
        return {
            "run_id": run.id, "as_of": as_of.isoformat(), "alerts": raised, "pruned": pruned,
            **run.stats,
        }  # fmt: skip


def run_daily_digest(day: str | None = None) -> dict[str, Any]:
    """Send each owner their alerts not emailed yet."""
    with job_context() as session:
        config = current_app.config
        sent = alerts.send_digests(
            session, MailSettings.from_config(config), config["BASE_URL"],
            config.get("BABEL_DEFAULT_LOCALE", "en"),
        )  # fmt: skip
        return {"day": day, "digests": sent}


def daily_job_id(day: date) -> str:
    return f"health-daily-{day:%Y%m%d}"


def digest_job_id(day: date) -> str:
    return f"health-digest-{day:%Y%m%d}"


def enqueue_health_now(session: Session, day: date | None = None) -> str:
    """Enqueue today's health after the caller's commit (id per day: twice is harmless)."""
    day = day or utcnow().date()
    job_id = daily_job_id(day)
    enqueue_after_commit(
        session, QUEUE_DEFAULT, run_daily_health, day.isoformat(), job_id=job_id,
        job_timeout=JOB_TIMEOUT, result_ttl=86400, failure_ttl=7 * 86400,
    )  # fmt: skip
    return job_id


def scheduled_health(day: str) -> dict[str, Any]:
    """The scheduled daily run: schedule tomorrow first, then compute today."""
    schedule_daily()
    return run_daily_health(day)


def scheduled_digest(day: str) -> dict[str, Any]:
    schedule_daily()
    return run_daily_digest(day)


def schedule_daily(app: Flask | None = None, now: datetime | None = None) -> list[str]:
    """Schedule the next daily run and digest; a job id already queued is left alone."""
    now = now or utcnow()
    ids = []
    for hour, func, make_id in (
        (DAILY_HOUR_UTC, scheduled_health, daily_job_id),
        (DIGEST_HOUR_UTC, scheduled_digest, digest_job_id),
    ):
        at = datetime.combine(now.date(), time(hour), tzinfo=UTC)
        if at <= now:
            at += timedelta(days=1)
        job_id = make_id(at.date())
        queue = get_queue(QUEUE_DEFAULT, app)
        if queue.fetch_job(job_id) is None:
            queue.enqueue_at(
                at, func, at.date().isoformat(), job_id=job_id, job_timeout=JOB_TIMEOUT,
                retry=Retry(max=2, interval=[300, 900]),
            )  # fmt: skip
        ids.append(job_id)
    return ids
