"""Contacts, accounts, relationships and interactions: the rules, as functions on a Session.

Services flush and never commit. Access rules (who may see or edit whom) live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app import audit
from app.auth.models import Role, User
from app.contacts import search_index as sqlite_search
from app.contacts.models import (
    CHANNELS,
    CONSENT_BASES,
    CONSENT_STATUSES,
    DIRECTIONS,
    INTERACTION_KINDS,
    RELATIONSHIP_KINDS,
    SIZE_BANDS,
    TIERS,
    ConsentEvent,
    Contact,
    Interaction,
    Organization,
    Relationship,
    Tag,
    contact_tags,
    interaction_participants,
)
from app.contacts.normalize import (
    clean,
    normalize_email,
    normalize_linkedin_url,
    normalize_x_handle,
    search_text,
    sort_name,
)
from app.db import escape_like, utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.pagination import Page

# ---------------------------------------------------------------- access rules


def can_see_all(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.MANAGER, Role.MARKETER)


def can_edit_all(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.MANAGER)


def visible_contacts_clause(user: User) -> ColumnElement[bool]:
    """Salespeople see the contacts they own; everyone else sees all contacts."""
    if can_see_all(user):
        return true()
    return Contact.owner_id == user.id


def visible_organizations_clause(user: User) -> ColumnElement[bool]:
    if can_see_all(user):
        return true()
    owned_people = select(Contact.organization_id).where(Contact.owner_id == user.id)
    return or_(Organization.owner_id == user.id, Organization.id.in_(owned_people))


def check_contact_access(user: User, contact: Contact, *, write: bool = False) -> None:
    if write:
        if can_edit_all(user) or contact.owner_id == user.id:
            return
        if user.role == Role.MARKETER:
            raise Forbidden("Marketers can read contacts but not edit them.")
        raise Forbidden("This contact belongs to another owner.")
    if can_see_all(user) or contact.owner_id == user.id:
        return
    raise Forbidden("This contact belongs to another owner.")


def check_organization_access(user: User, org: Organization, *, write: bool = False) -> None:
    if can_edit_all(user) or org.owner_id == user.id:
        return
    if not write and can_see_all(user):
        return
    raise Forbidden("This account belongs to another owner.")


def get_contact(session: Session, user: User, contact_id: int, *, write: bool = False) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.merged_into_id is not None:
        raise NotFound("No such contact.")
    check_contact_access(user, contact, write=write)
    return contact


def get_organization(
    session: Session, user: User, org_id: int, *, write: bool = False
) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound("No such account.")
    check_organization_access(user, org, write=write)
    return org


def private_notes_for(user: User, contact: Contact) -> str | None:
    """Marketers never see private notes."""
    return contact.notes if user.sees_private_notes else None


# ---------------------------------------------------------------- contacts

CONTACT_FIELDS = (
    "first_name", "last_name", "email", "phone", "title", "organization_id", "language",
    "country", "city", "owner_id", "linkedin_url", "x_handle", "facebook", "source", "notes",
    "custom_fields",
)  # fmt: skip


CONTACT_MAX_LENGTHS = {"phone": 50, "title": 200, "city": 100, "facebook": 300, "source": 50}


def _check_reference(session: Session, model: type[Any], value: int | None, field: str) -> None:
    if value is not None and session.get(model, value) is None:
        raise Invalid(f"No such {'owner' if model is User else 'account'}.", field=field)


def _clean_contact_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"Unknown contact fields: {', '.join(sorted(unknown))}.")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "email":
            out[key] = normalize_email(value)
        elif key == "linkedin_url":
            out[key] = normalize_linkedin_url(value)
            if out[key] and len(out[key]) > 300:
                raise Invalid("The LinkedIn URL is too long.", field=key)
        elif key == "x_handle":
            out[key] = normalize_x_handle(value)
        elif key in ("first_name", "last_name"):
            out[key] = clean(value, 100) or ""
        elif key == "language":
            out[key] = (clean(value, 5) or "").lower()[:2] or None
        elif key == "country":
            country = (clean(value, 2) or "").upper()
            if country and len(country) != 2:
                raise Invalid("Country must be a two-letter code.", field="country")
            out[key] = country or None
        elif key in ("notes",):
            out[key] = (value or "").strip() or None
        elif key == "custom_fields":
            if value is not None and not isinstance(value, dict):
                raise Invalid("Custom fields must be a mapping.", field="custom_fields")
            out[key] = dict(value or {})
        elif key in ("organization_id", "owner_id"):
            out[key] = int(value) if value not in (None, "", 0) else None
        else:
            out[key] = clean(value, CONTACT_MAX_LENGTHS.get(key, 300))
    return out


def refresh_search_fields(contact: Contact) -> None:
    company = contact.organization.name if contact.organization else None
    contact.sort_name = sort_name(contact.first_name, contact.last_name, contact.email)
    contact.search_text = search_text(contact.first_name, contact.last_name, contact.email, company)


@contextmanager
def unique_guard(session: Session, what: str) -> Iterator[None]:
    """Make the changes of the block in a savepoint and turn a unique violation into a
    Conflict. Changes must happen inside the block: a savepoint flushes what came before."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        msg = str(exc.orig).lower()
        if "linkedin" in msg:
            raise Conflict(f"Another {what} has this LinkedIn URL.", field="linkedin_url") from exc
        if "email" in msg:
            raise Conflict(f"Another {what} has this email.", field="email") from exc
        if "domain" in msg:
            raise Conflict(f"Another {what} has this domain.", field="domain") from exc
        raise Conflict(f"This {what} already exists.") from exc


