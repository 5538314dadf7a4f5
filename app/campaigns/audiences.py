"""Who a campaign speaks to: a tier, a circle, a segment or hand-picked people, resolved
when the campaign is launched (the snapshot is the campaign's deliveries)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.campaigns.models import Campaign
from app.contacts.models import TIERS, Contact
from app.errors import Invalid
from app.segments.models import Circle, Segment, TierAssignment


def check_audience(session: Session, campaign: Campaign) -> None:
    """Format and existence of the audience spec (not its size)."""
    kind = campaign.audience_kind
    if kind == "tier":
        if campaign.audience_tier not in TIERS or campaign.audience_tier == "none":
            raise Invalid(_("Choose a tier."), field="audience_tier")
    elif kind == "circle":
        if not campaign.audience_circle_id or not session.get(Circle, campaign.audience_circle_id):
            raise Invalid(_("Choose a circle."), field="audience_circle_id")
    elif kind == "segment":
        if not campaign.audience_segment_id or not session.get(
            Segment, campaign.audience_segment_id
        ):
            raise Invalid(_("Choose a segment."), field="audience_segment_id")
    elif kind == "contacts":
        if not campaign.audience_contact_ids:
            raise Invalid(_("Pick at least one person."), field="audience_contact_ids")
    else:
        raise Invalid(_("Unknown audience."), field="audience_kind")


def _live(stmt: Select[Any]) -> Select[Any]:
    return stmt.where(Contact.erased_at.is_(None), Contact.merged_into_id.is_(None))


def resolve_audience(session: Session, campaign: Campaign) -> list[int]:
    """The contact ids the campaign addresses now: erased and merged people excluded.

    Consent is *not* filtered here: deliveries to opted-out people are recorded as
    skipped with their reason, at send time.
    """
    check_audience(session, campaign)
    kind = campaign.audience_kind
    if kind == "segment":
        from app.segments.rules import segment_members_ids

        segment = session.get(Segment, campaign.audience_segment_id)
        assert segment is not None
        return sorted(set(segment_members_ids(session, segment)))
    stmt = select(Contact.id)
    if kind == "tier":
        stmt = stmt.join(TierAssignment, TierAssignment.contact_id == Contact.id).where(
            TierAssignment.tier == campaign.audience_tier
        )
    elif kind == "circle":
        stmt = stmt.join(TierAssignment, TierAssignment.contact_id == Contact.id).where(
            TierAssignment.circle_id == campaign.audience_circle_id
        )
    else:
        ids = sorted({int(i) for i in campaign.audience_contact_ids or []})
        found: list[int] = []
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            found += list(session.scalars(_live(select(Contact.id).where(Contact.id.in_(chunk)))))
        return sorted(found)
    return list(session.scalars(_live(stmt).order_by(Contact.id)))


def audience_size(session: Session, campaign: Campaign) -> int:
    return len(resolve_audience(session, campaign))
