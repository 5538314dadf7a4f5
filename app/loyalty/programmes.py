"""Programmes, their tiers, earning rules, multipliers and rewards; who may join, and enrolment."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, false, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.auth.models import Role, User
from app.contacts.models import INTERACTION_KINDS, TIERS, Contact
from app.db import UTCDateTime, utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.loyalty.models import (
    ELIGIBILITIES,
    ENROLMENTS,
    EarningRule,
    LoyaltyTier,
    Membership,
    Multiplier,
    Programme,
    Reward,
)

MANAGERS = (Role.ADMIN, Role.MANAGER, Role.MARKETER)


def can_manage(user: User) -> bool:
    return user.role in MANAGERS


def check_manage(user: User) -> None:
    if not can_manage(user):
        raise Forbidden("Only admins, managers and marketers can manage loyalty programmes.")


def get_programme(session: Session, programme_id: int) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise NotFound("No such programme.")
    return programme


def list_programmes(session: Session) -> list[Programme]:
    return list(session.scalars(select(Programme).order_by(Programme.name)))


def has_ended(programme: Programme, now: datetime | None = None) -> bool:
    return programme.ends_at is not None and programme.ends_at <= (now or utcnow())


def check_open(programme: Programme, now: datetime | None = None) -> None:
    if has_ended(programme, now):
        raise Invalid("The programme has ended.", field="programme")


PROGRAMME_FIELDS = (
    "name", "description", "eligibility", "eligibility_segment_id", "eligibility_tier",
    "enrolment", "expiry_days", "tier_window_days", "tier_grace_days", "daily_cap",
    "monthly_cap", "referral_bonus_points", "cents_per_100_points", "starts_at", "ends_at",
)  # fmt: skip


def _clean_programme(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(PROGRAMME_FIELDS)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}.")
    out = dict(values)
    if "name" in out:
        out["name"] = (out["name"] or "").strip()
        if not out["name"] or len(out["name"]) > 200:
            raise Invalid("A name of 1 to 200 characters is required.", field="name")
    if out.get("eligibility", "consent") not in ELIGIBILITIES:
        raise Invalid("Unknown eligibility.", field="eligibility")
    if out.get("enrolment", "manual") not in ENROLMENTS:
        raise Invalid("Unknown enrolment.", field="enrolment")
    if out.get("eligibility") == "segment" and not out.get("eligibility_segment_id"):
        raise Invalid("Choose the segment whose people may join.", field="eligibility_segment_id")
    if out.get("eligibility") == "tier" and out.get("eligibility_tier") not in TIERS:
        raise Invalid("Choose the tier whose people may join.", field="eligibility_tier")
    for name in ("expiry_days", "daily_cap", "monthly_cap"):
        if out.get(name) is not None and out[name] <= 0:
            raise Invalid("Must be positive (or empty for none).", field=name)
    for name in ("tier_window_days",):
        if name in out and (out[name] is None or out[name] <= 0):
            raise Invalid("Must be positive.", field=name)
    for name in ("tier_grace_days", "referral_bonus_points", "cents_per_100_points"):
        if name in out and (out[name] is None or out[name] < 0):
            raise Invalid("Cannot be negative.", field=name)
    for name in ("starts_at", "ends_at"):
        if out.get(name) is not None and out[name].tzinfo is None:
            raise Invalid("The date needs a time zone.", field=name)
    return out


def _save(session: Session, obj: Any, what: str) -> None:
    try:
        with session.begin_nested():
            session.add(obj)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"This {what} already exists.") from exc


def create_programme(session: Session, actor: User, **values: Any) -> Programme:
    check_manage(actor)
    programme = Programme(**_clean_programme(values))
    _save(session, programme, "programme")
    audit.record(session, actor.id, "loyalty.programme_create", "loyalty_programme", programme.id)
    return programme


def update_programme(session: Session, actor: User, programme: Programme, **values: Any) -> None:
    check_manage(actor)
    merged = {f: getattr(programme, f) for f in PROGRAMME_FIELDS} | values
    for key, value in _clean_programme(merged).items():
        setattr(programme, key, value)
    _save(session, programme, "programme")


def add_tier(
    session: Session, actor: User, programme: Programme, name: str, threshold_points: int
) -> LoyaltyTier:
    check_manage(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("A tier needs a name.", field="name")
    if threshold_points < 0:
        raise Invalid("The threshold cannot be negative.", field="threshold_points")
    tier = LoyaltyTier(programme_id=programme.id, name=name, threshold_points=threshold_points)
    _save(session, tier, "tier (name or threshold)")
    return tier


def add_rule(
    session: Session,
    actor: User,
    programme: Programme,
    *,
    kind: str,
    points: int,
    per_cents: int = 100,
    interaction_kind: str | None = None,
) -> EarningRule:
    check_manage(actor)
    if kind not in ("purchase", "interaction"):
        raise Invalid("Unknown rule kind.", field="kind")
    if points <= 0:
        raise Invalid("Points must be positive.", field="points")
    if per_cents <= 0:
        raise Invalid("The value unit must be positive.", field="per_cents")
    if kind == "interaction":
        if interaction_kind not in INTERACTION_KINDS or interaction_kind == "purchase":
            raise Invalid("Choose the kind of interaction.", field="interaction_kind")
    else:
        interaction_kind = None
    rule = EarningRule(
        programme_id=programme.id, kind=kind, points=points, per_cents=per_cents,
        interaction_kind=interaction_kind,
    )  # fmt: skip
    _save(session, rule, "rule")
    return rule


def add_multiplier(
    session: Session,
    actor: User,
    programme: Programme,
    *,
    name: str,
    percent: int,
    tier_id: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Multiplier:
    check_manage(actor)
    if percent <= 0:
        raise Invalid("The percentage must be positive.", field="percent")
    if tier_id is not None and not _tier_of(session, programme, tier_id):
        raise Invalid("No such tier in this programme.", field="tier_id")
    if starts_at and ends_at and ends_at <= starts_at:
        raise Invalid("The end must follow the start.", field="ends_at")
    multiplier = Multiplier(
        programme_id=programme.id, name=(name or "").strip()[:100] or f"{percent}%",
        percent=percent, tier_id=tier_id, starts_at=starts_at, ends_at=ends_at,
    )  # fmt: skip
    _save(session, multiplier, "multiplier")
    return multiplier


def _tier_of(session: Session, programme: Programme, tier_id: int) -> LoyaltyTier | None:
    tier = session.get(LoyaltyTier, tier_id)
    return tier if tier is not None and tier.programme_id == programme.id else None


def add_reward(
    session: Session,
    actor: User,
    programme: Programme,
    *,
    name: str,
    points_cost: int,
    stock: int | None = None,
    min_tier_id: int | None = None,
) -> Reward:
    check_manage(actor)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid("A reward needs a name.", field="name")
    if points_cost <= 0:
        raise Invalid("The cost must be positive.", field="points_cost")
    if stock is not None and stock < 0:
        raise Invalid("The stock cannot be negative.", field="stock")
    if min_tier_id is not None and not _tier_of(session, programme, min_tier_id):
        raise Invalid("No such tier in this programme.", field="min_tier_id")
    reward = Reward(
        programme_id=programme.id, name=name, points_cost=points_cost, stock=stock,
        min_tier_id=min_tier_id,
    )  # fmt: skip
    _save(session, reward, "reward")
    return reward


def remove_item(
    session: Session, actor: User, programme: Programme, kind: str, item_id: int
) -> None:
    """Remove a tier, rule or multiplier; a reward is deactivated (its redemptions stay)."""
    check_manage(actor)
    model = {"tier": LoyaltyTier, "rule": EarningRule, "multiplier": Multiplier, "reward": Reward}
    if kind not in model:
        raise NotFound("Nothing to remove.")
    item: Any = session.get(model[kind], item_id)
    if item is None or item.programme_id != programme.id:
        raise NotFound("Nothing to remove.")
    if isinstance(item, Reward):
        item.active = False
    else:
        session.delete(item)
    session.flush()


# ---------------------------------------------------------------- eligibility and enrolment


def eligible_clause(session: Session, programme: Programme) -> ColumnElement[bool]:
    """Who may join: never the erased, the merged or those who opted out."""
    base = and_(
        Contact.erased_at.is_(None),
        Contact.merged_into_id.is_(None),
        Contact.consent_status != "opted_out",
    )
    if programme.eligibility == "consent":
        return and_(base, Contact.consent_status == "granted")
    if programme.eligibility == "tier":
        return and_(base, Contact.tier == programme.eligibility_tier)
    if programme.eligibility_segment_id is None:
        return false()
    from app.segments.models import Segment
    from app.segments.rules import segment_members_ids

    segment = session.get(Segment, programme.eligibility_segment_id)
    if segment is None:
        return false()
    return and_(base, Contact.id.in_(segment_members_ids(session, segment)))


def is_eligible(session: Session, programme: Programme, contact: Contact) -> bool:
    return (
        session.scalar(
            select(Contact.id).where(Contact.id == contact.id, eligible_clause(session, programme))
        )
        is not None
    )


def membership_of(session: Session, programme_id: int, contact_id: int) -> Membership | None:
    return session.scalar(
        select(Membership).where(
            Membership.programme_id == programme_id, Membership.contact_id == contact_id
        )
    )


def enrol(
    session: Session,
    actor: User | None,
    programme: Programme,
    contact: Contact,
    *,
    via: str = "manual",
    now: datetime | None = None,
) -> tuple[Membership, bool]:
    """Enrol one person; enrolling a member again returns the membership (created=False)."""
    now = now or utcnow()
    check_open(programme, now)
    if contact.is_erased:
        raise Invalid("An erased person cannot join a programme.", field="contact")
    existing = membership_of(session, programme.id, contact.id)
    if existing is not None:
        return existing, False
    if not is_eligible(session, programme, contact):
        raise Invalid("This person is not eligible for the programme.", field="contact")
    membership = Membership(
        programme_id=programme.id, contact_id=contact.id, enrolled_at=now, enrolled_via=via
    )
    try:
        with session.begin_nested():
            session.add(membership)
            session.flush()
    except IntegrityError:
        existing = membership_of(session, programme.id, contact.id)
        if existing is None:
            raise
        return existing, False
    if actor is not None:
        audit.record(
            session, actor.id, "loyalty.enrol", "loyalty_membership", membership.id,
            programme_id=programme.id, contact_id=contact.id, via=via,
        )  # fmt: skip
    return membership, True


def _enrol_where(
    session: Session, programme: Programme, clause: ColumnElement[bool], via: str, now: datetime
) -> int:
    already = select(Membership.contact_id).where(Membership.programme_id == programme.id)
    rows = select(
        literal(programme.id), Contact.id, literal(now, UTCDateTime()), literal(via)
    ).where(clause, Contact.id.not_in(already))
    result = session.execute(
        insert(cast(Table, Membership.__table__))
        .from_select(["programme_id", "contact_id", "enrolled_at", "enrolled_via"], rows)
        .returning(Membership.__table__.c.id)
    )
    count = len(result.all())
    session.flush()
    return count


def enrol_segment(
    session: Session,
    actor: User,
    programme: Programme,
    segment_id: int,
    now: datetime | None = None,
) -> int:
    """Enrol every eligible person of a segment (set-based); returns how many joined."""
    check_manage(actor)
    now = now or utcnow()
    check_open(programme, now)
    from app.segments.models import Segment
    from app.segments.rules import segment_members_ids

    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("No such segment.")
    ids = segment_members_ids(session, segment)
    if not ids:
        return 0
    clause = and_(eligible_clause(session, programme), Contact.id.in_(ids))
    count = _enrol_where(session, programme, clause, "segment", now)
    audit.record(
        session, actor.id, "loyalty.enrol_segment", "loyalty_programme", programme.id,
        segment_id=segment_id, enrolled=count,
    )  # fmt: skip
    return count


def enrol_automatic(session: Session, programme: Programme, now: datetime | None = None) -> int:
    """For automatic programmes: every eligible person not yet a member joins (set-based)."""
    now = now or utcnow()
    if programme.enrolment != "automatic" or has_ended(programme, now):
        return 0
    return _enrol_where(session, programme, eligible_clause(session, programme), "automatic", now)
