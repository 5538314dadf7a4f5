"""Relationship health for managers, and the attention inbox.

Health is a snapshot per person and per account, tied to a `HealthRun` (one per day, unique:
running the day twice writes nothing the second time). Reasons are stored as codes with their
numbers, so each reader sees them in their own language.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, UTCDateTime

STATUSES = ("healthy", "cooling", "at_risk")
SUBJECT_KINDS = ("contact", "organization")
NOTIFICATION_KINDS = ("contact_at_risk", "account_at_risk", "comment_overdue")
RUN_STATUSES = ("running", "done", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class HealthRun(Base):
    """One computation of health as of a day. `stats` keeps the totals drawn as trends."""

    __tablename__ = "health_runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(10), default="running")
    trigger: Mapped[str] = mapped_column(String(30), default="daily")
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HealthSnapshot(Base):
    """A person's (contact_id) or an account's (organization_id) health in one run."""

    __tablename__ = "health_snapshots"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        CheckConstraint("(contact_id IS NULL) <> (organization_id IS NULL)", name="one_subject"),
        UniqueConstraint("run_id", "contact_id"),
        UniqueConstraint("run_id", "organization_id"),
        Index("ix_health_snapshots_contact_run", "contact_id", "run_id"),
        Index("ix_health_snapshots_organization_run", "organization_id", "run_id"),
        Index("ix_health_snapshots_run_status_score", "run_id", "status", "score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("health_runs.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(10))
    days_silent: Mapped[float | None] = mapped_column(Float)
    usual_gap_days: Mapped[float | None] = mapped_column(Float)
    frequency_now: Mapped[int] = mapped_column(Integer, default=0)
    frequency_before: Mapped[int] = mapped_column(Integer, default=0)
    they_answer: Mapped[float | None] = mapped_column(Float)
    response_hours: Mapped[float | None] = mapped_column(Float)
    sentiment_now: Mapped[float | None] = mapped_column(Float)
    sentiment_before: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class HealthStatusChange(Base):
    """A subject's status moved between two runs (healthy -> cooling, cooling -> at_risk...)."""

    __tablename__ = "health_status_changes"
    __table_args__ = (
        CheckConstraint(_in("from_status", STATUSES), name="from_status"),
        CheckConstraint(_in("to_status", STATUSES), name="to_status"),
        UniqueConstraint("run_id", "contact_id"),
        UniqueConstraint("run_id", "organization_id"),
        Index("ix_health_status_changes_contact", "contact_id", "as_of"),
        Index("ix_health_status_changes_organization", "organization_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("health_runs.id", ondelete="CASCADE"))
    as_of: Mapped[date] = mapped_column(Date, index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(SmallInteger)


class InboxDismissal(Base):
    """An inbox item put aside without an answer: the reason is kept, with who and when."""

    __tablename__ = "inbox_dismissals"

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), unique=True
    )
    reason: Mapped[str] = mapped_column(String(500))
    dismissed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dismissed_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    dismissed_by: Mapped[User | None] = relationship()


class UnmatchedComment(Base):
    """An inbound comment whose author matches no contact: kept, never dropped, until it is
    matched to a person (it then becomes an interaction and its author data here is cleared)
    or dismissed with a reason."""

    __tablename__ = "unmatched_comments"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        CheckConstraint(
            "sentiment IS NULL OR (sentiment >= -1 AND sentiment <= 1)", name="sentiment_range"
        ),
        Index("ix_unmatched_comments_open", "matched_at", "dismissed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    author_key: Mapped[str | None] = mapped_column(String(300))
    author_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    sentiment: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    matched_interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL")
    )
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    matched_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dismiss_reason: Mapped[str | None] = mapped_column(String(500))


class Notification(Base):
    """An in-app alert for one user; `key` makes raising the same alert twice a no-op."""

    __tablename__ = "health_notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
        Index("ix_health_notifications_user_read", "user_id", "read_at"),
        Index("ix_health_notifications_user_emailed", "user_id", "emailed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(100))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE")
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
