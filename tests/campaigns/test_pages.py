"""The campaign pages: create, launch (twice), progress, approvals, calendar, drops, outbox, API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import API_SCOPES, create_api_token
from app.campaigns.models import Campaign, Delivery, PublicationPost, PublicationSlot
from app.contacts.models import Interaction
from app.db import utcnow
from tests.campaigns.conftest import add_people, deliveries, recipients


def _create(client: Any, **data: Any) -> Any:
    form = {
        "name": "Autumn",
        "kind": "circle",
        "audience_kind": "tier",
        "audience_tier": "broadcast",
        "channel": "email",
        "language": "en",
        "subject": "Hello {{ first_name }}",
        "body": "Dear {{ first_name }}",
        "schedule_kind": "now",
        "audience_circle_id": "0",
        "audience_segment_id": "0",
    }
    form.update(data)
    return client.post("/campaigns/new", data=form)


def test_create_launch_twice_progress_and_outbox(
    session: Session, users: Any, login: Any, client: Any, run_worker: Any
) -> None:
    add_people(session, users["manager"], ["a@example.org", "b@example.org"])
    session.commit()
    login(users["marketer"])
    assert client.get("/campaigns/new?kind=promotion").status_code == 200
    resp = _create(client)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    campaign = session.scalar(select(Campaign))
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Hello P0" in page or "Hello P1" in page  # the preview
    assert 'http-equiv="refresh"' not in page

    assert client.post(f"/campaigns/{campaign.id}/launch").status_code == 302
    resp = client.post(f"/campaigns/{campaign.id}/launch", follow_redirects=True)
    assert "already launched" in resp.get_data(as_text=True)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page  # live while launching
    run_worker()
    assert len(deliveries(session, campaign.id)) == 2
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="count-sent">2<' in page and 'http-equiv="refresh"' not in page
    # No SMTP host in tests: the outbox wrote both, and its page lists them.
    outbox = client.get("/campaigns/outbox").get_data(as_text=True)
    assert "a@example.org" in outbox and "b@example.org" in outbox
    assert client.get("/campaigns").status_code == 200
    assert client.get(f"/campaigns/{campaign.id}/edit").status_code == 200


def test_bad_input_on_the_form(session: Session, users: Any, login: Any, client: Any) -> None:
    login(users["marketer"])
    resp = _create(client, body="{{ ''.__class__.__mro__ }}")
    assert resp.status_code == 422 and "may not use" in resp.get_data(as_text=True)
    resp = _create(client, body="Hi {% if %}")
    assert resp.status_code == 422 and "template error on line 1" in resp.get_data(as_text=True)
    resp = _create(client, schedule_kind="at", scheduled_at="2001-01-01T09:00")
    assert resp.status_code == 422 and "in the past" in resp.get_data(as_text=True)
    assert session.scalar(select(Campaign.id)) is None
    resp = _create(client, audience_tier="one_to_one")
    assert resp.status_code == 302
    campaign = session.scalar(select(Campaign))
    resp = client.post(f"/campaigns/{campaign.id}/launch", follow_redirects=True)
    assert "audience is empty" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "draft"


def test_tailored_drafts_are_approved_one_by_one(
    session: Session, users: Any, login: Any, client: Any, run_worker: Any, smtp_sink: Any
) -> None:
    people = add_people(
        session, users["manager"], ["x@example.org", "y@example.org"], tier="one_to_one"
    )
    session.commit()
    login(users["manager"])
    resp = _create(
        client,
        kind="tailored",
        audience_tier="one_to_one",
        body="Dear {{ first_name }}, {% for s in score_says %}{{ s }}{% endfor %}",
    )
    assert resp.status_code == 302
    campaign = session.scalar(select(Campaign))
    client.post(f"/campaigns/{campaign.id}/launch")
    run_worker()
    assert smtp_sink.received == []  # nothing leaves before approval
    page = client.get(f"/campaigns/{campaign.id}/approvals").get_data(as_text=True)
    assert "Dear P0" in page
    first = deliveries(session, campaign.id)[0]
    resp = client.post(
        f"/campaigns/{campaign.id}/approvals",
        data={
            "delivery_id": first.id,
            "subject": "Just for you",
            "body": "Edited by hand",
            "action": "approve",
        },
    )
    assert resp.status_code == 302
    run_worker()
    assert recipients(smtp_sink) == [people[0].email]
    msg = smtp_sink.received[0].message
    assert msg["Subject"] == "Just for you"
    assert "Edited by hand" in msg.get_payload()[0].get_payload(decode=True).decode()
    second = deliveries(session, campaign.id)[1]
    client.post(
        f"/campaigns/{campaign.id}/approvals", data={"delivery_id": second.id, "action": "reject"}
    )
    run_worker()
    session.expire_all()
    assert session.get(Delivery, second.id).skip_reason == "rejected"
    assert session.get(Campaign, campaign.id).status == "done"
    assert len(smtp_sink.received) == 1


def test_calendar_posts_slots_and_limits(
    session: Session, users: Any, login: Any, client: Any
) -> None:
    login(users["marketer"])
    when = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT09:00")
    resp = client.post(
        "/campaigns/calendar",
        data={
            "post-network": "x",
            "post-label": "didactic",
            "post-body": "x" * 281,
            "post-scheduled_at": when,
        },
    )
    assert resp.status_code == 422 and "281" in resp.get_data(as_text=True)
    resp = client.post(
        "/campaigns/calendar",
        data={
            "post-network": "linkedin",
            "post-label": "argumentative",
            "post-body": "Why graphs",
            "post-scheduled_at": when,
        },
    )
    assert resp.status_code == 302
    resp = client.post(
        "/campaigns/calendar",
        data={
            "slot-network": "linkedin",
            "slot-weekday": "1",
            "slot-at_time": "09:00",
            "slot-label": "didactic",
        },
    )
    assert resp.status_code == 302
    assert session.scalar(select(PublicationSlot)).weekday == 1
    assert session.scalar(select(PublicationPost)).network == "linkedin"
    for view in ("month", "week"):
        page = client.get(f"/campaigns/calendar?view={view}&date={when[:10]}")
        assert page.status_code == 200
        assert "linkedin" in page.get_data(as_text=True)
    next_week = (utcnow() + timedelta(days=7)).date().isoformat()
    page = client.get(f"/campaigns/calendar?view=week&date={next_week}").get_data(as_text=True)
    assert "free slot" in page and "<th>Mon</th>" in page and "Every Tuesday at 09:00" in page
    last_week = (utcnow() - timedelta(days=7)).date().isoformat()
    page = client.get(f"/campaigns/calendar?view=week&date={last_week}").get_data(as_text=True)
    assert "free slot" not in page  # a slot time gone by is not free any more
    # Day names come in the reader's language, not the server's C locale.
    page = client.get("/campaigns/calendar?view=week&lang=it").get_data(as_text=True)
    assert "<th>Lun</th>" in page and "<th>Mon</th>" not in page
    assert "Ogni martedì alle 09:00: linkedin" in page
    page = client.get("/campaigns/calendar?view=month&date=2027-03-10").get_data(as_text=True)
    assert "Marzo 2027" in page  # the month shown is named
    page = client.get("/campaigns/calendar?view=week&date=2027-03-10&lang=en").get_data(
        as_text=True
    )
    assert "Mar 8\u2009–\u200914, 2027" in page  # CLDR puts thin spaces around the dash

    # Due posts go out through the export adapter.
    from app.campaigns import calendar as cal
    from app.campaigns.channels import ExportAdapter

    post = session.scalar(select(PublicationPost))
    post.scheduled_at = utcnow() - timedelta(minutes=1)
    session.commit()
    from pathlib import Path

    from flask import current_app

    folder = Path(current_app.config["INSTANCE_DIR"]) / "social_export_test"
    assert cal.publish_due(session, ExportAdapter(folder)) == 1
    session.commit()
    assert "Why graphs" in (folder / "linkedin.csv").read_text()
    assert session.get(PublicationPost, post.id).status == "published"


def test_drop_pages_and_reply_api(
    session: Session, users: Any, login: Any, client: Any, run_worker: Any
) -> None:
    person = add_people(session, users["manager"], ["r@example.org"])[0]
    session.commit()
    login(users["marketer"])
    _create(client, kind="reserved_drop", body="Your link {{ drop_link }}")
    campaign = session.scalar(select(Campaign))
    assert client.get(f"/campaigns/{campaign.id}/drop").status_code == 200
    resp = client.post(
        f"/campaigns/{campaign.id}/drop",
        data={"title": "Price list", "content": "Prices", "expires_at": "2099-01-01T10:00"},
    )
    assert resp.status_code == 302
    client.post(f"/campaigns/{campaign.id}/launch")
    run_worker()
    page = client.get(f"/campaigns/{campaign.id}/drop/log")
    assert page.status_code == 200 and "Revoke" in page.get_data(as_text=True)
    client.post(f"/campaigns/{campaign.id}/drop/revoke")
    from app.campaigns.models import DropLink

    session.expire_all()
    assert session.scalar(select(DropLink)).revoked_at is not None

    _, secret = create_api_token(session, users["marketer"], "t", list(API_SCOPES))
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    body = {
        "contact_id": person.id,
        "occurred_at": utcnow().isoformat(),
        "summary": "Thanks!",
        "external_id": "m-1",
    }
    for _ in range(2):
        resp = client.post(f"/api/v1/campaigns/{campaign.id}/replies", json=body, headers=headers)
        assert resp.status_code == 201, resp.get_data(as_text=True)
    assert len(list(session.scalars(select(Interaction).where(Interaction.kind == "reply")))) == 1
    resp = client.get(f"/api/v1/campaigns/{campaign.id}/progress", headers=headers)
    assert resp.status_code == 200 and resp.json["replied"] == 1 and resp.json["sent"] == 1
    spec = client.get("/api/v1/openapi.json").json
    assert "/api/v1/campaigns/{campaign_id}/replies" in spec["paths"]
