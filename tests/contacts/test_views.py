from __future__ import annotations

import json
import re

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service
from app.contacts.models import Contact, Interaction, Organization
from tests.contacts.helpers import at, person


def test_sales_cannot_open_another_owners_contact_by_url(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    theirs = person(session, users["sales2"], "Theirs")
    login(users["sales"])
    assert client.get(f"/contacts/{theirs.id}").status_code == 403
    assert client.get(f"/contacts/{theirs.id}/edit").status_code == 403
    assert client.post(f"/contacts/{theirs.id}/erase", data={"reason": "x"}).status_code == 403
    assert client.get("/contacts/999999").status_code == 404


def test_marketer_sees_contact_without_notes_and_cannot_edit(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    c = person(session, users["manager"], "Anna", notes="secret dinner preferences")
    login(users["marketer"])
    html = client.get(f"/contacts/{c.id}").get_data(as_text=True)
    assert "Anna" in html and "secret dinner" not in html
    assert client.get(f"/contacts/{c.id}/edit").status_code == 403
    assert client.get("/contacts/new").status_code == 403


def test_the_timeline_pages_back_to_older_interactions(
    client: FlaskClient, login, session: Session, users: dict[str, User], monkeypatch
) -> None:
    from app.contacts import views

    monkeypatch.setattr(views, "TIMELINE_PAGE", 2)
    m = users["manager"]
    anna = person(session, m, "Anna")
    for day, summary in ((3, "oldest call"), (9, "middle call"), (21, "newest call")):
        service.log_interaction(session, m, [anna], channel="phone", direction="outbound",
                                kind="call", occurred_at=at(day), summary=summary)  # fmt: skip
    session.commit()
    login(m)
    html = client.get(f"/contacts/{anna.id}").get_data(as_text=True)
    assert "newest call" in html and "middle call" in html and "oldest call" not in html
    older = re.search(r'href="([^"]+)" id="timeline-older"', html)
    assert older is not None
    html = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "oldest call" in html and "newest call" not in html
    assert 'id="timeline-older"' not in html  # nothing older
    assert client.get(f"/contacts/{anna.id}?before=999999").status_code == 422


def test_create_contact_form_and_duplicate_email(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    login(users["sales"])
    data = {
        "first_name": "Anna",
        "last_name": "Bianchi",
        "email": "anna@example.it",
        "tags": "vip, Fiera ",
        "organization_id": "0",
        "owner_id": "0",
        "language": "it",
    }
    resp = client.post("/contacts/new", data=data)
    assert resp.status_code == 302
    contact = session.scalar(select(Contact))
    assert contact is not None and contact.owner_id == users["sales"].id
    assert [t.name for t in contact.tags] == ["fiera", "vip"]
    resp = client.post("/contacts/new", data={**data, "email": "ANNA@example.it"})
    assert resp.status_code == 422
    assert "Another contact has this email" in resp.get_data(as_text=True)
    resp = client.post("/contacts/new", data={**data, "email": "nope"})
    assert resp.status_code == 422
    assert session.scalar(select(func.count(Contact.id))) == 1


def test_list_marks_opted_out_people_and_filters(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    a = person(session, users["manager"], "Anna")
    person(session, users["manager"], "Bruno")
    service.change_consent(session, users["manager"].id, a, "opted_out", "consent")
    session.commit()
    login(users["manager"])
    html = client.get("/contacts").get_data(as_text=True)
    assert "opted out" in html
    html = client.get("/contacts?consent=opted_out").get_data(as_text=True)
    assert "Anna" in html and "Bruno" not in html
    assert client.get("/contacts?sort=evil").status_code == 200  # bad sort: message, not 500


def test_log_meeting_with_participants_from_the_form(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    a = person(session, m, "Anna", email="anna@example.it")
    person(session, m, "Bruno", email="bruno@example.it")
    login(m)
    resp = client.post(f"/contacts/{a.id}/interactions/new", data={
        "others": "bruno@example.it", "channel": "meeting", "direction": "outbound",
        "kind": "meeting", "occurred_at": "2026-06-01T10:30", "sentiment": "0.5",
        "value": "", "summary": "Visita in fabbrica",
    })  # fmt: skip
    assert resp.status_code == 302
    interaction = session.scalar(select(Interaction))
    assert interaction is not None
    assert sorted(p.first_name for p in interaction.participants) == ["Anna", "Bruno"]
    assert interaction.occurred_at.hour == 8  # 10:30 in Rome (CEST) is 08:30 UTC
    resp = client.post(f"/contacts/{a.id}/interactions/new", data={
        "others": "ghost@example.it", "channel": "meeting", "direction": "outbound",
        "kind": "meeting", "occurred_at": "2026-06-01T10:30",
    })  # fmt: skip
    assert resp.status_code == 422
    assert "Nobody with ghost@example.it" in resp.get_data(as_text=True)
    assert session.scalar(select(func.count(Interaction.id))) == 1


def test_purchase_value_is_stored_in_cents(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    a = person(session, users["manager"], "Anna")
    login(users["manager"])
    client.post(f"/contacts/{a.id}/interactions/new", data={
        "channel": "shop", "direction": "inbound", "kind": "purchase",
        "occurred_at": "2026-06-01T10:30", "value": "1234.56",
    })  # fmt: skip
    assert session.scalar(select(Interaction.value_cents)) == 123456


def test_relationship_and_consent_forms(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    a = person(session, m, "Anna")
    b = person(session, m, "Bruno", email="bruno@example.it")
    login(m)
    assert client.post(f"/contacts/{a.id}/relationships",
                       data={"other": "bruno@example.it", "kind": "knows", "strength": "0.7"}
                       ).status_code == 302  # fmt: skip
    resp = client.post(
        f"/contacts/{a.id}/relationships",
        follow_redirects=True,
        data={"other": "bruno@example.it", "kind": "knows", "strength": "0.7"},
    )
    assert "This relationship already exists" in resp.get_data(as_text=True)
    assert [r.to_contact_id for r in service.relationships_of(session, a)] == [b.id]
    resp = client.post(
        f"/contacts/{a.id}/consent",
        data={"status": "granted", "basis": "consent", "note": "newsletter form"},
    )
    assert resp.status_code == 302
    html = client.get(f"/contacts/{a.id}").get_data(as_text=True)
    assert "newsletter form" in html


def test_merge_form(client: FlaskClient, login, session: Session, users: dict[str, User]) -> None:
    m = users["manager"]
    keep = person(session, m, "Anna", email="anna@example.it")
    dup = person(session, m, "Anna", email="anna.b@example.it")
    login(m)
    resp = client.post(f"/contacts/{keep.id}/merge", data={"other": "anna.b@example.it"})
    assert resp.status_code == 422  # confirmation box not ticked
    resp = client.post(f"/contacts/{keep.id}/merge", data={"other": str(dup.id), "confirm": "y"})
    assert resp.status_code == 302
    session.refresh(dup)
    assert dup.merged_into_id == keep.id


def test_export_and_erase_a_person(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    a = person(session, m, "Anna", "Bianchi", email="anna@example.it", phone="+39 333",
               notes="likes wine", linkedin_url="https://www.linkedin.com/in/annab")  # fmt: skip
    b = person(session, m, "Bruno")
    service.add_relationship(session, m, a, b, "knows")
    service.log_interaction(
        session,
        m,
        [a],
        channel="shop",
        direction="inbound",
        kind="purchase",
        occurred_at=a.created_at,
        value_cents=5000,
        summary="Ordine 12",
    )
    session.commit()
    login(m)
    data = json.loads(client.get(f"/contacts/{a.id}/export.json").get_data(as_text=True))
    assert data["contact"]["email"] == "anna@example.it"
    assert data["interactions"][0]["value_cents"] == 5000
    assert data["relationships"][0]["to"] == "Bruno"

    assert client.post(f"/contacts/{a.id}/erase", data={"reason": ""}).status_code == 422
    assert (
        client.post(f"/contacts/{a.id}/erase", data={"reason": "GDPR request"}).status_code == 302
    )
    session.expire_all()
    erased = session.get(Contact, a.id)
    assert erased is not None and erased.erased_at is not None
    assert (erased.email, erased.phone, erased.notes, erased.linkedin_url) == (None,) * 4
    assert "Anna" not in erased.full_name and erased.opted_out
    assert service.relationships_of(session, erased) == []
    # counts and amounts stay; the free text goes
    assert service.interaction_counts(session, erased) == {"interactions": 1, "value_cents": 5000}
    assert session.scalar(select(Interaction.summary)) is None
    assert "Bianchi" not in client.get("/contacts").get_data(as_text=True)


def test_account_pages(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    login(users["sales"])
    resp = client.post("/accounts/new", data={
        "name": "Cantina Rossi", "domain": "www.cantinarossi.it", "annual_value": "25000",
        "size_band": "10-49", "owner_id": "0",
    })  # fmt: skip
    assert resp.status_code == 302
    org = session.scalar(select(Organization))
    assert org is not None and org.annual_value_cents == 2_500_000
    assert org.domain == "cantinarossi.it" and org.owner_id == users["sales"].id
    resp = client.post(
        "/accounts/new", data={"name": "Copy", "domain": "cantinarossi.it", "owner_id": "0"}
    )
    assert resp.status_code == 422
    html = client.get(f"/accounts/{org.id}").get_data(as_text=True)
    assert "Cantina Rossi" in html and "25.000" in html or "25,000" in html


def test_a_hubs_relationships_fold_strongest_first_in_the_readers_language(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    hub = person(session, m, "Hub")
    for i in range(15):
        other = person(session, m, f"Tie{i:02d}")
        service.add_relationship(session, m, hub, other, "colleague", round(0.1 + i * 0.05, 2))
    session.commit()
    login(m)
    html = client.get(f"/contacts/{hub.id}", headers={"Accept-Language": "it"}).get_data(
        as_text=True
    )
    section = html.split('id="relationships"')[1].split("</section>")[0]
    shown, folded = section.split("<details")
    assert shown.index("Tie14") < shown.index("Tie13")  # strongest first
    assert "Tie02" not in shown and "Tie02" in folded  # the weakest three fold away
    assert "Tutte le 15 relazioni" in folded
    assert "0,8" in shown  # strengths in the reader's number format
    assert '<option value="colleague">collega</option>' in section  # the kind, in Italian
