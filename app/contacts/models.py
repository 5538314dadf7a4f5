from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, UTCDateTime


class SizeBand(enum.StrEnum):
    MICRO = "1-9"
    SMALL = "10-49"
    MEDIUM = "50-249"
    LARGE = "250+"


SIZE_BANDS = tuple(s.value for s in SizeBand)


class ConsentStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    GRANTED = "granted"
    OPTED_OUT = "opted_out"


CONSENT_STATUSES = tuple(s.value for s in ConsentStatus)


class ConsentBasis(enum.StrEnum):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGITIMATE_INTEREST = "legitimate_interest"
    NONE = "none"


CONSENT_BASES = tuple(b.value for b in ConsentBasis)


class Tier(enum.StrEnum):
    NONE = "none"
    ONE_TO_ONE = "one_to_one"
    ONE_TO_FEW = "one_to_few"
    BROADCAST = "broadcast"


TIERS = tuple(t.value for t in Tier)

RELATIONSHIP_KINDS = ("colleague", "reports_to", "referred_by", "knows", "follows")
CHANNELS = ("email", "linkedin", "x", "facebook", "phone", "meeting", "event", "web", "shop")
DIRECTIONS = ("inbound", "outbound")
INTERACTION_KINDS = (
    "message", "comment", "mention", "reaction", "share", "meeting", "call",
    "purchase", "reply", "open", "click", "view",
)  # fmt: skip


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("annual_value_cents >= 0", name="annual_value_non_negative"),
        CheckConstraint(_in("size_band", SIZE_BANDS) + " OR size_band IS NULL", name="size_band"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    domain: Mapped[str | None] = mapped_column(String(200), unique=True)
    industry: Mapped[str | None] = mapped_column(String(100), index=True)
    size_band: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    annual_value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    key_account: Mapped[bool] = mapped_column(default=False, index=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    owner: Mapped[User | None] = relationship()
    contacts: Mapped[list[Contact]] = relationship(back_populates="organization")


contact_tags = Table(
    "contact_tags",
    Base.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # People by tag, answered from the index alone (the primary key serves tags by person).
    Index("ix_contact_tags_tag_contact", "tag_id", "contact_id"),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint(_in("consent_status", CONSENT_STATUSES), name="consent_status"),
        CheckConstraint(_in("consent_basis", CONSENT_BASES), name="consent_basis"),
        CheckConstraint(_in("tier", TIERS), name="tier"),
        # The list pages' sorts, over the people still "live" (not erased, not merged):
        # a page is an index range scan, even deep down the list. On PostgreSQL the index
        # carries consent and tier, so pages filtered by them never read the table rows.
        Index(
            "ix_contacts_live_sort_name",
            "sort_name",
            "id",
            postgresql_where=text("merged_into_id IS NULL AND erased_at IS NULL"),
            sqlite_where=text("merged_into_id IS NULL AND erased_at IS NULL"),
            postgresql_include=["consent_status", "tier"],
        ),
        # SQLite cannot put NULLS LAST in an index; there the sort reads the plain index.
        Index(
            "ix_contacts_live_last_interaction",
            text("last_interaction_at DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text("merged_into_id IS NULL AND erased_at IS NULL"),
        ).ddl_if(dialect="postgresql"),
        # Also the index on owner_id alone (its first column).
        Index("ix_contacts_owner_sort_name", "owner_id", "sort_name"),
        Index(
            "ix_contacts_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    # Lower-cased "last first" for sorting; search_text joins name, email and company.
    sort_name: Mapped[str] = mapped_column(String(210), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str | None] = mapped_column(String(5))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    linkedin_url: Mapped[str | None] = mapped_column(String(300), unique=True)
    x_handle: Mapped[str | None] = mapped_column(String(60))
    facebook: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(String(50))
    notes: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consent_status: Mapped[str] = mapped_column(
        String(20), default=ConsentStatus.UNKNOWN.value, index=True
    )
    consent_basis: Mapped[str] = mapped_column(String(30), default=ConsentBasis.NONE.value)
    consent_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_changed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The current tier, kept in step with the latest tier assignment (graph issue).
    tier: Mapped[str] = mapped_column(String(20), default=Tier.NONE.value, index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )

    organization: Mapped[Organization | None] = relationship(back_populates="contacts")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    tags: Mapped[list[Tag]] = relationship(secondary=contact_tags, order_by=Tag.name)

    @property
    def full_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (self.email or "")

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def opted_out(self) -> bool:
        return self.consent_status == ConsentStatus.OPTED_OUT


class ConsentEvent(Base):
    """Every consent change: who, when, from what to what, on which basis."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    old_status: Mapped[str | None] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    basis: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(50), default="ui")
    note: Mapped[str | None] = mapped_column(String(500))

    changed_by: Mapped[User | None] = relationship()


class Relationship(Base):
    __tablename__ = "relationships"
    __table_args__ = (
        UniqueConstraint("from_contact_id", "to_contact_id", "kind"),
        CheckConstraint("from_contact_id <> to_contact_id", name="not_self"),
        CheckConstraint(_in("kind", RELATIONSHIP_KINDS), name="kind"),
        CheckConstraint("strength >= 0 AND strength <= 1", name="strength_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    to_contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    strength: Mapped[float] = mapped_column(Float, default=0.5)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    from_contact: Mapped[Contact] = relationship(foreign_keys=[from_contact_id])
    to_contact: Mapped[Contact] = relationship(foreign_keys=[to_contact_id])


interaction_participants = Table(
    "interaction_participants",
    Base.metadata,
    Column("interaction_id", ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "contact_id",
        ForeignKey("contacts.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
        CheckConstraint(_in("kind", INTERACTION_KINDS), name="kind"),
        CheckConstraint(
            "sentiment IS NULL OR (sentiment >= -1 AND sentiment <= 1)", name="sentiment_range"
        ),
        CheckConstraint("value_cents >= 0", name="value_non_negative"),
        Index("ix_interactions_needs_answer", "needs_answer", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sentiment: Mapped[float | None] = mapped_column(Float)
    value_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    summary: Mapped[str | None] = mapped_column(Text)
    needs_answer: Mapped[bool] = mapped_column(default=False)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(50), default="ui")
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    participants: Mapped[list[Contact]] = relationship(
        secondary=interaction_participants, order_by=Contact.sort_name
    )


class ImportRun(Base):
    """One import of a file: its progress and its report (rejected rows with reasons)."""

    __tablename__ = "import_runs"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # contacts, relationships, interactions
    file_format: Mapped[str | None] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
