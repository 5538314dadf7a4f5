"""The append-only points ledger: balances are sums, every write is keyed for idempotency.

Every write that can spend points locks the membership row first (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite serialises writers anyway), so two transactions never spend the same points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Result, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.loyalty.models import LedgerEntry, Membership, Programme


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (the Result type does not declare `rowcount`)."""
    return int(getattr(result, "rowcount", 0) or 0)


def lock_membership(session: Session, membership_id: int) -> Membership:
    """The membership row, locked until the transaction ends (re-read, never a stale copy)."""
    membership = session.scalars(
        select(Membership)
        .where(Membership.id == membership_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if membership is None:
        raise NotFound("No such membership.")
    return membership


def balance(session: Session, membership_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.membership_id == membership_id
        )
    )
    return int(total or 0)


def entry_by_key(session: Session, membership_id: int, key: str) -> LedgerEntry | None:
    return session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.membership_id == membership_id, LedgerEntry.idempotency_key == key
        )
    )


def expiry_for(programme: Programme, credited_at: datetime) -> datetime | None:
    if programme.expiry_days is None:
        return None
    return credited_at + timedelta(days=programme.expiry_days)


@dataclass
class Appended:
    entry: LedgerEntry
    created: bool


def append(
    session: Session,
    membership: Membership,
    *,
    kind: str,
    points: int,
    at: datetime,
    reason: str,
    key: str,
    source_type: str | None = None,
    source_id: int | None = None,
    expires_at: datetime | None = None,
    actor_id: int | None = None,
) -> Appended:
    """Add one entry, or return the entry already written under the same key (replays)."""
    existing = entry_by_key(session, membership.id, key)
    if existing is not None:
        return Appended(existing, False)
    entry = LedgerEntry(
        membership_id=membership.id,
        programme_id=membership.programme_id,
        kind=kind,
        points=points,
        at=at,
        expires_at=expires_at,
        reason=reason[:500],
        idempotency_key=key,
        source_type=source_type,
        source_id=source_id,
        created_by_id=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError:
        # Another transaction wrote the same key first: that entry is the one that counts.
        existing = entry_by_key(session, membership.id, key)
        if existing is None:
            raise
        return Appended(existing, False)
    return Appended(entry, True)


@dataclass(frozen=True)
class ExpiringLot:
    expires_at: datetime
    points: int


def lots_from_rows(rows: list[tuple[int, datetime | None]], now: datetime) -> list[ExpiringLot]:
    """What will expire and when, first in first out, from (points, expires_at) rows: debits
    consume the earliest-expiring credits first, so each future credit keeps
    `clamp(cumulative - debits, 0, credit)`."""
    debits = sum(-p for p, _ in rows if p < 0)
    credits = sorted(((e, p) for p, e in rows if p > 0 and e is not None), key=lambda x: x[0])
    cumulative = 0
    lots: dict[datetime, int] = {}
    for expires_at, points in credits:
        cumulative += points
        remaining = max(0, min(points, cumulative - debits))
        if remaining and expires_at > now:
            lots[expires_at] = lots.get(expires_at, 0) + remaining
    return [ExpiringLot(e, p) for e, p in sorted(lots.items())]


def expiring_lots(session: Session, membership_id: int, now: datetime) -> list[ExpiringLot]:
    rows = session.execute(
        select(LedgerEntry.points, LedgerEntry.expires_at).where(
            LedgerEntry.membership_id == membership_id
        )
    ).all()
    return lots_from_rows([(p, e) for p, e in rows], now)
