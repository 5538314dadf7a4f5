"""Enrolment by segment and by tier, the CLI, and expiry killed halfway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.contacts import service as contacts
from app.errors import Invalid
from app.loyalty import earning, expiry, ledger, programmes
from app.loyalty.models import LedgerEntry, Membership, Programme
from app.segments.models import Segment, SegmentMember
from tests.loyalty.helpers import T0, member, person, programme


def test_enrol_by_segment_takes_only_eligible_people(session: Session, users) -> None:
    actor = users["admin"]
    segment = Segment(name="Fiera 2026", kind="static")
    session.add(segment)
    session.flush()
    inside = [person(session, actor) for _ in range(3)]
    erased = person(session, actor)
    for c in [*inside, erased]:
        session.add(SegmentMember(segment_id=segment.id, contact_id=c.id))
    erased.erased_at = T0
    outside = person(session, actor)
    prog = programme(session, actor, eligibility="segment", eligibility_segment_id=segment.id)
    session.flush()
    assert programmes.enrol_segment(session, actor, prog, segment.id, now=T0) == 3
    assert programmes.enrol_segment(session, actor, prog, segment.id, now=T0) == 0
    with pytest.raises(Invalid):
        programmes.enrol(session, actor, prog, outside, now=T0)


def test_eligibility_by_relationship_tier(session: Session, users) -> None:
    actor = users["admin"]
    prog = programme(session, actor, eligibility="tier", eligibility_tier="one_to_one")
    vip = person(session, actor)
    vip.tier = "one_to_one"
    other = person(session, actor)
    session.flush()
    assert programmes.enrol(session, actor, prog, vip, now=T0)[1] is True
    with pytest.raises(Invalid, match="not eligible"):
        programmes.enrol(session, actor, prog, other, now=T0)


def test_expiry_killed_halfway_then_rerun(session: Session, users) -> None:
    actor = users["admin"]
    prog = programme(session, actor, expiry_days=10)
    members = [member(session, actor, prog) for _ in range(3)]
    for i, m in enumerate(members):
        earning.earn_for_event(
            session, prog, m, kind="purchase", value_cents=(i + 1) * 100_00, at=T0,
            key=f"k{i}", source_type="external", source_id=None, reason="x", now=T0,
        )  # fmt: skip
    session.commit()
    due = T0 + timedelta(days=11)
    expiry.expire_points(session, prog, due)
    session.rollback()  # the worker died before its commit
    assert (
        session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "expire")
        )
        == 0
    )
    prog = session.get(Programme, prog.id)
    assert expiry.expire_points(session, prog, due) == (3, 600)
    session.commit()
    assert expiry.expire_points(session, prog, due) == (0, 0)
    assert all(ledger.balance(session, m.id) == 0 for m in members)


def test_cli_setup_demo_and_sync(app: Flask, session: Session, users) -> None:
    c = person(session, users["admin"])
    contacts.log_interaction(
        session, users["admin"], [c], channel="shop", direction="inbound", kind="purchase",
        occurred_at=T0, value_cents=700_00,
    )  # fmt: skip
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["loyalty", "setup-demo"])
    assert result.exit_code == 0, result.output
    assert "1 members, 700 points" in result.output
    m = session.scalars(select(Membership)).one()
    assert m.tier.name == "Bronze" or m.tier.name == "Silver"
    again = runner.invoke(args=["loyalty", "sync"])
    assert again.exit_code == 0 and again.output.startswith("0 events"), again.output
