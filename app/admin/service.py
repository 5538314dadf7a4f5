"""What RQ holds: queue lengths, running, scheduled and failed jobs; retry a failed job."""

from __future__ import annotations

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
            last_line = exc.strip().splitlines()[-1] if exc.strip() else ""
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
