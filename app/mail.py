"""Outgoing email: one SMTP connection reused for a batch, or an outbox folder when no
SMTP server is configured (the demo). Callers build `EmailMessage`s; this module sends."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol

# Answers that mean "this address will never work": do not retry.
PERMANENT_SMTP_CODES = range(550, 560)


class MailError(Exception):
    """A message could not be handed over. `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    tls: str
    user: str
    password: str
    timeout: int
    sender: str
    outbox_dir: Path

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        return cls(
            host=config["SMTP_HOST"],
            port=int(config["SMTP_PORT"]),
            tls=config["SMTP_TLS"],
            user=config["SMTP_USER"],
            password=config["SMTP_PASSWORD"],
            timeout=int(config["SMTP_TIMEOUT"]),
            sender=config["MAIL_FROM"],
            outbox_dir=Path(config["INSTANCE_DIR"]) / "outbox",
        )


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> str: ...


class SmtpMailer:
    def __init__(self, conn: smtplib.SMTP) -> None:
        self.conn = conn

    def send(self, message: EmailMessage) -> str:
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain="cerchia")
        try:
            refused = self.conn.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code in PERMANENT_SMTP_CODES for code in codes)
            raise MailError(f"recipient refused: {codes}", permanent=permanent) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"SMTP {exc.smtp_code}", permanent=exc.smtp_code in PERMANENT_SMTP_CODES
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP failure: {type(exc).__name__}", permanent=False) from exc
        if refused:
            raise MailError(f"recipient refused: {sorted(refused)}", permanent=True)
        return str(message["Message-ID"])


class OutboxMailer:
    """Writes each message to a .eml file: what would have been sent, for the demo."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> str:
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain="cerchia")
        path = self.folder / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(bytes(message))
        return str(message["Message-ID"])


@contextmanager
def mailer(settings: MailSettings) -> Iterator[Mailer]:
    """A mailer for a batch of messages: one SMTP connection, reused, closed at the end."""
    if not settings.host:
        yield OutboxMailer(settings.outbox_dir)
        return
    try:
        if settings.tls == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            if settings.tls == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if settings.user:
            conn.login(settings.user, settings.password)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(
            f"cannot reach the SMTP server: {type(exc).__name__}", permanent=False
        ) from exc
    try:
        yield SmtpMailer(conn)
    finally:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


def build_message(
    settings: MailSettings,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message
