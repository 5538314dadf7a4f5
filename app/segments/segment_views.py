"""Pages for saved segments: the list with live counts, the rule builder with a preview,
a segment's members, and static lists. Thin doors onto app.segments.rules."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.auth.models import User
from app.contacts.models import CONSENT_BASES, CONSENT_STATUSES, SIZE_BANDS, TIERS
from app.contacts.service import find_contact_by_key
from app.errors import DomainError, Forbidden, Invalid
from app.extensions import db
from app.i18n import tier_label
from app.segments import rules as service
from app.segments.models import Circle, Segment
from app.segments.segment_forms import (
    FIELD_LABELS,
    OPERATOR_LABELS,
    MemberForm,
    SegmentForm,
    rule_rows,
)
from app.segments.views import bp

PREVIEW_SIZE = 20
PER_PAGE = 50


def _choice_label(field: str, value: Any) -> str:
    """A stored choice as people read it (the rule itself keeps the code)."""
    if field == "tier":
        return tier_label(str(value))
    if field in ("consent_status", "consent_basis"):
        return _(str(value))  # app/translations/data_msgids.py lists these codes
    return str(value)  # account sizes ("10-49") read the same in every language


@bp.app_template_filter("rule_value")
def rule_value(rule: dict[str, Any]) -> str:
    """A saved rule's value for its page: choices by their label, yes/no for flags."""
    field, value = rule.get("field", ""), rule.get("value")
    spec = service.FIELDS.get(field)
    values = value if isinstance(value, list | tuple) else [value]
    if spec is not None and spec.type == "choice":
        return ", ".join(_choice_label(field, v) for v in values)
    if spec is not None and spec.type == "bool":
        return ", ".join(_("yes") if v is True else _("no") for v in values)  # stored as bool
    return ", ".join(str(v) for v in values)


def _value_help() -> dict[str, Any]:
    """What the value box accepts for the fields with fixed values, to show beside the form."""
    circles = db.session.execute(
        select(Circle.id, Circle.name).where(Circle.active.is_(True)).order_by(Circle.name)
    ).all()
    owners = db.session.execute(
        select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)
    ).all()

    def coded(field: str, codes: tuple[str, ...]) -> list[str]:
        """What to type, and what it means when the label differs from the code."""
        out = []
        for code in codes:
            label = _choice_label(field, code)
            out.append(code if label == code else f"{code} ({label})")
        return out

    return {
        "tiers": coded("tier", TIERS),
        "consents": coded("consent_status", CONSENT_STATUSES),
        "bases": coded("consent_basis", CONSENT_BASES),
        "sizes": SIZE_BANDS,
        "circles": circles,
        "owners": owners,
    }


def _page_arg() -> int:
    raw = request.args.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


@bp.get("/segments")
def segment_list() -> Any:
    segments = service.list_segments(db.session)
    counts = service.segment_counts(db.session, current_user, segments)
    return render_template(
        "segments/segments_list.html",
        segments=segments,
        counts=counts,
        can_manage=lambda s: service.can_manage(current_user, s),
    )


@bp.route("/segments/new", methods=["GET", "POST"])
def segment_new() -> Any:
    return _segment_form(None)


@bp.route("/segments/<int:segment_id>/edit", methods=["GET", "POST"])
def segment_edit(segment_id: int) -> Any:
    segment = service.get_segment(db.session, current_user, segment_id, write=True)
    return _segment_form(segment)


