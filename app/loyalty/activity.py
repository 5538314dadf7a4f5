"""Loyalty activity as a health signal: earning or redeeming recently is a sign of life."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty.models import LedgerEntry, Membership

WINDOW = timedelta(days=90)


def recent_activity(session: Session, moment: datetime) -> dict[int, float]:
    """contact id -> 0..1: 1 for a redemption in the last 90 days, 0.6 for earning only."""
    rows = session.execute(
        select(Membership.contact_id, LedgerEntry.kind, func.count())
        .join(Membership, Membership.id == LedgerEntry.membership_id)
        .where(
            LedgerEntry.at > moment - WINDOW,
            LedgerEntry.at <= moment,
            LedgerEntry.kind.in_(("earn", "redeem")),
        )
        .group_by(Membership.contact_id, LedgerEntry.kind)
    ).all()
    activity: dict[int, float] = {}
    for contact_id, kind, _count in rows:
        value = 1.0 if kind == "redeem" else 0.6
        activity[contact_id] = max(activity.get(contact_id, 0.0), value)
    return activity
