"""HTML pages for contacts and accounts: thin doors onto app.contacts.service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from app.auth.models import Role, User
from app.contacts import privacy, service
from app.contacts.forms import (
    ConsentForm,
    ContactForm,
    EraseForm,
    InteractionForm,
    MergeForm,
    OrganizationForm,
    RelationshipForm,
)
from app.contacts.models import CONSENT_STATUSES, TIERS, Contact, Organization, Tag
from app.errors import Conflict, DomainError, Invalid, NotFound
from app.extensions import db
from app.i18n import select_timezone

bp = Blueprint("contacts", __name__)
TIMELINE_PAGE = 100  # interactions per page of a contact's timeline


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else None


def contact_filter_from_args(per_page: int = 50) -> service.ContactFilter:
    return service.ContactFilter(
        q=request.args.get("q", "")[:200],
        tag=request.args.get("tag", "")[:60],
        owner_id=_int_arg("owner_id"),
        organization_id=_int_arg("organization_id"),
        consent=request.args.get("consent", ""),
        tier=request.args.get("tier", ""),
        sort=request.args.get("sort", "name"),
        page=_int_arg("page") or 1,
        per_page=per_page,
    )


def _owner_choices() -> list[SelectChoice]:
    owners = db.session.scalars(
        select(User)
        .where(User.active.is_(True), User.role.in_([Role.SALES, Role.MANAGER, Role.ADMIN]))
        .order_by(User.name)
    )
    return [SelectChoice(0, "—")] + [SelectChoice(u.id, u.name) for u in owners]


def _organization_choices(selected: int | None = None) -> list[SelectChoice]:
    # Accounts are few next to people (hundreds, not hundreds of thousands).
    orgs = db.session.execute(
        select(Organization.id, Organization.name)
        .where(service.visible_organizations_clause(current_user))
        .order_by(Organization.name)
        .limit(2000)
    ).all()
    choices = [SelectChoice(0, "—")] + [SelectChoice(o.id, o.name) for o in orgs]
    if selected and selected not in {c.value for c in choices}:
        org = db.session.get(Organization, selected)
        if org is not None:
            choices.append(SelectChoice(org.id, org.name))
    return choices


def _form_errors(form: Any, exc: DomainError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        flash(exc.message, "error")


# ---------------------------------------------------------------- contacts


@bp.get("/")
def home() -> Any:
    return redirect(url_for("contacts.index"))


@bp.get("/contacts")
def index() -> Any:
    f = contact_filter_from_args()
    try:
        page = service.search_contacts(db.session, current_user, f)
    except Invalid as exc:
        flash(exc.message, "error")
        f = service.ContactFilter()
        page = service.search_contacts(db.session, current_user, f)
    tags = db.session.scalars(select(Tag.name).order_by(Tag.name).limit(500)).all()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "contacts/index.html",
        page=page,
        f=f,
        args=args,
        tags=tags,
        owners=[(c.value, c.label) for c in _owner_choices()[1:]],
        consents=CONSENT_STATUSES,
        tiers=TIERS,
        sorts=list(service.SORTS),
    )


@bp.route("/contacts/new", methods=["GET", "POST"])
def new_contact() -> Any:
    if current_user.role == Role.MARKETER:
        abort(403)
    form = ContactForm()
    form.organization_id.choices = _organization_choices(_int_arg("organization_id"))
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.organization_id.data = _int_arg("organization_id") or 0
        form.owner_id.data = current_user.id
    if form.validate_on_submit():
        values = _contact_values(form)
        tags = values.pop("tags")
        try:
            with db.transaction() as session:
                contact = service.create_contact(session, current_user, tags=tags, **values)
            flash(_("Contact created."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
        except DomainError as exc:
            _form_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("contacts/form.html", form=form, contact=None), status


def _contact_values(form: ContactForm) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: getattr(form, name).data
        for name in (
            "first_name", "last_name", "email", "phone", "title", "organization_id",
            "owner_id", "language", "country", "city", "linkedin_url", "x_handle",
            "facebook", "tags",
        )
    }  # fmt: skip
    if current_user.sees_private_notes:
        values["notes"] = form.notes.data
    return values


@bp.get("/contacts/<int:contact_id>")
def show(contact_id: int) -> Any:
    from app.loyalty.statements import loyalty_panel
    from app.segments.forms import PinForm
    from app.segments.score_panel import score_panel

    contact = service.get_contact(db.session, current_user, contact_id)
    before = request.args.get("before", type=int)
    timeline = service.timeline(db.session, contact, limit=TIMELINE_PAGE + 1, before_id=before)
    return render_template(
        "contacts/show.html",
        contact=contact,
        score=score_panel(db.session, current_user, contact),
        loyalty=loyalty_panel(db.session, current_user, contact),
        pin_form=PinForm(),
        can_edit=_can_edit(contact),
        notes=service.private_notes_for(current_user, contact),
        timeline=timeline[:TIMELINE_PAGE],
        older=timeline[TIMELINE_PAGE - 1].id if len(timeline) > TIMELINE_PAGE else None,
        paged=before is not None,
        counts=service.interaction_counts(db.session, contact),
        relationships=service.relationships_of(db.session, contact),
        consent_events=service.consent_history(db.session, contact),
        consent_form=ConsentForm(status=contact.consent_status, basis=contact.consent_basis),
        relationship_form=RelationshipForm(),
        erase_form=EraseForm(),
    )


def _can_edit(contact: Contact) -> bool:
    try:
        service.check_contact_access(current_user, contact, write=True)
    except DomainError:
        return False
    return not contact.is_erased


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
def edit(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id, write=True)
    form = ContactForm(obj=contact)
    form.organization_id.choices = _organization_choices(contact.organization_id)
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.organization_id.data = contact.organization_id or 0
        form.owner_id.data = contact.owner_id or 0
        form.language.data = contact.language or ""
        form.tags.data = ", ".join(t.name for t in contact.tags)
        form.notes.data = service.private_notes_for(current_user, contact) or ""
    if form.validate_on_submit():
        try:
            with db.transaction() as session:
                service.update_contact(session, current_user, contact, **_contact_values(form))
            flash(_("Changes saved."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
        except DomainError as exc:
            _form_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("contacts/form.html", form=form, contact=contact), status


@bp.post("/contacts/<int:contact_id>/consent")
def change_consent(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id, write=True)
    form = ConsentForm()
    if not form.validate_on_submit():
        raise Invalid(_("Choose a consent status and a legal basis."))
    with db.transaction() as session:
        event = service.change_consent(
            session, current_user.id, contact, form.status.data or "", form.basis.data or "",
            source="ui", note=form.note.data,
        )  # fmt: skip
    flash(_("Consent updated.") if event else _("Consent unchanged."), "success")
    return redirect(url_for("contacts.show", contact_id=contact.id) + "#consent")


@bp.post("/contacts/<int:contact_id>/relationships")
def add_relationship(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id, write=True)
    form = RelationshipForm()
    if not form.validate_on_submit():
        raise Invalid(_("Name the other person and the kind of relationship."))
    try:
        other = _find_person(form.other.data or "")
        with db.transaction() as session:
            service.add_relationship(
                session, current_user, contact, other, form.kind.data or "",
                float(form.strength.data if form.strength.data is not None else 0.5),
            )  # fmt: skip
        flash(_("Relationship added."), "success")
    except (Invalid, NotFound, Conflict) as exc:
        flash(exc.message, "error")
    return redirect(url_for("contacts.show", contact_id=contact.id) + "#relationships")


def _find_person(key: str) -> Contact:
    key = key.strip()
    contact = None
    if key.isdigit():
        contact = db.session.get(Contact, int(key))
        if contact is not None and contact.merged_into_id:
            contact = db.session.get(Contact, contact.merged_into_id)
    else:
        contact = service.find_contact_by_key(db.session, key)
    if contact is None:
        raise NotFound(_("Nobody with %(key)s is in Cerchia.", key=key))
    service.check_contact_access(current_user, contact)
    return contact


@bp.post("/relationships/<int:rel_id>/delete")
def remove_relationship(rel_id: int) -> Any:
    back = request.form.get("back", type=int)
    with db.transaction() as session:
        service.remove_relationship(session, current_user, rel_id)
    flash(_("Relationship removed."), "success")
    if back:
        return redirect(url_for("contacts.show", contact_id=back) + "#relationships")
    return redirect(url_for("contacts.index"))


@bp.route("/contacts/<int:contact_id>/interactions/new", methods=["GET", "POST"])
def log_interaction(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id)
    form = InteractionForm()
    zone = ZoneInfo(select_timezone())
    if request.method == "GET":
        form.occurred_at.data = datetime.now(zone).replace(second=0, microsecond=0, tzinfo=None)
    if form.validate_on_submit():
        try:
            others = [
                _find_person(k) for k in (form.others.data or "").replace(";", ",").split(",")
                if k.strip()
            ]  # fmt: skip
            assert form.occurred_at.data is not None
            occurred = form.occurred_at.data.replace(tzinfo=zone).astimezone(UTC)
            value = form.value.data or Decimal(0)
            with db.transaction() as session:
                service.log_interaction(
                    session, current_user, [contact, *others],
                    channel=form.channel.data or "", direction=form.direction.data or "",
                    kind=form.kind.data or "", occurred_at=occurred,
                    sentiment=form.sentiment.data, value_cents=int(value * 100),
                    summary=form.summary.data, needs_answer=bool(form.needs_answer.data),
                )  # fmt: skip
            flash(_("Interaction logged."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
        except DomainError as exc:
            _form_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("contacts/interaction_form.html", form=form, contact=contact), status


@bp.route("/contacts/<int:contact_id>/merge", methods=["GET", "POST"])
def merge(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id, write=True)
    form = MergeForm()
    if form.validate_on_submit():
        try:
            other = _find_person(form.other.data or "")
            with db.transaction() as session:
                service.merge_contacts(session, current_user, contact, other)
            flash(_("The two records are now one."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
        except DomainError as exc:
            _form_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("contacts/merge.html", form=form, contact=contact), status


@bp.get("/contacts/<int:contact_id>/export.json")
def export_person(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id)
    with db.transaction() as session:
        data = privacy.export_contact_data(session, current_user, contact)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=contact-{contact.id}.json"},
    )


@bp.post("/contacts/<int:contact_id>/erase")
def erase(contact_id: int) -> Any:
    contact = service.get_contact(db.session, current_user, contact_id)
    form = EraseForm()
    if not form.validate_on_submit():
        raise Invalid(_("Say why the person is erased."))
    with db.transaction() as session:
        privacy.erase_contact(session, current_user, contact, form.reason.data or "")
    flash(_("The person was erased. Counts and amounts are kept."), "success")
    return redirect(url_for("contacts.show", contact_id=contact.id))


# ---------------------------------------------------------------- accounts


@bp.get("/accounts")
def organizations() -> Any:
    q = request.args.get("q", "")[:200]
    page = service.list_organizations(db.session, current_user, q, _int_arg("page") or 1)
    return render_template("contacts/organizations.html", page=page, q=q)


@bp.route("/accounts/new", methods=["GET", "POST"])
def new_organization() -> Any:
    if current_user.role == Role.MARKETER:
        abort(403)
    form = OrganizationForm()
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.owner_id.data = current_user.id
    if form.validate_on_submit():
        try:
            with db.transaction() as session:
                org = service.create_organization(session, current_user, **_org_values(form))
            flash(_("Account created."), "success")
            return redirect(url_for("contacts.organization", org_id=org.id))
        except DomainError as exc:
            _form_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("contacts/organization_form.html", form=form, org=None), status


def _org_values(form: OrganizationForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "domain": form.domain.data,
        "industry": form.industry.data,
        "size_band": form.size_band.data,
        "city": form.city.data,
        "country": form.country.data,
        "annual_value_cents": (form.annual_value.data or 0) * 100,
        "key_account": form.key_account.data,
        "owner_id": form.owner_id.data,
    }


@bp.get("/accounts/<int:org_id>")
def organization(org_id: int) -> Any:
    org = service.get_organization(db.session, current_user, org_id)
    try:
        service.check_organization_access(current_user, org, write=True)
        can_edit = True
    except DomainError:
        can_edit = False
    people = service.organization_people(db.session, current_user, org)
    return render_template("contacts/organization.html", org=org, people=people, can_edit=can_edit)


@bp.route("/accounts/<int:org_id>/edit", methods=["GET", "POST"])
def edit_organization(org_id: int) -> Any:
    org = service.get_organization(db.session, current_user, org_id, write=True)
    form = OrganizationForm(obj=org)
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.annual_value.data = org.annual_value_cents // 100
        form.owner_id.data = org.owner_id or 0
        form.size_band.data = org.size_band or ""
    if form.validate_on_submit():
        try:
            with db.transaction() as session:
                service.update_organization(session, current_user, org, **_org_values(form))
            flash(_("Changes saved."), "success")
            return redirect(url_for("contacts.organization", org_id=org.id))
        except DomainError as exc:
            _form_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("contacts/organization_form.html", form=form, org=org), status


from app.contacts import import_views  # noqa: E402,F401  (routes on this blueprint)