def create_contact(
    session: Session,
    actor: User,
    *,
    tags: Iterable[str] = (),
    consent_status: str | None = None,
    consent_basis: str | None = None,
    consent_source: str = "ui",
    **values: Any,
) -> Contact:
    if actor.role == Role.MARKETER:
        raise Forbidden("Marketers can read contacts but not create them.")
    data = _clean_contact_values(values)
    _check_reference(session, User, data.get("owner_id"), "owner_id")
    if not (data.get("first_name") or data.get("last_name") or data.get("email")):
        raise Invalid("A contact needs a name or an email.", field="first_name")
    if actor.role == Role.SALES:
        data["owner_id"] = actor.id  # salespeople create people they own
    organization = None
    if data.get("organization_id"):
        organization = session.get(Organization, data["organization_id"])
        if organization is None:
            raise Invalid("No such account.", field="organization_id")
    contact = Contact(**data)
    with unique_guard(session, "contact"):
        session.add(contact)
        contact.organization = organization
        refresh_search_fields(contact)
    set_tags(session, contact, tags)
    if consent_status and consent_status != contact.consent_status:
        change_consent(
            session, actor.id, contact, consent_status, consent_basis or "consent",
            source=consent_source,
        )  # fmt: skip
    return contact


def update_contact(session: Session, actor: User, contact: Contact, **values: Any) -> Contact:
    check_contact_access(actor, contact, write=True)
    if contact.is_erased:
        raise Invalid("This person was erased and can no longer be edited.")
    tags = values.pop("tags", None)
    data = _clean_contact_values(values)
    if actor.role == Role.SALES and "owner_id" in data and data["owner_id"] != contact.owner_id:
        raise Forbidden("Only a manager can hand a contact to another owner.")
    _check_reference(session, User, data.get("owner_id"), "owner_id")
    organization = None
    if data.get("organization_id"):
        organization = session.get(Organization, data["organization_id"])
        if organization is None:
            raise Invalid("No such account.", field="organization_id")
    with unique_guard(session, "contact"):
        for key, value in data.items():
            setattr(contact, key, value)
        if "organization_id" in data:
            contact.organization = organization
        refresh_search_fields(contact)
    if tags is not None:
        set_tags(session, contact, tags)
    return contact


def parse_tags(raw: str | Iterable[str] | None) -> list[str]:
    if raw is None:
        return []
    items = raw.replace(";", ",").split(",") if isinstance(raw, str) else list(raw)
    seen: dict[str, None] = {}
    for item in items:
        name = " ".join(str(item).split()).lower()[:60]
        if name:
            seen[name] = None
    return list(seen)


def get_or_create_tags(session: Session, names: Sequence[str]) -> list[Tag]:
    if not names:
        return []
    existing = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(names)))}
    for name in names:
        if name not in existing:
            tag = Tag(name=name)
            session.add(tag)
            existing[name] = tag
    session.flush()
    return [existing[n] for n in names]


def set_tags(session: Session, contact: Contact, names: str | Iterable[str]) -> None:
    contact.tags = get_or_create_tags(session, parse_tags(names))


