"""Normalising what people type or files carry: emails, LinkedIn URLs, handles, names."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from app.errors import Invalid

_LINKEDIN_PATH = re.compile(r"^/(in|pub)/([^/?#]+)", re.IGNORECASE)


def normalize_email(raw: str | None, *, field: str = "email") -> str | None:
    """Lower-cased, syntax-checked email, or None when blank. Raises Invalid otherwise."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw:
        return None
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"Invalid email address: {raw!r}.", field=field) from exc
    return result.normalized.lower()


def normalize_linkedin_url(raw: str | None) -> str | None:
    """https://www.linkedin.com/in/<slug> for any form of a profile URL, None when blank."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw:
        return None
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    match = _LINKEDIN_PATH.match(parts.path)
    if not host.endswith("linkedin.com") or not match:
        raise Invalid(f"Not a LinkedIn profile URL: {raw!r}.", field="linkedin_url")
    return f"https://www.linkedin.com/{match.group(1).lower()}/{match.group(2).lower()}"


def normalize_x_handle(raw: str | None) -> str | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not raw:
        return None
    if "://" in raw:
        raw = urlsplit(raw).path.strip("/").split("/")[0]
    handle = raw.lstrip("@")
    if not re.fullmatch(r"[A-Za-z0-9_]{1,15}", handle):
        raise Invalid(f"Not an X handle: {raw!r}.", field="x_handle")
    return "@" + handle


def clean(raw: str | None, max_len: int) -> str | None:
    if raw is None:
        return None
    value = " ".join(str(raw).split())
    return value[:max_len] or None


def sort_name(first: str, last: str, email: str | None) -> str:
    key = f"{last} {first}".strip().lower()
    return (key or (email or "")).lower()[:210]


def search_text(first: str, last: str, email: str | None, company: str | None) -> str:
    return " ".join(p for p in (first, last, email or "", company or "") if p).lower()