def _segment_form(segment: Segment | None) -> Any:
    if request.method == "GET" and segment is not None:
        form = SegmentForm(
            data={
                "name": segment.name,
                "description": segment.description or "",
                "match": segment.match,
                "rules": rule_rows(segment.rules or []) or [{}],
            }
        )
    else:
        form = SegmentForm()
    if segment is not None:
        del form.kind  # a segment stays what it was created as
    kind = segment.kind if segment is not None else (form.kind.data or "rules")
    preview: dict[str, Any] | None = None
    rule_error: str | None = None
    status = 200

    if request.method == "POST":
        removed = [e for e in form.rules.entries if e.form.remove.data]
        if removed:
            form.rules.entries = [e for e in form.rules.entries if e not in removed]
            if not form.rules.entries:
                form.rules.append_entry()
        elif form.add_rule.data:
            if len(form.rules.entries) < form.rules.max_entries:  # type: ignore[operator]
                form.rules.append_entry()
            else:
                rule_error = _("A segment has at most %(n)s rules.", n=form.rules.max_entries)
        elif form.preview.data or form.save.data:
            if not form.validate():
                status = 422
            elif form.preview.data:
                if kind == "rules":
                    try:
                        count, people = service.count_and_preview(
                            db.session, current_user, form.match.data or "all",
                            form.rule_dicts(), limit=PREVIEW_SIZE,
                        )  # fmt: skip
                        preview = {"count": count, "people": people}
                    except Invalid as exc:
                        rule_error, status = exc.message, 422
            else:
                try:
                    with db.transaction() as session:
                        saved = _save(session, segment, form, kind)
                    flash(_("Segment saved."), "success")
                    return redirect(url_for("segments.segment_show", segment_id=saved.id))
                except DomainError as exc:
                    status = 422
                    if exc.field == "name":
                        form.name.errors = [*form.name.errors, exc.message]
                    else:
                        rule_error = exc.message
    return (
        render_template(
            "segments/segment_form.html",
            form=form,
            segment=segment,
            kind=kind,
            preview=preview,
            rule_error=rule_error,
            field_labels=FIELD_LABELS,
            operator_labels=OPERATOR_LABELS,
            help=_value_help(),
        ),
        status,
    )


def _save(session: Any, segment: Segment | None, form: SegmentForm, kind: str) -> Segment:
    values: dict[str, Any] = {
        "name": form.name.data or "",
        "description": form.description.data or "",
        "match": form.match.data or "all",
        "rules": form.rule_dicts() if kind == "rules" else [],
    }
    if segment is None:
        return service.create_segment(session, current_user, kind=kind, **values)
    if kind == "static":
        values.pop("rules")
    return service.update_segment(session, current_user, segment, **values)


@bp.get("/segments/<int:segment_id>")
def segment_show(segment_id: int) -> Any:
    segment = service.get_segment(db.session, current_user, segment_id)
    page = service.segment_page(
        db.session, current_user, segment, page=_page_arg(), per_page=PER_PAGE
    )
    return render_template(
        "segments/segment_show.html",
        segment=segment,
        page=page,
        can_manage=service.can_manage(current_user, segment),
        member_form=MemberForm(),
        field_labels=FIELD_LABELS,
        operator_labels=OPERATOR_LABELS,
    )


@bp.post("/segments/<int:segment_id>/delete")
def segment_delete(segment_id: int) -> Any:
    segment = service.get_segment(db.session, current_user, segment_id, write=True)
    with db.transaction() as session:
        service.delete_segment(session, current_user, segment)
    flash(_("Segment deleted."), "success")
    return redirect(url_for("segments.segment_list"))


@bp.post("/segments/<int:segment_id>/members")
def segment_add_member(segment_id: int) -> Any:
    segment = service.get_segment(db.session, current_user, segment_id, write=True)
    form = MemberForm()
    back = redirect(url_for("segments.segment_show", segment_id=segment.id))
    if not form.validate_on_submit():
        flash(_("Give the person's email or LinkedIn URL."), "error")
        return back
    contact = find_contact_by_key(db.session, form.key.data or "")
    if contact is None:
        flash(_("No person with this email or LinkedIn URL."), "error")
        return back
    try:
        with db.transaction() as session:
            added = service.add_to_static(session, current_user, segment, contact)
    except Forbidden:
        flash(_("No person with this email or LinkedIn URL."), "error")
        return back
    except Invalid as exc:
        flash(exc.message, "error")
        return back
    if added:
        flash(_("%(name)s added to the list.", name=contact.full_name), "success")
    else:
        flash(_("%(name)s is already on the list.", name=contact.full_name), "success")
    return back


@bp.post("/segments/<int:segment_id>/members/<int:contact_id>/delete")
def segment_remove_member(segment_id: int, contact_id: int) -> Any:
    segment = service.get_segment(db.session, current_user, segment_id, write=True)
    with db.transaction() as session:
        removed = service.remove_from_static(session, current_user, segment, contact_id)
    flash(_("Removed from the list.") if removed else _("Not on the list."), "success")
    return redirect(url_for("segments.segment_show", segment_id=segment.id))
