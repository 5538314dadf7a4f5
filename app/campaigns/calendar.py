"""The publication calendar: posts for LinkedIn, X and Facebook, recurring slots, the
per-network character limit, and publishing due posts through an adapter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.campaigns.channels import (
    CHARACTER_LIMITS,
    ChannelError,
    ExportAdapter,
    SocialAdapter,
    SocialPost,
    WebhookAdapter,
    webhook_secret,
)
from app.campaigns.models import POST_LABELS, SOCIAL_NETWORKS, PublicationPost, PublicationSlot
from app.db import utcnow
from app.errors import Invalid


def check_post(network: str, label: str, body: str) -> None:
    if network not in SOCIAL_NETWORKS:
        raise Invalid(_("Unknown network."), field="network")
    if label not in POST_LABELS:
        raise Invalid(_("Unknown label."), field="label")
    if not body.strip():
        raise Invalid(_("Write the post."), field="body")
    limit = CHARACTER_LIMITS[network]
    if len(body) > limit:
        raise Invalid(
            _(
                "The post has %(n)s characters; %(network)s allows %(limit)s.",
                n=len(body),
                network=network,
                limit=limit,
            ),
            field="body",
        )


def create_post(
    session: Session,
    actor: User | None,
    *,
    network: str,
    label: str,
    body: str,
    scheduled_at: datetime,
    slot_id: int | None = None,
    campaign_id: int | None = None,
) -> PublicationPost:
    check_post(network, label, body)
    if scheduled_at.tzinfo is None:
        raise Invalid(_("The date needs a time zone."), field="scheduled_at")
    if scheduled_at <= utcnow():
        raise Invalid(_("The chosen time is in the past."), field="scheduled_at")
    post = PublicationPost(
        network=network,
        label=label,
        body=body,
        scheduled_at=scheduled_at,
        slot_id=slot_id,
        campaign_id=campaign_id,
        created_by_id=actor.id if actor else None,
    )
    session.add(post)
    session.flush()
    return post


def create_slot(
    session: Session, *, network: str, weekday: int, at_time: time, label: str | None = None
) -> PublicationSlot:
    if network not in SOCIAL_NETWORKS:
        raise Invalid(_("Unknown network."), field="network")
    if not 0 <= weekday <= 6:
        raise Invalid(_("Choose a day of the week."), field="weekday")
    if label is not None and label not in POST_LABELS:
        raise Invalid(_("Unknown label."), field="label")
    slot = PublicationSlot(network=network, weekday=weekday, at_time=at_time, label=label)
    session.add(slot)
    session.flush()
    return slot


def slot_occurrences(
    slots: list[PublicationSlot], start: date, end: date, tz: ZoneInfo
) -> list[tuple[datetime, PublicationSlot]]:
    """Each active slot's times between start and end (inclusive), in UTC."""
    out = []
    day = start
    while day <= end:
        for slot in slots:
            if slot.active and slot.weekday == day.weekday():
                local = datetime.combine(day, slot.at_time, tzinfo=tz)
                out.append((local.astimezone(ZoneInfo("UTC")), slot))
        day += timedelta(days=1)
    return sorted(out, key=lambda pair: pair[0])


def next_slot_time(slot: PublicationSlot, tz: ZoneInfo, after: datetime | None = None) -> datetime:
    after = after or utcnow()
    start = after.astimezone(tz).date()
    for at, _slot in slot_occurrences([slot], start, start + timedelta(days=8), tz):
        if at > after:
            return at
    raise Invalid(_("This slot is not active."))


def calendar_range(
    session: Session, start: date, end: date, tz: ZoneInfo, now: datetime | None = None
) -> dict[str, Any]:
    """Posts and free slot times between two days, grouped by local day. A slot time
    already past is not free: nothing can be planned there any more."""
    now = now or utcnow()
    lo = datetime.combine(start, time.min, tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    posts = list(
        session.scalars(
            select(PublicationPost)
            .where(
                PublicationPost.scheduled_at >= lo,
                PublicationPost.scheduled_at < hi,
                PublicationPost.status != "cancelled",
            )
            .order_by(PublicationPost.scheduled_at)
        )
    )
    slots = list(session.scalars(select(PublicationSlot).where(PublicationSlot.active)))
    taken = {(p.slot_id, p.scheduled_at) for p in posts if p.slot_id}
    days: dict[date, dict[str, list[Any]]] = {}
    d = start
    while d <= end:
        days[d] = {"posts": [], "slots": []}
        d += timedelta(days=1)
    for post in posts:
        days.setdefault(post.scheduled_at.astimezone(tz).date(), {"posts": [], "slots": []})[
            "posts"
        ].append(post)
    for at, slot in slot_occurrences(slots, start, end, tz):
        if at > now and (slot.id, at) not in taken:
            days[at.astimezone(tz).date()]["slots"].append((at, slot))
    return {"days": days, "slots": slots}


def adapter_from(config: Mapping[str, Any]) -> SocialAdapter:
    url = str(config.get("SOCIAL_WEBHOOK_URL") or "")
    if url:
        return WebhookAdapter(
            url, webhook_secret(config), float(config.get("CAMPAIGN_WEBHOOK_TIMEOUT", 10))
        )
    return ExportAdapter(Path(config["INSTANCE_DIR"]) / "social_export")


def publish_due(session: Session, adapter: SocialAdapter, now: datetime | None = None) -> int:
    now = now or utcnow()
    due = list(
        session.scalars(
            select(PublicationPost)
            .where(PublicationPost.status == "planned", PublicationPost.scheduled_at <= now)
            .order_by(PublicationPost.scheduled_at)
            .with_for_update(skip_locked=True)
        )
    )
    done = 0
    for post in due:
        try:
            ref = adapter.publish(
                SocialPost(
                    post.id, post.network, post.label, post.body, post.scheduled_at.isoformat()
                )
            )
        except ChannelError as exc:
            if exc.permanent:
                post.status, post.error = "failed", str(exc)[:300]
            else:
                post.error = str(exc)[:300]
            continue
        post.status, post.published_at = "published", now
        post.adapter, post.external_ref = adapter.name, ref[:300]
        done += 1
    session.flush()
    return done
