from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app import jobs
from app.auth.models import User
from app.segments import runs
from app.segments.jobs import enqueue_run
from tests.segments.helpers import small_network


def test_admin_sees_failed_jobs_and_retries_them(
    client: FlaskClient, login, session: Session, users: dict[str, User], run_worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    small_network(session, users["manager"], n=8)
    original = runs.execute_run

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(runs, "execute_run", broken)
    run = runs.start_run(session, users["manager"])
    enqueue_run(session, run)
    session.commit()
    assert run_worker() == 1

    login(users["admin"])
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert f"score-run-{run.id}" in html and "database went away" in html

    monkeypatch.setattr(runs, "execute_run", original)
    resp = client.post(f"/admin/jobs/score-run-{run.id}/retry")
    assert resp.status_code == 302
    assert run_worker() == 0
    assert "No failed jobs" in client.get("/admin/jobs").get_data(as_text=True)
    assert jobs.get_queue(jobs.QUEUE_GRAPH).fetch_job(f"score-run-{run.id}").is_finished


def test_only_admins_see_the_jobs_page(client: FlaskClient, login, users: dict[str, User]) -> None:
    login(users["manager"])
    assert client.get("/admin/jobs").status_code == 403


def test_a_failed_jobs_error_is_the_line_that_names_it() -> None:
    from app.admin.service import error_summary

    sqlalchemy_style = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\n'
        "sqlite3.OperationalError: no such table: campaigns\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        'Traceback (most recent call last):\n  File "y.py", line 2, in h\n'
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: campaigns\n"
        "[SQL: SELECT campaigns.id FROM campaigns]\n"
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)\n"
    )
    assert error_summary(sqlalchemy_style) == (
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: campaigns"
    )
    assert error_summary("Traceback...\nRuntimeError: database went away\n") == (
        "RuntimeError: database went away"
    )
    assert error_summary("Work-horse terminated unexpectedly") == (
        "Work-horse terminated unexpectedly"
    )
    assert error_summary("") == ""
