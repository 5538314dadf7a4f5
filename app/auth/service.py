"""Users, sign-in, roles and API tokens. Rules live here, not in templates."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app import audit
from app.auth.models import ROLE_VALUES, ApiToken, LoginAttempt, Role, User
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound

API_SCOPES = ("contacts:read", "contacts:write", "interactions:write")
MIN_PASSWORD_LENGTH = 10


def load_user(session: Session, user_id: str) -> User | None:
    try:
        user = session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.active else None


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str,
    role: str = Role.SALES.value,
    *,
    capacity: int = 15,
    language: str | None = None,
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid("A valid email is required.", field="email")
    if role not in ROLE_VALUES:
        raise Invalid(f"Unknown role {role!r}.", field="role")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    user = User(
        email=email,
        name=name.strip() or email,
        password_hash=generate_password_hash(password),
        role=role,
        capacity=capacity,
        language=language,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A user with email {email} already exists.", field="email") from exc
    return user


def set_role(session: Session, actor: User, user: User, role: str) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can change roles.")
    if role not in ROLE_VALUES:
        raise Invalid(f"Unknown role {role!r}.", field="role")
    old = user.role
    user.role = role
    audit.record(session, actor.id, "user.role_change", "user", user.id, old=old, new=role)


def recent_failures(session: Session, email: str, remote_addr: str, window_s: int) -> int:
    since = utcnow() - timedelta(seconds=window_s)
    return (
        session.scalar(
            select(func.count(LoginAttempt.id)).where(
                LoginAttempt.at >= since,
                (LoginAttempt.email == email) | (LoginAttempt.remote_addr == remote_addr),
            )
        )
        or 0
    )


class TooManyAttempts(Forbidden):
    status = 429
    title = "Too many attempts"


def authenticate(
    session: Session,
    email: str,
    password: str,
    remote_addr: str,
    *,
    max_attempts: int = 10,
    window_s: int = 900,
) -> User | None:
    """Return the user for good credentials; record and rate-limit failures."""
    email = email.strip().lower()
    if recent_failures(session, email, remote_addr, window_s) >= max_attempts:
        raise TooManyAttempts("Too many failed sign-ins. Wait a few minutes and try again.")
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and user.active and check_password_hash(user.password_hash, password):
        session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
        return user
    session.add(LoginAttempt(email=email, remote_addr=remote_addr[:64]))
    return None


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    session: Session, user: User, name: str, scopes: list[str] | tuple[str, ...]
) -> tuple[ApiToken, str]:
    """Create a token; the plain secret is returned once and never stored."""
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise Invalid(f"Unknown scopes: {', '.join(unknown)}.", field="scopes")
    if not scopes:
        raise Invalid("A token needs at least one scope.", field="scopes")
    secret = "cer_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        prefix=secret[:12],
        token_hash=_hash_token(secret),
        scopes=sorted(set(scopes)),
    )
    session.add(token)
    session.flush()
    audit.record(session, user.id, "token.create", "api_token", token.id, scopes=token.scopes)
    return token, secret


def verify_api_token(session: Session, secret: str) -> ApiToken | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    return token


def revoke_api_token(session: Session, actor: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such token.")
    if token.user_id != actor.id and actor.role != Role.ADMIN:
        raise Forbidden("You can only revoke your own tokens.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor.id, "token.revoke", "api_token", token.id)
    return token


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))
