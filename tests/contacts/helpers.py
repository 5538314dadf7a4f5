from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service
from app.contacts.models import Contact


def person(session: Session, owner: User, first: str, last: str = "", **kw: Any) -> Contact:
    contact = service.create_contact(session, owner, first_name=first, last_name=last, **kw)
    session.commit()
    return contact


def at(day: int, month: int = 6, year: int = 2026) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)
