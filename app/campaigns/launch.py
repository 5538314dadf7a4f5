"""Creating, checking and launching campaigns; the fan-out that snapshots the audience.

Launching commits the campaign in status 'launching' and enqueues the fan-out after the
commit; the fan-out inserts one Delivery per recipient with the unique key (campaign,
contact), so running it twice, or launching twice, creates nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import audit
from app.auth.models import Role, User
from app.campaigns import audiences, templating
from app.campaigns.models import (
    AUDIENCE_KINDS,
    CAMPAIGN_CHANNELS,
    KINDS,
    SCHEDULE_KINDS,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    DropLink,
    ReservedDrop,
)
from app.campaigns.tracking import LinkSigner
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound

EDITABLE_STATUSES = (CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value)
LANGUAGES = ("en", "it", "de", "fr", "es")
# What a campaign's owner may do; admins, managers and marketers may run any campaign.
CAMPAIGN_ROLES = (Role.ADMIN, Role.MANAGER, Role.MARKETER)

_FIELDS = (
    "name",
    "kind",
    "audience_kind",
    "audience_tier",
    "audience_circle_id",
    "audience_segment_id",
    "audience_contact_ids",
    "channel",
    "webhook_url",
    "language",
    "subject",
    "body",
    "variants",
    "promo_prefix",
    "schedule_kind",
    "scheduled_at",
    "slot_id",
)


def check_may_run(user: User, campaign: Campaign | None = None) -> None:
    if user.role in CAMPAIGN_ROLES:
        return
    if campaign is not None and campaign.owner_id == user.id:
        return
    if campaign is None and user.role == Role.SALES:
        return  # salespeople write tailored messages to their own people
    raise Forbidden(_("You may not manage this campaign."))


def get_campaign(session: Session, user: User, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_("No such campaign."))
    check_may_run(user, campaign)
    return campaign


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}")
    out = dict(values)
    for key in ("name", "subject", "webhook_url", "promo_prefix"):
        if key in out and isinstance(out[key], str):
            out[key] = out[key].strip() or (None if key in ("webhook_url", "promo_prefix") else "")
    if "audience_contact_ids" in out:
        out["audience_contact_ids"] = sorted({int(i) for i in out["audience_contact_ids"] or []})
    if "variants" in out:
        variants = {}
        for lang, variant in (out["variants"] or {}).items():
            subject = (variant.get("subject") or "").strip()
            body = variant.get("body") or ""
            if subject or body.strip():
                variants[lang] = {"subject": subject, "body": body}
        out["variants"] = variants
    return out


def check_campaign(session: Session, campaign: Campaign, *, now: datetime | None = None) -> None:
    """Everything a launch needs, except the audience's size (checked when launching)."""
    now = now or utcnow()
    if not campaign.name:
        raise Invalid(_("Give the campaign a name."), field="name")
    if campaign.kind not in KINDS:
        raise Invalid(_("Unknown campaign kind."), field="kind")
    if campaign.channel not in CAMPAIGN_CHANNELS:
        raise Invalid(_("Unknown channel."), field="channel")
    if campaign.audience_kind not in AUDIENCE_KINDS:
        raise Invalid(_("Unknown audience."), field="audience_kind")
    if campaign.schedule_kind not in SCHEDULE_KINDS:
        raise Invalid(_("Unknown schedule."), field="schedule_kind")
    if campaign.language not in LANGUAGES:
        raise Invalid(_("Unknown language."), field="language")
    if campaign.kind == CampaignKind.PUBLICATION:
        return  # posts are checked on the calendar
    if campaign.channel == "webhook" and not (campaign.webhook_url or "").startswith(
        ("http://", "https://")
    ):
        raise Invalid(_("Give the webhook's address (http or https)."), field="webhook_url")
    if campaign.channel == "social":
        raise Invalid(_("Social posts are publication campaigns."), field="channel")
    if not campaign.subject.strip():
        raise Invalid(_("Write a subject."), field="subject")
    if not campaign.body.strip():
        raise Invalid(_("Write the message."), field="body")
    templating.check_template(campaign.subject, "subject")
    templating.check_template(campaign.body, "body")
    for lang, variant in (campaign.variants or {}).items():
        if lang not in LANGUAGES:
            raise Invalid(_("Unknown language %(lang)s.", lang=lang), field="variants")
        templating.check_template(variant.get("subject") or "", "subject")
        templating.check_template(variant.get("body") or "", "body")
    audiences.check_audience(session, campaign)
    check_schedule(campaign, now)


