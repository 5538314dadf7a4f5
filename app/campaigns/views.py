"""HTML pages for campaigns: thin doors onto the services."""

from __future__ import annotations

import calendar as pycalendar
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_interval
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from app.campaigns import calendar, drops, launch, sending
from app.campaigns import jobs as campaign_jobs
from app.campaigns.forms import (
    ApproveForm,
    CampaignForm,
    DropForm,
    PostForm,
    PreviewForm,
    SlotForm,
)
from app.campaigns.models import (
    Campaign,
    CampaignKind,
    Delivery,
    DeliveryStatus,
    DropLink,
    PublicationSlot,
    ReservedDrop,
)
from app.campaigns.public import public_bp
from app.contacts.models import Contact
from app.errors import DomainError, Invalid, NotFound
from app.extensions import db
from app.i18n import select_timezone, weekday_name
from app.segments.models import Circle, Segment

bp = Blueprint("campaigns", __name__)
# The public doors (pixel, click, unsubscribe, drop landing) need no login: their own blueprint.
bp.record_once(lambda state: state.app.register_blueprint(public_bp))

LIVE_STATUSES = ("launching", "sending", "scheduled")


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _zone() -> ZoneInfo:
    return ZoneInfo(select_timezone())


def _to_utc(local: datetime | None) -> datetime | None:
    if local is None:
        return None
    return local.replace(tzinfo=_zone()).astimezone(UTC)


def _to_local(value: datetime | None) -> datetime | None:
    return value.astimezone(_zone()).replace(tzinfo=None) if value else None


def _form_error(form: Any, exc: DomainError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        flash(exc.message, "error")


def _fill_choices(form: CampaignForm) -> None:
    session = db.session
    form.audience_circle_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(c.id, c.name)
        for c in session.scalars(select(Circle).where(Circle.active).order_by(Circle.name))
    ]
    form.slot_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(s.id, f"{weekday_name(s.weekday).capitalize()} {s.at_time:%H:%M} {s.network}")
        for s in session.scalars(select(PublicationSlot).where(PublicationSlot.active))
    ]
    form.audience_segment_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(s.id, s.name) for s in session.scalars(select(Segment).order_by(Segment.name))
    ]


def _values(form: CampaignForm) -> dict[str, Any]:
    variants = {}
    for lang in ("it", "en"):
        subject = getattr(form, f"subject_{lang}").data or ""
        body = getattr(form, f"body_{lang}").data or ""
        if (subject.strip() or body.strip()) and lang != form.language.data:
            variants[lang] = {"subject": subject, "body": body}
    return {
        "name": form.name.data or "",
        "kind": form.kind.data,
        "audience_kind": form.audience_kind.data,
        "audience_tier": form.audience_tier.data or None,
        "audience_circle_id": form.audience_circle_id.data or None,
        "audience_segment_id": form.audience_segment_id.data or None,
        "audience_contact_ids": form.contact_ids(),
        "channel": form.channel.data,
        "webhook_url": form.webhook_url.data or None,
        "language": form.language.data,
        "subject": form.subject.data or "",
        "body": form.body.data or "",
        "variants": variants,
        "promo_prefix": form.promo_prefix.data or None,
        "schedule_kind": form.schedule_kind.data,
        "slot_id": form.slot_id.data or None,
        "scheduled_at": _to_utc(form.scheduled_at.data)
        if form.schedule_kind.data == "at"
        else None,
    }


# ---------------------------------------------------------------- list, form, detail


@bp.get("/campaigns")
def index() -> str:
    session = db.session
    campaigns = list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(200)))
    counts: dict[int, dict[str, int]] = {}
    ids = [c.id for c in campaigns]
    if ids:
        for cid, status, n in session.execute(
            select(Delivery.campaign_id, Delivery.status, func.count())
            .where(Delivery.campaign_id.in_(ids))
            .group_by(Delivery.campaign_id, Delivery.status)
        ):
            counts.setdefault(cid, {})[status] = n
    return render_template("campaigns/index.html", campaigns=campaigns, counts=counts)


