"""Alerts: in-app notifications for owners, and their daily email digest.

Raised when a one-to-one person or a key account turns at risk, and when a negative message
waits past the response-time target. Each alert has a key unique per user, so raising it
again does nothing; details hold ids and numbers only (names are read when shown, so an
erased person's alert carries no personal data).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.models import Contact, Interaction, Organization, interaction_participants
from app.db import utcnow
from app.health.inbox import NEGATIVE_BELOW, _open_clause
from app.health.models import HealthRun, HealthStatusChange, Notification
from app.mail import MailSettings, build_message, mailer


def _insert_new(session: Session, candidates: list[dict[str, Any]]) -> int:
    """Insert the notifications whose (user, key) is not there yet."""
    if not candidates:
        return 0
    keys = {c["key"] for c in candidates}
    existing: set[tuple[int, str]] = set()
    key_list = sorted(keys)
    for start in range(0, len(key_list), 500):
        existing.update(
            session.execute(  # type: ignore[arg-type]
                select(Notification.user_id, Notification.key).where(
                    Notification.key.in_(key_list[start : start + 500])
                )
            ).all()
        )
    fresh: dict[tuple[int, str], dict[str, Any]] = {}
    for c in candidates:
        pair = (c["user_id"], c["key"])
        if pair not in existing and pair not in fresh:
            fresh[pair] = c
    if fresh:
        now = utcnow()
        rows = [
            {
                "contact_id": None,
                "organization_id": None,
                "interaction_id": None,
                "details": {},
                "created_at": now,
                **row,
            }  # fmt: skip
            for row in fresh.values()
        ]
        session.execute(insert(Notification), rows)
    return len(fresh)


def raise_daily_alerts(session: Session, run: HealthRun | None, target_hours: float) -> int:
    """What a day of health raises: messages waiting past the target, and the status
    changes of the day's run (when it was computed)."""
    raised = raise_overdue_alerts(session, target_hours)
    if run is not None:
        raised += raise_status_alerts(session, run)
    return raised


def raise_status_alerts(session: Session, run: HealthRun) -> int:
    """Owners hear when their one-to-one people or key accounts turned at risk in `run`."""
    changes = HealthStatusChange
    people = session.execute(
        select(changes.contact_id, changes.from_status, changes.score, Contact.owner_id)
        .join(Contact, Contact.id == changes.contact_id)
        .where(
            changes.run_id == run.id,
            changes.to_status == "at_risk",
            Contact.tier == "one_to_one",
            Contact.owner_id.is_not(None),
            Contact.erased_at.is_(None),
        )
    ).all()
    accounts = session.execute(
        select(changes.organization_id, changes.from_status, changes.score, Organization.owner_id)
        .join(Organization, Organization.id == changes.organization_id)
        .where(
            changes.run_id == run.id,
            changes.to_status == "at_risk",
            Organization.key_account.is_(True),
            Organization.owner_id.is_not(None),
        )
    ).all()
    candidates = [
        {
            "user_id": owner,
            "kind": "contact_at_risk",
            "contact_id": cid,
            "key": f"at_risk:c{cid}:{run.as_of.isoformat()}",
            "details": {"from": old, "score": score, "as_of": run.as_of.isoformat()},
        }  # fmt: skip
        for cid, old, score, owner in people
    ] + [
        {
            "user_id": owner,
            "kind": "account_at_risk",
            "organization_id": oid,
            "key": f"at_risk:o{oid}:{run.as_of.isoformat()}",
            "details": {"from": old, "score": score, "as_of": run.as_of.isoformat()},
        }  # fmt: skip
        for oid, old, score, owner in accounts
    ]
    return _insert_new(session, candidates)


def raise_overdue_alerts(session: Session, target_hours: float, now: datetime | None = None) -> int:
    """Owners hear about each negative message that waits past the target (once per message)."""
    now = now or utcnow()
    ip = interaction_participants
    rows = session.execute(
        select(
            Interaction.id,
            Interaction.sentiment,
            Interaction.occurred_at,
            Contact.id,
            Contact.owner_id,
        )  # fmt: skip
        .join(ip, ip.c.interaction_id == Interaction.id)
        .join(Contact, Contact.id == ip.c.contact_id)
        .where(
            _open_clause(),
            Interaction.sentiment < NEGATIVE_BELOW,
            Interaction.occurred_at < now - timedelta(hours=target_hours),
            Contact.owner_id.is_not(None),
        )
    ).all()
    candidates = [
        {
            "user_id": owner,
            "kind": "comment_overdue",
            "interaction_id": iid,
            "contact_id": cid,
            "key": f"overdue:i{iid}",
            "details": {
                "sentiment": sentiment,
                "occurred_at": at.isoformat(),
                "target_hours": target_hours,
            },
        }  # fmt: skip
        for iid, sentiment, at, cid, owner in rows
    ]
    return _insert_new(session, candidates)


