from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.auth import service
from app.auth.models import User
from app.errors import Conflict, Forbidden, Invalid
from tests.conftest import TEST_PASSWORD


def test_sign_in_and_out(client: FlaskClient, users: dict[str, User]) -> None:
    assert client.get("/contacts").status_code == 302  # to the login page
    resp = client.post("/login", data={"email": "SALES@example.com", "password": TEST_PASSWORD})
    assert resp.status_code == 302
    assert client.get("/contacts").status_code == 200
    client.post("/logout")
    assert client.get("/contacts").status_code == 302


def test_wrong_password_is_refused(client: FlaskClient, users: dict[str, User]) -> None:
    resp = client.post("/login", data={"email": "sales@example.com", "password": "nope-nope-nope"})
    assert resp.status_code == 401
    assert "Wrong email or password" in resp.get_data(as_text=True)
    assert client.get("/contacts").status_code == 302


def test_login_attempts_are_rate_limited(client: FlaskClient, users: dict[str, User]) -> None:
    for _ in range(5):  # the test app allows 5
        client.post("/login", data={"email": "sales@example.com", "password": "wrong-password"})
    resp = client.post("/login", data={"email": "sales@example.com", "password": TEST_PASSWORD})
    assert resp.status_code == 429
    assert client.get("/contacts").status_code == 302


def test_open_redirect_after_login_is_ignored(client: FlaskClient, users: dict[str, User]) -> None:
    resp = client.post(
        "/login?next=https://evil.example/x",
        data={"email": "sales@example.com", "password": TEST_PASSWORD},
    )
    assert resp.headers["Location"] == "/contacts"


def test_form_without_csrf_token_is_refused(
    app: Flask, client: FlaskClient, users: dict[str, User]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        resp = client.post("/login", data={"email": "sales@example.com", "password": TEST_PASSWORD})
        assert resp.status_code == 400
        assert "form expired" in resp.get_data(as_text=True)
        assert client.get("/contacts").status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_security_headers(client: FlaskClient) -> None:
    resp = client.get("/login")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_duplicate_user_email_is_a_conflict(session: Session, users: dict[str, User]) -> None:
    with pytest.raises(Conflict):
        service.create_user(session, "Sales@Example.com", "Again", TEST_PASSWORD, "sales")


def test_weak_password_and_unknown_role_are_invalid(session: Session) -> None:
    with pytest.raises(Invalid):
        service.create_user(session, "a@example.com", "A", "short", "sales")
    with pytest.raises(Invalid):
        service.create_user(session, "a@example.com", "A", TEST_PASSWORD, "king")


def test_only_admin_changes_roles_and_it_is_audited(
    session: Session, users: dict[str, User]
) -> None:
    with pytest.raises(Forbidden):
        service.set_role(session, users["manager"], users["sales"], "manager")
    service.set_role(session, users["admin"], users["sales"], "manager")
    session.commit()
    event = session.scalar(
        select(audit.AuditEvent).where(audit.AuditEvent.action == "user.role_change")
    )
    assert event is not None and event.details == {"old": "sales", "new": "manager"}


def test_api_tokens_are_hashed_and_revocable(session: Session, users: dict[str, User]) -> None:
    token, secret = service.create_api_token(session, users["sales"], "shop", ["contacts:read"])
    session.commit()
    assert secret not in token.token_hash and token.token_hash != secret
    assert service.verify_api_token(session, secret) is not None
    assert service.verify_api_token(session, secret + "x") is None
    with pytest.raises(Forbidden):
        service.revoke_api_token(session, users["sales2"], token.id)
    service.revoke_api_token(session, users["sales"], token.id)
    session.commit()
    assert service.verify_api_token(session, secret) is None


def test_token_page_shows_secret_once_and_revokes(
    client: FlaskClient, login, users: dict[str, User], session: Session
) -> None:
    login(users["sales"])
    resp = client.post("/settings/tokens", data={"name": "shop", "scopes": ["interactions:write"]})
    html = resp.get_data(as_text=True)
    assert "cer_" in html
    token = session.scalar(select(service.ApiToken))
    assert token is not None and token.scopes == ["interactions:write"]
    assert "cer_" not in client.get("/settings/tokens").get_data(as_text=True).replace(
        token.prefix, ""
    )
    client.post(f"/settings/tokens/{token.id}/revoke")
    session.refresh(token)
    assert token.revoked_at is not None