def change_consent(
    session: Session,
    actor_id: int | None,
    contact: Contact,
    status: str,
    basis: str,
    *,
    source: str = "ui",
    note: str | None = None,
) -> ConsentEvent | None:
    """Set consent and record who, when, from what, on which basis. No-op when unchanged."""
    if status not in CONSENT_STATUSES:
        raise Invalid(f"Unknown consent status {status!r}.", field="consent_status")
    if basis not in CONSENT_BASES:
        raise Invalid(f"Unknown consent basis {basis!r}.", field="consent_basis")
    if contact.is_erased:
        raise Invalid("This person was erased.")
    if status == contact.consent_status and basis == contact.consent_basis:
        return None
    event = ConsentEvent(
        contact_id=contact.id,
        changed_by_id=actor_id,
        old_status=contact.consent_status,
        new_status=status,
        basis=basis,
        source=source,
        note=clean(note, 500),
        at=utcnow(),
    )
    contact.consent_status = status
    contact.consent_basis = basis
    contact.consent_changed_at = event.at
    contact.consent_changed_by_id = actor_id
    session.add(event)
    audit.record(
        session, actor_id, "contact.consent_change", "contact", contact.id,
        old=event.old_status, new=status, basis=basis, source=source,
    )  # fmt: skip
    return event


def consent_history(session: Session, contact: Contact) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact.id)
            .options(selectinload(ConsentEvent.changed_by))
            .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
        )
    )


# ---------------------------------------------------------------- listing and search

SORTS: dict[str, Any] = {
    "name": (Contact.sort_name.asc(), Contact.id.asc()),
    "-name": (Contact.sort_name.desc(), Contact.id.desc()),
    "created": (Contact.created_at.desc(), Contact.id.desc()),
    "last_interaction": (Contact.last_interaction_at.desc().nulls_last(), Contact.id.desc()),
}


@dataclass
class ContactFilter:
    q: str = ""
    tag: str = ""
    owner_id: int | None = None
    organization_id: int | None = None
    consent: str = ""
    tier: str = ""
    sort: str = "name"
    page: int = 1
    per_page: int = 50
    include_erased: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def filtered_contacts_query(
    user: User, f: ContactFilter, *, search_index: bool = False
) -> Select[tuple[Contact]]:
    """The contacts of a filter. `search_index`: words are looked up in SQLite's trigram
    index (`search_index.available(session)` says whether the database has it)."""
    stmt = select(Contact).where(visible_contacts_clause(user), Contact.merged_into_id.is_(None))
    if not f.include_erased:
        stmt = stmt.where(Contact.erased_at.is_(None))
    q = " ".join(f.q.split()).lower()
    if q:
        for word in q.split(" ")[:5]:
            if search_index and len(word) >= sqlite_search.MIN_INDEXED_LENGTH:
                stmt = stmt.where(sqlite_search.contains(word))
            else:
                stmt = stmt.where(Contact.search_text.like(f"%{escape_like(word)}%", escape="\\"))
    if f.tag:
        tag_ids = select(Tag.id).where(Tag.name == f.tag.strip().lower())
        tagged = select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(tag_ids))
        stmt = stmt.where(Contact.id.in_(tagged))
    if f.owner_id:
        stmt = stmt.where(Contact.owner_id == f.owner_id)
    if f.organization_id:
        stmt = stmt.where(Contact.organization_id == f.organization_id)
    if f.consent:
        if f.consent not in CONSENT_STATUSES:
            raise Invalid(f"Unknown consent filter {f.consent!r}.", field="consent")
        stmt = stmt.where(Contact.consent_status == f.consent)
    if f.tier:
        if f.tier not in TIERS:
            raise Invalid(f"Unknown tier {f.tier!r}.", field="tier")
        stmt = stmt.where(Contact.tier == f.tier)
    return stmt


COUNT_CAP = 1000


