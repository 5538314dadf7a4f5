from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service
from app.contacts.models import Contact


def small_network(session: Session, owner: User, n: int = 30) -> list[Contact]:
    """n consenting people in two clusters with a few purchases and conversations."""
    org_a = service.create_organization(
        session,
        owner,
        name="Alfa Srl",
        key_account=True,
        annual_value_cents=50_000_00,
        industry="meccanica",
    )
    org_b = service.create_organization(session, owner, name="Beta SpA", industry="vino",
                                        annual_value_cents=5_000_00)  # fmt: skip
    people = []
    for i in range(n):
        org = org_a if i < n // 2 else org_b
        c = service.create_contact(
            session, owner, first_name=f"P{i:02d}", last_name="Test",
            email=f"p{i}@example.com", organization_id=org.id, owner_id=owner.id,
            consent_status="granted", consent_basis="consent",
        )  # fmt: skip
        people.append(c)
    session.flush()
    half = n // 2
    for i in range(n):
        j = (i + 1) % half if i < half else half + (i + 1 - half) % (n - half)
        service.add_relationship(session, owner, people[i], people[j], "colleague", 0.8)
    service.add_relationship(session, owner, people[0], people[half], "knows", 0.9)
    now = datetime.now(UTC)
    for i in range(0, n, 3):
        for k in range(i % 5 + 1):
            service.log_interaction(
                session, owner, [people[i]], channel="email",
                direction="inbound" if k % 2 else "outbound", kind="message",
                occurred_at=now - timedelta(days=10 * k + 1), sentiment=0.5,
            )  # fmt: skip
    session.commit()
    return people