def check_schedule(campaign: Campaign, now: datetime) -> None:
    if campaign.schedule_kind == "at":
        if campaign.scheduled_at is None:
            raise Invalid(_("Choose when to send."), field="scheduled_at")
        if campaign.scheduled_at.tzinfo is None:
            raise Invalid(_("The date needs a time zone."), field="scheduled_at")
        if campaign.scheduled_at <= now:
            raise Invalid(_("The chosen time is in the past."), field="scheduled_at")
    elif campaign.schedule_kind == "slot" and campaign.slot_id is None:
        raise Invalid(_("Choose a calendar slot."), field="slot_id")


def create_campaign(session: Session, actor: User, **values: Any) -> Campaign:
    check_may_run(actor)
    values = _clean(values)
    for key, default in (
        ("channel", "email"),
        ("language", "en"),
        ("schedule_kind", "now"),
        ("audience_kind", "tier"),
        ("subject", ""),
        ("body", ""),
    ):
        values.setdefault(key, default)
    values.setdefault("audience_contact_ids", [])
    values.setdefault("variants", {})
    campaign = Campaign(owner_id=actor.id, status=CampaignStatus.DRAFT.value, **values)
    if campaign.kind == CampaignKind.TAILORED and actor.role == Role.SALES:
        campaign.audience_kind = "contacts"
    check_campaign(session, campaign)
    session.add(campaign)
    session.flush()
    audit.record(session, actor.id, "campaign.create", "campaign", campaign.id, kind=campaign.kind)
    return campaign


def update_campaign(session: Session, actor: User, campaign: Campaign, **values: Any) -> Campaign:
    check_may_run(actor, campaign)
    if campaign.status not in EDITABLE_STATUSES:
        raise Conflict(_("A campaign cannot be changed once it was launched."))
    for key, value in _clean(values).items():
        setattr(campaign, key, value)
    campaign.updated_at = utcnow()
    check_campaign(session, campaign)
    session.flush()
    return campaign


def set_drop(
    session: Session,
    campaign: Campaign,
    *,
    title: str,
    content: str,
    expires_at: datetime,
    file_name: str | None = None,
    stored_path: str | None = None,
) -> ReservedDrop:
    if campaign.kind != CampaignKind.RESERVED_DROP:
        raise Invalid(_("Only reserved-information drops have content."))
    if expires_at.tzinfo is None or expires_at <= utcnow():
        raise Invalid(_("The expiry must be in the future."), field="expires_at")
    if not title.strip():
        raise Invalid(_("Give the drop a title."), field="title")
    drop = session.scalar(select(ReservedDrop).where(ReservedDrop.campaign_id == campaign.id))
    if drop is None:
        drop = ReservedDrop(campaign_id=campaign.id, title=title.strip(), expires_at=expires_at)
        session.add(drop)
    drop.title, drop.content, drop.expires_at = title.strip(), content, expires_at
    if stored_path:
        drop.file_name, drop.stored_path = file_name, stored_path
    session.flush()
    return drop


