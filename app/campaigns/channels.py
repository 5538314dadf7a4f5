"""How a message leaves: email (SMTP via app.mail), a signed webhook, social adapters.

A channel is opened once per batch (one SMTP connection for hundreds of messages) and
raises `ChannelError` with `permanent` telling whether a retry can help.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import html
import json
import re
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from app.mail import MailError, MailSettings, mailer

SIGNATURE_HEADER = "X-Cerchia-Signature"
# Characters a post may have, per network.
CHARACTER_LIMITS = {"linkedin": 3000, "x": 280, "facebook": 63206}


class ChannelError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message for one recipient."""

    delivery_id: int
    contact_id: int
    to: str
    subject: str
    text: str
    unsubscribe_url: str
    open_url: str | None = None
    message_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> str: ...


_URL = re.compile(r"https?://[^\s<>&\"]+")


def text_to_html(text: str, open_url: str | None) -> str:
    """A plain HTML rendering of the text body, links clickable, with the open pixel."""
    escaped = html.escape(text)
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in linked.split("\n\n"))
    pixel = f'<img src="{html.escape(open_url)}" width="1" height="1" alt="">' if open_url else ""
    return f"<!doctype html><html><body>{paragraphs}{pixel}</body></html>"


def email_message(settings: MailSettings, message: OutgoingMessage) -> Message:
    """A multipart/alternative message (text, and HTML with the open pixel).

    Built with the compat32 classes of `email.mime`: the modern EmailMessage API parses
    every header through its registry and cost ~4 ms per message, more than the SMTP
    exchange itself; this costs a tenth of that. smtplib sends either kind.
    """
    # A boundary of our own: left to itself, the generator compiles a regular expression
    # per message to pick one (~1 ms).
    msg = MIMEMultipart("alternative", boundary=f"=_cerchia_{uuid.uuid4().hex}")
    msg["From"] = settings.sender
    msg["To"] = message.to
    msg["Subject"] = _header(message.subject)  # type: ignore[assignment]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message.message_id or make_msgid(domain="cerchia")
    # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the URL.
    msg["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.attach(MIMEText(message.text, "plain", _charset(message.text)))
    page = text_to_html(message.text, message.open_url)
    msg.attach(MIMEText(page, "html", _charset(page)))
    return msg


def _charset(text: str) -> str:
    return "us-ascii" if text.isascii() else "utf-8"


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


class EmailSender:
    def __init__(self, settings: MailSettings, mail: Any) -> None:
        self.settings = settings
        self.mail = mail

    def send(self, message: OutgoingMessage) -> str:
        try:
            return str(self.mail.send(email_message(self.settings, message)))
        except MailError as exc:
            raise ChannelError(str(exc), permanent=exc.permanent) from exc


@contextmanager
def email_channel(settings: MailSettings) -> Iterator[Sender]:
    """One SMTP connection for the whole batch (or the outbox folder with no SMTP host)."""
    try:
        with mailer(settings) as mail:
            yield EmailSender(settings, mail)
    except MailError as exc:
        raise ChannelError(str(exc), permanent=exc.permanent) from exc


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_signed_json(url: str, payload: Mapping[str, Any], secret: str, timeout: float) -> str:
    """POST JSON with an HMAC-SHA256 of the body in a header; return the receiver's reference.

    Timeouts, connection errors and 5xx/429 are temporary; other 4xx are permanent.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(secret, body),
            "User-Agent": "Cerchia-webhook/1",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            reference = response.headers.get("X-Request-Id") or ""
            response.read(65536)
            return reference or f"webhook-{uuid.uuid4().hex[:12]}"
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise ChannelError(f"webhook answered HTTP {exc.code}", permanent=permanent) from None
    except TimeoutError:
        raise ChannelError("webhook timed out", permanent=False) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise ChannelError("webhook timed out", permanent=False) from None
        raise ChannelError("webhook unreachable", permanent=False) from None
    except OSError:
        raise ChannelError("webhook unreachable", permanent=False) from None


class WebhookSender:
    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout

    def send(self, message: OutgoingMessage) -> str:
        payload = {
            "delivery_id": message.delivery_id,
            "contact_id": message.contact_id,
            "to": message.to,
            "subject": message.subject,
            "text": message.text,
            "unsubscribe_url": message.unsubscribe_url,
            **dict(message.extra),
        }
        return post_signed_json(self.url, payload, self.secret, self.timeout)


@contextmanager
def webhook_channel(url: str, secret: str, timeout: float) -> Iterator[Sender]:
    yield WebhookSender(url, secret, timeout)


def webhook_secret(config: Mapping[str, Any]) -> str:
    """The configured secret, else one derived from SECRET_KEY (shown to admins)."""
    configured = str(config.get("CAMPAIGN_WEBHOOK_SECRET") or "")
    if configured:
        return configured
    return hashlib.sha256(f"cerchia-webhook:{config['SECRET_KEY']}".encode()).hexdigest()


# ---------------------------------------------------------------- social networks


@dataclass(frozen=True)
class SocialPost:
    post_id: int
    network: str
    label: str
    body: str
    scheduled_at: str


class SocialAdapter(Protocol):
    """What a real API client (LinkedIn, X, Facebook) implements: publish, return a reference."""

    name: str

    def publish(self, post: SocialPost) -> str: ...


class ExportAdapter:
    """Appends due posts to a CSV file per network, for a person (or a tool) to publish."""

    name = "export"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def publish(self, post: SocialPost) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{post.network}.csv"
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["post_id", "network", "label", "scheduled_at", "body"])
            writer.writerow([post.post_id, post.network, post.label, post.scheduled_at, post.body])
        return f"{path.name}#{post.post_id}"


class WebhookAdapter:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout

    def publish(self, post: SocialPost) -> str:
        payload = {"type": "social_post", **post.__dict__}
        return post_signed_json(self.url, payload, self.secret, self.timeout)


def character_problems(network: str, body: str) -> int:
    """How many characters over the network's limit (0 when it fits)."""
    return max(0, len(body) - CHARACTER_LIMITS.get(network, 10**6))
