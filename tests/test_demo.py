"""The demo data set: sane, deterministic, rich enough to show later features on."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, g
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import ROLE_VALUES, User
from app.contacts.models import (
    RELATIONSHIP_KINDS,
    SIZE_BANDS,
    ConsentEvent,
    Contact,
    Interaction,
    Organization,
    Relationship,
    Tag,
    contact_tags,
    interaction_participants,
)
from app.demo import DEMO_PASSWORD, LATENT_KEY, build_demo, generate_world
from app.errors import Conflict

PEOPLE = 300
TODAY = datetime(2026, 5, 15, 10, 30, tzinfo=UTC)


@pytest.fixture
def demo(session: Session) -> dict[str, int]:
    summary = build_demo(session, people=PEOPLE, seed=7, today=TODAY)
    session.commit()
    return summary


def count(session: Session, what: object) -> int:
    return session.scalar(select(func.count()).select_from(what)) or 0  # type: ignore[arg-type]


def test_fills_the_tables_with_sane_counts(session: Session, demo: dict[str, int]) -> None:
    assert count(session, Contact) == demo["contacts"] == PEOPLE
    assert count(session, User) == demo["users"] == 7
    assert 15 <= count(session, Organization) == demo["organizations"] <= 40
    assert count(session, Relationship) == demo["relationships"] > PEOPLE * 2
    assert count(session, Interaction) == demo["interactions"] > PEOPLE * 8
    assert count(session, interaction_participants) == demo["interaction_participants"]
    assert count(session, ConsentEvent) == demo["consent_events"] > 0
    assert count(session, Tag) >= 5 and count(session, contact_tags) > 0

    kinds = set(session.scalars(select(Relationship.kind).distinct()))
    assert kinds == set(RELATIONSHIP_KINDS)
    assert set(session.scalars(select(Organization.size_band).distinct())) <= set(SIZE_BANDS)
    languages = Counter(session.scalars(select(Contact.language)))
    assert languages.most_common(1)[0][0] == "it" and len(languages) >= 4
    countries = Counter(session.scalars(select(Contact.country)))
    assert countries.most_common(1)[0][0] == "IT"

    contacts = list(session.scalars(select(Contact)))
    assert all(c.sort_name and c.search_text for c in contacts)
    assert all(0 <= c.custom_fields[LATENT_KEY] <= 1 for c in contacts)
    with_linkedin = sum(c.linkedin_url is not None for c in contacts)
    assert 0.55 < with_linkedin / PEOPLE < 0.9
    assert all(
        c.linkedin_url.startswith("https://www.linkedin.com/in/")
        for c in contacts
        if c.linkedin_url
    )
    assert sum(c.last_interaction_at is not None for c in contacts) > PEOPLE * 0.8

    # Each salesperson owns accounts (key accounts among them) and the people in them.
    sales = list(session.scalars(select(User).where(User.role == "sales")))
    assert 3 <= len(sales) <= 4 and all(u.capacity == 15 for u in sales)
    key_owners = set(session.scalars(select(Organization.owner_id).where(Organization.key_account)))
    assert key_owners and key_owners <= {u.id for u in sales}
    for user in sales:
        assert count(session, select(Contact.id).where(Contact.owner_id == user.id).subquery())

    # Times are aware UTC, within the year before today; purchases carry a value in cents.
    first, last = session.execute(
        select(func.min(Interaction.occurred_at), func.max(Interaction.occurred_at))
    ).one()
    assert first.tzinfo is not None
    assert TODAY - timedelta(days=366) <= first and last < TODAY
    assert (
        session.scalar(
            select(func.min(Interaction.value_cents)).where(Interaction.kind == "purchase")
        )
        > 0
    )


def test_every_role_can_sign_in(app: Flask, demo: dict[str, int], session: Session) -> None:
    users = list(session.scalars(select(User)))
    assert {u.role for u in users} == set(ROLE_VALUES)

    def sign_in(email: str, password: str) -> int:
        # Requests share the test's app context, where Flask-Login caches the signed-in user.
        g.pop("_login_user", None)
        return (
            app.test_client()
            .post("/login", data={"email": email, "password": password})
            .status_code
        )

    assert sign_in("giulia.rossi@demo.cerchia.eu", "not-the-password") == 401
    for user in users:
        assert sign_in(user.email, DEMO_PASSWORD) == 302, user.email


def test_the_same_seed_gives_the_same_world() -> None:
    one = generate_world(people=PEOPLE, seed=7, today=TODAY)
    two = generate_world(people=PEOPLE, seed=7, today=TODAY)
    assert one == two
    other = generate_world(people=PEOPLE, seed=8, today=TODAY)
    assert other.contacts != one.contacts


def test_refuses_a_database_with_contacts(session: Session, demo: dict[str, int]) -> None:
    with pytest.raises(Conflict):
        build_demo(session, people=PEOPLE, seed=7, today=TODAY)


def test_the_network_has_hubs(session: Session, demo: dict[str, int]) -> None:
    degree: Counter[int] = Counter()
    for a, b in session.execute(select(Relationship.from_contact_id, Relationship.to_contact_id)):
        degree[a] += 1
        degree[b] += 1
    ids = session.scalars(select(Contact.id))
    degrees = [degree[i] for i in ids]
    assert max(degrees) >= 3 * statistics.median(degrees)
    # "knows" crosses companies, "colleague" stays inside one.
    org_of = dict(session.execute(select(Contact.id, Contact.organization_id)).tuples().all())
    for kind, same in (("knows", False), ("colleague", True)):
        pairs = session.execute(
            select(Relationship.from_contact_id, Relationship.to_contact_id).where(
                Relationship.kind == kind
            )
        )
        assert all((org_of[a] == org_of[b]) is same for a, b in pairs if org_of[a] is not None)


def test_consent_and_attention(session: Session, demo: dict[str, int]) -> None:
    statuses = Counter(session.scalars(select(Contact.consent_status)))
    assert statuses["opted_out"] > 0 and statuses["unknown"] > 0 and statuses["granted"] > 0
    opted_out = session.scalars(select(Contact).where(Contact.consent_status == "opted_out"))
    for contact in opted_out:
        last = session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact.id)
            .order_by(ConsentEvent.at.desc())
        ).first()
        assert last is not None and last.new_status == "opted_out" and last.source == "demo"
        assert last.at == contact.consent_changed_at

    negative_unanswered = session.scalar(
        select(func.count(Interaction.id)).where(
            Interaction.kind == "comment",
            Interaction.direction == "inbound",
            Interaction.needs_answer.is_(True),
            Interaction.answered_at.is_(None),
            Interaction.sentiment < 0,
        )
    )
    assert negative_unanswered and negative_unanswered > 0


def test_potential_drives_recent_purchases(session: Session, demo: dict[str, int]) -> None:
    cutoff = TODAY - timedelta(days=90)
    recent = dict(
        session.execute(
            select(interaction_participants.c.contact_id, func.count())
            .join(Interaction, Interaction.id == interaction_participants.c.interaction_id)
            .where(Interaction.kind == "purchase", Interaction.occurred_at >= cutoff)
            .group_by(interaction_participants.c.contact_id)
        )
        .tuples()
        .all()
    )
    assert sum(recent.values()) > 0
    contacts = list(session.scalars(select(Contact)))
    potential = [c.custom_fields[LATENT_KEY] for c in contacts]
    purchases = [recent.get(c.id, 0) for c in contacts]
    assert statistics.correlation(potential, purchases) > 0.2


def test_some_relationships_cool_off() -> None:
    world = generate_world(people=PEOPLE, seed=7, today=TODAY)
    last = {c["id"]: c["last_interaction_at"] for c in world.contacts}
    quiet = [t for t in last.values() if t is not None and t < TODAY - timedelta(days=100)]
    assert len(quiet) >= PEOPLE * 0.03
