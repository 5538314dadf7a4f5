"""Contacts, accounts and interactions over JSON: thin doors onto app.contacts.service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.api import bp
from app.api.auth import api_token, api_user
from app.api.openapi import api_route
from app.api.schemas import (
    ContactIn,
    ContactLookup,
    ContactOut,
    ContactPage,
    ContactPatch,
    ContactQuery,
    InteractionIn,
    InteractionList,
    InteractionOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationQuery,
    TimelineQuery,
)
from app.auth.models import User
from app.contacts.models import Contact, Interaction, Organization
from app.contacts.service import (
    ContactFilter,
    change_consent,
    check_contact_access,
    create_contact,
    create_organization,
    find_contact_by_key,
    get_contact,
    get_organization,
    list_organizations,
    log_interaction,
    private_notes_for,
    search_contacts,
    timeline,
    update_contact,
)
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db

CONTACTS = "contacts"
ORGANIZATIONS = "organizations"
INTERACTIONS = "interactions"

# ---------------------------------------------------------------- serialisation


def may_see(user: User, contact: Contact) -> bool:
    try:
        check_contact_access(user, contact)
    except Forbidden:
        return False
    return True


def contact_out(user: User, contact: Contact) -> ContactOut:
    return ContactOut(
        id=contact.id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        full_name=contact.full_name,
        email=contact.email,
        phone=contact.phone,
        title=contact.title,
        organization_id=contact.organization_id,
        organization_name=contact.organization.name if contact.organization else None,
        language=contact.language,
        country=contact.country,
        city=contact.city,
        owner_id=contact.owner_id,
        linkedin_url=contact.linkedin_url,
        x_handle=contact.x_handle,
        facebook=contact.facebook,
        source=contact.source,
        notes=private_notes_for(user, contact),
        custom_fields=contact.custom_fields or {},
        tags=sorted(tag.name for tag in contact.tags),
        consent_status=contact.consent_status,
        consent_basis=contact.consent_basis,
        consent_changed_at=contact.consent_changed_at,
        tier=contact.tier,
        last_interaction_at=contact.last_interaction_at,
        erased=contact.is_erased,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


def organization_out(org: Organization) -> OrganizationOut:
    return OrganizationOut.model_validate(org)


def interaction_out(user: User, interaction: Interaction) -> InteractionOut:
    return InteractionOut(
        id=interaction.id,
        channel=interaction.channel,
        direction=interaction.direction,
        kind=interaction.kind,
        occurred_at=interaction.occurred_at,
        sentiment=interaction.sentiment,
        value_cents=interaction.value_cents,
        summary=interaction.summary,
        needs_answer=interaction.needs_answer,
        answered_at=interaction.answered_at,
        source=interaction.source,
        external_id=interaction.external_id,
        participant_ids=[p.id for p in interaction.participants if may_see(user, p)],
        created_at=interaction.created_at,
    )


def _check_references(values: dict[str, Any]) -> None:
    """Name an unknown owner or account as a 422 on its field (not a foreign-key 409)."""
    session = db.session
    if values.get("owner_id") and session.get(User, values["owner_id"]) is None:
        raise Invalid("No such user.", field="owner_id")
    org_id = values.get("organization_id")
    if org_id and session.get(Organization, org_id) is None:
        raise Invalid("No such account.", field="organization_id")


# ---------------------------------------------------------------- contacts


@api_route(
    bp, "/contacts", methods=["GET"], scope="contacts:read", tag=CONTACTS,
    query=ContactQuery, response=ContactPage, summary="List and search contacts",
)  # fmt: skip
def list_contacts(query: ContactQuery) -> ContactPage:
    """The contacts the token's user may see (salespeople: the people they own)."""
    user = api_user()
    page = search_contacts(
        db.session,
        user,
        ContactFilter(
            q=query.q,
            tag=query.tag,
            consent=query.consent or "",
            tier=query.tier or "",
            owner_id=query.owner_id,
            organization_id=query.organization_id,
            sort=query.sort,
            page=query.page,
            per_page=query.per_page,
        ),
        count_cap=None,  # machines want the exact total
    )
    return ContactPage(
        items=[contact_out(user, c) for c in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
    )


@api_route(
    bp, "/contacts/lookup", methods=["GET"], scope="contacts:read", tag=CONTACTS,
    query=ContactLookup, response=ContactOut, errors=(404,),
    summary="Find a contact by email or LinkedIn URL",
)  # fmt: skip
def lookup_contact(query: ContactLookup) -> ContactOut:
    """Give exactly one of `email` or `linkedin_url`. Follows merges to the surviving contact.
    A contact the token's user may not see is reported as not found."""
    keys = [k for k in (query.email, query.linkedin_url) if k]
    if len(keys) != 1:
        raise Invalid("Give exactly one of email or linkedin_url.", field="email")
    user = api_user()
    contact = find_contact_by_key(db.session, keys[0])
    if contact is None or not may_see(user, contact):
        raise NotFound("No such contact.")
    return contact_out(user, contact)


@api_route(
    bp, "/contacts", methods=["POST"], scope="contacts:write", tag=CONTACTS,
    body=ContactIn, response=ContactOut, status=201, errors=(409,),
    summary="Create a contact",
)  # fmt: skip
def create_contact_api(body: ContactIn) -> tuple[ContactOut, int]:
    """Salespeople own the people they create; marketers cannot create people."""
    user = api_user()
    values = body.model_dump(exclude_unset=True)
    _check_references(values)
    tags = values.pop("tags", None) or ()
    consent_status = values.pop("consent_status", None)
    consent_basis = values.pop("consent_basis", None)
    values["source"] = values.get("source") or "api"
    contact = create_contact(
        db.session, user, tags=tags, consent_status=consent_status,
        consent_basis=consent_basis, consent_source="api", **values,
    )  # fmt: skip
    return contact_out(user, contact), 201


@api_route(
    bp, "/contacts/<int:contact_id>", methods=["GET"], scope="contacts:read", tag=CONTACTS,
    response=ContactOut, summary="Read a contact",
)  # fmt: skip
def get_contact_api(contact_id: int) -> ContactOut:
    """Private notes are left out for marketers."""
    user = api_user()
    return contact_out(user, get_contact(db.session, user, contact_id))


@api_route(
    bp, "/contacts/<int:contact_id>", methods=["PATCH"], scope="contacts:write", tag=CONTACTS,
    body=ContactPatch, response=ContactOut, errors=(409,), summary="Change a contact",
)  # fmt: skip
def update_contact_api(contact_id: int, body: ContactPatch) -> ContactOut:
    """Only the fields sent change. A consent change is recorded with its source "api"."""
    user = api_user()
    session = db.session
    contact = get_contact(session, user, contact_id, write=True)
    values = body.model_dump(exclude_unset=True)
    _check_references(values)
    consent_status = values.pop("consent_status", None)
    consent_basis = values.pop("consent_basis", None)
    if "tags" in values and values["tags"] is None:
        values["tags"] = []
    update_contact(session, user, contact, **values)
    if consent_status or consent_basis:
        change_consent(
            session, user.id, contact, consent_status or contact.consent_status,
            consent_basis or contact.consent_basis, source="api",
        )  # fmt: skip
    return contact_out(user, contact)


@api_route(
    bp, "/contacts/<int:contact_id>/interactions", methods=["GET"], scope="contacts:read",
    tag=INTERACTIONS, query=TimelineQuery, response=InteractionList,
    summary="A contact's interactions, newest first",
)  # fmt: skip
def contact_interactions(contact_id: int, query: TimelineQuery) -> InteractionList:
    """Page back with `before_id` set to the last id received (one of this contact's)."""
    user = api_user()
    contact = get_contact(db.session, user, contact_id)
    rows = timeline(db.session, contact, limit=query.limit, before_id=query.before_id)
    return InteractionList(items=[interaction_out(user, i) for i in rows])


# ---------------------------------------------------------------- organizations


@api_route(
    bp, "/organizations", methods=["GET"], scope="contacts:read", tag=ORGANIZATIONS,
    query=OrganizationQuery, response=OrganizationPage, summary="List accounts",
)  # fmt: skip
def list_organizations_api(query: OrganizationQuery) -> OrganizationPage:
    """Key accounts first, then by name."""
    page = list_organizations(db.session, api_user(), query.q, query.page, query.per_page)
    return OrganizationPage(
        items=[organization_out(o) for o in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
    )


@api_route(
    bp, "/organizations/<int:org_id>", methods=["GET"], scope="contacts:read",
    tag=ORGANIZATIONS, response=OrganizationOut, summary="Read an account",
)  # fmt: skip
def get_organization_api(org_id: int) -> OrganizationOut:
    return organization_out(get_organization(db.session, api_user(), org_id))


@api_route(
    bp, "/organizations", methods=["POST"], scope="contacts:write", tag=ORGANIZATIONS,
    body=OrganizationIn, response=OrganizationOut, status=201, errors=(409,),
    summary="Create an account",
)  # fmt: skip
def create_organization_api(body: OrganizationIn) -> tuple[OrganizationOut, int]:
    """Salespeople own the accounts they create; marketers cannot create accounts."""
    values = body.model_dump(exclude_unset=True)
    _check_references(values)
    return organization_out(create_organization(db.session, api_user(), **values)), 201


# ---------------------------------------------------------------- interactions


def _resolve_participants(keys: list[int | str]) -> list[Contact]:
    session = db.session
    people: list[Contact] = []
    unknown: list[dict[str, str]] = []
    labels: list[str] = []
    for index, key in enumerate(keys):
        if isinstance(key, int):
            contact = session.get(Contact, key)
            if contact is not None and contact.merged_into_id is not None:
                contact = None
            what = f"No contact with id {key}."
        else:
            contact = find_contact_by_key(session, key)
            what = f"No contact with email or LinkedIn URL {key!r}."
        if contact is None:
            unknown.append({"field": f"participants.{index}", "message": what})
            labels.append(str(key))
        else:
            people.append(contact)
    if unknown:
        raise Invalid(
            f"Unknown people: {', '.join(labels)}.",
            field="participants",
            details=unknown,
        )
    return people


def _stored(source: str, external_id: str) -> Interaction | None:
    return db.session.scalar(
        select(Interaction).where(
            Interaction.source == source, Interaction.external_id == external_id
        )
    )


@api_route(
    bp, "/interactions", methods=["POST"], scope="interactions:write", tag=INTERACTIONS,
    body=InteractionIn, response=InteractionOut, errors=(409,),
    statuses={201: "Recorded.", 200: "Already recorded with this source and external_id."},
    summary="Record an interaction (a purchase, a comment, a meeting...)",
)  # fmt: skip
def create_interaction(body: InteractionIn) -> tuple[InteractionOut, int]:
    """Participants are contact ids, emails or LinkedIn URLs of people already known; an
    unknown one is refused (422, naming which) and nothing is written. The source defaults to
    "api:<token name>"; (source, external_id) makes a retry safe: it answers 200 with the
    interaction first recorded."""
    user = api_user()
    source = body.source or f"api:{api_token().name}"[:50]
    people = _resolve_participants(body.participants)
    earlier = _stored(source, body.external_id) if body.external_id else None
    try:
        interaction = log_interaction(
            db.session, user, people, channel=body.channel, direction=body.direction,
            kind=body.kind, occurred_at=body.occurred_at, sentiment=body.sentiment,
            value_cents=body.value_cents, summary=body.summary,
            needs_answer=body.needs_answer, source=source, external_id=body.external_id,
        )  # fmt: skip
    except Conflict:
        # A concurrent request stored the same (source, external_id) first: a replay too.
        earlier = _stored(source, body.external_id) if body.external_id else None
        if earlier is None:
            raise
        interaction = earlier
    if earlier is not None and interaction.id == earlier.id:
        if not all(may_see(user, p) for p in interaction.participants):
            raise Conflict(
                "This external_id was already used for another interaction.",
                field="external_id",
            )
        return interaction_out(user, interaction), 200
    return interaction_out(user, interaction), 201
