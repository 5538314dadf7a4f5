"""Loyalty programmes: points on an append-only ledger, tiers, rewards, expiry.

A balance is always the sum of a membership's ledger entries; no column holds it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.contacts.models import Contact
from app.db import Base, UTCDateTime

ELIGIBILITIES = ("consent", "segment", "tier")
ENROLMENTS = ("manual", "segment", "automatic")
RULE_KINDS = ("purchase", "interaction")
ENTRY_KINDS = ("earn", "redeem", "expire", "adjust", "refund")
REDEMPTION_STATUSES = ("issued", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Programme(Base):
    __tablename__ = "loyalty_programmes"
    __table_args__ = (
        CheckConstraint(_in("eligibility", ELIGIBILITIES), name="eligibility"),
        CheckConstraint(_in("enrolment", ENROLMENTS), name="enrolment"),
        CheckConstraint("expiry_days IS NULL OR expiry_days > 0", name="expiry_positive"),
        CheckConstraint("tier_window_days > 0", name="window_positive"),
        CheckConstraint("tier_grace_days >= 0", name="grace_non_negative"),
        CheckConstraint("referral_bonus_points >= 0", name="referral_non_negative"),
        CheckConstraint("cents_per_100_points >= 0", name="value_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    eligibility: Mapped[str] = mapped_column(String(20), default="consent")
    eligibility_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL")
    )
    eligibility_tier: Mapped[str | None] = mapped_column(String(20))
    enrolment: Mapped[str] = mapped_column(String(20), default="manual")
    # Points expire this many days after they were credited (None: never).
    expiry_days: Mapped[int | None] = mapped_column(Integer, default=365)
    tier_window_days: Mapped[int] = mapped_column(Integer, default=365)
    tier_grace_days: Mapped[int] = mapped_column(Integer, default=30)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    monthly_cap: Mapped[int | None] = mapped_column(Integer)
    referral_bonus_points: Mapped[int] = mapped_column(Integer, default=0)
    # What points are worth, for the liability in money: cents per 100 points.
    cents_per_100_points: Mapped[int] = mapped_column(Integer, default=100)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    tiers: Mapped[list[LoyaltyTier]] = relationship(
        back_populates="programme", order_by="LoyaltyTier.threshold_points"
    )
    rules: Mapped[list[EarningRule]] = relationship(order_by="EarningRule.id")
    multipliers: Mapped[list[Multiplier]] = relationship(order_by="Multiplier.id")
    rewards: Mapped[list[Reward]] = relationship(order_by="Reward.points_cost")


class LoyaltyTier(Base):
    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("programme_id", "name"),
        UniqueConstraint("programme_id", "threshold_points"),
        CheckConstraint("threshold_points >= 0", name="threshold_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_programmes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    threshold_points: Mapped[int] = mapped_column(Integer)

    programme: Mapped[Programme] = relationship(back_populates="tiers")


class EarningRule(Base):
    """'purchase': `points` per `per_cents` of value (rounded down); 'interaction': `points` per
    interaction of `interaction_kind`."""

    __tablename__ = "loyalty_earning_rules"
    __table_args__ = (
        CheckConstraint(_in("kind", RULE_KINDS), name="kind"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("per_cents > 0", name="per_cents_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_programmes.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    interaction_kind: Mapped[str | None] = mapped_column(String(20))
    points: Mapped[int] = mapped_column(Integer)
    per_cents: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(default=True)


class Multiplier(Base):
    """A percentage applied to rule points (200 = double): for a tier, a date range, or both."""

    __tablename__ = "loyalty_multipliers"
    __table_args__ = (CheckConstraint("percent > 0", name="percent_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_programmes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    percent: Mapped[int] = mapped_column(Integer)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_tiers.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tier: Mapped[LoyaltyTier | None] = relationship()


class Membership(Base):
    __tablename__ = "loyalty_memberships"
    __table_args__ = (UniqueConstraint("programme_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_programmes.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enrolled_via: Mapped[str] = mapped_column(String(20), default="manual")
    tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_tiers.id", ondelete="SET NULL"), index=True
    )
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the points in the window first fell below the tier: the grace period starts here.
    below_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    programme: Mapped[Programme] = relationship()
    contact: Mapped[Contact] = relationship()
    tier: Mapped[LoyaltyTier | None] = relationship()


class LedgerEntry(Base):
    """Append-only. Positive points are credits (earn, refund, adjust up); negative are debits."""

    __tablename__ = "loyalty_ledger"
    __table_args__ = (
        UniqueConstraint("membership_id", "idempotency_key"),
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint(
            "(kind IN ('earn', 'refund') AND points > 0)"
            " OR (kind IN ('redeem', 'expire') AND points < 0) OR kind = 'adjust'",
            name="sign",
        ),
        Index("ix_loyalty_ledger_programme_kind", "programme_id", "kind"),
        Index("ix_loyalty_ledger_source", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_memberships.id", ondelete="CASCADE")
    )
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_programmes.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500))
    source_type: Mapped[str | None] = mapped_column(String(20))
    source_id: Mapped[int | None] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Reward(Base):
    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        CheckConstraint("points_cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_programmes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    points_cost: Mapped[int] = mapped_column(Integer)
    # None: unlimited.
    stock: Mapped[int | None] = mapped_column(Integer)
    # Available from this tier up (None: every member).
    min_tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(default=True)

    min_tier: Mapped[LoyaltyTier | None] = relationship()


class Redemption(Base):
    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        CheckConstraint(_in("status", REDEMPTION_STATUSES), name="status"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_memberships.id", ondelete="CASCADE"), index=True
    )
    reward_id: Mapped[int] = mapped_column(ForeignKey("loyalty_rewards.id", ondelete="RESTRICT"))
    points: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="issued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    reward: Mapped[Reward] = relationship()
    membership: Mapped[Membership] = relationship()


class LoyaltyTierChange(Base):
    """Every move between loyalty tiers; `notified_at` is set once the member was told."""

    __tablename__ = "loyalty_tier_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_memberships.id", ondelete="CASCADE"), index=True
    )
    from_tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    to_tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice: Mapped[str | None] = mapped_column(String(30))

    from_tier: Mapped[LoyaltyTier | None] = relationship(foreign_keys=[from_tier_id])
    to_tier: Mapped[LoyaltyTier | None] = relationship(foreign_keys=[to_tier_id])
