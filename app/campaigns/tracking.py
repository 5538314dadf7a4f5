"""Signed links in messages (open pixel, click redirect, one-click unsubscribe) and what
they record: each becomes an interaction of the person, so the next scoring run sees it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.campaigns.models import Campaign, Delivery
from app.contacts.models import ConsentStatus, Contact
from app.contacts.service import change_consent, log_interaction
from app.db import utcnow
from app.errors import Invalid, NotFound

# A 1x1 transparent GIF.
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
TRACKING_SOURCE = "campaign"


@dataclass(frozen=True)
class LinkSigner:
    """Builds and reads the signed links of messages. Secret and base URL come from config."""

    secret: str
    base_url: str

    def _s(self, salt: str) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt=salt)

    def open_url(self, delivery_id: int) -> str:
        return f"{self.base_url.rstrip('/')}/t/o/{self._s('open').dumps(delivery_id)}.gif"

    def click_url(self, delivery_id: int, target: str) -> str:
        token = self._s("click").dumps([delivery_id, target])
        return f"{self.base_url.rstrip('/')}/t/c/{token}"

    def unsubscribe_url(self, delivery_id: int) -> str:
        return f"{self.base_url.rstrip('/')}/t/u/{self._s('unsubscribe').dumps(delivery_id)}"

    def read(self, salt: str, token: str) -> object:
        try:
            return self._s(salt).loads(token)
        except BadSignature:
            raise Invalid(_("This link is not valid: it was changed or is incomplete.")) from None

    def read_delivery_id(self, salt: str, token: str) -> int:
        value = self.read(salt, token)
        if not isinstance(value, int):
            raise Invalid(_("This link is not valid: it was changed or is incomplete."))
        return value

    def read_click(self, token: str) -> tuple[int, str]:
        value = self.read("click", token)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int)
            or not isinstance(value[1], str)
            or not value[1].startswith(("http://", "https://"))
        ):
            raise Invalid(_("This link is not valid: it was changed or is incomplete."))
        return value[0], value[1]


def _delivery(session: Session, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(_("This message no longer exists."))
    return delivery


def _record(
    session: Session,
    delivery: Delivery,
    kind: str,
    external_id: str,
    summary: str,
    at: datetime | None = None,
) -> None:
    contact = session.get(Contact, delivery.contact_id)
    if contact is None or contact.is_erased:
        return
    log_interaction(
        session,
        None,
        [contact],
        channel="email",
        direction="inbound",
        kind=kind,
        occurred_at=at or utcnow(),
        summary=summary,
        source=TRACKING_SOURCE,
        external_id=external_id,
    )


def record_open(session: Session, delivery_id: int, at: datetime | None = None) -> None:
    """Once per delivery: later opens change nothing (the pixel is fetched many times).
    `at` is when it happened (now, unless history is being written, as the demo does)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return
    now = at or utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.opened_at.is_(None))
        .values(opened_at=now)
        .execution_options(synchronize_session=False)
    )
    campaign = session.get(Campaign, delivery.campaign_id)
    _record(
        session,
        delivery,
        "open",
        f"open:{delivery_id}",
        _("Opened “%(name)s”", name=campaign.name if campaign else ""),
        now,
    )


def record_click(
    session: Session, delivery_id: int, target: str, at: datetime | None = None
) -> str:
    delivery = _delivery(session, delivery_id)
    now = at or utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.clicked_at.is_(None))
        .values(clicked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.opened_at.is_(None))
        .values(opened_at=now)  # a click proves the message was opened
        .execution_options(synchronize_session=False)
    )
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    _record(
        session,
        delivery,
        "click",
        f"click:{delivery_id}:{digest}",
        _("Clicked %(url)s", url=target[:200]),
        now,
    )
    return target


def unsubscribe(session: Session, delivery_id: int) -> Contact | None:
    """One-click unsubscribe: the person opts out; the basis stays the current one."""
    delivery = _delivery(session, delivery_id)
    contact = session.get(Contact, delivery.contact_id)
    if contact is None or contact.is_erased:
        return None
    if contact.consent_status != ConsentStatus.OPTED_OUT:
        campaign = session.get(Campaign, delivery.campaign_id)
        change_consent(
            session,
            None,
            contact,
            ConsentStatus.OPTED_OUT.value,
            contact.consent_basis,
            source="unsubscribe",
            note=_("Unsubscribed from “%(name)s”", name=campaign.name if campaign else ""),
        )
        _record(
            session,
            delivery,
            "message",
            f"unsubscribe:{delivery_id}",
            _("Unsubscribed from “%(name)s”", name=campaign.name if campaign else ""),
        )
    if delivery.unsubscribed_at is None:
        delivery.unsubscribed_at = utcnow()
    session.flush()
    return contact


def tracked_links(body: str, signer: LinkSigner, delivery_id: int) -> str:
    """Rewrite absolute http(s) links in a text body to go through the click redirect.
    Our own links (unsubscribe, drop) are left as they are."""
    own = signer.base_url.rstrip("/") + "/"

    def _swap(match: re.Match[str]) -> str:
        url = match.group(0)
        return url if url.startswith(own) else signer.click_url(delivery_id, url)

    return _LINK.sub(_swap, body)


_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


def record_reply(
    session: Session,
    actor: User | None,
    campaign_id: int,
    contact_id: int,
    *,
    occurred_at: datetime,
    summary: str | None = None,
    sentiment: float | None = None,
    external_id: str | None = None,
    source: str = "campaign-reply",
) -> Delivery:
    """A reply to a campaign (logged by hand or posted to the API): an inbound interaction
    that waits for an answer, and the delivery's replied_at."""
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.campaign_id == campaign_id, Delivery.contact_id == contact_id
        )
    )
    if delivery is None:
        raise NotFound(_("This person did not receive this campaign."))
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(_("No such person."))
    campaign = session.get(Campaign, campaign_id)
    log_interaction(
        session,
        actor,
        [contact],
        channel="email",
        direction="inbound",
        kind="reply",
        occurred_at=occurred_at,
        sentiment=sentiment,
        needs_answer=True,
        source=source,
        summary=summary or _("Replied to “%(name)s”", name=campaign.name if campaign else ""),
        external_id=external_id or f"reply:{delivery.id}:{occurred_at.isoformat()}",
    )
    if delivery.replied_at is None or delivery.replied_at > occurred_at:
        delivery.replied_at = occurred_at
    session.flush()
    return delivery
