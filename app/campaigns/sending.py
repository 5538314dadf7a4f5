"""Sending a batch of deliveries: checks at send time, the claim, one commit per message.

Never twice: a delivery is claimed with a conditional UPDATE (pending -> sending) and
marked sent with its own commit right after the server accepted it, so a retried or
duplicated job finds nothing left to send. Never lost: a delivery left in 'sending' by a
killed worker goes back to 'pending' in the sweep, once it is older than any job could run.

The one window no protocol closes: the server accepted a message and the worker died
before its commit. That message is sent again after the sweep (at most one extra copy,
never more); its Message-ID is stable per delivery so a receiver can drop the copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Engine, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.campaigns import templating
from app.campaigns.channels import ChannelError, OutgoingMessage, Sender
from app.campaigns.drops import drop_url
from app.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    DropLink,
    ReservedDrop,
)
from app.campaigns.tracking import LinkSigner, tracked_links
from app.contacts.models import ConsentStatus, Contact, Interaction, Organization
from app.contacts.models import interaction_participants as participants
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)

# Seconds to wait before each retry of a temporary failure; then the delivery fails.
BACKOFF = (60, 300, 1800)
MAX_ATTEMPTS = len(BACKOFF) + 1
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SendSettings:
    signer: LinkSigner
    frequency_cap: int
    channel: Callable[[Campaign], AbstractContextManager[Sender]]


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry: list[int] | None = None
    retry_in: int = 0


# ---------------------------------------------------------------- recipients' context


def contexts(
    session: Session, campaign: Campaign, signer: LinkSigner, deliveries: Sequence[Delivery]
) -> dict[int, dict[str, Any]]:
    """The template context of each delivery's recipient: plain values only."""
    if not deliveries:
        return {}
    subject, body = campaign.subject, campaign.body
    used = templating.used_fields(
        subject,
        body,
        *[v.get("body", "") + v.get("subject", "") for v in (campaign.variants or {}).values()],
    )
    contact_ids = [d.contact_id for d in deliveries]
    people = {
        row.id: row
        for row in session.execute(
            select(
                Contact.id,
                Contact.first_name,
                Contact.last_name,
                Contact.email,
                Contact.title,
                Contact.city,
                Contact.language,
                Contact.tier,
                Organization.name.label("company"),
            )
            .outerjoin(Organization, Organization.id == Contact.organization_id)
            .where(Contact.id.in_(contact_ids))
        )
    }
    drop_links: dict[int, int] = {}
    if campaign.kind == CampaignKind.RESERVED_DROP:
        drop_links = dict(
            session.execute(
                select(DropLink.contact_id, DropLink.id)
                .join(ReservedDrop, ReservedDrop.id == DropLink.drop_id)
                .where(
                    ReservedDrop.campaign_id == campaign.id, DropLink.contact_id.in_(contact_ids)
                )
            )
            .tuples()
            .all()
        )
    out: dict[int, dict[str, Any]] = {}
    for d in deliveries:
        p = people.get(d.contact_id)
        if p is None:
            continue
        ctx: dict[str, Any] = {
            "first_name": p.first_name,
            "last_name": p.last_name,
            "full_name": f"{p.first_name} {p.last_name}".strip(),
            "company": p.company,
            "title": p.title,
            "city": p.city,
            "tier": (p.tier or "").replace("_", " "),
            "promo_code": d.promo_code,
            "unsubscribe_link": signer.unsubscribe_url(d.id),
            "drop_link": drop_url(signer, drop_links[d.contact_id])
            if d.contact_id in drop_links
            else "",
            "_language": p.language,
            "_email": p.email,
        }
        if "recent_interactions" in used:
            ctx["recent_interactions"] = recent_interactions(session, d.contact_id)
        if "score_says" in used:
            ctx["score_says"] = score_says(session, d.contact_id, p.language)
        out[d.id] = ctx
    return out


def recent_interactions(session: Session, contact_id: int, limit: int = 3) -> list[dict[str, str]]:
    rows = session.execute(
        select(Interaction.kind, Interaction.channel, Interaction.occurred_at, Interaction.summary)
        .join(participants, participants.c.interaction_id == Interaction.id)
        .where(participants.c.contact_id == contact_id, Interaction.source != "campaign")
        .order_by(Interaction.occurred_at.desc())
        .limit(limit)
    )
    return [
        {
            "kind": r.kind,
            "channel": r.channel,
            "date": r.occurred_at.date().isoformat(),
            "summary": r.summary or "",
        }
        for r in rows
    ]


