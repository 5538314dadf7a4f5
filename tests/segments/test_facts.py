"""Per-person facts: what the database says about engagement, value and sentiment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import privacy, service
from app.contacts.models import Contact
from app.segments import facts as facts_module
from app.segments.facts import read_person_facts


def _people(session: Session, owner: User) -> dict[str, Contact]:
    org = service.create_organization(session, owner, name="Alfa Srl", key_account=True,
                                      annual_value_cents=80_000_00)  # fmt: skip
    made = {}
    for name in ("talker", "listener", "faded", "silent", "erased"):
        made[name] = service.create_contact(
            session, owner, first_name=name.title(), last_name="Test",
            email=f"{name}@example.com", owner_id=owner.id,
            organization_id=org.id if name == "talker" else None,
        )  # fmt: skip
    session.flush()
    now = datetime.now(UTC)

    def log(person: str, days: float, **kw: object) -> None:
        kw.setdefault("channel", "email")
        kw.setdefault("kind", "message")
        service.log_interaction(session, owner, [made[person]],
                                occurred_at=now - timedelta(days=days), **kw)  # fmt: skip

    for days in (1, 5, 12, 40, 100):  # both ways, recent, with sentiment
        log("talker", days, direction="inbound", sentiment=0.6)
        log("talker", days + 0.5, direction="outbound", sentiment=0.2)
    for days in (3, 30):  # only opens: one-way, light touches
        log("listener", days, direction="inbound", kind="open")
    log("faded", 150, direction="inbound", sentiment=-0.8)  # only before the trend window
    log("faded", 400, direction="inbound")  # outside the year: ignored
    log("erased", 2, direction="inbound", sentiment=1.0)
    session.flush()
    privacy.erase_contact(session, owner, made["erased"], "their request")
    session.commit()
    return made


def test_facts_say_who_talks_to_us(session: Session, users: dict[str, User]) -> None:
    people = _people(session, users["manager"])
    facts, key_accounts = read_person_facts(session, datetime.now(UTC), half_life_days=90)
    talker, listener = facts[people["talker"].id], facts[people["listener"].id]
    faded, silent = facts[people["faded"].id], facts[people["silent"].id]
    assert people["erased"].id not in facts
    assert talker.key_account and talker.organization_id in key_accounts
    assert talker.account_value_raw > 0 and listener.account_value_raw == 0
    # two-way and recent beats one-way opens; an old single message counts for little
    assert talker.engagement_raw > listener.engagement_raw > 0
    assert talker.engagement_raw > faded.engagement_raw > 0
    assert silent.engagement_raw == 0 and silent.sentiment_mean is None
    # the trend windows: the last 90 days, and the 90 days before them (undecayed weights)
    assert talker.engagement_recent == pytest.approx(8.0)
    assert talker.engagement_before == pytest.approx(2.0)
    assert listener.engagement_recent == pytest.approx(0.4)  # two opens at 0.2
    assert faded.engagement_recent == 0 and faded.engagement_before == pytest.approx(1.0)
    assert faded.sentiment_mean == pytest.approx(-0.8)
    assert 0.2 < talker.sentiment_mean < 0.6  # recent positive inbound weighs in


def test_database_totals_match_the_python_totals(session: Session, users: dict[str, User]) -> None:
    """PostgreSQL adds the totals up in SQL; they must agree with the numpy path."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the totals are computed in SQL on PostgreSQL only")
    people = _people(session, users["manager"])
    as_of = datetime.now(UTC)
    facts, _ = read_person_facts(session, as_of)
    in_db = sorted(facts_module._totals_in_database(session, as_of, 90.0))
    in_python = sorted(facts_module._totals_in_python(session, as_of, 90.0, facts))
    assert [row[0] for row in in_python] == sorted(
        people[n].id for n in ("talker", "listener", "faded")
    )
    # the database also reports the erased person (read_person_facts drops them)
    in_db = [row for row in in_db if row[0] in facts]
    assert len(in_db) == len(in_python)
    for got, expected in zip(in_db, in_python, strict=True):
        assert got[0] == expected[0]
        assert got[1:] == pytest.approx(expected[1:], rel=1e-9, abs=1e-12)
