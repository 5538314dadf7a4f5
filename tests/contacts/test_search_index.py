"""SQLite's trigram search index gives the same answers as scanning, and stays in step."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import privacy, search_index, service
from app.contacts.models import Contact
from tests.contacts.helpers import person

QUERIES = ["officine", "rossi", "ANNA@", "omsrl.it", "na bi", "50%", "a_b", "ne*", "[x", "zz",
           "ferrari", "ss", "meccaniche anna", "ragione"]  # fmt: skip


@pytest.fixture
def indexed(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        assert not search_index.available(session)  # PostgreSQL has its GIN index instead
        pytest.skip("the FTS5 index is SQLite's")
    if not search_index.available(session):
        pytest.skip("this SQLite has no FTS5 trigram tokenizer (3.34+)")
    return True


def _people(session: Session, m: User) -> None:
    org = service.create_organization(session, m, name="Officine Meccaniche Srl")
    session.commit()
    person(session, m, "Anna", "Bianchi", email="anna@omsrl.it", organization_id=org.id)
    person(session, m, "Bruno", "Rossi", email="bruno.rossi@example.com")
    person(session, m, "Carla", "A_b 50% ne*", email="carla@example.org")
    person(session, m, "Dario", "Ferrari [x]", email="dario@example.net")


def _ids(session: Session, m: User, q: str, *, index: bool) -> list[int]:
    stmt = service.filtered_contacts_query(m, service.ContactFilter(q=q), search_index=index)
    return sorted(session.scalars(stmt.with_only_columns(Contact.id)))


def test_the_index_answers_as_the_scan_does(
    session: Session, users: dict[str, User], indexed: bool
) -> None:
    m = users["manager"]
    _people(session, m)
    for q in QUERIES:
        assert _ids(session, m, q, index=True) == _ids(session, m, q, index=False), q
    assert len(_ids(session, m, "rossi", index=True)) == 1
    assert len(_ids(session, m, "50%", index=True)) == 1  # % and _ are letters, not wildcards
    # the page uses it: the plan reads the FTS table
    stmt = service.filtered_contacts_query(m, service.ContactFilter(q="ferrari"), search_index=True)
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = " ".join(str(r) for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "contacts_search" in plan and "VIRTUAL TABLE INDEX" in plan


def test_the_index_follows_edits_renames_erasure_and_deletes(
    session: Session, users: dict[str, User], indexed: bool
) -> None:
    m = users["manager"]
    _people(session, m)
    search = lambda q: [  # noqa: E731
        c.first_name for c in service.search_contacts(session, m, service.ContactFilter(q=q)).items
    ]
    bruno = session.scalar(select(Contact).where(Contact.first_name == "Bruno"))
    service.update_contact(session, m, bruno, last_name="Verdini")
    session.commit()
    assert search("rossi@") == ["Bruno"] and search("verdini") == ["Bruno"]
    org = session.scalar(select(Contact).where(Contact.first_name == "Anna")).organization
    service.update_organization(session, m, org, name="Nuova Ragione Sociale")
    session.commit()
    assert search("ragione") == ["Anna"] and search("officine") == []
    privacy.erase_contact(session, m, bruno, "their request")
    session.commit()
    assert search("verdini") == []
    session.delete(session.scalar(select(Contact).where(Contact.first_name == "Dario")))
    session.commit()
    assert search("ferrari") == []
    # the FTS table holds exactly what contacts holds
    check = "INSERT INTO contacts_search(contacts_search, rank) VALUES ('integrity-check', 1)"
    session.execute(text(check))
