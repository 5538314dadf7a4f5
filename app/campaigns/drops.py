"""Reserved-information drops: a personal signed link per recipient, every view recorded,
links opened from many networks flagged as possibly forwarded, revocable one by one or all."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.campaigns.models import DropLink, DropView, ReservedDrop
from app.contacts.models import Contact
from app.contacts.service import log_interaction
from app.db import utcnow
from app.errors import Forbidden, Invalid, NotFound

if TYPE_CHECKING:
    from app.campaigns.tracking import LinkSigner

SALT = "drop-link"


def drop_token(secret: str, link_id: int) -> str:
    return URLSafeSerializer(secret, salt=SALT).dumps(link_id)


def drop_url(signer: LinkSigner, link_id: int) -> str:
    return f"{signer.base_url.rstrip('/')}/d/{drop_token(signer.secret, link_id)}"


def network_of(ip: str) -> str:
    """The /24 of an IPv4 address (the /48 of an IPv6 one): 'the same network'."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class DropUnavailable(Forbidden):
    """A link that was valid once: expired or revoked (a 410 page, not a 400)."""

    status = 410
    title = "Gone"


@dataclass(frozen=True)
class OpenedDrop:
    drop: ReservedDrop
    link: DropLink
    forwarded: bool


def open_link(session: Session, secret: str, token: str) -> DropLink:
    """The link behind a token, if the token is genuine (else Invalid)."""
    try:
        link_id = URLSafeSerializer(secret, salt=SALT).loads(token)
    except BadSignature:
        raise Invalid(_("This link is not valid: it was changed or is incomplete.")) from None
    if not isinstance(link_id, int):
        raise Invalid(_("This link is not valid: it was changed or is incomplete."))
    link = session.get(DropLink, link_id)
    if link is None:
        raise NotFound(_("This content no longer exists."))
    return link


def view(
    session: Session,
    secret: str,
    token: str,
    ip: str,
    user_agent: str | None,
    forward_networks: int,
) -> OpenedDrop:
    """Show the content for a valid, unexpired, unrevoked link and record the view."""
    link = open_link(session, secret, token)
    drop = session.get(ReservedDrop, link.drop_id)
    if drop is None:
        raise NotFound(_("This content no longer exists."))
    now = utcnow()
    if link.revoked_at is not None or drop.revoked_at is not None:
        raise DropUnavailable(_("This link was revoked by the sender."))
    if drop.expires_at <= now:
        raise DropUnavailable(_("This content has expired."))
    session.add(
        DropView(
            link_id=link.id,
            at=now,
            network=network_of(ip),
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    session.execute(
        update(DropLink)
        .where(DropLink.id == link.id)
        .values(views_count=DropLink.views_count + 1)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    networks = (
        session.scalar(
            select(func.count(func.distinct(DropView.network))).where(DropView.link_id == link.id)
        )
        or 0
    )
    if networks >= forward_networks and link.flagged_forwarded_at is None:
        link.flagged_forwarded_at = now
    contact = session.get(Contact, link.contact_id)
    if contact is not None and not contact.is_erased:
        log_interaction(
            session,
            None,
            [contact],
            channel="web",
            direction="inbound",
            kind="view",
            occurred_at=now,
            summary=_("Viewed the reserved content “%(title)s”", title=drop.title),
            source="campaign",
            external_id=f"drop-view:{link.id}",
        )
    session.flush()
    session.refresh(link)
    return OpenedDrop(drop, link, link.flagged_forwarded_at is not None)


def revoke_link(session: Session, link: DropLink) -> None:
    if link.revoked_at is None:
        link.revoked_at = utcnow()
    session.flush()


def revoke_drop(session: Session, drop: ReservedDrop) -> None:
    now = utcnow()
    if drop.revoked_at is None:
        drop.revoked_at = now
    session.execute(
        update(DropLink)
        .where(DropLink.drop_id == drop.id, DropLink.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def access_log(session: Session, drop: ReservedDrop) -> dict[str, Any]:
    links = list(
        session.execute(
            select(DropLink, Contact.first_name, Contact.last_name, Contact.email)
            .join(Contact, Contact.id == DropLink.contact_id)
            .where(DropLink.drop_id == drop.id)
            .order_by(DropLink.flagged_forwarded_at.is_(None), Contact.sort_name)
        )
    )
    views = list(
        session.execute(
            select(DropView, DropLink.contact_id)
            .join(DropLink, DropLink.id == DropView.link_id)
            .where(DropLink.drop_id == drop.id)
            .order_by(DropView.at.desc())
            .limit(500)
        )
    )
    networks = dict(
        session.execute(
            select(DropView.link_id, func.count(func.distinct(DropView.network)))
            .join(DropLink, DropLink.id == DropView.link_id)
            .where(DropLink.drop_id == drop.id)
            .group_by(DropView.link_id)
        )
        .tuples()
        .all()
    )
    return {"links": links, "views": views, "networks": networks}
