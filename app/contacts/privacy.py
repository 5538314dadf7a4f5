"""A person's rights: export their data, erase them (anonymise, keep the aggregates)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import audit
from app.auth.models import Role, User
from app.contacts.models import ConsentStatus, Contact, Interaction, interaction_participants
from app.contacts.service import (
    check_contact_access,
    consent_history,
    relationships_of,
)
from app.db import utcnow
from app.errors import Forbidden, Invalid


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def export_contact_data(session: Session, actor: User, contact: Contact) -> dict[str, Any]:
    """Everything Cerchia holds about one person, as plain JSON-ready data."""
    check_contact_access(actor, contact)
    interactions = session.scalars(
        select(Interaction)
        .join(interaction_participants)
        .where(interaction_participants.c.contact_id == contact.id)
        .order_by(Interaction.occurred_at)
    ).all()
    audit.record(session, actor.id, "contact.export", "contact", contact.id)
    return {
        "contact": {
            "id": contact.id,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "phone": contact.phone,
            "title": contact.title,
            "organization": contact.organization.name if contact.organization else None,
            "language": contact.language,
            "country": contact.country,
            "city": contact.city,
            "linkedin_url": contact.linkedin_url,
            "x_handle": contact.x_handle,
            "facebook": contact.facebook,
            "source": contact.source,
            "notes": contact.notes if actor.sees_private_notes else None,
            "tags": [t.name for t in contact.tags],
            "custom_fields": contact.custom_fields,
            "consent": {
                "status": contact.consent_status,
                "basis": contact.consent_basis,
                "changed_at": _iso(contact.consent_changed_at),
            },
            "created_at": _iso(contact.created_at),
        },
        "consent_history": [
            {
                "at": _iso(e.at),
                "from": e.old_status,
                "to": e.new_status,
                "basis": e.basis,
                "source": e.source,
                "note": e.note,
            }  # fmt: skip
            for e in consent_history(session, contact)
        ],
        "relationships": [
            {
                "kind": r.kind,
                "from": r.from_contact.full_name,
                "to": r.to_contact.full_name,
                "strength": r.strength,
            }  # fmt: skip
            for r in relationships_of(session, contact)
        ],
        "interactions": [
            {
                "at": _iso(i.occurred_at),
                "channel": i.channel,
                "direction": i.direction,
                "kind": i.kind,
                "sentiment": i.sentiment,
                "value_cents": i.value_cents,
                "summary": i.summary,
            }  # fmt: skip
            for i in interactions
        ],
    }


def erase_contact(session: Session, actor: User, contact: Contact, reason: str) -> Contact:
    """Anonymise a person. Interactions stay (with their counts and amounts) but lose
    their free text; relationships and tags are removed; the consent becomes opted out."""
    if actor.role not in (Role.ADMIN, Role.MANAGER) and contact.owner_id != actor.id:
        raise Forbidden("Only the owner, a manager or an admin can erase a person.")
    if contact.is_erased:
        raise Invalid("This person was already erased.")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Say why the person is erased (e.g. their request).", field="reason")
    from app.contacts.models import Relationship

    session.execute(
        delete(Relationship).where(
            (Relationship.from_contact_id == contact.id)
            | (Relationship.to_contact_id == contact.id)
        )
    )
    interaction_ids = select(interaction_participants.c.interaction_id).where(
        interaction_participants.c.contact_id == contact.id
    )
    for interaction in session.scalars(
        select(Interaction).where(Interaction.id.in_(interaction_ids))
    ):
        interaction.summary = None
    contact.first_name = "Erased"
    contact.last_name = f"#{contact.id}"
    contact.email = None
    contact.phone = None
    contact.title = None
    contact.linkedin_url = None
    contact.x_handle = None
    contact.facebook = None
    contact.notes = None
    contact.city = None
    contact.custom_fields = {}
    contact.tags = []
    contact.sort_name = f"~erased {contact.id:010d}"
    contact.search_text = ""
    contact.consent_status = ConsentStatus.OPTED_OUT.value
    contact.consent_changed_at = utcnow()
    contact.consent_changed_by_id = actor.id
    contact.erased_at = utcnow()
    audit.record(session, actor.id, "contact.erase", "contact", contact.id, reason=reason)
    session.flush()
    return contact