def launch(
    session: Session, actor: User | None, campaign_id: int, *, tz: ZoneInfo | None = None
) -> tuple[Campaign, str]:
    """Move a draft to 'launching' (now) or 'scheduled' (at a time, or at the next time of
    its calendar slot, read in `tz`). Returns (campaign, what to enqueue: 'fan_out' or
    'schedule'). Clicked twice, the second click is a Conflict."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_("No such campaign."))
    if actor is not None:
        check_may_run(actor, campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(_("This campaign was already launched."))
    now = utcnow()
    check_campaign(session, campaign, now=now)
    if campaign.kind == CampaignKind.PUBLICATION:
        raise Invalid(_("Publication campaigns are planned on the calendar."))
    if campaign.kind == CampaignKind.RESERVED_DROP:
        drop = session.scalar(select(ReservedDrop).where(ReservedDrop.campaign_id == campaign.id))
        if drop is None:
            raise Invalid(_("Write the drop's content before launching."))
        if drop.expires_at <= now:
            raise Invalid(_("The drop has already expired."), field="expires_at")
    if not audiences.resolve_audience(session, campaign):
        raise Invalid(_("The audience is empty: nobody would receive this campaign."))
    scheduled_at = campaign.scheduled_at
    if campaign.schedule_kind == "slot":
        from app.campaigns.calendar import next_slot_time
        from app.campaigns.models import PublicationSlot

        slot = session.get(PublicationSlot, campaign.slot_id)
        if slot is None:
            raise Invalid(_("Choose a calendar slot."), field="slot_id")
        scheduled_at = next_slot_time(slot, tz or ZoneInfo("UTC"), now)
    scheduled = campaign.schedule_kind in ("at", "slot")
    new_status = CampaignStatus.SCHEDULED if scheduled else CampaignStatus.LAUNCHING
    # Conditional: two launches racing, only one moves the campaign.
    moved = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.DRAFT.value)
        .values(
            status=new_status.value,
            launched_at=None if scheduled else now,
            scheduled_at=scheduled_at if scheduled else None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        raise Conflict(_("This campaign was already launched."))
    session.refresh(campaign)
    audit.record(
        session,
        actor.id if actor else None,
        "campaign.launch",
        "campaign",
        campaign.id,
        status=new_status.value,
    )
    return campaign, "schedule" if scheduled else "fan_out"


def start_if_due(session: Session, campaign_id: int, now: datetime | None = None) -> bool:
    """A scheduled campaign whose time has come moves to 'launching' (once)."""
    now = now or utcnow()
    return bool(
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.status == CampaignStatus.SCHEDULED.value,
                Campaign.scheduled_at <= now,
            )
            .values(status=CampaignStatus.LAUNCHING.value, launched_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


def cancel(session: Session, actor: User, campaign: Campaign) -> Campaign:
    check_may_run(actor, campaign)
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise Conflict(_("This campaign has already ended."))
    campaign.status = CampaignStatus.CANCELLED.value
    campaign.finished_at = utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.SKIPPED.value, skip_reason="cancelled")
        .execution_options(synchronize_session=False)
    )
    audit.record(session, actor.id, "campaign.cancel", "campaign", campaign.id)
    session.flush()
    return campaign


def promo_code(secret: str, prefix: str, campaign_id: int, contact_id: int) -> str:
    """A per-recipient code, stable for (campaign, person), not guessable from another."""
    digest = hmac.new(secret.encode(), f"promo:{campaign_id}:{contact_id}".encode(), hashlib.sha256)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    number = int.from_bytes(digest.digest()[:8], "big")
    code = "".join(alphabet[(number >> (5 * i)) & 31] for i in range(8))
    return f"{prefix}-{code}" if prefix else code


def _insert_ignoring_duplicates(
    session: Session, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    dialect_insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover
        raise RuntimeError(f"unsupported database {dialect}")
    for start in range(0, len(rows), 1000):
        stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=list(keys))
        session.execute(stmt, list(rows[start : start + 1000]))


def fan_out(session: Session, campaign_id: int, signer: LinkSigner) -> list[int]:
    """Snapshot the audience as deliveries; return the pending ids to send now.

    Runs for a campaign in 'launching' only, and moves it to 'sending': a second run
    finds it 'sending' and returns nothing (the sweep resends what is pending).
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.LAUNCHING:
        return []
    now = utcnow()
    ids = audiences.resolve_audience(session, campaign)
    prefix = campaign.promo_prefix
    rows = [
        {
            "campaign_id": campaign.id,
            "contact_id": cid,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "queued_at": now,
            "promo_code": promo_code(signer.secret, prefix, campaign.id, cid)
            if campaign.kind == CampaignKind.PROMOTION and prefix is not None
            else None,
        }
        for cid in ids
    ]
    _insert_ignoring_duplicates(session, Delivery.__table__, rows, ("campaign_id", "contact_id"))
    if campaign.kind == CampaignKind.RESERVED_DROP:
        drop = session.scalar(select(ReservedDrop).where(ReservedDrop.campaign_id == campaign.id))
        if drop is not None:
            _insert_ignoring_duplicates(
                session,
                DropLink.__table__,
                [{"drop_id": drop.id, "contact_id": cid, "views_count": 0} for cid in ids],
                ("drop_id", "contact_id"),
            )
    campaign.recipients_count = (
        session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
        )
        or 0
    )
    campaign.status = CampaignStatus.SENDING.value
    campaign.launched_at = campaign.launched_at or now
    session.flush()
    if campaign.kind == CampaignKind.TAILORED:
        from app.campaigns.sending import write_drafts

        write_drafts(session, campaign, signer)
        return []  # nothing leaves before the owner approves it, one by one
    return list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.PENDING.value
            )
            .order_by(Delivery.id)
        )
    )


def due_scheduled(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.status == CampaignStatus.SCHEDULED.value, Campaign.scheduled_at <= now
            )
        )
    )


def stuck_launching(session: Session, now: datetime, grace: timedelta) -> list[int]:
    return list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.status == CampaignStatus.LAUNCHING.value,
                Campaign.launched_at <= now - grace,
            )
        )
    )