@bp.route("/campaigns/new", methods=["GET", "POST"])
def new() -> Any:
    form = CampaignForm()
    _fill_choices(form)
    if request.method == "GET":
        kind = request.args.get("kind", "circle")
        form.kind.data = kind if kind in {c.value for c in form.kind.choices} else "circle"
        form.language.data = "it" if str(current_user.language or "") == "it" else "en"
    if form.validate_on_submit():
        session = db.session
        try:
            campaign = launch.create_campaign(session, current_user, **_values(form))
            session.commit()
        except DomainError as exc:
            session.rollback()
            _form_error(form, exc)
        else:
            flash(_("Campaign saved as a draft."), "success")
            if campaign.kind == CampaignKind.RESERVED_DROP:
                return redirect(url_for("campaigns.drop_edit", campaign_id=campaign.id))
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/form.html", form=form, campaign=None), (
        422 if form.errors else 200
    )


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit(campaign_id: int) -> Any:
    session = db.session
    campaign = launch.get_campaign(session, current_user, campaign_id)
    form = CampaignForm(obj=campaign if request.method == "GET" else None)
    _fill_choices(form)
    if request.method == "GET":
        form.audience_contact_ids.data = ", ".join(map(str, campaign.audience_contact_ids or []))
        form.audience_circle_id.data = campaign.audience_circle_id or 0
        form.audience_segment_id.data = campaign.audience_segment_id or 0
        form.audience_tier.data = campaign.audience_tier or ""
        form.scheduled_at.data = _to_local(campaign.scheduled_at)
        form.slot_id.data = campaign.slot_id or 0
        for lang, variant in (campaign.variants or {}).items():
            if hasattr(form, f"subject_{lang}"):
                getattr(form, f"subject_{lang}").data = variant.get("subject", "")
                getattr(form, f"body_{lang}").data = variant.get("body", "")
    if form.validate_on_submit():
        try:
            values = _values(form)
            values.pop("kind")  # the kind is chosen once
            launch.update_campaign(session, current_user, campaign, **values)
            session.commit()
        except DomainError as exc:
            session.rollback()
            _form_error(form, exc)
        else:
            flash(_("Campaign saved."), "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/form.html", form=form, campaign=campaign), (
        422 if form.errors else 200
    )


@bp.get("/campaigns/<int:campaign_id>")
def show(campaign_id: int) -> str:
    session = db.session
    campaign = launch.get_campaign(session, current_user, campaign_id)
    progress = sending.progress(session, campaign.id)
    reasons = sending.skip_reasons(session, campaign.id)
    recent = list(
        session.execute(
            select(Delivery, Contact.first_name, Contact.last_name, Contact.email)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.campaign_id == campaign.id)
            .order_by(Delivery.id)
            .limit(100)
        )
    )
    preview = None
    preview_form = PreviewForm(request.args)
    people = _preview_people(campaign)
    preview_form.contact_id.choices = [SelectChoice(p.id, p.full_name) for p in people]
    chosen = request.args.get("contact_id", type=int) or (people[0].id if people else None)
    if chosen and campaign.kind != CampaignKind.PUBLICATION:
        try:
            preview = sending.preview(
                session, campaign, campaign_jobs.signer_from(current_app.config), chosen
            )
        except DomainError as exc:
            preview = {"error": exc.message}
    drop = session.scalar(select(ReservedDrop).where(ReservedDrop.campaign_id == campaign.id))
    return render_template(
        "campaigns/show.html",
        campaign=campaign,
        progress=progress,
        reasons=reasons,
        recent=recent,
        preview=preview,
        preview_form=preview_form,
        drop=drop,
        live=campaign.status in LIVE_STATUSES,
        awaiting=_awaiting_count(campaign),
    )


def _preview_people(campaign: Campaign) -> list[Contact]:
    session = db.session
    if campaign.status in ("draft", "scheduled"):
        try:
            from app.campaigns import audiences

            ids = audiences.resolve_audience(session, campaign)[:50]
        except DomainError:
            ids = []
    else:
        ids = list(
            session.scalars(
                select(Delivery.contact_id)
                .where(Delivery.campaign_id == campaign.id)
                .order_by(Delivery.id)
                .limit(50)
            )
        )
    if not ids:
        return []
    return list(
        session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.sort_name))
    )


def _awaiting_count(campaign: Campaign) -> int:
    if campaign.kind != CampaignKind.TAILORED:
        return 0
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.campaign_id == campaign.id,
                Delivery.status == DeliveryStatus.PENDING.value,
                Delivery.approved_at.is_(None),
            )
        )
        or 0
    )


@bp.post("/campaigns/<int:campaign_id>/launch")
def launch_campaign(campaign_id: int) -> Any:
    session = db.session
    try:
        campaign, what = launch.launch(session, current_user, campaign_id, tz=_zone())
        campaign_jobs.enqueue_launch(session, campaign, what)
        session.commit()
    except DomainError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        flash(
            _("Campaign scheduled.") if what == "schedule" else _("Campaign launched."), "success"
        )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/cancel")
