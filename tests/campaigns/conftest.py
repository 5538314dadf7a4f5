"""Helpers for campaign tests: people in tiers, a campaign launched the way the UI does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.campaigns import jobs as campaign_jobs
from app.campaigns import launch
from app.campaigns.models import Campaign, Delivery
from app.contacts import service as contacts
from app.contacts.models import Contact
from app.db import utcnow
from app.segments.models import TierAssignment


def add_people(
    session: Session,
    actor: User,
    emails: list[str],
    *,
    tier: str = "broadcast",
    consent: str = "granted",
    language: str | None = None,
) -> list[Contact]:
    people = []
    for i, email in enumerate(emails):
        c = contacts.create_contact(
            session,
            actor,
            first_name=f"P{i}",
            last_name="Rossi",
            email=email,
            consent_status=consent,
            consent_basis="consent",
            language=language,
        )
        session.add(TierAssignment(contact_id=c.id, tier=tier, since=utcnow()))
        people.append(c)
    session.flush()
    return people


def new_campaign(session: Session, actor: User, **values: Any) -> Campaign:
    values.setdefault("name", "Autumn news")
    values.setdefault("kind", "circle")
    values.setdefault("audience_kind", "tier")
    values.setdefault("audience_tier", "broadcast")
    values.setdefault("subject", "Hello {{ first_name }}")
    values.setdefault(
        "body", "Dear {{ first_name }} of {{ company }},\nsee https://example.org/offer"
    )
    return launch.create_campaign(session, actor, **values)


def launch_now(session: Session, actor: User, campaign: Campaign) -> Campaign:
    campaign, what = launch.launch(session, actor, campaign.id)
    campaign_jobs.enqueue_launch(session, campaign, what)
    session.commit()
    return campaign


def deliveries(session: Session, campaign_id: int) -> list[Delivery]:
    session.expire_all()
    return list(
        session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        )
    )


def recipients(sink: Any) -> list[str]:
    return sorted(r for item in sink.received for r in item.recipients)


@pytest.fixture
def marketer(users: dict[str, User]) -> User:
    return users["marketer"]


@pytest.fixture
def manager(users: dict[str, User]) -> User:
    return users["manager"]


@pytest.fixture
def config_override(app: Flask) -> Callable[..., None]:
    saved: dict[str, Any] = {}

    def _set(**values: Any) -> None:
        for key, value in values.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield _set
    app.config.update(saved)


def past(seconds: int = 1) -> Any:
    return utcnow() - timedelta(seconds=seconds)
