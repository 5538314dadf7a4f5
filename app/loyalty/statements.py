"""What members and marketers read: a member's statement, the programme dashboard, the
liability (for other dashboards) and the small panel on the contact page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.models import Contact
from app.contacts.service import check_contact_access
from app.db import utcnow
from app.loyalty import ledger
from app.loyalty.models import (
    LedgerEntry,
    LoyaltyTier,
    LoyaltyTierChange,
    Membership,
    Programme,
    Redemption,
)
from app.loyalty.tiers import next_tier, tiers_of

EXPIRING_SOON_DAYS = 90


@dataclass
class Statement:
    membership: Membership
    programme: Programme
    balance: int
    tier: LoyaltyTier | None
    next_tier: LoyaltyTier | None
    earned_in_window: int
    points_to_next: int
    progress_percent: int
    grace_ends_at: datetime | None
    expiring: list[ledger.ExpiringLot]
    expiring_soon: int
    history: list[LedgerEntry] = field(default_factory=list)
    redemptions: list[Redemption] = field(default_factory=list)
    tier_changes: list[LoyaltyTierChange] = field(default_factory=list)


def statement(
    session: Session, membership: Membership, now: datetime | None = None, history_limit: int = 50
) -> Statement:
    now = now or utcnow()
    programme = session.get(Programme, membership.programme_id)
    assert programme is not None
    tiers = tiers_of(session, programme.id)
    tier = next((t for t in tiers if t.id == membership.tier_id), None)
    # One read of the member's ledger serves the balance, the window, the lots and history.
    entries = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.membership_id == membership.id)
            .order_by(LedgerEntry.at.desc(), LedgerEntry.id.desc())
        )
    )
    since = now - timedelta(days=programme.tier_window_days)
    earned = sum(e.points for e in entries if e.kind == "earn" and since < e.at <= now)
    upcoming = next_tier(tiers, max(earned, tier.threshold_points if tier else -1))
    to_next = max(0, upcoming.threshold_points - earned) if upcoming else 0
    if upcoming and upcoming.threshold_points > 0:
        progress = min(100, earned * 100 // upcoming.threshold_points)
    else:
        progress = 100
    lots = ledger.lots_from_rows([(e.points, e.expires_at) for e in entries], now)
    soon = now + timedelta(days=EXPIRING_SOON_DAYS)
    grace_end = (
        membership.below_since + timedelta(days=programme.tier_grace_days)
        if membership.below_since
        else None
    )
    history = entries[:history_limit]
    # Only members who ever redeemed or changed tier pay for those two reads.
    redemptions: list[Redemption] = []
    if any(e.source_type == "redemption" for e in entries):
        redemptions = list(
            session.scalars(
                select(Redemption)
                .where(Redemption.membership_id == membership.id)
                .order_by(Redemption.created_at.desc(), Redemption.id.desc())
                .limit(20)
            )
        )
    changes: list[LoyaltyTierChange] = []
    if membership.tier_since is not None:
        changes = list(
            session.scalars(
                select(LoyaltyTierChange)
                .where(LoyaltyTierChange.membership_id == membership.id)
                .order_by(LoyaltyTierChange.at.desc(), LoyaltyTierChange.id.desc())
                .limit(10)
            )
        )
    return Statement(
        membership=membership,
        programme=programme,
        balance=sum(e.points for e in entries),
        tier=tier,
        next_tier=upcoming,
        earned_in_window=earned,
        points_to_next=to_next,
        progress_percent=progress,
        grace_ends_at=grace_end,
        expiring=lots,
        expiring_soon=sum(lot.points for lot in lots if lot.expires_at <= soon),
        history=history,
        redemptions=redemptions,
        tier_changes=changes,
    )


def liability(session: Session, programme_id: int | None = None) -> dict[str, int]:
    """Outstanding points (sum of every ledger entry) and their value in cents, per the
    programmes' `cents_per_100_points`; for one programme or all of them."""
    stmt = (
        select(
            Programme.id,
            Programme.cents_per_100_points,
            func.coalesce(func.sum(LedgerEntry.points), 0),
        )
        .outerjoin(LedgerEntry, LedgerEntry.programme_id == Programme.id)
        .group_by(Programme.id, Programme.cents_per_100_points)
    )
    if programme_id is not None:
        stmt = stmt.where(Programme.id == programme_id)
    points = value = 0
    for _pid, cents_per_100, total in session.execute(stmt).all():
        points += int(total)
        value += int(total) * cents_per_100 // 100
    return {"points": points, "value_cents": value}


def dashboard(session: Session, programme: Programme) -> dict[str, Any]:
    per_kind: dict[str, int] = dict(
        session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.points))
            .where(LedgerEntry.programme_id == programme.id)
            .group_by(LedgerEntry.kind)
        )
        .tuples()
        .all()
    )
    per_tier: dict[int | None, int] = dict(
        session.execute(
            select(Membership.tier_id, func.count())
            .where(Membership.programme_id == programme.id)
            .group_by(Membership.tier_id)
        )
        .tuples()
        .all()
    )
    tiers = tiers_of(session, programme.id)
    members_per_tier = [("—", int(per_tier.get(None, 0)))] + [
        (t.name, int(per_tier.get(t.id, 0))) for t in tiers
    ]
    adjust_up = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.programme_id == programme.id,
            LedgerEntry.kind == "adjust",
            LedgerEntry.points > 0,
        )
    )
    owed = liability(session, programme.id)
    return {
        "members": sum(n for _, n in members_per_tier),
        "members_per_tier": members_per_tier,
        "issued": int(per_kind.get("earn", 0)) + int(adjust_up or 0),
        "redeemed": -int(per_kind.get("redeem", 0)) - int(per_kind.get("refund", 0)),
        "expired": -int(per_kind.get("expire", 0)),
        "adjusted": int(per_kind.get("adjust", 0)),
        "liability_points": owed["points"],
        "liability_cents": owed["value_cents"],
    }


def members_page(
    session: Session, programme: Programme, page: int = 1, per_page: int = 50
) -> tuple[list[tuple[Membership, int]], int]:
    total = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.programme_id == programme.id)
    )
    balances = (
        select(LedgerEntry.membership_id, func.sum(LedgerEntry.points).label("balance"))
        .where(LedgerEntry.programme_id == programme.id)
        .group_by(LedgerEntry.membership_id)
        .subquery()
    )
    rows = session.execute(
        select(Membership, func.coalesce(balances.c.balance, 0))
        .join(Contact, Contact.id == Membership.contact_id)
        .outerjoin(balances, balances.c.membership_id == Membership.id)
        .where(Membership.programme_id == programme.id)
        .order_by(Contact.sort_name, Membership.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return [(m, int(b)) for m, b in rows], int(total or 0)


def loyalty_panel(session: Session, user: User, contact: Contact) -> dict[str, Any]:
    """For the contact page: the person's memberships with balance and tier (read access)."""
    check_contact_access(user, contact)
    rows = session.execute(
        select(Membership, Programme, LoyaltyTier)
        .join(Programme, Programme.id == Membership.programme_id)
        .outerjoin(LoyaltyTier, LoyaltyTier.id == Membership.tier_id)
        .where(Membership.contact_id == contact.id)
        .order_by(Programme.name)
    ).all()
    memberships = []
    for membership, programme, tier in rows:
        memberships.append(
            {
                "membership_id": membership.id,
                "programme_id": programme.id,
                "programme": programme.name,
                "tier": tier.name if tier else None,
                "balance": ledger.balance(session, membership.id),
                "enrolled_at": membership.enrolled_at,
            }
        )
    return {"contact_id": contact.id, "memberships": memberships}
