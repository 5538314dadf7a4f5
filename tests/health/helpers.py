"""Building people and interactions for the health tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.models import Contact, Interaction, Organization
from app.contacts.service import log_interaction
from app.db import utcnow


def person(
    session: Session, owner: User | None, name: str, *, org: Organization | None = None,
    tier: str = "none", **values: Any,
) -> Contact:  # fmt: skip
    contact = Contact(
        first_name=name, last_name="Test", sort_name=f"test {name.lower()}",
        email=values.pop("email", f"{name.lower()}@example.com"),
        owner_id=owner.id if owner else None, organization_id=org.id if org else None,
        tier=tier, **values,
    )  # fmt: skip
    session.add(contact)
    session.flush()
    return contact


def account(session: Session, owner: User | None, name: str, key: bool = True) -> Organization:
    org = Organization(name=name, key_account=key, owner_id=owner.id if owner else None)
    session.add(org)
    session.flush()
    return org


def touch(
    session: Session,
    contact: Contact,
    days_ago: float,
    *,
    direction: str = "outbound",
    kind: str = "message",
    channel: str = "email",
    sentiment: float | None = None,
    needs_answer: bool = False,
    summary: str | None = None,
    now: datetime | None = None,
) -> Interaction:
    at = (now or utcnow()) - timedelta(days=days_ago)
    return log_interaction(
        session, None, [contact], channel=channel, direction=direction, kind=kind,
        occurred_at=at, sentiment=sentiment, needs_answer=needs_answer, summary=summary,
    )  # fmt: skip


def rhythm(session: Session, contact: Contact, *, every_days: float, count: int,
           last_days_ago: float) -> None:  # fmt: skip
    """`count` contacts, `every_days` apart, the last one `last_days_ago` days ago;
    alternating ours and theirs so they answer us."""
    for k in range(count):
        touch(
            session, contact, last_days_ago + k * every_days,
            direction="inbound" if k % 2 == 0 else "outbound",
        )  # fmt: skip
