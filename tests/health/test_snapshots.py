"""Snapshots: stored set-based, once per day, with status changes; the daily job via RQ."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.contacts.privacy import erase_contact
from app.db import utcnow
from app.health import snapshots
from app.health.jobs import daily_job_id, enqueue_health_now, run_daily_health
from app.health.models import HealthRun, HealthSnapshot, HealthStatusChange
from app.jobs import get_queue
from tests.health.helpers import account, person, rhythm


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_day_is_stored_once_with_people_and_accounts(session, users) -> None:
    org = account(session, users["sales"], "Acme")
    steady = person(session, users["sales"], "Steady", org=org)
    silent = person(session, users["sales"], "Silent", org=org)
    rhythm(session, steady, every_days=7, count=10, last_days_ago=2)
    rhythm(session, silent, every_days=7, count=10, last_days_ago=80)
    session.commit()

    today = utcnow().date()
    run = snapshots.record_health(session, today)
    session.commit()
    assert run is not None and run.status == "done"
    assert run.stats["people"] == {"healthy": 1, "cooling": 0, "at_risk": 1}
    by_contact = {
        s.contact_id: s
        for s in session.scalars(
            select(HealthSnapshot).where(HealthSnapshot.contact_id.is_not(None))
        )
    }
    assert by_contact[silent.id].status == "at_risk"
    assert by_contact[silent.id].reasons[0]["code"] == "silent_at_risk"
    assert by_contact[steady.id].status == "healthy"
    org_snap = session.scalar(
        select(HealthSnapshot).where(HealthSnapshot.organization_id == org.id)
    )
    assert org_snap is not None

    # The same day again: nothing new.
    assert snapshots.record_health(session, today) is None
    session.commit()
    assert _count(session, HealthRun) == 1
    assert _count(session, HealthSnapshot) == 3


def test_backfill_draws_the_past_and_records_status_changes(session, users) -> None:
    fading = person(session, users["sales"], "Fading", tier="one_to_one")
    rhythm(session, fading, every_days=5, count=20, last_days_ago=60)
    session.commit()

    days = snapshots.backfill(session, 70, 14, on_run=lambda run, day: session.commit())
    session.commit()
    assert days == sorted(days) and len(days) == 6
    statuses = [
        status
        for _as_of, status in session.execute(
            select(HealthRun.as_of, HealthSnapshot.status)
            .join(HealthSnapshot, HealthSnapshot.run_id == HealthRun.id)
            .where(HealthSnapshot.contact_id == fading.id)
            .order_by(HealthRun.as_of)
        )
    ]
    assert statuses[0] == "healthy" and statuses[-1] == "at_risk"
    changes = session.scalars(
        select(HealthStatusChange).where(HealthStatusChange.contact_id == fading.id)
    ).all()
    assert [c.to_status for c in changes][-1] == "at_risk"
    assert all(c.from_status != c.to_status for c in changes)
    # Running the backfill again stores nothing new.
    assert snapshots.backfill(session, 70, 14) == []


def test_an_erased_person_gets_no_health(session, users) -> None:
    gone = person(session, users["sales"], "Gone")
    rhythm(session, gone, every_days=7, count=5, last_days_ago=3)
    erase_contact(session, users["manager"], gone, "their request")
    session.commit()
    snapshots.record_health(session, utcnow().date())
    session.commit()
    assert _count(session, HealthSnapshot) == 0


def test_the_daily_job_runs_on_a_real_worker_and_twice_is_harmless(
    app, session, users, run_worker
) -> None:
    someone = person(session, users["sales"], "Someone")
    rhythm(session, someone, every_days=7, count=6, last_days_ago=1)
    session.commit()
    enqueue_health_now(session)
    session.commit()
    queue = get_queue()
    assert queue.fetch_job(daily_job_id(utcnow().date())) is not None
    assert run_worker() == 0
    session.rollback()
    assert _count(session, HealthRun) == 1
    # A second run of the same day (a retry, a duplicate) does nothing.
    result = run_daily_health(utcnow().date().isoformat())
    assert "skipped" in result
    session.rollback()
    assert _count(session, HealthRun) == 1
    assert _count(session, HealthSnapshot) == 1


def test_moment_of_a_past_day_is_its_end(session) -> None:
    day = utcnow().date() - timedelta(days=3)
    assert snapshots.moment_of(day).date() == day + timedelta(days=1)
    assert snapshots.moment_of(utcnow().date()) <= utcnow()


def test_old_snapshots_are_thinned_to_one_run_a_week(session, users) -> None:
    someone = person(session, users["sales"], "Someone")
    rhythm(session, someone, every_days=3, count=60, last_days_ago=1)
    session.commit()
    today = utcnow().date()
    snapshots.backfill(session, 130, 1, today=today)
    session.commit()
    removed = snapshots.prune_snapshots(session, keep_daily_days=90, today=today)
    session.commit()
    assert removed > 0
    runs_with_rows = session.scalar(select(func.count(func.distinct(HealthSnapshot.run_id))))
    # 91 recent days kept whole, older ones one per ISO week; every run keeps its totals.
    assert 91 + 5 <= runs_with_rows <= 91 + 7
    assert _count(session, HealthRun) == 131
