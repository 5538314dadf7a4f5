"""Campaigns, their deliveries, reserved-information drops and the publication calendar."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.contacts.models import Contact
from app.db import Base, UTCDateTime


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CampaignKind(enum.StrEnum):
    TAILORED = "tailored"
    CIRCLE = "circle"
    PROMOTION = "promotion"
    RESERVED_DROP = "reserved_drop"
    PUBLICATION = "publication"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LAUNCHING = "launching"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


KINDS = tuple(k.value for k in CampaignKind)
STATUSES = tuple(s.value for s in CampaignStatus)
DELIVERY_STATUSES = tuple(s.value for s in DeliveryStatus)
AUDIENCE_KINDS = ("tier", "circle", "segment", "contacts")
CAMPAIGN_CHANNELS = ("email", "webhook", "social")
SCHEDULE_KINDS = ("now", "at", "slot")
SOCIAL_NETWORKS = ("linkedin", "x", "facebook")
POST_LABELS = ("didactic", "argumentative", "promotional")
POST_STATUSES = ("planned", "published", "failed", "cancelled")
# Why a delivery was not sent.
SKIP_REASONS = (
    "opted_out",
    "no_consent",
    "erased",
    "no_address",
    "frequency_cap",
    "cancelled",
    "rejected",
)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("audience_kind", AUDIENCE_KINDS), name="audience_kind"),
        CheckConstraint(_in("channel", CAMPAIGN_CHANNELS), name="channel"),
        CheckConstraint(_in("schedule_kind", SCHEDULE_KINDS), name="schedule_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(12), default=CampaignStatus.DRAFT.value, index=True)
    # Audience: a tier name, a circle id, a segment id, or hand-picked contact ids.
    audience_kind: Mapped[str] = mapped_column(String(10), default="tier")
    audience_tier: Mapped[str | None] = mapped_column(String(20))
    audience_circle_id: Mapped[int | None] = mapped_column(
        ForeignKey("circles.id", ondelete="SET NULL")
    )
    audience_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL")
    )
    audience_contact_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(10), default="email")
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # Templates in the default language, and variants by language: {"it": {"subject", "body"}}.
    language: Mapped[str] = mapped_column(String(5), default="en")
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    variants: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    promo_prefix: Mapped[str | None] = mapped_column(String(20))
    schedule_kind: Mapped[str] = mapped_column(String(5), default="now")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    slot_id: Mapped[int | None] = mapped_column(
        ForeignKey("publication_slots.id", ondelete="SET NULL")
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    recipients_count: Mapped[int] = mapped_column(Integer, default=0)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User | None] = relationship()

    def template_for(self, language: str | None) -> tuple[str, str]:
        """(subject, body) in the person's language, else in the campaign's default language."""
        variant = (self.variants or {}).get(language or "")
        if variant and (variant.get("subject") or variant.get("body")):
            return variant.get("subject") or self.subject, variant.get("body") or self.body
        return self.subject, self.body


class Delivery(Base):
    """One message of a campaign to one person: the unit of never-twice, never-lost."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
        Index("ix_deliveries_contact_sent", "contact_id", "sent_at"),
        Index("ix_deliveries_status_claimed", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING.value)
    skip_reason: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    promo_code: Mapped[str | None] = mapped_column(String(40))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tailored campaigns: the draft written for this person, edited and approved one by one.
    rendered_subject: Mapped[str | None] = mapped_column(String(300))
    rendered_body: Mapped[str | None] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    campaign: Mapped[Campaign] = relationship()
    contact: Mapped[Contact] = relationship()


class ReservedDrop(Base):
    """Exclusive content for chosen people, reached through personal signed links."""

    __tablename__ = "reserved_drops"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str | None] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    campaign: Mapped[Campaign] = relationship()


class DropLink(Base):
    __tablename__ = "drop_links"
    __table_args__ = (UniqueConstraint("drop_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("reserved_drops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged_forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    views_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    drop: Mapped[ReservedDrop] = relationship()
    contact: Mapped[Contact] = relationship()


class DropView(Base):
    __tablename__ = "drop_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("drop_links.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    network: Mapped[str] = mapped_column(String(50))  # the client's /24 (IPv4) or /48 (IPv6)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class PublicationSlot(Base):
    """A recurring slot on the calendar: every <weekday> at <time>, a post on <network>."""

    __tablename__ = "publication_slots"
    __table_args__ = (
        CheckConstraint(_in("network", SOCIAL_NETWORKS), name="network"),
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint(_in("label", POST_LABELS) + " OR label IS NULL", name="label"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(10))
    weekday: Mapped[int] = mapped_column(Integer)  # Monday 0 .. Sunday 6
    at_time: Mapped[time] = mapped_column(Time)  # local time in the installation's zone
    label: Mapped[str | None] = mapped_column(String(15))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class PublicationPost(Base):
    __tablename__ = "publication_posts"
    __table_args__ = (
        CheckConstraint(_in("network", SOCIAL_NETWORKS), name="network"),
        CheckConstraint(_in("label", POST_LABELS), name="label"),
        CheckConstraint(_in("status", POST_STATUSES), name="status"),
        Index("ix_publication_posts_status_at", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    slot_id: Mapped[int | None] = mapped_column(
        ForeignKey("publication_slots.id", ondelete="SET NULL")
    )
    network: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(15))
    body: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(10), default="planned")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    adapter: Mapped[str | None] = mapped_column(String(20))
    external_ref: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(String(300))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