def score_says(session: Session, contact_id: int, language: str | None) -> list[str]:
    from app.segments.explain import explain_contact, explanation_words

    contact = session.get(Contact, contact_id)
    if contact is None:
        return []
    expl = explain_contact(session, contact)
    if not expl.get("scored"):
        return []
    with force_locale(language or "en"):
        return [str(w) for w in explanation_words(expl)]


def render_for(
    campaign: Campaign, ctx: dict[str, Any], delivery: Delivery | None = None
) -> tuple[str, str]:
    """(subject, body) for one recipient: the approved draft, else the template in the
    person's language (else the campaign's default)."""
    if delivery is not None and delivery.rendered_body is not None:
        return delivery.rendered_subject or "", delivery.rendered_body
    language = ctx.get("_language") or campaign.language
    subject_src, body_src = campaign.template_for(language)
    lang = language if language in campaign.variants or language == campaign.language else None
    lang = lang or campaign.language
    subject = templating.render(subject_src, ctx, lang).replace("\n", " ").strip()
    return subject[:300], templating.render(body_src, ctx, lang)


def preview(
    session: Session, campaign: Campaign, signer: LinkSigner, contact_id: int
) -> dict[str, str]:
    """The message as the chosen person would receive it (nothing stored)."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.is_erased:
        raise NotFound(_("No such person."))
    fake = Delivery(
        id=0,
        campaign_id=campaign.id,
        contact_id=contact_id,
        promo_code="PREVIEW-CODE" if campaign.promo_prefix else None,
    )
    ctx = contexts(session, campaign, signer, [fake])[0]
    subject, body = render_for(campaign, ctx)
    return {
        "subject": subject,
        "body": body,
        "to": contact.email or "",
        "language": ctx.get("_language") or campaign.language,
    }


# ---------------------------------------------------------------- tailored drafts


def write_drafts(session: Session, campaign: Campaign, signer: LinkSigner) -> int:
    pending = list(
        session.scalars(
            select(Delivery).where(
                Delivery.campaign_id == campaign.id, Delivery.rendered_body.is_(None)
            )
        )
    )
    ctxs = contexts(session, campaign, signer, pending)
    for delivery in pending:
        ctx = ctxs.get(delivery.id)
        if ctx is None:
            continue
        delivery.rendered_subject, delivery.rendered_body = render_for(campaign, ctx)
    session.flush()
    return len(pending)


def approve_draft(
    session: Session,
    actor: User,
    delivery: Delivery,
    *,
    subject: str | None = None,
    body: str | None = None,
) -> Delivery:
    """The owner's edit and approval of one tailored message; it is sent after commit."""
    campaign = session.get(Campaign, delivery.campaign_id)
    if campaign is None or campaign.kind != CampaignKind.TAILORED:
        raise NotFound(_("No such draft."))
    if campaign.status != CampaignStatus.SENDING:
        raise Conflict(_("This campaign is not sending."))
    if delivery.approved_at is not None or delivery.status != DeliveryStatus.PENDING:
        raise Conflict(_("This message was already approved."))
    if subject is not None:
        if not subject.strip():
            raise Invalid(_("Write a subject."), field="subject")
        delivery.rendered_subject = subject.strip()[:300]
    if body is not None:
        if not body.strip():
            raise Invalid(_("Write the message."), field="body")
        delivery.rendered_body = body
    delivery.approved_by_id = actor.id
    delivery.approved_at = utcnow()
    session.flush()
    return delivery


def reject_draft(session: Session, actor: User, delivery: Delivery) -> Delivery:
    moved = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery.id,
            Delivery.status == DeliveryStatus.PENDING.value,
            Delivery.approved_at.is_(None),
        )
        .values(status=DeliveryStatus.SKIPPED.value, skip_reason="rejected")
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        raise Conflict(_("This message was already approved."))
    session.refresh(delivery)
    finish_if_complete(session, delivery.campaign_id)
    return delivery


# ---------------------------------------------------------------- sending


