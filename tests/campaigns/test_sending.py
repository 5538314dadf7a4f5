"""Launch, fan-out and sending against a real SMTP server (aiosmtpd), counting arrivals."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.campaigns import jobs as campaign_jobs
from app.campaigns import launch, sending
from app.campaigns.models import Campaign, Delivery
from app.contacts import service as contacts
from app.contacts.models import Contact
from app.errors import Conflict, Invalid
from tests.campaigns.conftest import (
    add_people,
    deliveries,
    launch_now,
    new_campaign,
    past,
    recipients,
)


def test_launch_sends_each_recipient_once_with_checks(
    session: Session, manager: Any, marketer: Any, smtp_sink: Any, run_worker: Any
) -> None:
    people = add_people(session, manager, [f"p{i}@example.org" for i in range(5)])
    opted = add_people(session, manager, ["out@example.org"], consent="opted_out")[0]
    erased = add_people(session, manager, ["gone@example.org"])[0]
    bounce = add_people(session, manager, ["bounce@example.org"])[0]
    session.commit()
    session.execute(update(Contact).where(Contact.id == erased.id).values(erased_at=past()))
    campaign = new_campaign(session, marketer)
    session.commit()
    # Erased before the launch: not even in the snapshot.
    launch_now(session, marketer, campaign)
    assert session.get(Campaign, campaign.id).status == "launching"

    assert run_worker() == 0

    got = recipients(smtp_sink)
    assert got == sorted(p.email for p in people)
    rows = {d.contact_id: d for d in deliveries(session, campaign.id)}
    assert erased.id not in rows
    assert rows[opted.id].status == "skipped" and rows[opted.id].skip_reason == "opted_out"
    assert rows[bounce.id].status == "failed" and rows[bounce.id].attempts == 1
    assert all(rows[p.id].status == "sent" and rows[p.id].provider_message_id for p in people)
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "done"

    message = smtp_sink.received[0].message
    assert (
        message["List-Unsubscribe"].startswith("<http") and "/t/u/" in message["List-Unsubscribe"]
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_payload()[0].get_payload(decode=True).decode()
    assert "Dear P" in text and "your company" in text  # missing company: the default
    assert "/t/c/" in text and "https://example.org/offer" not in text  # click tracked
    assert "/t/o/" in message.get_payload()[1].get_payload(decode=True).decode()


def test_a_job_run_twice_and_a_launch_clicked_twice_send_nothing_twice(
    session: Session, manager: Any, marketer: Any, smtp_sink: Any, run_worker: Any
) -> None:
    add_people(session, manager, [f"p{i}@example.org" for i in range(6)])
    campaign = new_campaign(session, marketer)
    session.commit()
    launch_now(session, marketer, campaign)
    with pytest.raises(Conflict):
        launch.launch(session, marketer, campaign.id)
    session.rollback()
    # The fan-out enqueued twice (a retried job): the unique key keeps one delivery each.
    campaign_jobs.fan_out_job(campaign.id)
    session.execute(update(Campaign).where(Campaign.id == campaign.id).values(status="launching"))
    session.commit()
    campaign_jobs.fan_out_job(campaign.id)
    assert run_worker() == 0
    ids = [d.id for d in deliveries(session, campaign.id)]
    assert len(ids) == 6
    # The same batch job run again, directly and by a worker: nothing more arrives.
    campaign_jobs.send_batch_job(campaign.id, ids)
    campaign_jobs.queue().enqueue(campaign_jobs.send_batch_job, campaign.id, ids)
    assert run_worker() == 0
    assert Counter(recipients(smtp_sink)) == Counter({f"p{i}@example.org": 1 for i in range(6)})


def test_temporary_failures_retry_with_backoff_then_fail(
    session: Session, manager: Any, marketer: Any, smtp_sink: Any, run_worker: Any
) -> None:
    add_people(session, manager, ["deferred@example.org", "ok@example.org"])
    campaign = new_campaign(session, marketer)
    session.commit()
    launch_now(session, marketer, campaign)
    run_worker()
    rows = {d.contact.email: d for d in deliveries(session, campaign.id)}
    deferred = rows["deferred@example.org"]
    assert rows["ok@example.org"].status == "sent"
    assert deferred.status == "pending" and deferred.attempts == 1
    assert deferred.next_attempt_at is not None and deferred.next_attempt_at > past()
    from rq.registry import ScheduledJobRegistry

    assert len(ScheduledJobRegistry(queue=campaign_jobs.queue())) == 1  # the retry, later
    for attempt in range(2, sending.MAX_ATTEMPTS + 1):
        session.execute(
            update(Delivery).where(Delivery.id == deferred.id).values(next_attempt_at=past())
        )
        session.commit()
        campaign_jobs.run_sweep()
        run_worker()
        session.expire_all()
        d = session.get(Delivery, deferred.id)
        assert d.attempts == attempt
    assert d.status == "failed" and "451" in (d.error or "")
    assert session.get(Campaign, campaign.id).status == "done"
    assert recipients(smtp_sink) == ["ok@example.org"]


def test_frequency_cap_and_promotion_consent(
    session: Session,
    manager: Any,
    marketer: Any,
    smtp_sink: Any,
    run_worker: Any,
    config_override: Any,
) -> None:
    config_override(CAMPAIGN_FREQUENCY_CAP_PER_WEEK=1)
    people = add_people(session, manager, ["a@example.org", "b@example.org"])
    unknown = add_people(session, manager, ["u@example.org"], consent="unknown")[0]
    first = new_campaign(
        session, marketer, audience_kind="contacts", audience_contact_ids=[people[0].id]
    )
    session.commit()
    launch_now(session, marketer, first)
    run_worker()
    promo = new_campaign(
        session,
        marketer,
        kind="promotion",
        name="Promo",
        promo_prefix="AUT",
        body="Your code: {{ promo_code }}",
    )
    session.commit()
    launch_now(session, marketer, promo)
    run_worker()
    rows = {d.contact_id: d for d in deliveries(session, promo.id)}
    assert rows[people[0].id].skip_reason == "frequency_cap"
    assert rows[unknown.id].skip_reason == "no_consent"
    assert rows[people[1].id].status == "sent"
    code = rows[people[1].id].promo_code
    assert code and code.startswith("AUT-")
    last = smtp_sink.received[-1].message.get_payload()[0].get_payload(decode=True).decode()
    assert code in last


def test_bad_campaigns_are_refused_and_change_nothing(
    session: Session, manager: Any, marketer: Any
) -> None:
    with pytest.raises(Invalid, match="audience is empty"):
        c = new_campaign(session, marketer, audience_tier="one_to_one")
        session.commit()
        launch.launch(session, marketer, c.id)
    session.rollback()
    assert session.get(Campaign, c.id).status == "draft"
    assert session.scalar(select(Delivery.id)) is None
    with pytest.raises(Invalid, match="past"):
        new_campaign(session, marketer, schedule_kind="at", scheduled_at=past(60))
    with pytest.raises(Invalid, match="line 1"):
        new_campaign(session, marketer, body="Hello {{ first_name ")
    with pytest.raises(Invalid, match="may not use"):
        new_campaign(session, marketer, body="{{ ''.__class__.__mro__ }}")
    with pytest.raises(Invalid, match="unknown fields"):
        new_campaign(session, marketer, body="{{ config }}")


def test_language_variant_and_preview(session: Session, manager: Any, marketer: Any) -> None:
    it = add_people(session, manager, ["it@example.org"], language="it")[0]
    de = add_people(session, manager, ["de@example.org"], language="de")[0]
    org = contacts.create_organization(session, manager, name="Acme Srl")
    it.organization_id = org.id
    campaign = new_campaign(
        session,
        marketer,
        subject="Hi {{ first_name }}",
        body="Hello from {{ company }}",
        variants={"it": {"subject": "Ciao {{ first_name }}", "body": "Saluti a {{ company }}"}},
    )
    session.commit()
    signer = campaign_jobs.signer_from(current_app.config)
    p_it = sending.preview(session, campaign, signer, it.id)
    p_de = sending.preview(session, campaign, signer, de.id)
    assert p_it["subject"] == "Ciao P0" and p_it["body"] == "Saluti a Acme Srl"
    assert p_de["subject"] == "Hi P0" and p_de["body"] == "Hello from your company"
