from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import AuditEvent
from app.auth.models import User
from app.contacts import service
from app.contacts.models import ConsentEvent, Contact, Interaction, Relationship
from app.errors import Conflict, Forbidden, Invalid, NotFound
from tests.contacts.helpers import at, person


def test_email_is_unique_case_insensitively(session: Session, users: dict[str, User]) -> None:
    person(session, users["manager"], "Anna", email="Anna.Bianchi@Example.IT")
    assert session.scalar(select(Contact.email)) == "anna.bianchi@example.it"
    with pytest.raises(Conflict) as exc:
        service.create_contact(
            session, users["manager"], first_name="A", email="anna.bianchi@example.it"
        )
    assert exc.value.field == "email"


def test_linkedin_url_is_normalised_and_unique(session: Session, users: dict[str, User]) -> None:
    c = person(session, users["manager"], "Marco", linkedin_url="linkedin.com/in/Marco-Rossi/?x=1")
    assert c.linkedin_url == "https://www.linkedin.com/in/marco-rossi"
    with pytest.raises(Conflict):
        service.create_contact(
            session, users["manager"], first_name="M",
            linkedin_url="https://it.linkedin.com/in/marco-rossi",
        )  # fmt: skip


def test_bad_values_are_invalid(session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    with pytest.raises(Invalid):
        service.create_contact(session, m, first_name="A", email="not-an-email")
    with pytest.raises(Invalid):
        service.create_contact(session, m, first_name="A", linkedin_url="https://example.com/in/a")
    with pytest.raises(Invalid):
        service.create_contact(session, m)  # neither name nor email
    session.rollback()
    assert session.scalar(select(func.count(Contact.id))) == 0


def test_sales_see_and_edit_only_their_own(session: Session, users: dict[str, User]) -> None:
    mine = person(session, users["sales"], "Mine")
    theirs = person(session, users["sales2"], "Theirs")
    assert mine.owner_id == users["sales"].id  # salespeople own what they create
    page = service.search_contacts(session, users["sales"], service.ContactFilter())
    assert [c.id for c in page.items] == [mine.id]
    with pytest.raises(Forbidden):
        service.get_contact(session, users["sales"], theirs.id)
    with pytest.raises(Forbidden):
        service.update_contact(session, users["sales"], theirs, title="CEO")
    # managers and marketers see everyone; marketers cannot edit
    assert service.search_contacts(session, users["manager"], service.ContactFilter()).total == 2
    assert service.search_contacts(session, users["marketer"], service.ContactFilter()).total == 2
    with pytest.raises(Forbidden):
        service.update_contact(session, users["marketer"], mine, title="CEO")
    with pytest.raises(Forbidden):
        service.create_contact(session, users["marketer"], first_name="X")


def test_sales_cannot_give_a_contact_away(session: Session, users: dict[str, User]) -> None:
    mine = person(session, users["sales"], "Mine")
    with pytest.raises(Forbidden):
        service.update_contact(session, users["sales"], mine, owner_id=users["sales2"].id)


def test_marketers_do_not_see_private_notes(session: Session, users: dict[str, User]) -> None:
    c = person(session, users["manager"], "Noted", notes="Prefers calls after 17:00")
    assert service.private_notes_for(users["manager"], c) == "Prefers calls after 17:00"
    assert service.private_notes_for(users["marketer"], c) is None


def test_search_filters_sort_and_paginate(session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    org = service.create_organization(session, m, name="Officine Meccaniche Srl")
    session.commit()
    person(session, m, "Anna", "Bianchi", email="anna@omsrl.it", organization_id=org.id, tags="vip")
    person(session, m, "Bruno", "Verdi", email="bruno@verdi.it", tags="fiera, vip")
    person(session, m, "Carla", "Azzurri", owner_id=users["sales"].id)
    f = service.ContactFilter
    names = lambda p: [c.first_name for c in p.items]  # noqa: E731
    assert names(service.search_contacts(session, m, f(q="officine"))) == ["Anna"]
    assert names(service.search_contacts(session, m, f(q="BRUNO@verdi"))) == ["Bruno"]
    assert names(service.search_contacts(session, m, f(q="50%"))) == []  # LIKE chars escaped
    assert names(service.search_contacts(session, m, f(tag="vip"))) == ["Anna", "Bruno"]
    assert names(service.search_contacts(session, m, f(owner_id=users["sales"].id))) == ["Carla"]
    assert names(service.search_contacts(session, m, f(organization_id=org.id))) == ["Anna"]
    assert names(service.search_contacts(session, m, f(sort="-name"))) == ["Bruno", "Anna", "Carla"]
    page2 = service.search_contacts(session, m, f(per_page=2, page=2))
    assert page2.total == 3 and page2.pages == 2 and names(page2) == ["Bruno"]
    with pytest.raises(Invalid):
        service.search_contacts(session, m, f(sort="password"))
    with pytest.raises(Invalid):
        service.search_contacts(session, m, f(consent="maybe"))


def test_renaming_an_account_updates_search(session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    org = service.create_organization(session, m, name="Old Name")
    session.commit()
    person(session, m, "Anna", organization_id=org.id)
    service.update_organization(session, m, org, name="Nuova Ragione Sociale")
    session.commit()
    hits = service.search_contacts(session, m, service.ContactFilter(q="ragione"))
    assert [c.first_name for c in hits.items] == ["Anna"]


def test_consent_changes_are_recorded(session: Session, users: dict[str, User]) -> None:
    c = person(session, users["sales"], "Anna")
    service.change_consent(session, users["sales"].id, c, "granted", "consent", note="fair form")
    session.commit()
    service.change_consent(session, users["sales"].id, c, "opted_out", "consent", source="email")
    session.commit()
    events = service.consent_history(session, c)
    assert [(e.old_status, e.new_status) for e in events] == [
        ("granted", "opted_out"), ("unknown", "granted"),
    ]  # fmt: skip
    assert all(e.changed_by_id == users["sales"].id and e.at for e in events)
    assert c.opted_out and c.consent_changed_by_id == users["sales"].id
    assert service.change_consent(session, None, c, "opted_out", "consent") is None  # no-op
    with pytest.raises(Invalid):
        service.change_consent(session, None, c, "whatever", "consent")


def test_timeline_pages_back_in_date_order_when_ids_are_not(
    session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    a = person(session, m, "Anna")
    # logged in this order, so ids rise while the dates jump about (an import of history
    # does this), and two share a moment
    for day in (20, 5, 27, 12, 12, 1, 15):
        service.log_interaction(session, m, [a], channel="email", direction="inbound",
                                kind="message", occurred_at=at(day))  # fmt: skip
    session.commit()
    whole = service.timeline(session, a, limit=100)
    assert [i.occurred_at.day for i in whole] == [27, 20, 15, 12, 12, 5, 1]
    pages, before = [], None
    while page := service.timeline(session, a, limit=3, before_id=before):
        pages.append([i.id for i in page])
        before = page[-1].id
    assert [i for page in pages for i in page] == [i.id for i in whole]  # no gap, no repeat
    assert len(pages) == 3
    other = person(session, m, "Bruno")
    with pytest.raises(Invalid):  # a position in somebody else's timeline
        service.timeline(session, other, before_id=whole[0].id)


def test_meeting_with_several_participants(session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    a, b, c = (person(session, m, n) for n in ("Anna", "Bruno", "Carla"))
    service.log_interaction(
        session, m, [a, b, c], channel="meeting", direction="outbound", kind="meeting",
        occurred_at=at(3), summary="Kick-off",
    )  # fmt: skip
    service.log_interaction(
        session, m, [a], channel="shop", direction="inbound", kind="purchase",
        occurred_at=at(9), value_cents=125_050,
    )  # fmt: skip
    session.commit()
    assert [i.kind for i in service.timeline(session, a)] == ["purchase", "meeting"]
    assert [p.first_name for p in service.timeline(session, b)[0].participants] == [
        "Anna", "Bruno", "Carla",
    ]  # fmt: skip
    session.refresh(a)
    session.refresh(b)
    assert a.last_interaction_at == at(9) and b.last_interaction_at == at(3)
    assert service.interaction_counts(session, a) == {"interactions": 2, "value_cents": 125_050}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"kind": "hug"}, "kind"),
        ({"sentiment": 1.5}, "Sentiment"),
        ({"value_cents": -1}, "negative"),
    ],
)
def test_bad_interactions_are_refused(
    session: Session, users: dict[str, User], kwargs: dict, message: str
) -> None:
    a = person(session, users["manager"], "Anna")
    base = dict(channel="email", direction="inbound", kind="message", occurred_at=at(1))
    with pytest.raises(Invalid, match=message):
        service.log_interaction(session, users["manager"], [a], **{**base, **kwargs})
    session.rollback()
    assert session.scalar(select(func.count(Interaction.id))) == 0


def test_external_interactions_are_stored_once(session: Session, users: dict[str, User]) -> None:
    a = person(session, users["manager"], "Anna")
    kw = dict(channel="shop", direction="inbound", kind="purchase", occurred_at=at(2),
              value_cents=999, source="shop", external_id="order-17")  # fmt: skip
    first = service.log_interaction(session, None, [a], **kw)
    again = service.log_interaction(session, None, [a], **kw)
    session.commit()
    assert first.id == again.id
    assert session.scalar(select(func.count(Interaction.id))) == 1


def test_relationships_add_remove_and_refuse_nonsense(
    session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    a, b = person(session, m, "Anna"), person(session, m, "Bruno")
    rel = service.add_relationship(session, m, a, b, "referred_by", 0.8)
    session.commit()
    assert [r.id for r in service.relationships_of(session, b)] == [rel.id]
    with pytest.raises(Conflict):
        service.add_relationship(session, m, a, b, "referred_by")
    with pytest.raises(Invalid):
        service.add_relationship(session, m, a, a, "knows")
    with pytest.raises(Invalid):
        service.add_relationship(session, m, a, b, "loves")
    service.remove_relationship(session, m, rel.id)
    session.commit()
    assert service.relationships_of(session, a) == []
    with pytest.raises(NotFound):
        service.remove_relationship(session, m, rel.id)


def test_merge_moves_history_and_is_audited(session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    keep = person(session, m, "Anna", "Bianchi", email="anna@bianchi.it", tags="vip")
    dup = person(session, m, "Anna", "B.", phone="+39 02 1234", tags="fiera",
                 linkedin_url="https://www.linkedin.com/in/annab")  # fmt: skip
    other = person(session, m, "Bruno")
    shared = service.log_interaction(
        session, m, [keep, dup], channel="meeting", direction="outbound", kind="meeting",
        occurred_at=at(1),
    )  # fmt: skip
    service.log_interaction(
        session, m, [dup], channel="email", direction="inbound", kind="message", occurred_at=at(5),
    )  # fmt: skip
    service.add_relationship(session, m, dup, other, "knows")
    service.add_relationship(session, m, other, keep, "knows")
    service.add_relationship(session, m, keep, dup, "colleague")  # becomes a self-loop: dropped
    session.commit()

    service.merge_contacts(session, m, keep, dup)
    session.commit()

    assert {i.id for i in service.timeline(session, keep)} >= {shared.id}
    assert len(service.timeline(session, keep)) == 2
    assert [p.id for p in service.timeline(session, keep)[1].participants] == [keep.id]
    assert sorted(t.name for t in keep.tags) == ["fiera", "vip"]
    assert keep.phone == "+39 02 1234" and keep.linkedin_url == "https://www.linkedin.com/in/annab"
    rels = session.scalars(select(Relationship)).all()
    assert sorted((r.from_contact_id, r.to_contact_id) for r in rels) == sorted(
        [(keep.id, other.id), (other.id, keep.id)]
    )
    session.refresh(dup)
    assert dup.merged_into_id == keep.id and dup.email is None
    assert service.find_contact_by_key(session, "https://linkedin.com/in/annab").id == keep.id
    with pytest.raises(NotFound):
        service.get_contact(session, m, dup.id)
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.merge"))
    assert audit is not None and audit.details["removed_id"] == dup.id
    assert audit.details["interactions"] == 1
    with pytest.raises(Invalid):
        service.merge_contacts(session, m, keep, keep)


def test_consent_event_count(session: Session, users: dict[str, User]) -> None:
    person(session, users["manager"], "Anna", consent_status="granted", consent_basis="contract")
    ev = session.scalar(select(ConsentEvent))
    assert ev is not None and ev.basis == "contract" and ev.new_status == "granted"


def test_interaction_in_the_future_is_refused(session: Session, users: dict[str, User]) -> None:
    from datetime import timedelta

    from app.db import utcnow

    a = person(session, users["manager"], "Anna")
    with pytest.raises(Invalid, match="future"):
        service.log_interaction(
            session, users["manager"], [a], channel="email", direction="inbound",
            kind="message", occurred_at=utcnow() + timedelta(days=2),
        )  # fmt: skip
