"""The segment pages: list with live counts, the rule builder (add/remove rows, preview
without saving, save), a segment's members, static lists, delete, and who may do what."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import g
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service
from app.contacts.models import Contact
from app.segments import rules
from app.segments.models import Segment, SegmentMember


@pytest.fixture
def people(session: Session, users: dict[str, User]) -> dict[str, Contact]:
    manager = users["manager"]
    out = {
        "anna": service.create_contact(
            session, manager, first_name="Anna", last_name="Rossi", email="anna@alfa.it",
            city="Milano", owner_id=users["sales"].id, tags=["vip"],
            linkedin_url="https://www.linkedin.com/in/anna-rossi",
        ),
        "bruno": service.create_contact(
            session, manager, first_name="Bruno", last_name="Bianchi", email="bruno@beta.it",
            city="Milano", owner_id=users["sales2"].id,
        ),
        "carla": service.create_contact(
            session, manager, first_name="Carla", last_name="Verdi", email="carla@x.com",
            city="Roma", owner_id=users["sales"].id,
        ),
    }  # fmt: skip
    session.commit()
    return out


def form_data(name: str, rows: list[tuple[str, str, str]], **extra: str) -> dict[str, str]:
    data = {"name": name, "kind": extra.pop("kind", "rules"), "match": extra.pop("match", "all")}
    for i, (field, op, value) in enumerate(rows):
        data[f"rules-{i}-field"] = field
        data[f"rules-{i}-operator"] = op
        data[f"rules-{i}-value"] = value
    data.update(extra)
    return data


def fresh(session: Session) -> None:
    """See what the requests committed: end the test's read transaction (a snapshot on
    SQLite) and forget the rows it loaded (requests may run in their own session)."""
    session.rollback()
    session.expire_all()


def segment_count(session: Session) -> int:
    fresh(session)
    return session.scalar(select(func.count()).select_from(Segment)) or 0


def switch_user(client: Any, login: Any, user: User) -> Any:
    client.post("/logout")
    g.pop("_login_user", None)
    return login(user)


def test_new_segment_form_renders_the_builder_without_inline_script(
    login: Any, users: dict[str, User]
) -> None:
    client = login(users["marketer"])
    resp = client.get("/segments/new")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'name="rules-0-field"' in html and 'name="rules-0-operator"' in html
    assert 'data-operators="has_tag lacks_tag"' in html  # the tag field's operators
    assert "<optgroup" in html
    assert re.search(r'<script src="[^"]*segments\.js"', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert 'name="preview"' in html and 'name="save"' in html and 'name="add_rule"' in html


def test_add_and_remove_rule_rows_rerender_without_saving(
    session: Session, login: Any, users: dict[str, User]
) -> None:
    client = login(users["marketer"])
    rows = [("city", "eq", "Milano")]
    resp = client.post("/segments/new", data=form_data("X", rows, add_rule="Add rule"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'name="rules-1-field"' in html and 'value="Milano"' in html
    rows2 = [("city", "eq", "Milano"), ("first_name", "eq", "Anna")]
    resp = client.post("/segments/new", data=form_data("X", rows2, **{"rules-0-remove": "x"}))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'value="Anna"' in html and 'value="Milano"' not in html
    assert segment_count(session) == 0


def test_preview_shows_live_count_and_people_without_saving(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    client = login(users["marketer"])
    data = form_data("Milan", [("city", "eq", "milano")], preview="Preview")
    resp = client.post("/segments/new", data=data)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<span id="preview-count">2</span>' in html
    assert "Anna Rossi" in html and "Bruno Bianchi" in html and "Carla Verdi" not in html
    assert segment_count(session) == 0
    # any: Milan or Rome
    data = form_data(
        "Milan", [("city", "eq", "milano"), ("city", "eq", "roma")], match="any", preview="1"
    )
    assert '<span id="preview-count">3</span>' in client.post("/segments/new", data=data).text
    assert segment_count(session) == 0


def test_salespeople_preview_and_list_only_their_own_people(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    client = login(users["sales"])
    data = form_data("Milan", [("city", "eq", "milano")], preview="Preview")
    html = client.post("/segments/new", data=data).get_data(as_text=True)
    assert '<span id="preview-count">1</span>' in html
    assert "Anna Rossi" in html and "Bruno Bianchi" not in html
    segment = rules.create_segment(
        session, users["marketer"], name="Milan",
        rules=[{"field": "city", "operator": "eq", "value": "milano"}],
    )  # fmt: skip
    session.commit()
    html = client.get("/segments").get_data(as_text=True)
    assert f'data-segment="{segment.id}">1<' in html
    show = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert "Anna Rossi" in show and "Bruno Bianchi" not in show
    # salespeople cannot change someone else's segment
    assert client.get(f"/segments/{segment.id}/edit").status_code == 403
    assert client.post(f"/segments/{segment.id}/delete").status_code == 403
    client = switch_user(client, login, users["manager"])
    html = client.get("/segments").get_data(as_text=True)
    assert f'data-segment="{segment.id}">2<' in html


def test_bad_rule_shows_the_error_and_saves_nothing(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    client = login(users["marketer"])
    for button in ("preview", "save"):
        data = form_data(
            "Bad", [("city", "eq", "x"), ("score.potential", "gt", "lots")], **{button: "1"}
        )
        resp = client.post("/segments/new", data=data)
        assert resp.status_code == 422
        assert "Rule 2:" in resp.get_data(as_text=True)
    # a forged field name is refused the same way
    resp = client.post(
        "/segments/new", data=form_data("Bad", [("password_hash", "eq", "x")], save="1")
    )
    assert resp.status_code == 422 and "unknown field" in resp.get_data(as_text=True)
    resp = client.post("/segments/new", data=form_data("", [("city", "eq", "x")], save="1"))
    assert resp.status_code == 422
    assert segment_count(session) == 0


def test_save_show_edit_and_delete(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    client = login(users["marketer"])
    data = form_data("Milan", [("city", "eq", "Milano"), ("tags", "has_tag", "vip")], save="1")
    resp = client.post("/segments/new", data=data)
    assert resp.status_code == 302
    segment = session.scalar(select(Segment).where(Segment.name == "Milan"))
    assert segment is not None and segment.created_by_id == users["marketer"].id
    segment_id = segment.id
    assert resp.headers["Location"].endswith(f"/segments/{segment_id}")
    show = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert '<small class="muted" id="segment-count">1</small>' in show
    assert "Anna Rossi" in show and "Bruno Bianchi" not in show

    edit = client.get(f"/segments/{segment.id}/edit").get_data(as_text=True)
    assert 'value="Milan"' in edit and 'value="vip"' in edit and 'name="kind"' not in edit
    data = form_data("Milan all", [("city", "eq", "Milano")], save="1")
    resp = client.post(f"/segments/{segment.id}/edit", data=data)
    assert resp.status_code == 302
    fresh(session)
    assert segment.name == "Milan all" and len(segment.rules) == 1
    show = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert '<small class="muted" id="segment-count">2</small>' in show

    # a name already taken is a form error, not a 500
    rules.create_segment(session, users["manager"], name="Taken")
    session.commit()
    data = form_data("Taken", [("city", "eq", "Milano")], save="1")
    resp = client.post(f"/segments/{segment.id}/edit", data=data)
    assert resp.status_code == 422 and "Another segment has this name." in resp.text
    fresh(session)
    assert segment.name == "Milan all"

    resp = client.post(f"/segments/{segment_id}/delete")
    assert resp.status_code == 302
    assert segment_count(session) == 1
    assert client.get(f"/segments/{segment_id}").status_code == 404


def test_a_saved_rule_reads_in_the_users_language(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    segment = rules.create_segment(
        session, users["manager"], name="Granted, not one-to-one",
        rules=[
            {"field": "tier", "operator": "ne", "value": "one_to_one"},
            {"field": "consent_status", "operator": "in", "value": ["granted", "unknown"]},
            {"field": "account.key_account", "operator": "eq", "value": "yes"},
        ],
    )  # fmt: skip
    session.commit()
    client = login(users["manager"])
    english = client.get(f"/segments/{segment.id}").text
    assert "<strong>one-to-one</strong>" in english and "one_to_one" not in english
    assert "<strong>yes</strong>" in english
    italian = client.get(f"/segments/{segment.id}?lang=it").text
    assert "<strong>concesso, sconosciuto</strong>" in italian
    assert "<strong>sì</strong>" in italian and "granted" not in italian
    edit = client.get(f"/segments/{segment.id}/edit").text  # what to type, and its meaning
    assert "one_to_one (one-to-one)" in edit and "granted (concesso)" in edit


def test_a_new_contact_shows_up_in_the_saved_segment_page_at_once(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    segment = rules.create_segment(
        session, users["manager"], name="Turin",
        rules=[{"field": "city", "operator": "eq", "value": "torino"}],
    )  # fmt: skip
    session.commit()
    client = login(users["manager"])
    assert f'data-segment="{segment.id}">0<' in client.get("/segments").text
    service.create_contact(session, users["manager"], first_name="Giulia", city="Torino")
    session.commit()
    assert f'data-segment="{segment.id}">1<' in client.get("/segments").text
    assert "Giulia" in client.get(f"/segments/{segment.id}").text


def test_static_list_pages(
    session: Session, login: Any, users: dict[str, User], people: dict[str, Contact]
) -> None:
    client = login(users["sales"])
    resp = client.post(
        "/segments/new", data=form_data("Dinner", [("", "eq", "")], kind="static", save="1")
    )
    assert resp.status_code == 302
    segment = session.scalar(select(Segment).where(Segment.name == "Dinner"))
    assert segment is not None and segment.kind == "static"
    url = f"/segments/{segment.id}"
    resp = client.post(f"{url}/members", data={"key": "ANNA@alfa.it"})
    assert resp.status_code == 302
    resp = client.post(f"{url}/members", data={"key": "linkedin.com/in/anna-rossi/"})
    assert "already on the list" in client.get(url).text
    client.post(f"{url}/members", data={"key": "carla@x.com"})
    # someone else's contact and an unknown address are refused alike
    client.post(f"{url}/members", data={"key": "bruno@beta.it"})
    assert "No person with this email or LinkedIn URL." in client.get(url).text
    client.post(f"{url}/members", data={"key": "nobody@example.com"})
    show = client.get(url).text
    assert "No person with this email or LinkedIn URL." in show
    assert '<small class="muted" id="segment-count">2</small>' in show
    assert "Anna Rossi" in show and "Carla Verdi" in show
    resp = client.post(f"{url}/members/{people['carla'].id}/delete")
    assert resp.status_code == 302
    fresh(session)
    members = session.scalars(select(SegmentMember.contact_id)).all()
    assert members == [people["anna"].id]
    # the edit page of a static list has no rules to preview
    edit = client.get(f"{url}/edit").text
    assert 'name="preview"' not in edit


def test_list_page_pages_and_login(
    session: Session, client: Any, login: Any, users: dict[str, User]
) -> None:
    assert client.get("/segments").status_code == 302  # login first
    login(users["admin"])
    html = client.get("/segments").text
    assert "No segments yet." in html
    assert client.get("/segments/999").status_code == 404
