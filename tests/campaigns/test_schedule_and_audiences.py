"""Scheduled launches (a time, a calendar slot), audiences, templates, the announce door."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.campaigns import calendar, templating
from app.campaigns import jobs as campaign_jobs
from app.campaigns.models import Campaign
from app.contacts.models import Contact
from app.db import utcnow
from app.errors import Invalid
from app.segments.models import Circle, TierAssignment
from tests.campaigns.conftest import add_people, deliveries, launch_now, new_campaign, recipients


def test_scheduled_at_a_time_starts_when_due(
    session: Session, users: Any, smtp_sink: Any, run_worker: Any
) -> None:
    add_people(session, users["manager"], ["s@example.org"])
    campaign = new_campaign(
        session, users["marketer"], schedule_kind="at", scheduled_at=utcnow() + timedelta(hours=1)
    )
    session.commit()
    launch_now(session, users["marketer"], campaign)
    assert session.get(Campaign, campaign.id).status == "scheduled"
    assert len(ScheduledJobRegistry(queue=campaign_jobs.queue())) == 1
    campaign_jobs.start_scheduled_job(campaign.id)  # too early: nothing
    run_worker()
    assert smtp_sink.received == []
    # The time has come (the RQ scheduler would enqueue the job; the sweep also finds it).
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(scheduled_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    campaign_jobs.run_sweep(grace=0)
    run_worker()
    assert recipients(smtp_sink) == ["s@example.org"]


def test_slot_schedule_picks_the_next_slot_time(session: Session, users: Any) -> None:
    add_people(session, users["manager"], ["slot@example.org"])
    slot = calendar.create_slot(session, network="linkedin", weekday=1, at_time=time(9, 0))
    campaign = new_campaign(session, users["marketer"], schedule_kind="slot", slot_id=slot.id)
    session.commit()
    launch_now(session, users["marketer"], campaign)
    session.expire_all()
    c = session.get(Campaign, campaign.id)
    assert c.status == "scheduled" and c.scheduled_at.weekday() == 1
    assert c.scheduled_at.hour == 9 and c.scheduled_at > utcnow()


def test_audiences_circle_and_hand_picked(session: Session, users: Any, run_worker: Any) -> None:
    a, b, c = add_people(
        session, users["manager"], ["a@x.org", "b@x.org", "c@x.org"], tier="one_to_few"
    )
    circle = Circle(name="Founders")
    session.add(circle)
    session.flush()
    session.execute(
        update(TierAssignment)
        .where(TierAssignment.contact_id.in_([a.id, b.id]))
        .values(circle_id=circle.id)
    )
    session.execute(update(Contact).where(Contact.id == c.id).values(erased_at=utcnow()))
    by_circle = new_campaign(
        session, users["marketer"], audience_kind="circle", audience_circle_id=circle.id
    )
    picked = new_campaign(
        session,
        users["marketer"],
        name="Picked",
        audience_kind="contacts",
        audience_contact_ids=[b.id, c.id, 999999],
    )
    session.commit()
    launch_now(session, users["marketer"], by_circle)
    launch_now(session, users["marketer"], picked)
    run_worker()
    assert sorted(d.contact_id for d in deliveries(session, by_circle.id)) == [a.id, b.id]
    assert [d.contact_id for d in deliveries(session, picked.id)] == [b.id]


def test_templates_defaults_sandbox_and_errors() -> None:
    ctx = {"first_name": "", "company": None, "promo_code": "X1"}
    assert templating.render("Hi {{ first_name }} at {{ company }}", ctx, "en") == (
        "Hi there at your company"
    )
    assert templating.render("{{ promo_code }}", ctx, "it") == "X1"
    for bad in (
        "{{ ''.__class__.__mro__ }}",
        "{{ first_name.__class__ }}",
        "{{ first_name['__class__'] }}",
        "{{ recent_interactions.__len__() }}",
    ):
        with pytest.raises(Invalid, match="may not use"):
            templating.check_template(bad)
    with pytest.raises(Invalid, match="line 2"):
        templating.check_template("ok\n{% for x in %}")
    with pytest.raises(Invalid, match="unknown fields: cycler"):
        templating.check_template("{{ cycler }}")
    # At send time (a template saved before a rule tightened) nothing leaks: it prints nothing.
    assert templating.render("{{ ''.__class__ }}{{ first_name.__init__ }}", {}, "en") == ""


def test_announce_for_other_domains(
    session: Session, users: Any, smtp_sink: Any, run_worker: Any
) -> None:
    people = add_people(session, users["manager"], ["gold@example.org"])
    campaign_jobs.announce(
        session,
        users["manager"],
        [p.id for p in people],
        name="You reached Gold",
        subject="Welcome to Gold, {{ first_name }}",
        body="Your new tier is Gold.",
    )
    session.commit()
    run_worker()
    assert recipients(smtp_sink) == ["gold@example.org"]
    assert smtp_sink.received[0].message["Subject"] == "Welcome to Gold, P0"
