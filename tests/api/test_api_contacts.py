"""Contacts, accounts and interactions over /api/v1: what a shop or a website would do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.schemas import ContactIn, InteractionIn
from app.auth.models import User
from app.auth.service import API_SCOPES, create_api_token
from app.contacts.models import ConsentEvent, Contact, Interaction, Organization
from app.contacts.service import create_contact, log_interaction


class Api:
    """A test client that sends one user's bearer token."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", query_string=params, headers=self.headers)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        if body is not None:
            kw["json"] = body
        return self.client.post(f"/api/v1{path}", headers=self.headers, **kw)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", json=body, headers=self.headers)


def api_for(client: FlaskClient, session: Session, user: User, name: str = "shop") -> Api:
    _, secret = create_api_token(session, user, name, list(API_SCOPES))
    session.commit()
    return Api(client, secret)


@pytest.fixture
def manager_api(client: FlaskClient, session: Session, users: dict[str, User]) -> Api:
    return api_for(client, session, users["manager"])


@pytest.fixture
def sales_api(client: FlaskClient, session: Session, users: dict[str, User]) -> Api:
    return api_for(client, session, users["sales"])


def count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def purchase(who: list[Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "participants": who,
        "channel": "shop",
        "direction": "inbound",
        "kind": "purchase",
        "occurred_at": "2025-03-01T10:30:00+01:00",
        "value_cents": 12900,
        "summary": "Two bottles of olive oil",
    }
    body.update(overrides)
    return body


def field_names(resp: Any) -> set[str]:
    return {e["field"] for e in resp.get_json()["errors"]}


# ---------------------------------------------------------------- contacts


def test_create_read_update_and_search_a_contact(
    manager_api: Api, session: Session, users: dict[str, User]
) -> None:
    resp = manager_api.post(
        "/contacts",
        {
            "first_name": "Anna",
            "last_name": "Rossi",
            "email": "Anna.Rossi@Example.com",
            "country": "it",
            "tags": ["VIP", "olio"],
            "consent_status": "granted",
            "consent_basis": "consent",
            "owner_id": users["sales"].id,
            "custom_fields": {"shop_customer_id": "C-17"},
        },
    )
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["email"] == "anna.rossi@example.com"
    assert created["country"] == "IT"
    assert created["tags"] == ["olio", "vip"]
    assert created["consent_status"] == "granted"
    assert created["owner_id"] == users["sales"].id
    assert created["source"] == "api"
    contact_id = created["id"]
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id))
    assert [e.source for e in events] == ["api"]

    assert manager_api.get(f"/contacts/{contact_id}").get_json()["full_name"] == "Anna Rossi"

    resp = manager_api.patch(f"/contacts/{contact_id}", {"title": "Buyer", "tags": ["vip"]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["title"] == "Buyer"
    assert resp.get_json()["tags"] == ["vip"]
    assert resp.get_json()["last_name"] == "Rossi"

    resp = manager_api.patch(f"/contacts/{contact_id}", {"consent_status": "opted_out"})
    assert resp.get_json()["consent_status"] == "opted_out"

    listed = manager_api.get("/contacts", q="rossi", tag="vip").get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == contact_id
    assert manager_api.get("/contacts", q="nobody").get_json()["total"] == 0
    assert manager_api.get("/contacts", consent="opted_out").get_json()["total"] == 1
    assert manager_api.get("/contacts", tier="").get_json()["total"] == 1

    found = manager_api.get("/contacts/lookup", email="ANNA.rossi@example.com")
    assert found.status_code == 200 and found.get_json()["id"] == contact_id
    assert manager_api.get("/contacts/lookup", email="x@example.com").status_code == 404
    assert manager_api.get("/contacts/lookup").status_code == 422


def test_salesperson_creates_contacts_they_own(sales_api: Api, users: dict[str, User]) -> None:
    resp = sales_api.post("/contacts", {"first_name": "Bruno", "owner_id": users["sales2"].id})
    assert resp.status_code == 201
    assert resp.get_json()["owner_id"] == users["sales"].id


def test_pagination(manager_api: Api, session: Session, users: dict[str, User]) -> None:
    for i in range(5):
        create_contact(session, users["manager"], first_name=f"P{i}", last_name="Page")
    session.commit()
    page = manager_api.get("/contacts", per_page=2, page=3).get_json()
    assert (page["total"], page["pages"], page["page"], len(page["items"])) == (5, 3, 3, 1)
    assert manager_api.get("/contacts", per_page=0).status_code == 422
    assert manager_api.get("/contacts", page="two").status_code == 422


def test_duplicate_email_is_409_case_insensitive(manager_api: Api, session: Session) -> None:
    assert manager_api.post("/contacts", {"email": "dup@example.com"}).status_code == 201
    resp = manager_api.post("/contacts", {"first_name": "Again", "email": "DUP@Example.COM"})
    assert resp.status_code == 409
    body = resp.get_json()
    assert resp.content_type == "application/problem+json"
    assert body["field"] == "email"
    assert count(session, Contact) == 1


def test_duplicate_linkedin_is_409(manager_api: Api) -> None:
    url = "https://www.linkedin.com/in/anna-rossi"
    assert (
        manager_api.post("/contacts", {"linkedin_url": url, "first_name": "A"}).status_code == 201
    )
    resp = manager_api.post(
        "/contacts", {"first_name": "B", "linkedin_url": "linkedin.com/in/Anna-Rossi/"}
    )
    assert resp.status_code == 409
    assert resp.get_json()["field"] == "linkedin_url"


def test_deeply_nested_json_is_422(manager_api: Api) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    resp = manager_api.post("/contacts", {"first_name": "A", "custom_fields": {"a": deep}})
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["field"].startswith("custom_fields.a.0.0")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": 12}, "first_name"),
        ({"first_name": "A", "email": "not an email"}, "email"),
        ({"first_name": "A", "country": "Italy"}, "country"),
        ({"first_name": "A", "phone": "1" * 51}, "phone"),
        ({"first_name": "A", "nickname": "x"}, "nickname"),
        ({"first_name": "A", "consent_status": "maybe"}, "consent_status"),
        ({"first_name": "A", "organization_id": 999_999}, "organization_id"),
        ({"first_name": "A", "owner_id": 999_999}, "owner_id"),
        ({"first_name": "A", "owner_id": 10**12}, "owner_id"),
        ({"first_name": "A\x00B"}, "first_name"),
        ({"first_name": "\ud800"}, "first_name"),
        ({"first_name": "A", "custom_fields": {"k\x00": 1}}, "custom_fields"),
        ({"last_name": ""}, "first_name"),
    ],
)
def test_invalid_contact_is_422_with_readable_errors(
    manager_api: Api, session: Session, body: dict[str, Any], field: str
) -> None:
    resp = manager_api.post("/contacts", body)
    assert resp.status_code == 422, resp.get_json()
    problem = resp.get_json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert field in field_names(resp)
    assert all(e["message"] for e in problem["errors"])
    assert count(session, Contact) == 0


