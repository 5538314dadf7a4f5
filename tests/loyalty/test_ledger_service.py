"""Earning, redeeming, refunding, expiring and tiers, through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import AuditEvent
from app.contacts import service as contacts
from app.errors import Conflict, Forbidden, Invalid
from app.loyalty import earning, expiry, ledger, programmes, rewards, tiers
from app.loyalty.models import LedgerEntry, LoyaltyTierChange, Redemption, Reward
from tests.loyalty.helpers import T0, member, person, programme


def ledger_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def earn(session: Session, prog, m, cents: int, key: str, at=T0, now=None):
    return earning.earn_for_event(
        session, prog, m, kind="purchase", value_cents=cents, at=at, key=key,
        source_type="external", source_id=None, reason="test", now=now or at,
    )  # fmt: skip


def test_purchase_points_round_down_and_replay_earns_once(session: Session, users) -> None:
    prog = programme(session, users["marketer"])
    m = member(session, users["marketer"], prog)
    first = earn(session, prog, m, 12_399, "e1")
    assert first.points == 123 and not first.duplicate
    again = earn(session, prog, m, 12_399, "e1")
    assert again.duplicate
    assert ledger.balance(session, m.id) == 123
    assert ledger_count(session) == 1


def test_multipliers_by_tier_and_date_multiply_and_round_once(session: Session, users) -> None:
    actor = users["marketer"]
    prog = programme(session, actor)
    gold = prog.tiers[1]
    programmes.add_multiplier(
        session, actor, prog, name="December", percent=200,
        starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=1),
    )  # fmt: skip
    programmes.add_multiplier(session, actor, prog, name="Gold", percent=150, tier_id=gold.id)
    m = member(session, actor, prog)
    assert earn(session, prog, m, 10_050, "a").points == 201  # floor(100.5 x 2)
    assert earn(session, prog, m, 100_00, "b", at=T0 + timedelta(days=2)).points == 100
    assert m.tier.name == "Silver"  # 301 points
    assert earn(session, prog, m, 200_00, "c", at=T0 + timedelta(days=2)).points == 200
    assert m.tier_id == gold.id
    assert earn(session, prog, m, 100_00, "d", at=T0 + timedelta(days=3)).points == 150


def test_caps_per_day(session: Session, users) -> None:
    prog = programme(session, users["marketer"], daily_cap=150)
    m = member(session, users["marketer"], prog)
    assert earn(session, prog, m, 100_00, "a").points == 100
    second = earn(session, prog, m, 100_00, "b")
    assert second.points == 50 and second.capped
    assert earn(session, prog, m, 100_00, "c").points == 0
    assert earn(session, prog, m, 100_00, "d", at=T0 + timedelta(days=1)).points == 100


def test_tier_upgrade_at_once_downgrade_after_grace(session: Session, users) -> None:
    prog = programme(session, users["marketer"], tier_window_days=30, tier_grace_days=10)
    m = member(session, users["marketer"], prog)
    earn(session, prog, m, 600_00, "a")
    assert m.tier.name == "Gold"
    # Outside the window: below the tier, grace starts, then the downgrade.
    later = T0 + timedelta(days=31)
    tiers.evaluate_tiers(session, prog, later)
    session.refresh(m)
    assert m.tier.name == "Gold" and m.below_since == later
    tiers.evaluate_tiers(session, prog, later + timedelta(days=5))
    session.refresh(m)
    assert m.tier.name == "Gold"
    tiers.evaluate_tiers(session, prog, later + timedelta(days=10))
    session.refresh(m)
    assert m.tier_id is None and m.below_since is None
    moves = session.scalars(
        select(LoyaltyTierChange.direction).order_by(LoyaltyTierChange.id)
    ).all()
    assert moves == ["up", "down"]
    # Twice changes nothing.
    tiers.evaluate_tiers(session, prog, later + timedelta(days=10))
    assert session.scalar(select(func.count()).select_from(LoyaltyTierChange)) == 2


def test_redeem_issues_code_and_cancel_refunds_once(session: Session, users) -> None:
    actor = users["marketer"]
    prog = programme(session, actor)
    reward = programmes.add_reward(session, actor, prog, name="Mug", points_cost=80, stock=1)
    m = member(session, actor, prog)
    earn(session, prog, m, 100_00, "a")
    redemption = rewards.redeem(session, actor, m, reward.id, now=T0)
    assert len(redemption.code) == 14 and reward.stock == 0
    assert ledger.balance(session, m.id) == 20
    rewards.cancel_redemption(session, actor, redemption, now=T0)
    assert ledger.balance(session, m.id) == 100 and reward.stock == 1
    with pytest.raises(Conflict):
        rewards.cancel_redemption(session, actor, redemption, now=T0)
    assert ledger.balance(session, m.id) == 100


def test_expiry_is_fifo_and_idempotent(session: Session, users) -> None:
    actor = users["marketer"]
    prog = programme(session, actor, expiry_days=30)
    reward = programmes.add_reward(session, actor, prog, name="Mug", points_cost=70)
    m = member(session, actor, prog)
    earn(session, prog, m, 100_00, "old", at=T0)
    earn(session, prog, m, 50_00, "new", at=T0 + timedelta(days=20))
    rewards.redeem(session, actor, m, reward.id, now=T0 + timedelta(days=21))  # spends old first
    lots = ledger.expiring_lots(session, m.id, T0 + timedelta(days=21))
    assert [(lot.expires_at, lot.points) for lot in lots] == [
        (T0 + timedelta(days=30), 30), (T0 + timedelta(days=50), 50),
    ]  # fmt: skip
    due = T0 + timedelta(days=31)
    assert expiry.expire_points(session, prog, due) == (1, 30)
    assert expiry.expire_points(session, prog, due) == (0, 0)
    assert ledger.balance(session, m.id) == 50
    assert expiry.expire_points(session, prog, T0 + timedelta(days=51)) == (1, 50)
    assert ledger.balance(session, m.id) == 0


def test_adjustment_needs_reason_and_is_audited(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    m = member(session, actor, prog)
    with pytest.raises(Invalid):
        rewards.adjust(session, actor, m, 10, "  ")
    with pytest.raises(Invalid):
        rewards.adjust(session, actor, m, -1, "oops")
    with pytest.raises(Forbidden):
        rewards.adjust(session, users["sales"], m, 10, "gift")
    rewards.adjust(session, actor, m, 25, "Goodwill after a late delivery")
    assert ledger.balance(session, m.id) == 25
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "loyalty.adjust")).one()
    assert event.details["points"] == 25 and event.actor_id == actor.id


def test_referral_bonus_on_first_purchase_only(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor, referral_bonus_points=40)
    referrer = member(session, actor, prog)
    referred = member(session, actor, prog)
    contacts.add_relationship(
        session, actor, referred.contact, referrer.contact, "referred_by", 0.5
    )
    earn(session, prog, referred, 10_00, "p1")
    earn(session, prog, referred, 10_00, "p2")
    assert ledger.balance(session, referrer.id) == 40
    assert ledger.balance(session, referred.id) == 20


def test_sync_purchases_reads_interactions_once(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    m = member(session, actor, prog)
    contacts.log_interaction(
        session, actor, [m.contact], channel="shop", direction="inbound", kind="purchase",
        occurred_at=T0, value_cents=250_00,
    )  # fmt: skip
    assert earning.sync_purchases(session, now=T0 + timedelta(hours=1)).points == 250
    assert earning.sync_purchases(session, now=T0 + timedelta(hours=2)).events == 0
    assert ledger.balance(session, m.id) == 250
    assert m.tier.name == "Silver"


def _purchases(session: Session, actor, m, *euros: int) -> None:
    for i, amount in enumerate(euros):
        contacts.log_interaction(
            session, actor, [m.contact], channel="shop", direction="inbound", kind="purchase",
            occurred_at=T0 + timedelta(minutes=i), value_cents=amount * 100,
        )  # fmt: skip


def test_sync_moves_members_once_after_a_backlog(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor, referral_bonus_points=450)
    m = member(session, actor, prog)
    referrer = member(session, actor, prog)
    contacts.add_relationship(session, actor, m.contact, referrer.contact, "referred_by", 0.5)
    _purchases(session, actor, m, 60, 60, 400)
    result = earning.sync_purchases(session, now=T0 + timedelta(hours=1))
    assert (result.events, result.points) == (3, 520 + 450)  # with the referral bonus
    assert m.tier.name == "Gold" and ledger.balance(session, m.id) == 520
    assert referrer.tier.name == "Silver" and ledger.balance(session, referrer.id) == 450
    moves = session.scalars(
        select(LoyaltyTierChange).where(LoyaltyTierChange.membership_id == m.id)
    ).all()
    assert [(c.from_tier_id, c.to_tier_id) for c in moves] == [(None, prog.tiers[1].id)]


def test_sync_keeps_tier_multipliers_exact_event_by_event(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    programmes.add_multiplier(
        session, actor, prog, name="Silver", percent=200, tier_id=prog.tiers[0].id
    )
    m = member(session, actor, prog)
    _purchases(session, actor, m, 150, 10)  # the second purchase is made as a Silver member
    assert earning.sync_purchases(session, now=T0 + timedelta(hours=1)).points == 150 + 20
    assert m.tier.name == "Silver"


# ---------------------------------------------------------------- bad input writes nothing


def test_redeeming_more_than_the_balance(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    reward = programmes.add_reward(session, actor, prog, name="Bike", points_cost=1000, stock=3)
    m = member(session, actor, prog)
    earn(session, prog, m, 100_00, "a")
    before = ledger_count(session)
    with pytest.raises(Invalid, match="Not enough points"):
        rewards.redeem(session, actor, m, reward.id, now=T0)
    assert ledger_count(session) == before
    assert session.scalar(select(func.count()).select_from(Redemption)) == 0
    assert session.get(Reward, reward.id).stock == 3


def test_reward_out_of_stock(session: Session, users) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    reward = programmes.add_reward(session, actor, prog, name="Mug", points_cost=10, stock=0)
    m = member(session, actor, prog)
    earn(session, prog, m, 100_00, "a")
    before = ledger_count(session)
    with pytest.raises(Invalid, match="out of stock"):
        rewards.redeem(session, actor, m, reward.id, now=T0)
    assert ledger_count(session) == before


def test_erased_person_cannot_earn(session: Session, users) -> None:
    actor = users["admin"]
    prog = programme(session, actor)
    m = member(session, actor, prog)
    m.contact.erased_at = T0
    with pytest.raises(Invalid, match="erased"):
        earn(session, prog, m, 100_00, "a")
    assert ledger_count(session) == 0


def test_negative_amount(session: Session, users) -> None:
    prog = programme(session, users["admin"])
    m = member(session, users["admin"], prog)
    with pytest.raises(Invalid, match="negative"):
        earn(session, prog, m, -5, "a")
    assert ledger_count(session) == 0


def test_expired_programme(session: Session, users) -> None:
    actor = users["admin"]
    prog = programme(session, actor)
    m = member(session, actor, prog)
    prog.ends_at = T0 - timedelta(days=1)
    with pytest.raises(Invalid, match="ended"):
        earn(session, prog, m, 100_00, "a")
    with pytest.raises(Invalid, match="ended"):
        programmes.enrol(session, actor, prog, person(session, actor), now=T0)
    reward = programmes.add_reward(session, actor, prog, name="Mug", points_cost=1)
    with pytest.raises(Invalid, match="ended"):
        rewards.redeem(session, actor, m, reward.id, now=T0)
    assert ledger_count(session) == 0
    assert session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_eligibility_by_consent(session: Session, users) -> None:
    actor = users["admin"]
    prog = programme(session, actor, enrolment="automatic")
    granted = [person(session, actor), person(session, actor)]
    unknown = person(session, actor, consent_status="unknown", consent_basis="none")
    session.flush()
    with pytest.raises(Invalid, match="not eligible"):
        programmes.enrol(session, actor, prog, unknown, now=T0)
    assert programmes.enrol_automatic(session, prog, T0) == len(granted)
    assert programmes.enrol_automatic(session, prog, T0) == 0


def test_programme_without_tiers_or_rules_earns_nothing_quietly(session: Session, users) -> None:
    actor = users["admin"]
    prog = programmes.create_programme(session, actor, name="Bare")
    m = member(session, actor, prog)
    result = earn(session, prog, m, 100_00, "a")
    assert result.points == 0 and ledger_count(session) == 0
    programmes.add_rule(
        session, actor, prog, kind="interaction", points=5, interaction_kind="meeting"
    )
    got = earning.earn_for_event(
        session, prog, m, kind="meeting", value_cents=0, at=T0, key="m1",
        source_type="interaction", source_id=None, reason="meeting", now=T0,
    )  # fmt: skip
    assert got.points == 5 and m.tier_id is None
