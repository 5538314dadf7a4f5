"""What RQ holds: queue lengths, running, scheduled and failed jobs; retry a failed job."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from app.errors import NotFound


@dataclass
class QueueSummary:
    name: str
    queued: int
    running: int
    scheduled: int
    failed: int


@dataclass
class FailedJob:
    id: str
    queue: str
    func: str
    args: str
    ended_at: datetime | None
    error: str


def queue_summaries(conn: Redis, names: tuple[str, ...]) -> list[QueueSummary]:
    out = []
    for name in names:
        queue = Queue(name, connection=conn)
        out.append(
            QueueSummary(
                name=name,
                queued=queue.count,
                running=len(StartedJobRegistry(queue=queue)),
                scheduled=len(ScheduledJobRegistry(queue=queue)),
                failed=len(FailedJobRegistry(queue=queue)),
            )
        )
    return out


# "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: x"
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Timeout)\b")


def error_summary(traceback_text: str) -> str:
    """The line of a traceback that says what went wrong: the last 'SomeError: ...' line,
    not the trailer some libraries add after it (SQLAlchemy's '[SQL: ...]' and
    '(Background on this error at: ...)')."""
    lines = [line.strip() for line in traceback_text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else ""


def failed_jobs(conn: Redis, names: tuple[str, ...], limit: int = 50) -> list[FailedJob]:
    out: list[FailedJob] = []
    for name in names:
        registry = FailedJobRegistry(queue=Queue(name, connection=conn))
        ids = registry.get_job_ids(0, limit - 1)
        for job in Job.fetch_many(ids, connection=conn):
            if job is None:
                continue
            result = job.latest_result()
            exc = (result.exc_string if result is not None else "") or ""
            last_line = error_summary(exc)
            out.append(
                FailedJob(
                    id=job.id,
                    queue=name,
                    func=job.func_name or "",
                    args=", ".join(repr(a) for a in job.args)[:200],
                    ended_at=job.ended_at,
                    error=last_line[:300],
                )
            )
    return sorted(out, key=lambda j: j.ended_at or datetime.min, reverse=True)[:limit]


def retry_failed_job(conn: Redis, job_id: str) -> Job:
    """Put a failed job back on its queue (RQ's own requeue from the failed registry)."""
    try:
        job = Job.fetch(job_id, connection=conn)
    except NoSuchJobError as exc:
        raise NotFound("No such job (it may have expired).") from exc
    if not job.is_failed:
        raise NotFound("This job is not in the failed registry.")
    job.requeue()
    return job