@pytest.mark.parametrize(
    "raw",
    [b"", b"{not json", b"[1, 2]", b'"text"', b'{"first_name": NaN}', b"\xff\xfe\x00"],
)
def test_bad_json_is_400(manager_api: Api, raw: bytes) -> None:
    resp = manager_api.post("/contacts", data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert resp.content_type == "application/problem+json"
    assert resp.get_json()["detail"]


def test_unknown_and_huge_ids_are_404(manager_api: Api) -> None:
    assert manager_api.get("/contacts/12345").status_code == 404
    assert manager_api.get(f"/contacts/{10**20}").status_code == 404
    assert manager_api.get("/organizations/12345").status_code == 404
    assert manager_api.patch("/contacts/12345", {"title": "x"}).status_code == 404
    resp = manager_api.get("/nowhere")
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"


def test_wrong_method_is_405_problem(manager_api: Api) -> None:
    resp = manager_api.client.delete("/api/v1/contacts", headers=manager_api.headers)
    assert resp.status_code == 405
    assert resp.content_type == "application/problem+json"


# ---------------------------------------------------------------- organizations


def test_organizations(manager_api: Api, sales_api: Api, session: Session, users: dict) -> None:
    resp = manager_api.post(
        "/organizations",
        {"name": "Frantoio Bianchi", "domain": "www.Bianchi.it", "annual_value_cents": 500000,
         "key_account": True, "size_band": "10-49"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    org = resp.get_json()
    assert org["domain"] == "bianchi.it" and org["key_account"] is True
    assert manager_api.get(f"/organizations/{org['id']}").get_json()["name"] == "Frantoio Bianchi"
    listed = manager_api.get("/organizations", q="bianchi").get_json()
    assert [o["id"] for o in listed["items"]] == [org["id"]]

    resp = manager_api.post("/organizations", {"name": "Other", "domain": "bianchi.it"})
    assert resp.status_code == 409 and resp.get_json()["field"] == "domain"
    resp = manager_api.post("/organizations", {"name": "X", "annual_value_cents": -1})
    assert resp.status_code == 422 and "annual_value_cents" in field_names(resp)
    resp = manager_api.post("/organizations", {"name": "X", "size_band": "huge"})
    assert resp.status_code == 422 and "size_band" in field_names(resp)
    assert manager_api.post("/organizations", {"domain": "x.it"}).status_code == 422

    # A salesperson sees only accounts they own or where they own people.
    assert sales_api.get(f"/organizations/{org['id']}").status_code in (403, 404)
    assert sales_api.get("/organizations").get_json()["total"] == 0
    own = sales_api.post("/organizations", {"name": "Mine"}).get_json()
    assert own["owner_id"] == users["sales"].id
    assert count(session, Organization) == 2

    person = manager_api.post(
        "/contacts", {"first_name": "Gino", "organization_id": org["id"]}
    ).get_json()
    assert person["organization_name"] == "Frantoio Bianchi"
    filtered = manager_api.get("/contacts", organization_id=org["id"]).get_json()
    assert [c["id"] for c in filtered["items"]] == [person["id"]]


# ---------------------------------------------------------------- interactions


@pytest.fixture
def people(session: Session, users: dict[str, User]) -> dict[str, Contact]:
    out = {
        "anna": create_contact(
            session, users["sales"], first_name="Anna", email="anna@example.com",
            linkedin_url="https://www.linkedin.com/in/anna",
        ),
        "bruno": create_contact(session, users["sales"], first_name="Bruno", email="b@ex.com"),
        "carla": create_contact(session, users["sales2"], first_name="Carla", email="c@ex.com"),
    }  # fmt: skip
    session.commit()
    return out


def test_record_interaction_by_email_linkedin_and_id(
    manager_api: Api, session: Session, people: dict[str, Contact]
) -> None:
    resp = manager_api.post(
        "/interactions",
        purchase(
            ["ANNA@example.com", "linkedin.com/in/anna", people["bruno"].id],
            external_id="order-1", sentiment=0.5,
        ),
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert sorted(body["participant_ids"]) == sorted([people["anna"].id, people["bruno"].id])
    assert body["source"] == "api:shop"
    assert body["occurred_at"].startswith("2025-03-01T09:30:00")
    assert body["value_cents"] == 12900

    timeline = manager_api.get(f"/contacts/{people['anna'].id}/interactions").get_json()
    assert [i["id"] for i in timeline["items"]] == [body["id"]]
    anna = manager_api.get(f"/contacts/{people['anna'].id}").get_json()
    assert anna["last_interaction_at"].startswith("2025-03-01T09:30:00")


def test_interactions_page_back_by_the_last_id_received(
    manager_api: Api, session: Session, people: dict[str, Contact]
) -> None:
    ids = []
    for n, day in enumerate((9, 2, 5)):  # sent out of date order
        resp = manager_api.post("/interactions", {
            **purchase(["anna@example.com"], external_id=f"order-{n}"),
            "occurred_at": f"2025-03-0{day}T09:30:00+00:00",
        })  # fmt: skip
        assert resp.status_code == 201, resp.get_json()
        ids.append(resp.get_json()["id"])
    path = f"/contacts/{people['anna'].id}/interactions"
    first = manager_api.get(path, limit=2).get_json()["items"]
    rest = manager_api.get(path, limit=2, before_id=first[-1]["id"]).get_json()["items"]
    assert [i["id"] for i in first + rest] == [ids[0], ids[2], ids[1]]
    resp = manager_api.get(path, before_id=999_999)
    assert resp.status_code == 422 and resp.get_json()["field"] == "before_id"


def test_interaction_ingest_is_idempotent(
    manager_api: Api, session: Session, people: dict[str, Contact]
) -> None:
    body = purchase(["anna@example.com"], external_id="order-42")
    first = manager_api.post("/interactions", body)
    again = manager_api.post("/interactions", body)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count(session, Interaction) == 1

    # The same external id from another source is another interaction.
    other = manager_api.post("/interactions", {**body, "source": "website"})
    assert other.status_code == 201
    assert count(session, Interaction) == 2
    # Without an external id nothing ties two posts together.
    del body["external_id"]
    assert manager_api.post("/interactions", body).status_code == 201
    assert manager_api.post("/interactions", body).status_code == 201
    assert count(session, Interaction) == 4


def test_unknown_participant_is_422_naming_it_and_writes_nothing(
    manager_api: Api, session: Session, people: dict[str, Contact]
) -> None:
    resp = manager_api.post(
        "/interactions",
        purchase(["anna@example.com", "ghost@example.com", 999_999], external_id="o-9"),
    )
    assert resp.status_code == 422
    problem = resp.get_json()
    assert "ghost@example.com" in problem["detail"] and "999999" in problem["detail"]
    assert field_names(resp) == {"participants.1", "participants.2"}
    assert count(session, Interaction) == 0
    session.refresh(people["anna"])
    assert people["anna"].last_interaction_at is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"direction": "sideways"}, "direction"),
        ({"kind": "hug"}, "kind"),
        ({"occurred_at": "2025-03-01T10:30:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
        ({"value_cents": -100}, "value_cents"),
        ({"value_cents": 10**20}, "value_cents"),
        ({"value_cents": "a lot"}, "value_cents"),
        ({"sentiment": 2}, "sentiment"),
        ({"participants": []}, "participants"),
        ({"participants": "anna@example.com"}, "participants"),
        ({"participants": [True]}, "participants.0"),
        ({"summary": "bad \x00 byte"}, "summary"),
        ({"source": "has spaces"}, "source"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_interaction_is_422(
    manager_api: Api,
    session: Session,
    people: dict[str, Contact],
    overrides: dict[str, Any],
    field: str,
) -> None:
    resp = manager_api.post("/interactions", purchase(["anna@example.com"], **overrides))
    assert resp.status_code == 422, resp.get_json()
    assert field in field_names(resp)
    assert count(session, Interaction) == 0


def test_missing_fields_are_all_listed(manager_api: Api) -> None:
    resp = manager_api.post("/interactions", {})
    assert resp.status_code == 422
    assert {"participants", "channel", "direction", "kind", "occurred_at"} <= field_names(resp)


def test_salesperson_cannot_log_with_another_owners_contact(
    sales_api: Api, session: Session, people: dict[str, Contact]
) -> None:
    resp = sales_api.post("/interactions", purchase(["anna@example.com", "c@ex.com"]))
    assert resp.status_code in (403, 404)
    assert count(session, Interaction) == 0
    assert sales_api.post("/interactions", purchase(["anna@example.com"])).status_code == 201


def test_replay_cannot_reveal_another_owners_interaction(
    sales_api: Api, session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    log_interaction(
        session, users["sales2"], [people["carla"]], channel="shop", direction="inbound",
        kind="purchase", occurred_at=datetime.now(UTC), source="shop",
        external_id="order-7",
    )  # fmt: skip
    session.commit()
    resp = sales_api.post(
        "/interactions", purchase(["anna@example.com"], source="shop", external_id="order-7")
    )
    assert resp.status_code == 409
    assert "Carla" not in resp.get_data(as_text=True)


def test_timeline_hides_participants_the_caller_cannot_see(
    sales_api: Api, manager_api: Api, people: dict[str, Contact]
) -> None:
    resp = manager_api.post(
        "/interactions",
        purchase([people["anna"].id, people["carla"].id], channel="meeting", kind="meeting"),
    )
    assert resp.status_code == 201
    items = sales_api.get(f"/contacts/{people['anna'].id}/interactions").get_json()["items"]
    assert items[0]["participant_ids"] == [people["anna"].id]
    assert sales_api.get(f"/contacts/{people['anna'].id}/interactions", limit=0).status_code == 422


# ---------------------------------------------------------------- never a 500

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
INTERACTION_KEYS = list(InteractionIn.model_fields)
CONTACT_KEYS = list(ContactIn.model_fields)


def _bodies(keys: list[str], valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly-valid bodies with a few fields replaced by arbitrary JSON."""
    return st.builds(
        lambda junk: {**valid, **junk},
        st.dictionaries(st.sampled_from([*keys, "extra"]), json_values, max_size=3),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    interaction=_bodies(INTERACTION_KEYS, purchase(["anna@example.com"])),
    contact=_bodies(CONTACT_KEYS, {"first_name": "Fuzz"}),
)
def test_arbitrary_input_never_causes_a_server_error(
    manager_api: Api, people: dict[str, Contact], interaction: Any, contact: Any
) -> None:
    anna = people["anna"].id
    for method, path, body in (
        ("post", "/interactions", interaction),
        ("post", "/contacts", contact),
        ("patch", f"/contacts/{anna}", contact),
        ("post", "/organizations", {"name": "Fuzz", **contact}),
    ):
        resp = getattr(manager_api, method)(path, body)
        assert resp.status_code < 500, (path, body, resp.get_json())
        assert resp.is_json
