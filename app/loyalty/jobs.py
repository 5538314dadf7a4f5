"""RQ jobs for loyalty: thin, idempotent, with deterministic ids for the periodic ones."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from rq import Retry, get_current_job
from rq.job import Job
from sqlalchemy import select, update

from app.contacts.models import Contact
from app.db import utcnow
from app.jobs import QUEUE_DEFAULT, get_queue, job_context, report_progress
from app.loyalty.earning import sync_purchases
from app.loyalty.expiry import expire_points
from app.loyalty.ledger import affected
from app.loyalty.models import LoyaltyTier, LoyaltyTierChange, Membership, Programme
from app.loyalty.tiers import evaluate_tiers
from app.mail import MailError, MailSettings, build_message, mailer

log = logging.getLogger(__name__)

JOB_TIMEOUT = 3600


def nightly_job_id(day: date) -> str:
    return f"loyalty-nightly-{day.isoformat()}"


def sync_job_id(programme_id: int | None = None) -> str:
    """One id per programme: a burst of purchases queues one sync, not one per purchase."""
    return f"loyalty-sync-{programme_id or 'all'}"


NIGHTLY_AT = time(2, 30)


def enqueue_nightly(day: date | None = None) -> Job:
    """Queue the nightly run for `day` now; queuing it twice keeps one job."""
    day = day or utcnow().date()
    queue = get_queue(QUEUE_DEFAULT)
    existing = queue.fetch_job(nightly_job_id(day))
    if existing is not None and existing.get_status(refresh=True) in (
        "queued",
        "started",
        "scheduled",
    ):
        return existing
    return queue.enqueue(
        run_nightly, day.isoformat(), job_id=nightly_job_id(day), job_timeout=JOB_TIMEOUT,
        result_ttl=86400, failure_ttl=7 * 86400, retry=Retry(max=2, interval=[300, 900]),
    )  # fmt: skip


def schedule_nightly() -> str:
    """Schedule tomorrow's run (02:30 UTC) on RQ's scheduler; scheduling twice is harmless."""
    day = utcnow().date() + timedelta(days=1)
    job_id = nightly_job_id(day)
    queue = get_queue(QUEUE_DEFAULT)
    if queue.fetch_job(job_id) is None:
        queue.enqueue_at(
            datetime.combine(day, NIGHTLY_AT, tzinfo=UTC), run_nightly, day.isoformat(),
            job_id=job_id, job_timeout=JOB_TIMEOUT, retry=Retry(max=2, interval=[300, 900]),
        )  # fmt: skip
    return job_id


def sync_purchases_job(programme_id: int | None = None) -> dict[str, int]:
    with job_context() as session:
        result = sync_purchases(session, programme_id=programme_id)
    announce_tier_changes()
    return {"events": result.events, "points": result.points, "enrolled": result.enrolled}


def run_nightly(day: str | None = None) -> dict[str, Any]:
    """Sync purchases, expire what is due at the start of `day` (UTC), re-evaluate tiers,
    then announce tier changes. Each programme commits on its own: a run killed halfway
    leaves finished programmes done, and a rerun finds nothing more to do for them."""
    as_of = (
        datetime.fromisoformat(day).replace(tzinfo=UTC)
        if day
        else datetime.combine(utcnow().date(), datetime.min.time(), tzinfo=UTC)
    )
    with job_context() as session:
        sync_purchases(session)
    with job_context() as session:
        programme_ids = list(session.scalars(select(Programme.id).order_by(Programme.id)))
    totals = {"programmes": 0, "expired_points": 0, "tier_moves": 0}
    for n, programme_id in enumerate(programme_ids, 1):
        with job_context() as session:
            programme = session.get(Programme, programme_id)
            if programme is None:
                continue
            _members, points = expire_points(session, programme, as_of)
            run = evaluate_tiers(session, programme, as_of)
        totals["programmes"] += 1
        totals["expired_points"] += points
        totals["tier_moves"] += run.upgraded + run.downgraded
        report_progress(done=n, total=len(programme_ids))
    totals["announced"] = announce_tier_changes()
    if get_current_job() is not None:
        schedule_nightly()  # the next night, when run by a worker
    return totals


def _tier_message(
    change: LoyaltyTierChange, contact: Contact, programme: Programme
) -> tuple[str, str]:
    tier = change.to_tier.name if change.to_tier else _("no tier")
    with force_locale(contact.language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        if change.direction == "up":
            subject = _(
                "You reached %(tier)s in %(programme)s", tier=tier, programme=programme.name
            )
        else:
            subject = _(
                "Your tier in %(programme)s is now %(tier)s", tier=tier, programme=programme.name
            )
        text = "\n\n".join(
            [
                _("Hello %(name)s,", name=contact.first_name or contact.full_name),
                subject + ".",
                _("Thank you for being a member."),
            ]
        )
    return subject, text


def announce_tier_changes(limit: int = 500) -> int:
    """Email members about tier changes not yet announced; opted-out or erased members and
    people without an email are marked skipped. Each change is claimed by a conditional
    update before sending, so two runs never announce the same change twice."""
    sent = 0
    with job_context() as session:
        settings = MailSettings.from_config(current_app.config)
        pending = session.scalars(
            select(LoyaltyTierChange)
            .where(LoyaltyTierChange.notified_at.is_(None))
            .order_by(LoyaltyTierChange.id)
            .limit(limit)
        ).all()
        if not pending:
            return 0
        with mailer(settings) as outbox:
            for change in pending:
                claimed = affected(
                    session.execute(
                        update(LoyaltyTierChange)
                        .where(
                            LoyaltyTierChange.id == change.id,
                            LoyaltyTierChange.notified_at.is_(None),
                        )
                        .values(notified_at=utcnow(), notice="sending")
                        .execution_options(synchronize_session=False)
                    )
                )
                session.commit()
                if not claimed:
                    continue
                membership = session.get(Membership, change.membership_id)
                contact = session.get(Contact, membership.contact_id) if membership else None
                programme = session.get(Programme, membership.programme_id) if membership else None
                notice = "skipped"
                if (
                    contact
                    and programme
                    and contact.email
                    and not contact.is_erased
                    and not contact.opted_out
                ):
                    subject, text = _tier_message(change, contact, programme)
                    try:
                        outbox.send(build_message(settings, contact.email, subject, text))
                        notice = "sent"
                        sent += 1
                    except MailError as exc:
                        log.warning("tier notice %s not sent: %s", change.id, exc)
                        notice = "failed"
                session.execute(
                    update(LoyaltyTierChange)
                    .where(LoyaltyTierChange.id == change.id)
                    .values(notice=notice)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
    return sent


__all__ = [
    "schedule_nightly",
    "LoyaltyTier",
    "announce_tier_changes",
    "enqueue_nightly",
    "run_nightly",
    "sync_purchases_job",
]
