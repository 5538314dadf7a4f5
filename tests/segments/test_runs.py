"""Scoring runs end to end: database in, RQ worker, snapshots and tiers out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import privacy, service
from app.contacts.models import Contact
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid
from app.segments import runs
from app.segments.jobs import enqueue_run
from app.segments.models import Circle, ContactScore, ScoreRun, TierAssignment, TierChange
from tests.segments.helpers import small_network


def _run_now(session: Session, actor: User | None, run_worker) -> ScoreRun:
    run = runs.start_run(session, actor)
    enqueue_run(session, run)
    session.commit()
    assert run_worker() == 0
    session.expire_all()
    return session.get(ScoreRun, run.id)


def test_a_run_scores_everyone_and_assigns_tiers(
    session: Session, users: dict[str, User], run_worker
) -> None:
    users["manager"].capacity = 3
    session.commit()
    people = small_network(session, users["manager"], n=30)
    run = _run_now(session, users["manager"], run_worker)
    assert run.status == "done", run.error
    assert session.scalar(select(func.count()).select_from(ContactScore)) == 30
    tiers = dict(session.execute(select(TierAssignment.contact_id, TierAssignment.tier)).all())
    assert sum(1 for t in tiers.values() if t == "one_to_one") == 3
    assert sum(1 for t in tiers.values() if t == "one_to_few") == round(27 * 0.15)
    assert sum(1 for t in tiers.values() if t == "broadcast") == 27 - round(27 * 0.15)
    # the denormalised column follows, and every move is recorded with its run
    assert session.scalar(select(func.count()).where(Contact.tier == "one_to_one")) == 3
    assert session.scalar(select(func.count()).select_from(TierChange)) == 30
    top = session.scalar(select(ContactScore).order_by(ContactScore.rank).limit(1))
    assert top is not None and tiers[top.contact_id] == "one_to_one"
    assert run.stats["people"] == 30 and run.stats["ties"] >= 30
    assert people


def test_second_run_does_not_flap_and_records_no_moves(
    session: Session, users: dict[str, User], run_worker
) -> None:
    small_network(session, users["manager"], n=30)
    _run_now(session, users["manager"], run_worker)
    second = _run_now(session, users["manager"], run_worker)
    assert second.status == "done"
    assert second.stats["tier_moves"] == 0


def test_a_kept_circle_keeps_its_name_and_says_what_its_members_share_now(
    session: Session, users: dict[str, User], run_worker
) -> None:
    small_network(session, users["manager"], n=60)
    _run_now(session, users["manager"], run_worker)
    circle = session.scalars(select(Circle).where(Circle.active.is_(True))).first()
    assert circle is not None and circle.basis
    name, circle_id = circle.name, circle.id
    circle.basis = "industry: moda (1/5)"  # what it said when it was formed, long ago
    session.commit()
    second = _run_now(session, users["manager"], run_worker)
    assert second.status == "done", second.error
    circle = session.get(Circle, circle_id)
    members = session.scalar(select(func.count()).where(TierAssignment.circle_id == circle_id))
    assert circle is not None and circle.active and circle.name == name
    assert circle.basis != "industry: moda (1/5)"
    assert circle.basis.endswith(f"/{members})") or circle.basis.startswith("mixed: ")


def test_opted_out_people_get_no_tier_and_pins_survive(
    session: Session, users: dict[str, User], run_worker
) -> None:
    m = users["manager"]
    people = small_network(session, m, n=30)
    service.change_consent(session, m.id, people[0], "opted_out", "consent")
    runs.pin_tier(session, m, people[5], "one_to_one", "CEO of our biggest prospect")
    session.commit()
    _run_now(session, m, run_worker)
    _run_now(session, m, run_worker)
    opted_out = session.get(TierAssignment, people[0].id)
    assert opted_out is None or opted_out.tier == "none"
    session.refresh(people[0])
    assert people[0].tier == "none"
    pinned = session.get(TierAssignment, people[5].id)
    assert pinned.tier == "one_to_one" and pinned.pin_reason == "CEO of our biggest prospect"
    with pytest.raises(Invalid):
        runs.pin_tier(session, m, people[0], "broadcast", "please")
    with pytest.raises(Invalid):
        runs.pin_tier(session, m, people[1], "one_to_one", "")


def test_two_runs_at_once_are_refused_and_stale_runs_are_replaced(
    session: Session, users: dict[str, User], run_worker
) -> None:
    small_network(session, users["manager"], n=10)
    first = runs.start_run(session, users["manager"])
    session.commit()
    with pytest.raises(Conflict):
        runs.start_run(session, users["manager"])
    session.rollback()
    # the worker died: no heartbeat for an hour; the next run takes over and completes
    first.heartbeat_at = utcnow() - timedelta(hours=1)
    session.commit()
    second = _run_now(session, users["manager"], run_worker)
    assert second.status == "done"
    session.refresh(first)
    assert first.status == "failed" and "worker lost" in (first.error or "")
    assert runs.latest_run(session).id == second.id


def test_only_managers_start_runs_and_change_weights(
    session: Session, users: dict[str, User]
) -> None:
    with pytest.raises(Forbidden):
        runs.start_run(session, users["sales"])
    with pytest.raises(Forbidden):
        runs.update_settings(session, users["sales"], {"influence": 1})
    with pytest.raises(Invalid):
        runs.update_settings(session, users["manager"], {"influence": -1, "engagement": 1})
    with pytest.raises(Invalid):
        runs.update_settings(
            session,
            users["manager"],
            dict.fromkeys(("influence", "bridging", "engagement", "account_value", "sentiment"), 0),
        )
    runs.update_settings(session, users["manager"], {"influence": 2, "engagement": 1})
    session.commit()
    run = runs.start_run(session, users["manager"])
    assert run.weights["influence"] == 2 and run.weights["bridging"] == 0


def test_run_on_an_empty_database(session: Session, users: dict[str, User], run_worker) -> None:
    run = _run_now(session, users["manager"], run_worker)
    assert run.status == "done" and run.stats["people"] == 0


def test_person_erased_during_a_run_gets_no_tier(session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    people = small_network(session, m, n=12)
    run = runs.start_run(session, m)
    session.commit()

    def erase_midway(stage: str, meta: dict) -> None:
        if stage == "scores computed":
            privacy.erase_contact(session, m, people[3], "asked to be forgotten")
            session.commit()

    runs.execute_run(session, run.id, erase_midway)
    session.commit()
    assignment = session.get(TierAssignment, people[3].id)
    assert assignment is None or assignment.tier == "none"


def test_failed_job_marks_the_run_failed_and_shows_nothing_half_written(
    session: Session, users: dict[str, User], run_worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_network(session, users["manager"], n=10)
    good = _run_now(session, users["manager"], run_worker)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "_apply_tiers", boom)
    run = runs.start_run(session, users["manager"])
    enqueue_run(session, run)
    session.commit()
    assert run_worker() == 1  # the job failed, visibly, in RQ's failed registry
    session.expire_all()
    failed = session.get(ScoreRun, run.id)
    assert failed.status == "failed" and "disk full" in failed.error
    assert (
        session.scalar(
            select(func.count()).select_from(ContactScore).where(ContactScore.run_id == run.id)
        )
        == 0
    )
    assert runs.latest_run(session).id == good.id
    assert session.scalar(select(func.count()).select_from(Circle)) >= 0