# ------------------------------------------------------------------ reading


def unread_count(session: Session, user_id: int) -> int:
    """For a badge in the navigation."""
    return (
        session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user_id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


@dataclass
class AlertView:
    notification: Notification
    subject: str
    url_kind: str  # contact, organization or inbox
    subject_id: int | None


def _names(session: Session, notes: list[Notification]) -> tuple[dict[int, str], dict[int, str]]:
    cids = {n.contact_id for n in notes if n.contact_id}
    oids = {n.organization_id for n in notes if n.organization_id}
    contacts = {
        c.id: c.full_name
        for c in session.scalars(select(Contact).where(Contact.id.in_(cids)))
    } if cids else {}  # fmt: skip
    orgs: dict[int, str] = dict(
        session.execute(  # type: ignore[arg-type]
            select(Organization.id, Organization.name).where(Organization.id.in_(oids))
        ).all()
    ) if oids else {}  # fmt: skip
    return contacts, orgs


def alert_text(note: Notification, contacts: dict[int, str], orgs: dict[int, str]) -> str:
    if note.kind == "contact_at_risk":
        return _(
            "%(name)s (one-to-one) is now at risk (health %(score)s).",
            name=contacts.get(note.contact_id or 0, "?"),
            score=note.details.get("score"),
        )
    if note.kind == "account_at_risk":
        return _(
            "Key account %(name)s is now at risk (health %(score)s).",
            name=orgs.get(note.organization_id or 0, "?"),
            score=note.details.get("score"),
        )
    return _("A negative message from %(name)s waits for an answer past the %(hours)s-hour "
             "target.", name=contacts.get(note.contact_id or 0, "?"),
             hours=round(float(note.details.get("target_hours", 0))))  # fmt: skip


def list_alerts(
    session: Session, user: User, *, limit: int = 100, unread_only: bool = False
) -> list[tuple[Notification, str]]:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    notes = list(
        session.scalars(
            stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        )  # fmt: skip
    )
    contacts, orgs = _names(session, notes)
    return [(n, alert_text(n, contacts, orgs)) for n in notes]


def mark_read(session: Session, user: User, notification_id: int | None = None) -> int:
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    result = session.execute(stmt.values(read_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the digest


def send_digests(
    session: Session, settings: MailSettings, base_url: str, default_locale: str = "en"
) -> int:
    """Email each user the alerts not emailed yet, one message per user, over one SMTP
    connection. Alerts are marked emailed in the caller's transaction: a crash after sending
    and before the commit sends them again the next time (at least once, never lost)."""
    pending = list(
        session.scalars(
            select(Notification)
            .where(Notification.emailed_at.is_(None))
            .order_by(Notification.user_id, Notification.created_at, Notification.id)
        )
    )
    if not pending:
        return 0
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for note in pending:
        by_user[note.user_id].append(note)
    users = {
        u.id: u
        for u in session.scalars(
            select(User).where(User.id.in_(list(by_user)), User.active.is_(True))
        )
    }
    contacts, orgs = _names(session, pending)
    sent = 0
    now = utcnow()
    with mailer(settings) as outbox:
        for user_id, notes in by_user.items():
            user = users.get(user_id)
            if user is None:
                continue
            with force_locale(user.language or default_locale):
                lines = [f"- {alert_text(n, contacts, orgs)}" for n in notes]
                subject = _("Cerchia: %(count)s relationship alert(s)", count=len(notes))
                body = "\n".join(
                    [
                        _("Hello %(name)s,", name=user.name),
                        "",
                        _("These need your attention:"),
                        "",
                        *lines,
                        "",
                        _("Your day: %(url)s", url=f"{base_url.rstrip('/')}/my-day"),
                        _("The inbox: %(url)s", url=f"{base_url.rstrip('/')}/inbox"),
                    ]
                )
            outbox.send(build_message(settings, user.email, subject, body))
            for note in notes:
                note.emailed_at = now
            sent += 1
    session.flush()
    return sent
