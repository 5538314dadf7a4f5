"""Bearer-token authentication for /api/v1: who is calling, and with which scopes."""

from __future__ import annotations

from flask import g, request
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, User
from app.auth.service import verify_api_token
from app.errors import DomainError, Forbidden

REALM = "cerchia"


class Unauthorized(DomainError):
    """No usable token: missing, malformed, unknown, revoked, or its user deactivated."""

    status = 401
    title = "Unauthorized"

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error

    @property
    def www_authenticate(self) -> str:
        # RFC 6750 section 3: no error code when the request carried no credentials.
        if self.error:
            return f'Bearer realm="{REALM}", error="{self.error}"'
        return f'Bearer realm="{REALM}"'


class InsufficientScope(Forbidden):
    def __init__(self, scope: str) -> None:
        super().__init__(f"This token lacks the {scope!r} scope.")
        self.scope = scope

    @property
    def www_authenticate(self) -> str:
        return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{self.scope}"'


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate(session: Session, scope: str) -> User:
    """Resolve the request's token, check its scope, and set `g.api_user` / `g.api_token`."""
    secret = bearer_secret()
    if secret is None:
        raise Unauthorized("Send an API token: 'Authorization: Bearer cer_...'.")
    token = verify_api_token(session, secret)
    if token is None:
        raise Unauthorized("The API token is unknown or was revoked.", error="invalid_token")
    if scope not in (token.scopes or []):
        raise InsufficientScope(scope)
    g.api_token = token
    g.api_user = token.user
    return token.user


def api_user() -> User:
    user: User = g.api_user
    return user


def api_token() -> ApiToken:
    token: ApiToken = g.api_token
    return token
