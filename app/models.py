"""Import every mapped class so Base.metadata knows the whole schema (Alembic, tests)."""

import app.campaigns.models  # noqa: F401  (each domain's tables join Base.metadata)
import app.health.models  # noqa: F401
import app.loyalty.models  # noqa: F401
from app.audit import AuditEvent
from app.auth.models import ApiToken, LoginAttempt, User
from app.contacts.models import (
    ConsentEvent,
    Contact,
    ImportRun,
    Interaction,
    Organization,
    Relationship,
    Tag,
)
from app.db import Base
from app.segments.models import (
    Circle,
    ContactScore,
    ScoreRun,
    ScoringSettings,
    Segment,
    SegmentMember,
    TierAssignment,
    TierChange,
)

__all__ = [
    "ApiToken", "AuditEvent", "Base", "ConsentEvent", "Contact", "ImportRun", "Interaction",
    "LoginAttempt", "Organization", "Relationship", "Tag", "User", "Circle", "ContactScore",
    "ScoreRun", "ScoringSettings", "Segment", "SegmentMember", "TierAssignment", "TierChange",
]  # fmt: skip
