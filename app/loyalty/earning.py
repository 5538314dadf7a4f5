"""Earning: rule points, multipliers, caps and the referral bonus, written once per event.

Rounding: points = floor(base x product(multiplier percent / 100)), where a purchase's base is
value_cents x points / per_cents. The whole product is computed exactly (fractions of
integers) and rounded down once, so no point is created by intermediate rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from app.contacts.models import Contact, Interaction, Relationship, interaction_participants
from app.db import utcnow
from app.errors import Invalid
from app.loyalty import ledger
from app.loyalty.models import EarningRule, LedgerEntry, Membership, Multiplier, Programme
from app.loyalty.programmes import check_open, has_ended
from app.loyalty.tiers import evaluate_tiers

CAPPED_SOURCES = ("interaction", "external")


@dataclass
class EarnResult:
    points: int = 0
    entries: list[LedgerEntry] = field(default_factory=list)
    duplicate: bool = False
    capped: bool = False


def active_rules(session: Session, programme_id: int) -> list[EarningRule]:
    return list(
        session.scalars(
            select(EarningRule).where(
                EarningRule.programme_id == programme_id, EarningRule.active.is_(True)
            )
        )
    )


Terms = tuple[list[EarningRule], list[Multiplier]]


def programme_terms(session: Session, programme_id: int) -> Terms:
    """The active earning rules and the multipliers of a programme."""
    multipliers = session.scalars(select(Multiplier).where(Multiplier.programme_id == programme_id))
    return active_rules(session, programme_id), list(multipliers)


def base_points(rules: Sequence[EarningRule], kind: str, value_cents: int) -> Fraction:
    total = Fraction(0)
    for rule in rules:
        if kind == "purchase" and rule.kind == "purchase":
            total += Fraction(value_cents * rule.points, rule.per_cents)
        elif rule.kind == "interaction" and rule.interaction_kind == kind:
            total += rule.points
    return total


def applicable_multipliers(
    multipliers: Sequence[Multiplier], tier_id: int | None, at: datetime
) -> list[Multiplier]:
    out = []
    for m in multipliers:
        if m.tier_id is not None and m.tier_id != tier_id:
            continue
        if m.starts_at is not None and at < m.starts_at:
            continue
        if m.ends_at is not None and at >= m.ends_at:
            continue
        out.append(m)
    return out


def compute_points(
    rules: Sequence[EarningRule],
    multipliers: Sequence[Multiplier],
    *,
    kind: str,
    value_cents: int,
    tier_id: int | None,
    at: datetime,
) -> int:
    amount = base_points(rules, kind, value_cents)
    for m in applicable_multipliers(multipliers, tier_id, at):
        amount *= Fraction(m.percent, 100)
    return floor(amount)


def _capped_since(session: Session, membership_id: int, start: datetime, end: datetime) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.membership_id == membership_id,
            LedgerEntry.kind == "earn",
            LedgerEntry.source_type.in_(CAPPED_SOURCES),
            LedgerEntry.at >= start,
            LedgerEntry.at < end,
        )
    )
    return int(total or 0)


def apply_caps(
    session: Session, programme: Programme, membership_id: int, at: datetime, points: int
) -> int:
    """Caps count rule points per UTC day and month of the event."""
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    if programme.daily_cap is not None:
        used = _capped_since(session, membership_id, day, day + timedelta(days=1))
        points = min(points, max(0, programme.daily_cap - used))
    if programme.monthly_cap is not None:
        month = datetime(at.year, at.month, 1, tzinfo=UTC)
        nxt = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
        used = _capped_since(session, membership_id, month, nxt)
        points = min(points, max(0, programme.monthly_cap - used))
    return points


def earn_for_event(
    session: Session,
    programme: Programme,
    membership: Membership,
    *,
    kind: str,
    value_cents: int,
    at: datetime,
    key: str,
    source_type: str,
    source_id: int | None,
    reason: str,
    actor_id: int | None = None,
    now: datetime | None = None,
    evaluate: bool = True,
    terms: Terms | None = None,
) -> EarnResult:
    """Credit the points one event earns; the same key twice earns once.

    With `evaluate=False` the members credited are not moved to their new tier here: the
    caller evaluates them (`evaluate_tiers`) once it has credited a batch of events.
    `terms` are the programme's rules and multipliers when the caller read them already."""
    now = now or utcnow()
    check_open(programme, now)
    if value_cents < 0:
        raise Invalid("The amount cannot be negative.", field="value_cents")
    if at.tzinfo is None:
        raise Invalid("The date needs a time zone.", field="occurred_at")
    contact = session.get(Contact, membership.contact_id)
    if contact is None or contact.is_erased:
        raise Invalid("An erased person cannot earn points.", field="contact")
    membership = ledger.lock_membership(session, membership.id)
    existing = ledger.entry_by_key(session, membership.id, key)
    if existing is not None:
        return EarnResult(points=existing.points, entries=[existing], duplicate=True)
    rules, multipliers = terms or programme_terms(session, programme.id)
    points = compute_points(
        rules, multipliers, kind=kind, value_cents=value_cents, tier_id=membership.tier_id, at=at
    )
    capped = apply_caps(session, programme, membership.id, at, points)
    result = EarnResult(capped=capped < points)
    if capped > 0:
        written = ledger.append(
            session, membership, kind="earn", points=capped, at=at, reason=reason, key=key,
            source_type=source_type, source_id=source_id,
            expires_at=ledger.expiry_for(programme, now), actor_id=actor_id,
        )  # fmt: skip
        result.points = capped
        result.entries.append(written.entry)
        result.duplicate = not written.created
    if kind == "purchase":
        result.entries.extend(
            referral_bonus(session, programme, membership, at, now, evaluate=evaluate)
        )
    if evaluate:
        evaluate_tiers(session, programme, now, [membership.id])
    return result


