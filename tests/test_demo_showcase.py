"""The demo's showcase: every page of a fresh `make run` has something on it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.campaigns import launch
from app.campaigns.models import Campaign, PublicationPost, PublicationSlot, ReservedDrop
from app.campaigns.sending import results_by_tier
from app.contacts.models import Interaction
from app.db import utcnow
from app.demo_showcase import create_demo_programme
from app.health.dashboard import health_trend as dashboard_runs
from app.health.dashboard import potential_trend
from app.loyalty import ledger
from app.loyalty.models import Membership, Programme
from app.segments import rules
from app.segments.explain import score_history
from app.segments.models import ScoreRun, Segment, SegmentMember, TierAssignment, TierChange


def test_flask_demo_shows_segments_loyalty_campaigns_calendar_and_alerts(
    app: Flask, session: Session
) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--people", "300"])
    assert result.exit_code == 0, result.output
    summary = {
        key: int(value)
        for key, _, value in (line.partition(": ") for line in result.output.splitlines())
        if value.isdigit()
    }
    assert summary["segments"] == 5 and summary["campaigns"] == 5
    # Replies to the sent campaigns (and the demo's comments) wait past the target.
    assert summary["alerts"] > 0

    # Five monthly runs, then today's: scores have a history, moves are dated by run.
    score_runs = session.scalars(select(ScoreRun).order_by(ScoreRun.id)).all()
    assert len(score_runs) == 6 and all(r.status == "done" for r in score_runs)
    assert [r.as_of for r in score_runs] == sorted(r.as_of for r in score_runs)
    first_moves = session.scalars(
        select(TierChange).where(TierChange.run_id == score_runs[0].id)
    ).all()
    assert first_moves and all(m.at == score_runs[0].as_of for m in first_moves)
    someone = session.scalar(
        select(TierAssignment.contact_id).where(TierAssignment.tier == "one_to_one")
    )
    assert len(score_history(session, someone)) >= 2
    trend = potential_trend(dashboard_runs(session))
    assert len(trend) >= 5  # the dashboard's potential trend has points, not one dot

    # Segments: each counts live people; the static list holds hand-picked ones.
    manager = session.scalars(select(User).where(User.role == "manager")).one()
    segments = session.scalars(select(Segment).order_by(Segment.id)).all()
    counts = rules.segment_counts(session, manager, segments)
    by_name = {s.name: counts[s.id] for s in segments}
    assert all(n is not None and n > 0 for n in by_name.values()), by_name
    static = next(s for s in segments if s.kind == "static")
    members = session.scalar(select(func.count()).where(SegmentMember.segment_id == static.id))
    assert by_name[static.name] == members and 0 < members <= 12

    # Loyalty: everyone with consent is a member, with a tier, and purchases earned points.
    programme = session.scalars(select(Programme)).one()
    memberships = session.scalars(select(Membership)).all()
    assert len(memberships) == summary["loyalty_members"] > 100
    assert all(m.tier_id is not None for m in memberships)
    assert sum(ledger.balance(session, m.id) for m in memberships) == summary["loyalty_points"]
    assert {t.name for t in programme.tiers} == {"Bronze", "Silver", "Gold"}
    assert create_demo_programme(session, manager) is None  # a second setup does nothing

    # Campaigns: drafts that would pass the launch checks, one per kind that writes...
    drafts = session.scalars(select(Campaign).where(Campaign.status == "draft")).all()
    assert {c.kind for c in drafts} == {"promotion", "reserved_drop", "circle"}
    for campaign in drafts:
        launch.check_campaign(session, campaign)
    assert session.scalar(select(func.count()).select_from(ReservedDrop)) == 1
    # ... and two sent weeks ago, with opens, clicks and replies waiting for an answer.
    sent = session.scalars(select(Campaign).where(Campaign.status == "done")).all()
    assert len(sent) == 2 and all(c.recipients_count > 0 for c in sent)
    results = {r["tier"]: r for r in results_by_tier(session)}
    assert set(results) == {"broadcast", "one_to_few"}
    assert all(
        0 < r["opened"] < r["sent"] and r["clicked"] <= r["opened"] for r in results.values()
    )
    replies = session.scalars(
        select(Interaction).where(Interaction.source == "campaign-reply")
    ).all()
    assert replies and all(i.needs_answer for i in replies)

    # Calendar: recurring slots, published posts behind us and planned ones ahead.
    assert session.scalar(select(func.count()).select_from(PublicationSlot)) == 3
    posts = session.scalars(select(PublicationPost)).all()
    now = utcnow()
    assert sum(p.status == "published" and p.scheduled_at < now for p in posts) == 4
    assert sum(p.status == "planned" and p.scheduled_at > now for p in posts) == 4
