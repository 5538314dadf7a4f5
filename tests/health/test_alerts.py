"""Alerts: owners hear when one-to-one people or key accounts turn at risk, and when a
negative message waits past the target; the daily digest arrives by real SMTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.db import utcnow
from app.health import alerts, snapshots
from app.health.jobs import run_daily_digest, run_daily_health
from app.health.models import Notification
from tests.health.helpers import account, person, rhythm, touch


def _notes(session) -> list[Notification]:
    session.rollback()
    return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_turning_at_risk_alerts_the_owner_once(app, session, users) -> None:
    owner = users["sales"]
    key = account(session, owner, "Key Spa")
    vip = person(session, owner, "Vip", org=key, tier="one_to_one")
    broadcast = person(session, owner, "Crowd", tier="broadcast")
    rhythm(session, vip, every_days=5, count=12, last_days_ago=45)
    rhythm(session, broadcast, every_days=5, count=12, last_days_ago=45)
    session.commit()
    today = utcnow().date()
    # A month ago everyone was on rhythm; today they are silent for 9x their gap.
    snapshots.record_health(session, today - timedelta(days=40))
    session.commit()
    result = run_daily_health(today.isoformat())
    assert result["alerts"] == 2
    notes = _notes(session)
    assert {(n.kind, n.user_id) for n in notes} == {
        ("contact_at_risk", owner.id), ("account_at_risk", owner.id),
    }  # fmt: skip
    assert {n.contact_id for n in notes} == {vip.id, None}  # not the broadcast person
    # Raising them again does nothing.
    run = snapshots.latest_run(session)
    assert alerts.raise_status_alerts(session, run) == 0
    assert alerts.unread_count(session, owner.id) == 2


def test_a_negative_message_past_the_target_alerts_its_owner(session, users) -> None:
    anna = person(session, users["sales"], "Anna")
    touch(session, anna, 3, direction="inbound", kind="comment", sentiment=-0.8,
          needs_answer=True, summary="Awful")  # fmt: skip
    touch(session, anna, 3, direction="inbound", kind="comment", sentiment=0.8,
          needs_answer=True, summary="Lovely")  # fmt: skip
    touch(session, anna, 0.5, direction="inbound", kind="comment", sentiment=-0.8,
          needs_answer=True, summary="Fresh")  # fmt: skip
    session.commit()
    assert alerts.raise_overdue_alerts(session, 48) == 1
    assert alerts.raise_overdue_alerts(session, 48) == 0
    session.commit()
    [(note, text)] = alerts.list_alerts(session, users["sales"])
    assert note.kind == "comment_overdue" and "Anna Test" in text


def test_the_daily_digest_arrives_by_smtp_once(app, session, users, smtp_sink) -> None:
    anna = person(session, users["sales"], "Anna")
    touch(session, anna, 4, direction="inbound", kind="comment", sentiment=-0.9,
          needs_answer=True, summary="Broken again")  # fmt: skip
    session.commit()
    run_daily_health()
    result = run_daily_digest()
    assert result["digests"] == 1
    [received] = smtp_sink.received
    assert received.recipients == [users["sales"].email]
    assert "relationship alert" in received.message["Subject"]
    body = received.message.get_payload(decode=True).decode()
    assert "Anna Test" in body and "/inbox" in body
    # Nothing new: no second email.
    assert run_daily_digest()["digests"] == 0
    assert len(smtp_sink.received) == 1
    assert (
        session.scalar(
            select(func.count()).select_from(Notification).where(Notification.emailed_at.is_(None))
        )
        == 0
    )


def test_alerts_page_and_mark_read(client, session, users, login) -> None:
    anna = person(session, users["sales"], "Anna")
    touch(session, anna, 4, direction="inbound", sentiment=-0.9, needs_answer=True)
    session.commit()
    alerts.raise_overdue_alerts(session, 48)
    session.commit()
    login(users["sales"])
    assert "Anna Test" in client.get("/alerts").get_data(as_text=True)
    assert client.post("/alerts/read", data={}).status_code == 302
    assert alerts.unread_count(session, users["sales"].id) == 0
