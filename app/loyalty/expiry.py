"""Expiry, first in first out, as one set-based statement per programme.

For each member: P = credits whose expiry date has passed, D = all debits so far (redeemed,
expired, negative adjustments). Debits consume the earliest-expiring credits first, so what
has expired and is still unspent is max(0, P - D); one 'expire' entry takes it. A second run
finds P = D and writes nothing; a run killed halfway rolls back its programme's statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, case, func, insert, literal, select
from sqlalchemy.orm import Session

from app.db import UTCDateTime
from app.loyalty.models import LedgerEntry, Membership, Programme

EXPIRY_REASON = "Points expired"


def expire_points(session: Session, programme: Programme, now: datetime) -> tuple[int, int]:
    """Expire what is due at `now`; returns (members touched, points expired)."""
    if programme.expiry_days is None:
        return 0, 0
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Redemptions lock one membership row; this waits for them, and they for it.
        session.execute(
            select(Membership.id)
            .where(Membership.programme_id == programme.id)
            .order_by(Membership.id)
            .with_for_update()
        ).all()
    L = LedgerEntry
    due = select(L.membership_id).where(
        L.programme_id == programme.id, L.points > 0, L.expires_at <= now
    )
    agg = (
        select(
            L.membership_id.label("mid"),
            func.sum(case((and_(L.points > 0, L.expires_at <= now), L.points), else_=0)).label("p"),
            func.sum(case((L.points < 0, -L.points), else_=0)).label("d"),
        )
        .where(L.programme_id == programme.id, L.membership_id.in_(due))
        .group_by(L.membership_id)
        .subquery()
    )
    key = f"expire:{now.isoformat()}"
    rows = select(
        agg.c.mid,
        literal(programme.id),
        literal("expire"),
        agg.c.d - agg.c.p,
        literal(now, UTCDateTime()),
        literal(EXPIRY_REASON),
        literal("expiry"),
        literal(key),
    ).where(agg.c.p > agg.c.d)
    result = session.execute(
        insert(cast(Table, L.__table__))
        .from_select(
            [
                "membership_id",
                "programme_id",
                "kind",
                "points",
                "at",
                "reason",
                "source_type",
                "idempotency_key",
            ],
            rows,
        )
        .returning(L.__table__.c.id)  # fmt: skip
    )
    members = len(result.all())
    if not members:
        return 0, 0
    expired = session.scalar(
        select(func.coalesce(-func.sum(L.points), 0)).where(
            L.programme_id == programme.id, L.kind == "expire", L.idempotency_key == key
        )
    )
    return members, int(expired or 0)
