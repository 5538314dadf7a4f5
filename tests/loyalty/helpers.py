from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service as contacts
from app.contacts.models import Contact
from app.loyalty import programmes
from app.loyalty.models import Membership, Programme

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def person(session: Session, owner: User, **kw: Any) -> Contact:
    values: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": uuid.uuid4().hex[:6],
        "email": f"{uuid.uuid4().hex[:10]}@example.com",
        "owner_id": owner.id,
        "consent_status": "granted",
        "consent_basis": "consent",
    }
    values.update(kw)
    creator = owner
    if owner.role == "marketer":  # marketers may not create people; an admin does
        creator = session.scalars(select(User).where(User.role == "admin")).first() or owner
        values["owner_id"] = None
    return contacts.create_contact(session, creator, **values)


def programme(session: Session, actor: User, **kw: Any) -> Programme:
    values: dict[str, Any] = {"name": f"Amici {uuid.uuid4().hex[:4]}", "expiry_days": 365}
    values.update(kw)
    prog = programmes.create_programme(session, actor, **values)
    programmes.add_tier(session, actor, prog, "Silver", 100)
    programmes.add_tier(session, actor, prog, "Gold", 500)
    programmes.add_rule(session, actor, prog, kind="purchase", points=1, per_cents=100)
    return prog


def member(session: Session, actor: User, prog: Programme, **kw: Any) -> Membership:
    contact = person(session, actor, **kw)
    membership, _ = programmes.enrol(session, actor, prog, contact, now=T0)
    return membership
