"""Bearer tokens on /api/v1: missing, bad, revoked, wrong scope, and whose rules apply."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, User
from app.auth.service import API_SCOPES, create_api_token, revoke_api_token
from app.contacts.service import create_contact


def make_token(session: Session, user: User, scopes: tuple[str, ...] = API_SCOPES) -> str:
    _, secret = create_api_token(session, user, "test", list(scopes))
    session.commit()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_no_token_is_401_with_challenge(client: FlaskClient, users: dict[str, User]) -> None:
    resp = client.get("/api/v1/contacts")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.content_type == "application/problem+json"
    assert "token" in resp.get_json()["detail"]


def test_wrong_scheme_and_unknown_token_are_401(client: FlaskClient, users: dict) -> None:
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer cer_not-a-real-token", "cer_x"):
        resp = client.get("/api/v1/contacts", headers={"Authorization": header})
        assert resp.status_code == 401, header
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_works_and_records_use(
    client: FlaskClient, session: Session, users: dict[str, User]
) -> None:
    secret = make_token(session, users["manager"])
    resp = client.get("/api/v1/contacts", headers=bearer(secret))
    assert resp.status_code == 200
    assert resp.get_json()["items"] == []
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == users["manager"].id))
    assert token is not None
    session.refresh(token)
    assert token.last_used_at is not None


def test_revoked_token_is_refused(
    client: FlaskClient, session: Session, users: dict[str, User]
) -> None:
    token, secret = create_api_token(session, users["sales"], "shop", ["contacts:read"])
    session.commit()
    assert client.get("/api/v1/contacts", headers=bearer(secret)).status_code == 200
    revoke_api_token(session, users["sales"], token.id)
    session.commit()
    resp = client.get("/api/v1/contacts", headers=bearer(secret))
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_token_of_deactivated_user_is_refused(
    client: FlaskClient, session: Session, users: dict[str, User]
) -> None:
    secret = make_token(session, users["sales"])
    users["sales"].active = False
    session.commit()
    assert client.get("/api/v1/contacts", headers=bearer(secret)).status_code == 401


def test_missing_scope_is_403(
    client: FlaskClient, session: Session, users: dict[str, User]
) -> None:
    secret = make_token(session, users["manager"], ("contacts:read",))
    resp = client.post("/api/v1/contacts", json={"first_name": "Anna"}, headers=bearer(secret))
    assert resp.status_code == 403
    assert "contacts:write" in resp.get_json()["detail"]
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    resp = client.post(
        "/api/v1/interactions",
        json={
            "participants": [1],
            "channel": "shop",
            "direction": "inbound",
            "kind": "purchase",
            "occurred_at": "2025-01-01T10:00:00Z",
        },
        headers=bearer(secret),
    )
    assert resp.status_code == 403


def test_auth_comes_before_validation(client: FlaskClient, users: dict) -> None:
    resp = client.post("/api/v1/contacts", data="not json", content_type="application/json")
    assert resp.status_code == 401


def test_salesperson_token_cannot_read_another_owners_contact(
    client: FlaskClient, session: Session, users: dict[str, User]
) -> None:
    theirs = create_contact(session, users["sales2"], first_name="Other", email="o@example.com")
    mine = create_contact(session, users["sales"], first_name="Mine", email="m@example.com")
    session.commit()
    secret = make_token(session, users["sales"])
    assert client.get(f"/api/v1/contacts/{mine.id}", headers=bearer(secret)).status_code == 200
    resp = client.get(f"/api/v1/contacts/{theirs.id}", headers=bearer(secret))
    assert resp.status_code in (403, 404)
    assert "Other" not in resp.get_data(as_text=True)
    resp = client.get(
        "/api/v1/contacts/lookup", query_string={"email": "o@example.com"}, headers=bearer(secret)
    )
    assert resp.status_code == 404
    listed = client.get("/api/v1/contacts", headers=bearer(secret)).get_json()
    assert [c["id"] for c in listed["items"]] == [mine.id]
    resp = client.get(f"/api/v1/contacts/{theirs.id}/interactions", headers=bearer(secret))
    assert resp.status_code in (403, 404)
    resp = client.patch(
        f"/api/v1/contacts/{theirs.id}", json={"title": "CEO"}, headers=bearer(secret)
    )
    assert resp.status_code in (403, 404)


def test_marketer_token_reads_without_private_notes_and_cannot_write(
    client: FlaskClient, session: Session, users: dict[str, User]
) -> None:
    contact = create_contact(session, users["sales"], first_name="Noted", notes="secret note")
    session.commit()
    marketer = make_token(session, users["marketer"])
    manager = make_token(session, users["manager"])
    body = client.get(f"/api/v1/contacts/{contact.id}", headers=bearer(marketer)).get_json()
    assert body["notes"] is None
    body = client.get(f"/api/v1/contacts/{contact.id}", headers=bearer(manager)).get_json()
    assert body["notes"] == "secret note"
    resp = client.post("/api/v1/contacts", json={"first_name": "X"}, headers=bearer(marketer))
    assert resp.status_code == 403