def cancel(campaign_id: int) -> Any:
    session = db.session
    try:
        launch.cancel(
            session, current_user, launch.get_campaign(session, current_user, campaign_id)
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


# ---------------------------------------------------------------- tailored approvals


@bp.route("/campaigns/<int:campaign_id>/approvals", methods=["GET", "POST"])
def approvals(campaign_id: int) -> Any:
    """One draft at a time: read, edit, approve (it is sent) or skip."""
    session = db.session
    campaign = launch.get_campaign(session, current_user, campaign_id)
    delivery_id = request.form.get("delivery_id", type=int) or request.args.get(
        "delivery_id", type=int
    )
    stmt = select(Delivery).where(
        Delivery.campaign_id == campaign.id,
        Delivery.status == DeliveryStatus.PENDING.value,
        Delivery.approved_at.is_(None),
    )
    delivery = session.scalar(
        stmt.where(Delivery.id == delivery_id) if delivery_id else stmt.order_by(Delivery.id)
    )
    form = ApproveForm(obj=None)
    if request.method == "POST" and delivery is not None:
        action = request.form.get("action", "approve")
        try:
            if action == "reject":
                sending.reject_draft(session, current_user, delivery)
                session.commit()
                flash(_("Message skipped."), "success")
                return redirect(url_for("campaigns.approvals", campaign_id=campaign.id))
            if form.validate_on_submit():
                sending.approve_draft(
                    session, current_user, delivery, subject=form.subject.data, body=form.body.data
                )
                campaign_jobs.enqueue_approved(session, campaign.id, delivery.id)
                session.commit()
                flash(_("Approved: the message is on its way."), "success")
                return redirect(url_for("campaigns.approvals", campaign_id=campaign.id))
        except DomainError as exc:
            session.rollback()
            _form_error(form, exc)
    elif request.method == "POST":
        flash(_("This message was already handled."), "error")
        return redirect(url_for("campaigns.approvals", campaign_id=campaign.id))
    contact = session.get(Contact, delivery.contact_id) if delivery else None
    if delivery is not None and request.method == "GET":
        form.subject.data = delivery.rendered_subject
        form.body.data = delivery.rendered_body
    return render_template(
        "campaigns/approvals.html",
        campaign=campaign,
        delivery=delivery,
        contact=contact,
        form=form,
        awaiting=_awaiting_count(campaign),
    )


# ---------------------------------------------------------------- drops


def _drop_of(campaign: Campaign) -> ReservedDrop | None:
    return db.session.scalar(select(ReservedDrop).where(ReservedDrop.campaign_id == campaign.id))


@bp.route("/campaigns/<int:campaign_id>/drop", methods=["GET", "POST"])
def drop_edit(campaign_id: int) -> Any:
    session = db.session
    campaign = launch.get_campaign(session, current_user, campaign_id)
    if campaign.kind != CampaignKind.RESERVED_DROP:
        raise NotFound(_("This campaign has no reserved content."))
    drop = _drop_of(campaign)
    form = DropForm(obj=drop if request.method == "GET" else None)
    if request.method == "GET":
        form.expires_at.data = (
            _to_local(drop.expires_at) if drop else _to_local(datetime.now(UTC) + timedelta(days=7))
        )
    if form.validate_on_submit():
        upload = request.files.get("file")
        stored = name = None
        if upload and upload.filename:
            folder = Path(current_app.config["INSTANCE_DIR"]) / "drops" / str(campaign.id)
            folder.mkdir(parents=True, exist_ok=True)
            name = Path(upload.filename).name[:200]
            stored = str(folder / f"{datetime.now(UTC):%Y%m%d%H%M%S}-{name}")
            upload.save(stored)
        try:
            expires = _to_utc(form.expires_at.data)
            assert expires is not None
            launch.set_drop(
                session,
                campaign,
                title=form.title.data or "",
                content=form.content.data or "",
                expires_at=expires,
                file_name=name,
                stored_path=stored,
            )
            session.commit()
        except DomainError as exc:
            session.rollback()
            _form_error(form, exc)
        else:
            flash(_("Reserved content saved."), "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/drop_form.html", campaign=campaign, form=form, drop=drop)


@bp.get("/campaigns/<int:campaign_id>/drop/log")
def drop_log(campaign_id: int) -> str:
    session = db.session
    campaign = launch.get_campaign(session, current_user, campaign_id)
    drop = _drop_of(campaign)
    if drop is None:
        raise NotFound(_("This campaign has no reserved content."))
    return render_template(
        "campaigns/drop_log.html", campaign=campaign, drop=drop, log=drops.access_log(session, drop)
    )


@bp.post("/campaigns/<int:campaign_id>/drop/revoke")
def drop_revoke(campaign_id: int) -> Any:
    session = db.session
    campaign = launch.get_campaign(session, current_user, campaign_id)
    drop = _drop_of(campaign)
    if drop is None:
        raise NotFound(_("This campaign has no reserved content."))
    link_id = request.form.get("link_id", type=int)
    if link_id:
        link = session.get(DropLink, link_id)
        if link is None or link.drop_id != drop.id:
            raise NotFound(_("No such link."))
        drops.revoke_link(session, link)
        flash(_("The link was revoked."), "success")
    else:
        drops.revoke_drop(session, drop)
        flash(_("Every link of this drop was revoked."), "success")
    session.commit()
    return redirect(url_for("campaigns.drop_log", campaign_id=campaign.id))


# ---------------------------------------------------------------- calendar


def _parse_day(raw: str | None) -> date:
    try:
        return date.fromisoformat(raw) if raw else datetime.now(_zone()).date()
    except ValueError:
        return datetime.now(_zone()).date()


@bp.route("/campaigns/calendar", methods=["GET", "POST"])
def calendar_page() -> Any:
    session = db.session
    view = "week" if request.args.get("view") == "week" else "month"
    day = _parse_day(request.args.get("date"))
    post_form, slot_form = PostForm(prefix="post"), SlotForm(prefix="slot")
    if request.method == "POST":
        try:
            if "post-body" in request.form and post_form.validate_on_submit():
                at = _to_utc(post_form.scheduled_at.data)
                assert at is not None
                calendar.create_post(
                    session,
                    current_user,
                    network=post_form.network.data,
                    label=post_form.label.data,
                    body=post_form.body.data or "",
                    scheduled_at=at,
                )
                session.commit()
                flash(_("Post planned."), "success")
                return redirect(url_for("campaigns.calendar_page", view=view, date=day.isoformat()))
            if "slot-at_time" in request.form and slot_form.validate_on_submit():
                calendar.create_slot(
                    session,
                    network=slot_form.network.data,
                    weekday=slot_form.weekday.data,
                    at_time=slot_form.at_time.data,
                    label=slot_form.label.data or None,
                )
                session.commit()
                flash(_("Recurring slot added."), "success")
                return redirect(url_for("campaigns.calendar_page", view=view, date=day.isoformat()))
        except DomainError as exc:
            session.rollback()
            _form_error(post_form if "post-body" in request.form else slot_form, exc)
    if view == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=6)
        weeks = [[start + timedelta(days=i) for i in range(7)]]
        prev_day, next_day = start - timedelta(days=7), start + timedelta(days=7)
        period = format_interval(start, end, "yMMMd", locale=get_locale())  # 23–29 nov 2026
    else:
        month = pycalendar.Calendar(firstweekday=0).monthdatescalendar(day.year, day.month)
        weeks, start, end = month, month[0][0], month[-1][-1]
        first = day.replace(day=1)
        prev_day = (first - timedelta(days=1)).replace(day=1)
        next_day = (first + timedelta(days=32)).replace(day=1)
        period = format_date(day, "LLLL y").capitalize()  # "Novembre 2026"
    data = calendar.calendar_range(session, start, end, _zone())
    from app.campaigns.channels import CHARACTER_LIMITS

    return render_template(
        "campaigns/calendar.html",
        view=view,
        day=day,
        period=period,
        weeks=weeks,
        data=data,
        prev_day=prev_day,
        next_day=next_day,
        post_form=post_form,
        slot_form=slot_form,
        limits=CHARACTER_LIMITS,
        zone=_zone(),
    ), (422 if post_form.errors or slot_form.errors else 200)


# ---------------------------------------------------------------- outbox (demo)


@bp.get("/campaigns/outbox")
def outbox() -> str:
    """What the outbox mailer wrote (no SMTP server configured): the demo's inbox."""
    folder = Path(current_app.config["INSTANCE_DIR"]) / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:100]
    messages = []
    parser = BytesParser(policy=policy.default)
    for path in files:
        with path.open("rb") as fh:
            msg = parser.parse(fh)
        body = msg.get_body(preferencelist=("plain",))
        messages.append(
            {
                "name": path.name,
                "to": msg["To"],
                "subject": msg["Subject"],
                "at": datetime.fromtimestamp(path.stat().st_mtime, UTC),
                "text": body.get_content() if body is not None else "",
                "unsubscribe": msg["List-Unsubscribe"],
            }
        )
    return render_template(
        "campaigns/outbox.html", messages=messages, smtp=bool(current_app.config.get("SMTP_HOST"))
    )


__all__ = ["bp", "Invalid"]
