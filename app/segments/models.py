from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, UTCDateTime

RUN_STATUSES = ("running", "done", "failed")


class ScoreRun(Base):
    """One scoring and tiering run. Only a run with status 'done' is ever shown as current;
    the partial unique index allows a single running run at a time."""

    __tablename__ = "score_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
        Index(
            "uq_score_runs_one_running",
            "status",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="running")
    trigger: Mapped[str] = mapped_column(String(30), default="manual")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stage: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class ContactScore(Base):
    """A person's potential in one run, with each component kept (all 0..1 but potential)."""

    __tablename__ = "contact_scores"
    __table_args__ = (
        Index("ix_contact_scores_contact_run", "contact_id", "run_id"),
        Index("ix_contact_scores_run_rank", "run_id", "rank"),
    )

    run_id: Mapped[int] = mapped_column(
        ForeignKey("score_runs.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    potential: Mapped[float] = mapped_column(Float)
    influence: Mapped[float] = mapped_column(Float)
    bridging: Mapped[float] = mapped_column(Float)
    engagement: Mapped[float] = mapped_column(Float)
    account_value: Mapped[float] = mapped_column(Float)
    sentiment: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    degree: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Circle(Base):
    """A named one-to-few group, found among network communities."""

    __tablename__ = "circles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("score_runs.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    owner: Mapped[User | None] = relationship()


class TierAssignment(Base):
    """The current tier of a person (one row per person), with its pin if a person set it."""

    __tablename__ = "tier_assignments"
    __table_args__ = (
        CheckConstraint("tier IN ('none', 'one_to_one', 'one_to_few', 'broadcast')", name="tier"),
    )

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[str] = mapped_column(String(20), index=True)
    circle_id: Mapped[int | None] = mapped_column(
        ForeignKey("circles.id", ondelete="SET NULL"), index=True
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("score_runs.id", ondelete="SET NULL"))
    pinned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pin_reason: Mapped[str | None] = mapped_column(String(500))

    circle: Mapped[Circle | None] = relationship()
    pinned_by: Mapped[User | None] = relationship()


class TierChange(Base):
    """Every tier move: who or which run, when, from, to."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    from_tier: Mapped[str] = mapped_column(String(20))
    to_tier: Mapped[str] = mapped_column(String(20))
    from_circle_id: Mapped[int | None] = mapped_column(Integer)
    to_circle_id: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("score_runs.id", ondelete="SET NULL"))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))

    changed_by: Mapped[User | None] = relationship()


class ScoringSettings(Base):
    """The weights and knobs a manager can change in the UI (a single row, id=1)."""

    __tablename__ = "scoring_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Segment(Base):
    """A saved audience: rules compiled to SQL (kind 'rules') or a static list."""

    __tablename__ = "segments"
    __table_args__ = (
        CheckConstraint("kind IN ('rules', 'static')", name="kind"),
        CheckConstraint("match IN ('all', 'any')", name="match"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10), default="rules")
    match: Mapped[str] = mapped_column(String(3), default="all")
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SegmentMember(Base):
    """Members of a static segment."""

    __tablename__ = "segment_members"
    __table_args__ = (UniqueConstraint("segment_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
