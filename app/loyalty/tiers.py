"""Loyalty tiers by points earned in a rolling window, with a grace period before a downgrade.

Set-based: one aggregate over the ledger per step, no Python loop over members. Running it
twice changes nothing the second time (targets equal current tiers), and it runs in one
transaction, so a run killed halfway leaves no partial state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db import UTCDateTime
from app.loyalty.ledger import affected
from app.loyalty.models import LedgerEntry, LoyaltyTier, LoyaltyTierChange, Membership, Programme


@dataclass
class TierRun:
    upgraded: int = 0
    downgraded: int = 0
    grace_started: int = 0
    grace_cleared: int = 0


def tiers_of(session: Session, programme_id: int) -> list[LoyaltyTier]:
    return list(
        session.scalars(
            select(LoyaltyTier)
            .where(LoyaltyTier.programme_id == programme_id)
            .order_by(LoyaltyTier.threshold_points)
        )
    )


def window_start(programme: Programme, now: datetime) -> datetime:
    return now - timedelta(days=programme.tier_window_days)


def earned_in_window(
    session: Session, programme: Programme, membership_id: int, now: datetime
) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.membership_id == membership_id,
            LedgerEntry.kind == "earn",
            LedgerEntry.at > window_start(programme, now),
            LedgerEntry.at <= now,
        )
    )
    return int(total or 0)


def _targets(
    programme: Programme,
    tiers: Sequence[LoyaltyTier],
    now: datetime,
    membership_ids: Sequence[int] | None,
) -> Select[tuple[int, int | None, int, int, datetime | None, int | None]]:
    earned_q = (
        select(LedgerEntry.membership_id, func.sum(LedgerEntry.points).label("earned"))
        .where(
            LedgerEntry.programme_id == programme.id,
            LedgerEntry.kind == "earn",
            LedgerEntry.at > window_start(programme, now),
            LedgerEntry.at <= now,
        )
        .group_by(LedgerEntry.membership_id)
    )
    if membership_ids is not None:
        earned_q = earned_q.where(LedgerEntry.membership_id.in_(membership_ids))
    earned_sq = earned_q.subquery()
    earned = func.coalesce(earned_sq.c.earned, 0)
    highest_first = sorted(tiers, key=lambda t: t.threshold_points, reverse=True)
    target_id = case(
        *[(earned >= t.threshold_points, literal(t.id)) for t in highest_first], else_=null()
    )
    target_thr = case(
        *[(earned >= t.threshold_points, literal(t.threshold_points)) for t in highest_first],
        else_=-1,
    )
    current_thr = case(
        *[(Membership.tier_id == t.id, literal(t.threshold_points)) for t in tiers], else_=-1
    )
    stmt = (
        select(
            Membership.id.label("mid"),
            target_id.label("target_id"),
            target_thr.label("target_thr"),
            current_thr.label("current_thr"),
            Membership.below_since.label("below_since"),
            Membership.tier_id.label("current_id"),
        )
        .outerjoin(earned_sq, earned_sq.c.membership_id == Membership.id)
        .where(Membership.programme_id == programme.id)
    )
    if membership_ids is not None:
        stmt = stmt.where(Membership.id.in_(membership_ids))
    return stmt


# The targets of one run, computed once (one aggregate over the ledger) and kept only for
# members whose tier or grace period may change; every step below joins to it.
_EVAL = Table(
    "loyalty_tier_eval",
    MetaData(),
    Column("mid", Integer, primary_key=True),
    Column("target_id", Integer),
    Column("target_thr", BigInteger),
    Column("current_thr", BigInteger),
    Column("below_since", UTCDateTime),
    Column("current_id", Integer),
    prefixes=["TEMPORARY"],
)


def evaluate_tiers(
    session: Session,
    programme: Programme,
    now: datetime,
    membership_ids: Sequence[int] | None = None,
) -> TierRun:
    """Move members to the tier their window earns: up at once, down after the grace period."""
    tiers = tiers_of(session, programme.id)
    run = TierRun()
    if not tiers:
        # No tiers: everyone is tierless (deleting a tier set tier_id to NULL already).
        return run
    session.flush()
    grace_cutoff = now - timedelta(days=programme.tier_grace_days)
    conn = session.connection()
    _EVAL.drop(conn, checkfirst=True)
    _EVAL.create(conn)
    targets = _targets(programme, tiers, now, membership_ids).subquery()
    conn.execute(
        insert(_EVAL).from_select(
            ["mid", "target_id", "target_thr", "current_thr", "below_since", "current_id"],
            select(targets).where(
                or_(
                    targets.c.target_thr != targets.c.current_thr,
                    targets.c.below_since.is_not(None),
                )
            ),
        )
    )
    e = _EVAL.c
    up = e.target_thr > e.current_thr
    below = e.target_thr < e.current_thr
    down_due = below
    if programme.tier_grace_days > 0:
        down_due = and_(below, e.below_since.is_not(None), e.below_since <= grace_cutoff)
    moves = or_(up, down_due)
    # 1. Record the moves, then make them.
    result = session.execute(
        insert(cast(Table, LoyaltyTierChange.__table__))
        .from_select(
            ["membership_id", "from_tier_id", "to_tier_id", "direction", "at"],
            select(
                e.mid,
                e.current_id,
                e.target_id,
                case((up, "up"), else_="down"),
                literal(now, UTCDateTime()),
            ).where(moves),
        )
        .returning(LoyaltyTierChange.__table__.c.id)
    )
    if result.all():
        run.upgraded = affected(
            session.execute(
                update(Membership)
                .where(Membership.id == e.mid, up)
                .values(tier_id=e.target_id, tier_since=now, below_since=None)
            )
        )
        run.downgraded = affected(
            session.execute(
                update(Membership)
                .where(Membership.id == e.mid, down_due)
                .values(tier_id=e.target_id, tier_since=now, below_since=None)
            )
        )
    # 2. Start the grace period of those who fell below their tier (and stay in it).
    run.grace_started = affected(
        session.execute(
            update(Membership)
            .where(
                Membership.id == e.mid,
                below,
                ~down_due,
                Membership.below_since.is_(None),
            )
            .values(below_since=now)
        )
    )
    # 3. Clear it for those back at (or above) their tier.
    run.grace_cleared = affected(
        session.execute(
            update(Membership)
            .where(
                Membership.id == e.mid,
                e.target_thr == e.current_thr,
                Membership.below_since.is_not(None),
            )
            .values(below_since=None)
        )
    )
    # Dropped on success; on an error the rollback removes it (DDL is transactional).
    _EVAL.drop(conn, checkfirst=True)
    # The updates bypassed the identity map: reload the memberships the caller holds. Only
    # those this call evaluated: a sync that earns event by event holds thousands of them.
    if run.upgraded or run.downgraded or run.grace_started or run.grace_cleared:
        if membership_ids is None:
            held = [o for o in session.identity_map.values() if isinstance(o, Membership)]
        else:
            keys = (session.identity_key(Membership, mid) for mid in membership_ids)
            held = [o for k in keys if (o := session.identity_map.get(k)) is not None]
        for obj in held:
            session.expire(obj)
    return run


def next_tier(tiers: Sequence[LoyaltyTier], earned: int) -> LoyaltyTier | None:
    for tier in sorted(tiers, key=lambda t: t.threshold_points):
        if tier.threshold_points > earned:
            return tier
    return None