def referral_bonus(
    session: Session,
    programme: Programme,
    membership: Membership,
    at: datetime,
    now: datetime,
    *,
    evaluate: bool = True,
) -> list[LedgerEntry]:
    """The first purchase of a referred person credits each referrer who is a member, once."""
    if programme.referral_bonus_points <= 0:
        return []
    referrer_memberships = session.scalars(
        select(Membership)
        .join(Relationship, Relationship.to_contact_id == Membership.contact_id)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(
            Relationship.from_contact_id == membership.contact_id,
            Relationship.kind == "referred_by",
            Membership.programme_id == programme.id,
            Contact.erased_at.is_(None),
        )
    ).all()
    out = []
    for referrer in referrer_memberships:
        written = ledger.append(
            session, referrer, kind="earn", points=programme.referral_bonus_points, at=at,
            reason="Referral bonus: first purchase of a referred person",
            key=f"referral:{membership.contact_id}", source_type="referral",
            source_id=membership.contact_id, expires_at=ledger.expiry_for(programme, now),
        )  # fmt: skip
        if written.created:
            out.append(written.entry)
            if evaluate:
                evaluate_tiers(session, programme, now, [referrer.id])
    return out


def earn_for_interaction(
    session: Session,
    programme: Programme,
    membership: Membership,
    interaction: Interaction,
    now: datetime | None = None,
    *,
    evaluate: bool = True,
    terms: Terms | None = None,
) -> EarnResult:
    return earn_for_event(
        session, programme, membership, kind=interaction.kind,
        value_cents=interaction.value_cents, at=interaction.occurred_at,
        key=f"interaction:{interaction.id}", source_type="interaction",
        source_id=interaction.id, reason=f"{interaction.kind.title()} ({interaction.channel})",
        now=now, evaluate=evaluate, terms=terms,
    )  # fmt: skip


@dataclass
class SyncResult:
    events: int = 0
    points: int = 0  # credited by this sync, referral bonuses included
    enrolled: int = 0


def sync_purchases(
    session: Session, now: datetime | None = None, programme_id: int | None = None
) -> SyncResult:
    """Credit every purchase (and every interaction kind a rule rewards) not yet in a member's
    ledger. Idempotent: the key "interaction:<id>" is unique per membership."""
    from app.loyalty.programmes import enrol_automatic

    now = now or utcnow()
    out = SyncResult()
    stmt = select(Programme).order_by(Programme.id)
    if programme_id is not None:
        stmt = stmt.where(Programme.id == programme_id)
    for programme in session.scalars(stmt).all():
        if has_ended(programme, now):
            continue
        out.enrolled += enrol_automatic(session, programme, now)
        terms = programme_terms(session, programme.id)  # read once for the whole backlog
        kinds = {"purchase"} | {r.interaction_kind for r in terms[0] if r.interaction_kind}
        already = exists().where(
            LedgerEntry.membership_id == Membership.id,
            LedgerEntry.source_type == "interaction",
            LedgerEntry.source_id == Interaction.id,
        )
        # the person is loaded with each row: the erasure check then reads no row
        pending = select(Interaction, Membership, Contact).join(
            interaction_participants, interaction_participants.c.interaction_id == Interaction.id
        ).join(
            Membership,
            and_(
                Membership.contact_id == interaction_participants.c.contact_id,
                Membership.programme_id == programme.id,
            ),
        ).join(Contact, Contact.id == Membership.contact_id).where(
            Interaction.kind.in_(sorted(kinds)),
            Interaction.occurred_at <= now,
            Contact.erased_at.is_(None),
            ~already,
        ).order_by(Interaction.occurred_at, Interaction.id)  # fmt: skip
        if programme.starts_at is not None:
            pending = pending.where(Interaction.occurred_at >= programme.starts_at)
        # A member's tier changes only the multipliers of their later events. When no
        # multiplier depends on the tier, members are moved once, after the whole backlog
        # (one evaluation instead of one per event: minutes on a year of purchases).
        per_event = any(m.tier_id is not None for m in terms[1])
        credited: set[int] = set()
        for interaction, membership, _person in session.execute(pending).all():
            result = earn_for_interaction(
                session, programme, membership, interaction, now,
                evaluate=bool(per_event), terms=terms,
            )  # fmt: skip
            credited.update(entry.membership_id for entry in result.entries)
            out.events += 1
            out.points += 0 if result.duplicate else sum(e.points for e in result.entries)
        if not per_event:
            ids = sorted(credited)
            for start in range(0, len(ids), 500):
                evaluate_tiers(session, programme, now, ids[start : start + 500])
    return out