def search_contacts(
    session: Session, user: User, f: ContactFilter, *, count_cap: int | None = COUNT_CAP
) -> Page[Contact]:
    """A page of contacts. Counting stops at `count_cap` (None: exact count)."""
    if f.sort not in SORTS:
        raise Invalid(f"Unknown sort {f.sort!r}.", field="sort")
    per_page = max(1, min(f.per_page, 200))
    page = max(1, f.page)
    stmt = filtered_contacts_query(user, f, search_index=sqlite_search.available(session))
    # Find the page's ids first (an index scan), then load just those rows: deep pages
    # do not drag every skipped row through the heap.
    ids = list(
        session.scalars(
            stmt.with_only_columns(Contact.id)
            .order_by(*SORTS[f.sort])
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    )
    more = len(ids) > per_page
    ids = ids[:per_page]
    if page == 1 and not more:
        total = len(ids)  # the whole result is on this page: no need to count it
    else:
        counted = stmt.order_by(None).with_only_columns(Contact.id)
        if count_cap is not None:
            counted = counted.limit(count_cap + 1)
        total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    exact = count_cap is None or total <= count_cap
    # accounts and owners come in the same query (many-to-one), tags in one more
    by_id = {
        c.id: c
        for c in session.scalars(
            select(Contact)
            .where(Contact.id.in_(ids))
            .options(joinedload(Contact.organization), joinedload(Contact.owner),
                     selectinload(Contact.tags))
        ).unique()
    }  # fmt: skip
    items = [by_id[i] for i in ids if i in by_id]
    return Page(
        items=items, total=min(total, count_cap or total), page=page, per_page=per_page,
        total_exact=exact, more=more,
    )  # fmt: skip


def iter_filtered_contacts(
    session: Session, user: User, f: ContactFilter, batch: int = 1000
) -> Iterable[Contact]:
    """All contacts of a filter, for export, in batches (no page limit)."""
    stmt = (
        filtered_contacts_query(user, f, search_index=sqlite_search.available(session))
        .options(selectinload(Contact.organization), selectinload(Contact.tags))
        .order_by(*SORTS.get(f.sort, SORTS["name"]))
    )
    offset = 0
    while True:
        rows = list(session.scalars(stmt.limit(batch).offset(offset)))
        if not rows:
            return
        yield from rows
        offset += batch


# ---------------------------------------------------------------- organizations

ORG_FIELDS = (
    "name", "domain", "industry", "size_band", "city", "country", "annual_value_cents",
    "key_account", "owner_id",
)  # fmt: skip


def _clean_org_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(ORG_FIELDS)
    if unknown:
        raise Invalid(f"Unknown account fields: {', '.join(sorted(unknown))}.")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "name":
            out[key] = clean(value, 200)
            if not out[key]:
                raise Invalid("An account needs a name.", field="name")
        elif key == "domain":
            domain = (clean(value, 200) or "").lower().removeprefix("www.")
            out[key] = domain or None
        elif key == "size_band":
            if value and value not in SIZE_BANDS:
                raise Invalid(f"Unknown size band {value!r}.", field="size_band")
            out[key] = value or None
        elif key == "annual_value_cents":
            cents = int(value or 0)
            if cents < 0:
                raise Invalid("Annual value cannot be negative.", field="annual_value_cents")
            out[key] = cents
        elif key == "key_account":
            out[key] = bool(value)
        elif key == "owner_id":
            out[key] = int(value) if value else None
        elif key == "country":
            out[key] = (clean(value, 2) or "").upper() or None
        else:
            out[key] = clean(value, 100 if key in ("industry", "city") else 200)
    return out


def create_organization(session: Session, actor: User, **values: Any) -> Organization:
    if actor.role == Role.MARKETER:
        raise Forbidden("Marketers can read accounts but not create them.")
    data = _clean_org_values(values)
    if "name" not in data:
        raise Invalid("An account needs a name.", field="name")
    if actor.role == Role.SALES:
        data["owner_id"] = actor.id
    _check_reference(session, User, data.get("owner_id"), "owner_id")
    org = Organization(**data)
    with unique_guard(session, "account"):
        session.add(org)
    return org


def update_organization(
    session: Session, actor: User, org: Organization, **values: Any
) -> Organization:
    check_organization_access(actor, org, write=True)
    data = _clean_org_values(values)
    _check_reference(session, User, data.get("owner_id"), "owner_id")
    renamed = "name" in data and data["name"] != org.name
    with unique_guard(session, "account"):
        for key, value in data.items():
            setattr(org, key, value)
    if renamed:
        for contact in session.scalars(select(Contact).where(Contact.organization_id == org.id)):
            refresh_search_fields(contact)
    return org


def find_or_create_organization(
    session: Session, name: str | None, domain: str | None = None
) -> Organization | None:
    """Match an account by domain, else by exact name (case-insensitive); create if absent."""
    name = clean(name, 200)
    domain = (clean(domain, 200) or "").lower().removeprefix("www.") or None
    if not name and not domain:
        return None
    org = None
    if domain:
        org = session.scalar(select(Organization).where(Organization.domain == domain))
    if org is None and name:
        org = session.scalar(
            select(Organization).where(func.lower(Organization.name) == name.lower()).limit(1)
        )
    if org is None:
        org = Organization(name=name or domain, domain=domain)
        session.add(org)
        session.flush()
    return org


def list_organizations(
    session: Session, user: User, q: str = "", page: int = 1, per_page: int = 50
) -> Page[Organization]:
    stmt = select(Organization).where(visible_organizations_clause(user))
    if q.strip():
        stmt = stmt.where(func.lower(Organization.name).contains(q.strip().lower()))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = list(
        session.scalars(
            stmt.options(selectinload(Organization.owner))
            .order_by(Organization.key_account.desc(), Organization.name, Organization.id)
            .limit(per_page)
            .offset((max(page, 1) - 1) * per_page)
        )
    )
    return Page(items=items, total=total, page=max(page, 1), per_page=per_page)


def organization_people(session: Session, user: User, org: Organization) -> list[Contact]:
    return list(
        session.scalars(
            select(Contact)
            .where(
                Contact.organization_id == org.id,
                Contact.merged_into_id.is_(None),
                visible_contacts_clause(user),
            )
            .options(selectinload(Contact.owner))
            .order_by(Contact.sort_name)
        )
    )


# ---------------------------------------------------------------- relationships


def add_relationship(
    session: Session,
    actor: User,
    from_contact: Contact,
    to_contact: Contact,
    kind: str,
    strength: float = 0.5,
    *,
    since: datetime | None = None,
    source: str = "ui",
) -> Relationship:
    check_contact_access(actor, from_contact, write=True)
    if kind not in RELATIONSHIP_KINDS:
        raise Invalid(f"Unknown relationship kind {kind!r}.", field="kind")
    if from_contact.id == to_contact.id:
        raise Invalid("A person cannot be related to themselves.", field="to_contact")
    if not 0 <= strength <= 1:
        raise Invalid("Strength must be between 0 and 1.", field="strength")
    rel = Relationship(
        from_contact_id=from_contact.id,
        to_contact_id=to_contact.id,
        kind=kind,
        strength=strength,
        since=since,
        source=source,
    )
    with unique_guard(session, "relationship"):
        session.add(rel)
    return rel


def remove_relationship(session: Session, actor: User, rel_id: int) -> None:
    rel = session.get(Relationship, rel_id)
    if rel is None:
        raise NotFound("No such relationship.")
    check_contact_access(actor, rel.from_contact, write=True)
    session.delete(rel)
    session.flush()


def relationships_of(session: Session, contact: Contact) -> list[Relationship]:
    return list(
        session.scalars(
            select(Relationship)
            .where(
                or_(
                    Relationship.from_contact_id == contact.id,
                    Relationship.to_contact_id == contact.id,
                )
            )
            .options(selectinload(Relationship.from_contact), selectinload(Relationship.to_contact))
            .order_by(Relationship.strength.desc(), Relationship.kind, Relationship.id)
        )
    )


# ---------------------------------------------------------------- interactions


# Clocks of other systems drift; anything later than this is a mistake, not a skew.
FUTURE_TOLERANCE = timedelta(minutes=10)


def log_interaction(
    session: Session,
    actor: User | None,
    participants: Sequence[Contact],
    *,
    channel: str,
    direction: str,
    kind: str,
    occurred_at: datetime,
    sentiment: float | None = None,
    value_cents: int = 0,
    summary: str | None = None,
    needs_answer: bool = False,
    source: str = "ui",
    external_id: str | None = None,
) -> Interaction:
    """Record one interaction with one or more people.

    With an `external_id`, the same (source, external_id) posted twice is stored once:
    the existing interaction is returned (idempotent ingest from other systems).
    """
    if not participants:
        raise Invalid("An interaction needs at least one person.", field="participants")
    for name, value, allowed in (
        ("channel", channel, CHANNELS),
        ("direction", direction, DIRECTIONS),
        ("kind", kind, INTERACTION_KINDS),
    ):
        if value not in allowed:
            raise Invalid(f"Unknown {name} {value!r}.", field=name)
    if occurred_at.tzinfo is None:
        raise Invalid("The date needs a time zone.", field="occurred_at")
    if occurred_at > utcnow() + FUTURE_TOLERANCE:
        raise Invalid("The interaction is dated in the future.", field="occurred_at")
    if sentiment is not None and not -1 <= sentiment <= 1:
        raise Invalid("Sentiment must be between -1 and 1.", field="sentiment")
    if value_cents < 0:
        raise Invalid("The value cannot be negative.", field="value_cents")
    if actor is not None:
        for person in participants:
            check_contact_access(actor, person, write=False)
    erased = [p for p in participants if p.is_erased]
    if erased:
        raise Invalid("An erased person cannot take part in new interactions.")
    if external_id:
        existing = session.scalar(
            select(Interaction).where(
                Interaction.source == source, Interaction.external_id == external_id
            )
        )
        if existing is not None:
            return existing
    interaction = Interaction(
        channel=channel,
        direction=direction,
        kind=kind,
        occurred_at=occurred_at,
        sentiment=sentiment,
        value_cents=value_cents,
        summary=(summary or "").strip() or None,
        needs_answer=needs_answer and direction == "inbound",
        source=source,
        external_id=external_id,
        created_by_id=actor.id if actor else None,
    )
    interaction.participants = list({p.id: p for p in participants}.values())
    with unique_guard(session, "interaction"):
        session.add(interaction)
    touch_last_interaction(session, [p.id for p in interaction.participants])
    return interaction


def touch_last_interaction(session: Session, contact_ids: Sequence[int]) -> None:
    """Recompute contacts.last_interaction_at for the given people (set-based)."""
    if not contact_ids:
        return
    latest = (
        select(func.max(Interaction.occurred_at))
        .join(interaction_participants)
        .where(interaction_participants.c.contact_id == Contact.id)
        .scalar_subquery()
    )
    for start in range(0, len(contact_ids), 500):
        chunk = list(contact_ids[start : start + 500])
        session.execute(
            update(Contact)
            .where(Contact.id.in_(chunk))
            .values(last_interaction_at=latest)
            .execution_options(synchronize_session=False)
        )
    for obj in session.identity_map.values():
        if isinstance(obj, Contact) and obj.id in set(contact_ids):
            session.expire(obj, ["last_interaction_at"])


def mark_answered(session: Session, actor: User, interaction_id: int) -> Interaction:
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound("No such interaction.")
    if not interaction.needs_answer:
        raise Invalid("This interaction does not wait for an answer.")
    if interaction.answered_at is not None:
        raise Conflict("This interaction was already answered.")
    interaction.answered_at = utcnow()
    return interaction


def timeline(
    session: Session, contact: Contact, limit: int = 50, before_id: int | None = None
) -> list[Interaction]:
    """A person's interactions, newest first (by when they happened, then by id).

    `before_id` pages back: the interactions that come after that one of theirs in this
    order. The position is (occurred_at, id), not the id alone: an interaction logged
    or imported today may have happened months ago, so ids do not follow the order."""
    mine = interaction_participants.c.contact_id == contact.id
    stmt = (
        select(Interaction)
        .join(interaction_participants)
        .where(mine)
        .options(selectinload(Interaction.participants))
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        after = session.execute(
            select(Interaction.occurred_at, Interaction.id)
            .join(interaction_participants)
            .where(mine, Interaction.id == before_id)
        ).first()
        if after is None:
            raise Invalid(
                f"Interaction {before_id} is not one of this person's.", field="before_id"
            )
        stmt = stmt.where(
            or_(
                Interaction.occurred_at < after.occurred_at,
                and_(Interaction.occurred_at == after.occurred_at, Interaction.id < after.id),
            )
        )
    return list(session.scalars(stmt))


def interaction_counts(session: Session, contact: Contact) -> dict[str, Any]:
    row = session.execute(
        select(
            func.count(Interaction.id),
            func.coalesce(func.sum(Interaction.value_cents), 0),
        )
        .join(interaction_participants)
        .where(interaction_participants.c.contact_id == contact.id)
    ).one()
    return {"interactions": row[0], "value_cents": int(row[1])}


# ---------------------------------------------------------------- merge


def merge_contacts(session: Session, actor: User, keep: Contact, remove: Contact) -> Contact:
    """Fold `remove` into `keep`: interactions, relationships, tags, missing fields.

    The removed row stays as a tombstone pointing at the kept one (so old links and
    imports resolve), with its unique keys cleared; an audit record keeps what moved.
    """
    check_contact_access(actor, keep, write=True)
    check_contact_access(actor, remove, write=True)
    if keep.id == remove.id:
        raise Invalid("Choose two different people to merge.")
    if keep.is_erased or remove.is_erased:
        raise Invalid("Erased people cannot be merged.")
    if remove.merged_into_id is not None:
        raise Invalid("That person was already merged.")

    session.flush()
    moved_interactions = _move_participations(session, keep.id, remove.id)
    moved_relationships = _move_relationships(session, keep.id, remove.id)
    # Core updates bypassed the identity map: reload what they changed.
    session.expire_all()

    kept_tag_ids = {t.id for t in keep.tags}
    keep.tags = keep.tags + [t for t in remove.tags if t.id not in kept_tag_ids]
    remove.tags = []

    email, linkedin = remove.email, remove.linkedin_url
    remove.email = None
    remove.linkedin_url = None
    remove.merged_into_id = keep.id
    session.flush()
    filled = []
    for name in ("first_name", "last_name", "phone", "title", "organization_id", "language",
                 "country", "city", "x_handle", "facebook", "owner_id"):  # fmt: skip
        if not getattr(keep, name) and getattr(remove, name):
            setattr(keep, name, getattr(remove, name))
            filled.append(name)
    if not keep.email and email:
        keep.email = email
        filled.append("email")
    if not keep.linkedin_url and linkedin:
        keep.linkedin_url = linkedin
        filled.append("linkedin_url")
    if remove.notes:
        keep.notes = "\n\n".join(n for n in (keep.notes, remove.notes) if n)
    keep.custom_fields = {**(remove.custom_fields or {}), **(keep.custom_fields or {})}
    if keep.organization_id and (keep.organization is None or
                                 keep.organization.id != keep.organization_id):  # fmt: skip
        keep.organization = session.get(Organization, keep.organization_id)
    refresh_search_fields(keep)
    session.flush()
    touch_last_interaction(session, [keep.id])
    audit.record(
        session, actor.id, "contact.merge", "contact", keep.id,
        removed_id=remove.id, removed_email=email, interactions=moved_interactions,
        relationships=moved_relationships, filled=filled,
    )  # fmt: skip
    return keep


def _move_participations(session: Session, keep_id: int, remove_id: int) -> int:
    ip = interaction_participants
    both = select(ip.c.interaction_id).where(ip.c.contact_id == keep_id)
    session.execute(delete(ip).where(ip.c.contact_id == remove_id, ip.c.interaction_id.in_(both)))
    result = session.execute(
        update(ip).where(ip.c.contact_id == remove_id).values(contact_id=keep_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _move_relationships(session: Session, keep_id: int, remove_id: int) -> int:
    moved = 0
    rels = session.scalars(
        select(Relationship).where(
            or_(Relationship.from_contact_id == remove_id, Relationship.to_contact_id == remove_id)
        )
    ).all()
    existing = {
        (r.from_contact_id, r.to_contact_id, r.kind)
        for r in session.scalars(
            select(Relationship).where(
                or_(Relationship.from_contact_id == keep_id, Relationship.to_contact_id == keep_id)
            )
        )
    }
    for rel in rels:
        src = keep_id if rel.from_contact_id == remove_id else rel.from_contact_id
        dst = keep_id if rel.to_contact_id == remove_id else rel.to_contact_id
        if src == dst or (src, dst, rel.kind) in existing:
            session.delete(rel)
            continue
        rel.from_contact_id, rel.to_contact_id = src, dst
        existing.add((src, dst, rel.kind))
        moved += 1
    session.flush()
    return moved


def find_contact_by_key(session: Session, key: str) -> Contact | None:
    """A person named by email or LinkedIn URL (as imports and the API do); follows merges."""
    key = (key or "").strip()
    if not key:
        return None
    contact = None
    if "linkedin.com" in key.lower():
        try:
            url = normalize_linkedin_url(key)
        except Invalid:
            return None
        contact = session.scalar(select(Contact).where(Contact.linkedin_url == url))
    elif "@" in key:
        contact = session.scalar(select(Contact).where(Contact.email == key.lower()))
    seen = 0
    while contact is not None and contact.merged_into_id is not None and seen < 10:
        contact = session.get(Contact, contact.merged_into_id)
        seen += 1
    return contact