def _claimable(campaign: Campaign) -> Any:
    clauses = [Delivery.status == DeliveryStatus.PENDING.value]
    if campaign.kind == CampaignKind.TAILORED:
        clauses.append(Delivery.approved_at.is_not(None))
    return and_(*clauses)


def _skip(session: Session, ids: Sequence[int], reason: str) -> int:
    if not ids:
        return 0
    return int(
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(list(ids)), Delivery.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.SKIPPED.value, skip_reason=reason)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


def check_recipients(
    session: Session,
    campaign: Campaign,
    delivery_ids: Sequence[int],
    frequency_cap: int,
    now: datetime,
) -> int:
    """Consent, erasure, address and the weekly cap, checked again at send time."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.contact_id,
            Contact.consent_status,
            Contact.erased_at,
            Contact.email,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.id.in_(list(delivery_ids)), _claimable(campaign))
    ).all()
    reasons: dict[str, list[int]] = {}
    candidates: dict[int, int] = {}
    for r in rows:
        if r.erased_at is not None:
            reasons.setdefault("erased", []).append(r.id)
        elif r.consent_status == ConsentStatus.OPTED_OUT:
            reasons.setdefault("opted_out", []).append(r.id)
        elif campaign.kind == CampaignKind.PROMOTION and r.consent_status != ConsentStatus.GRANTED:
            reasons.setdefault("no_consent", []).append(r.id)  # offers need a yes
        elif campaign.channel == "email" and not r.email:
            reasons.setdefault("no_address", []).append(r.id)
        else:
            candidates[r.contact_id] = r.id
    if candidates and frequency_cap > 0:
        counts = dict(
            session.execute(
                select(Delivery.contact_id, func.count())
                .where(
                    Delivery.contact_id.in_(list(candidates)),
                    Delivery.status == DeliveryStatus.SENT.value,
                    Delivery.sent_at >= now - WEEK,
                    Delivery.campaign_id != campaign.id,
                )
                .group_by(Delivery.contact_id)
            )
            .tuples()
            .all()
        )
        capped = [candidates[c] for c, n in counts.items() if n >= frequency_cap]
        if capped:
            reasons["frequency_cap"] = capped
    return sum(_skip(session, ids, reason) for reason, ids in reasons.items())


def claim(
    session: Session, campaign: Campaign, delivery_ids: Sequence[int], now: datetime
) -> list[int]:
    """pending -> sending, for those no other job holds and whose retry time has come."""
    if not delivery_ids:
        return []
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(list(delivery_ids)),
            _claimable(campaign),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .values(status=DeliveryStatus.SENDING.value, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars())


def _set_statement(delivery_id: int, values: dict[str, Any]) -> Any:
    return (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING.value)
        .values(**values)
    )


@contextmanager
def _marker(session: Session) -> Iterator[Callable[..., None]]:
    """`mark(delivery_id, **values)`: one delivery's outcome, durable when it returns.

    On PostgreSQL an autocommit connection held for the batch makes that one round trip
    (the session would add a pool ping, BEGIN and COMMIT: three more per message).
    """
    engine = session.get_bind()
    if isinstance(engine, Engine) and engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")

            def mark_autocommit(delivery_id: int, **values: Any) -> None:
                conn.execute(_set_statement(delivery_id, values))

            yield mark_autocommit
        return

    def mark_session(delivery_id: int, **values: Any) -> None:
        session.execute(_set_statement(delivery_id, values))
        session.commit()

    yield mark_session


def message_id(campaign_id: int, delivery_id: int) -> str:
    return f"<cerchia.c{campaign_id}.d{delivery_id}@cerchia.invalid>"


def _outgoing(
    campaign: Campaign, delivery: Delivery, ctx: dict[str, Any], signer: LinkSigner
) -> OutgoingMessage:
    subject, body = render_for(campaign, ctx, delivery)
    unsubscribe = signer.unsubscribe_url(delivery.id)
    if unsubscribe not in body:
        language = ctx.get("_language") or campaign.language
        with force_locale(language if language in ("en", "it") else "en"):
            footer = _("To stop receiving these messages: %(url)s", url=unsubscribe)
        body = f"{body.rstrip()}\n\n--\n{footer}\n"
    body = tracked_links(body, signer, delivery.id)
    return OutgoingMessage(
        delivery_id=delivery.id,
        contact_id=delivery.contact_id,
        to=ctx.get("_email") or "",
        subject=subject,
        text=body,
        unsubscribe_url=unsubscribe,
        open_url=signer.open_url(delivery.id),
        message_id=message_id(campaign.id, delivery.id),
        extra={"campaign_id": campaign.id, "promo_code": delivery.promo_code},
    )


def send_batch(
    session: Session, campaign_id: int, delivery_ids: Sequence[int], settings: SendSettings
) -> BatchResult:
    """Send what is still pending among `delivery_ids`.

    This function commits: each message's outcome is committed on its own, right after
    the server answered (the whole point of never-twice). It is called by the job only.
    """
    result = BatchResult(retry=[])
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return result
    if campaign.status == CampaignStatus.CANCELLED:
        result.skipped = _skip(session, delivery_ids, "cancelled")
        session.commit()
        return result
    now = utcnow()
    result.skipped = check_recipients(session, campaign, delivery_ids, settings.frequency_cap, now)
    claimed = claim(session, campaign, delivery_ids, now)
    session.commit()
    if not claimed:
        finish_if_complete(session, campaign_id)
        session.commit()
        return result
    deliveries = list(
        session.scalars(select(Delivery).where(Delivery.id.in_(claimed)).order_by(Delivery.id))
    )
    ctxs = contexts(session, campaign, settings.signer, deliveries)
    session.commit()  # nothing held open while talking to the server
    remaining = {d.id: d for d in deliveries}
    with _marker(session) as mark:
        try:
            with settings.channel(campaign) as sender:
                for delivery in deliveries:
                    ctx = ctxs.get(delivery.id)
                    if ctx is None:  # the person has gone (deleted) since the launch
                        mark(delivery.id, status=DeliveryStatus.SKIPPED.value, skip_reason="erased")
                        remaining.pop(delivery.id)
                        continue
                    try:
                        message = _outgoing(campaign, delivery, ctx, settings.signer)
                        provider_id = sender.send(message)
                    except ChannelError as exc:
                        _failed(mark, delivery, str(exc), exc.permanent, result)
                    except Invalid as exc:
                        _failed(mark, delivery, exc.message, True, result)
                    else:
                        # Committed before the next message: the heart of never-twice.
                        mark(
                            delivery.id,
                            status=DeliveryStatus.SENT.value,
                            sent_at=utcnow(),
                            provider_message_id=provider_id[:300],
                            error=None,
                        )
                        result.sent += 1
                    remaining.pop(delivery.id)
        except ChannelError as exc:  # the channel could not be opened, or broke mid-batch
            log.warning("campaign %s: channel failed: %s", campaign_id, exc)
            for delivery in list(remaining.values()):
                _failed(mark, delivery, str(exc), exc.permanent, result)
    finish_if_complete(session, campaign_id)
    session.commit()
    return result


def _failed(
    mark: Callable[..., None],
    delivery: Delivery,
    error: str,
    permanent: bool,
    result: BatchResult,
) -> None:
    attempts = delivery.attempts
    if permanent or attempts >= MAX_ATTEMPTS:
        mark(delivery.id, status=DeliveryStatus.FAILED.value, error=error[:300])
        result.failed += 1
        return
    delay = BACKOFF[min(attempts, len(BACKOFF)) - 1]
    mark(
        delivery.id,
        status=DeliveryStatus.PENDING.value,
        error=error[:300],
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        claimed_at=None,
    )
    assert result.retry is not None
    result.retry.append(delivery.id)
    result.retry_in = max(result.retry_in, delay)


def finish_if_complete(session: Session, campaign_id: int) -> bool:
    """'sending' -> 'done' once no delivery is pending or sending."""
    open_ = (
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]),
        )
        .exists()
    )
    return bool(
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING.value, ~open_
            )
            .values(status=CampaignStatus.DONE.value, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


# ---------------------------------------------------------------- sweep


@dataclass
class SweepResult:
    launch: list[int]
    batches: list[tuple[int, list[int]]]
    recovered: int
    finished: int


def sweep(
    session: Session,
    *,
    stale_after: timedelta,
    grace: timedelta,
    batch_size: int,
    now: datetime | None = None,
) -> SweepResult:
    """What a lost job, a killed worker or a Redis outage left behind, made runnable again.

    - scheduled campaigns whose time has come, and campaigns stuck in 'launching' for
      longer than `grace`, get their fan-out again (it is idempotent);
    - deliveries in 'sending' for longer than `stale_after` (no job runs that long) go back
      to 'pending';
    - pending deliveries not queued for `grace` (or whose retry time has come) are batched.
    """
    from app.campaigns import launch as launching

    now = now or utcnow()
    for cid in launching.due_scheduled(session, now):
        launching.start_if_due(session, cid, now)
    to_launch = launching.stuck_launching(session, now, grace)
    recovered = int(
        session.execute(
            update(Delivery)
            .where(
                Delivery.status == DeliveryStatus.SENDING.value,
                Delivery.claimed_at <= now - stale_after,
            )
            .values(status=DeliveryStatus.PENDING.value, claimed_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )
    rows = session.execute(
        select(Delivery.id, Delivery.campaign_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Campaign.status == CampaignStatus.SENDING.value,
            Delivery.status == DeliveryStatus.PENDING.value,
            or_(Campaign.kind != CampaignKind.TAILORED.value, Delivery.approved_at.is_not(None)),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            or_(
                Delivery.queued_at.is_(None),
                Delivery.queued_at <= now - grace,
                Delivery.next_attempt_at.is_not(None),
            ),
        )
        .order_by(Delivery.campaign_id, Delivery.id)
    ).all()
    by_campaign: dict[int, list[int]] = {}
    for r in rows:
        by_campaign.setdefault(r.campaign_id, []).append(r.id)
    batches = [
        (cid, chunk) for cid, ids in by_campaign.items() for chunk in chunks(ids, batch_size)
    ]
    ids = [r.id for r in rows]
    for chunk in chunks(ids, 900):
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk))
            .values(queued_at=now, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
    finished = 0
    for cid in session.scalars(
        select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING.value)
    ):
        finished += finish_if_complete(session, cid)
    session.flush()
    return SweepResult(to_launch, batches, recovered, finished)


def chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), max(1, size)):
        yield list(ids[start : start + size])


# ---------------------------------------------------------------- progress


PROGRESS_KEYS = (
    "pending",
    "sending",
    "sent",
    "failed",
    "skipped",
    "opened",
    "clicked",
    "replied",
    "unsubscribed",
    "total",
)


def progress(session: Session, campaign_id: int) -> dict[str, int]:
    row = session.execute(
        select(
            func.count(),
            *[
                func.coalesce(func.sum(case((Delivery.status == s, 1), else_=0)), 0)
                for s in ("pending", "sending", "sent", "failed", "skipped")
            ],
            func.count(Delivery.opened_at),
            func.count(Delivery.clicked_at),
            func.count(Delivery.replied_at),
            func.count(Delivery.unsubscribed_at),
        ).where(Delivery.campaign_id == campaign_id)
    ).one()
    total, pending, sending, sent, failed, skipped, opened, clicked, replied, unsub = row
    return {
        "total": total,
        "pending": pending,
        "sending": sending,
        "sent": sent,
        "failed": failed,
        "skipped": skipped,
        "opened": opened,
        "clicked": clicked,
        "replied": replied,
        "unsubscribed": unsub,
    }


def skip_reasons(session: Session, campaign_id: int) -> dict[str | None, int]:
    return dict(
        session.execute(
            select(Delivery.skip_reason, func.count())
            .where(
                Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SKIPPED.value
            )
            .group_by(Delivery.skip_reason)
        )
        .tuples()
        .all()
    )


def results_by_tier(session: Session, since: datetime | None = None) -> list[dict[str, Any]]:
    """For the health dashboard: per current tier, messages sent, opened, clicked, replied."""
    stmt = (
        select(
            Contact.tier,
            func.count(),
            func.count(Delivery.opened_at),
            func.count(Delivery.clicked_at),
            func.count(Delivery.replied_at),
            func.count(Delivery.unsubscribed_at),
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.status == DeliveryStatus.SENT.value)
        .group_by(Contact.tier)
        .order_by(Contact.tier)
    )
    if since is not None:
        stmt = stmt.where(Delivery.sent_at >= since)
    return [
        {
            "tier": t,
            "sent": s,
            "opened": o,
            "clicked": c,
            "replied": r,
            "unsubscribed": u,
            "open_rate": round(o / s, 3) if s else 0.0,
        }
        for t, s, o, c, r, u in session.execute(stmt)
    ]
