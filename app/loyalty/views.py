"""Loyalty pages: programmes, settings, dashboard, members, statements. Thin doors onto the
services; each POST commits once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from app.charts import bar_chart_svg
from app.contacts.models import Contact
from app.contacts.service import check_contact_access, find_contact_by_key
from app.db import utcnow
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.jobs import QUEUE_DEFAULT, enqueue_after_commit
from app.loyalty import programmes, rewards
from app.loyalty.forms import (
    AdjustForm,
    ConfirmForm,
    EnrolForm,
    EnrolSegmentForm,
    MultiplierForm,
    ProgrammeForm,
    RedeemForm,
    RewardForm,
    RuleForm,
    TierForm,
)
from app.loyalty.models import Membership, Programme
from app.loyalty.statements import dashboard as dashboard_data
from app.loyalty.statements import members_page, statement

bp = Blueprint("loyalty", __name__, url_prefix="/loyalty")


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _day(d: date | None) -> datetime | None:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) if d else None


def _programme(programme_id: int) -> Programme:
    try:
        return programmes.get_programme(db.session, programme_id)
    except NotFound:
        abort(404)


def _manage() -> None:
    if not programmes.can_manage(current_user):
        abort(403)


def _tier_choices(programme: Programme) -> list[SelectChoice]:
    return [SelectChoice("", "—")] + [SelectChoice(str(t.id), t.name) for t in programme.tiers]


def _segment_choices() -> list[SelectChoice]:
    from app.segments.models import Segment

    segments = db.session.scalars(select(Segment).order_by(Segment.name)).all()
    return [SelectChoice("", "—")] + [SelectChoice(str(s.id), s.name) for s in segments]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _act(action: Any, success: str) -> bool:
    """Run one service call as the request's transaction: commit, or roll back and say why."""
    try:
        action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return False
    flash(success, "success")
    return True


# ---------------------------------------------------------------- programmes


@bp.get("/")
def index() -> str:
    session = db.session
    counts: dict[int, int] = dict(
        session.execute(
            select(Membership.programme_id, func.count()).group_by(Membership.programme_id)
        )
        .tuples()
        .all()
    )
    return render_template(
        "loyalty/index.html",
        programmes=programmes.list_programmes(session),
        counts=counts,
        can_manage=programmes.can_manage(current_user),
        now_utc=utcnow(),
    )


def _programme_values(form: ProgrammeForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "description": (form.description.data or "").strip() or None,
        "eligibility": form.eligibility.data,
        "eligibility_segment_id": _int_or_none(form.eligibility_segment_id.data),
        "eligibility_tier": form.eligibility_tier.data or None,
        "enrolment": form.enrolment.data,
        "expiry_days": form.expiry_days.data,
        "tier_window_days": form.tier_window_days.data,
        "tier_grace_days": form.tier_grace_days.data,
        "daily_cap": form.daily_cap.data,
        "monthly_cap": form.monthly_cap.data,
        "referral_bonus_points": form.referral_bonus_points.data,
        "cents_per_100_points": form.cents_per_100_points.data,
        "ends_at": _day(form.ends_on.data),
    }


@bp.route("/new", methods=["GET", "POST"])
def new_programme() -> Any:
    _manage()
    form = ProgrammeForm()
    form.eligibility_segment_id.choices = _segment_choices()
    if form.validate_on_submit():
        created: list[Programme] = []
        ok = _act(
            lambda: created.append(
                programmes.create_programme(db.session, current_user, **_programme_values(form))
            ),
            _("Programme created. Add its tiers, earning rules and rewards."),
        )
        if ok:
            return redirect(url_for("loyalty.settings", programme_id=created[0].id))
    return render_template("loyalty/programme_form.html", form=form, programme=None)


@bp.route("/<int:programme_id>/settings", methods=["GET", "POST"])
def settings(programme_id: int) -> Any:
    _manage()
    programme = _programme(programme_id)
    form = ProgrammeForm(obj=programme if request.method == "GET" else None)
    form.eligibility_segment_id.choices = _segment_choices()
    if request.method == "GET":
        form.eligibility_segment_id.data = str(programme.eligibility_segment_id or "")
        form.eligibility_tier.data = programme.eligibility_tier or ""
        form.ends_on.data = programme.ends_at.date() if programme.ends_at else None
    if form.validate_on_submit():
        values = _programme_values(form)
        if _act(
            lambda: programmes.update_programme(db.session, current_user, programme, **values),
            _("Programme saved."),
        ):
            return redirect(url_for("loyalty.settings", programme_id=programme.id))
    tier_form, rule_form, multiplier_form, reward_form = (
        TierForm(prefix="tier"),
        RuleForm(prefix="rule"),
        MultiplierForm(prefix="mult"),
        RewardForm(prefix="reward"),
    )
    multiplier_form.tier_id.choices = _tier_choices(programme)
    reward_form.min_tier_id.choices = _tier_choices(programme)
    return render_template(
        "loyalty/programme_form.html",
        form=form,
        programme=programme,
        tier_form=tier_form,
        rule_form=rule_form,
        multiplier_form=multiplier_form,
        reward_form=reward_form,
        confirm=ConfirmForm(),
    )


@bp.post("/<int:programme_id>/<any(tier, rule, multiplier, reward):kind>")
def add_item(programme_id: int, kind: str) -> Response:
    _manage()
    programme = _programme(programme_id)
    session, actor = db.session, current_user
    if kind == "tier":
        tf = TierForm(prefix="tier")
        if tf.validate():
            _act(
                lambda: programmes.add_tier(
                    session, actor, programme, tf.name.data, tf.threshold_points.data
                ),
                _("Tier added."),
            )
        else:
            flash(_("Check the tier's name and threshold."), "error")
    elif kind == "rule":
        rf = RuleForm(prefix="rule")
        if rf.validate():
            _act(
                lambda: programmes.add_rule(
                    session,
                    actor,
                    programme,
                    kind=rf.kind.data,
                    points=rf.points.data,
                    per_cents=rf.per_cents.data,
                    interaction_kind=rf.interaction_kind.data or None,
                ),  # fmt: skip
                _("Earning rule added."),
            )
        else:
            flash(_("Check the rule's points and unit."), "error")
    elif kind == "multiplier":
        mf = MultiplierForm(prefix="mult")
        mf.tier_id.choices = _tier_choices(programme)
        if mf.validate():
            _act(
                lambda: programmes.add_multiplier(
                    session,
                    actor,
                    programme,
                    name=mf.name.data,
                    percent=mf.percent.data,
                    tier_id=_int_or_none(mf.tier_id.data),
                    starts_at=_day(mf.starts_on.data),
                    ends_at=_day(mf.ends_on.data),
                ),  # fmt: skip
                _("Multiplier added."),
            )
        else:
            flash(_("Check the multiplier's name and percentage."), "error")
    else:
        wf = RewardForm(prefix="reward")
        wf.min_tier_id.choices = _tier_choices(programme)
        if wf.validate():
            _act(
                lambda: programmes.add_reward(
                    session,
                    actor,
                    programme,
                    name=wf.name.data,
                    points_cost=wf.points_cost.data,
                    stock=wf.stock.data,
                    min_tier_id=_int_or_none(wf.min_tier_id.data),
                ),  # fmt: skip
                _("Reward added."),
            )
        else:
            flash(_("Check the reward's name, cost and stock."), "error")
    return redirect(url_for("loyalty.settings", programme_id=programme.id))


@bp.post("/<int:programme_id>/<any(tier, rule, multiplier, reward):kind>/<int:item_id>/remove")
def remove_item(programme_id: int, kind: str, item_id: int) -> Response:
    _manage()
    programme = _programme(programme_id)
    if ConfirmForm().validate():
        _act(
            lambda: programmes.remove_item(db.session, current_user, programme, kind, item_id),
            _("Removed."),
        )
    return redirect(url_for("loyalty.settings", programme_id=programme.id))


@bp.get("/<int:programme_id>")
def dashboard(programme_id: int) -> str:
    programme = _programme(programme_id)
    data = dashboard_data(db.session, programme)
    tiers_chart = bar_chart_svg(
        [(label, float(n)) for label, n in data["members_per_tier"]],
        title=_("Members per tier"),
        empty_text=_("No members yet"),
        chart_id="loyalty-tiers",
    )
    flows_chart = bar_chart_svg(
        [
            (_("issued"), float(data["issued"])),
            (_("redeemed"), float(data["redeemed"])),
            (_("expired"), float(data["expired"])),
            (_("outstanding"), float(data["liability_points"])),
        ],
        title=_("Points"),
        chart_id="loyalty-points",
    )
    return render_template(
        "loyalty/dashboard.html",
        programme=programme,
        data=data,
        tiers_chart=tiers_chart,
        flows_chart=flows_chart,
        can_manage=programmes.can_manage(current_user),
        confirm=ConfirmForm(),
    )


@bp.post("/<int:programme_id>/sync")
def sync_now(programme_id: int) -> Response:
    _manage()
    programme = _programme(programme_id)
    if ConfirmForm().validate():
        from app.loyalty.jobs import sync_job_id, sync_purchases_job

        enqueue_after_commit(
            db.session, QUEUE_DEFAULT, sync_purchases_job, programme.id,
            job_id=sync_job_id(programme.id), job_timeout=600,
        )  # fmt: skip
        db.session.commit()
        flash(_("Purchases are being credited in the background."), "success")
    return redirect(url_for("loyalty.dashboard", programme_id=programme.id))


# ---------------------------------------------------------------- members


@bp.route("/<int:programme_id>/members", methods=["GET", "POST"])
def members(programme_id: int) -> Any:
    programme = _programme(programme_id)
    form = EnrolForm(prefix="one")
    segment_form = EnrolSegmentForm(prefix="seg")
    segment_form.segment_id.choices = _segment_choices()
    if request.method == "POST":
        _manage()
        if form.validate_on_submit():
            key = form.contact.data.strip()
            contact = (
                db.session.get(Contact, int(key))
                if key.isdigit()
                else find_contact_by_key(db.session, key)
            )
            if contact is None:
                flash(_("No such person."), "error")
            else:
                _act(
                    lambda: programmes.enrol(db.session, current_user, programme, contact),
                    _("%(name)s is a member.", name=contact.full_name),
                )
            return redirect(url_for("loyalty.members", programme_id=programme.id))
        if segment_form.validate_on_submit() and segment_form.segment_id.data:
            counted: list[int] = []
            _act(
                lambda: counted.append(
                    programmes.enrol_segment(
                        db.session, current_user, programme, int(segment_form.segment_id.data)
                    )
                ),
                _("People of the segment enrolled."),
            )
            return redirect(url_for("loyalty.members", programme_id=programme.id))
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = members_page(db.session, programme, page)
    return render_template(
        "loyalty/members.html",
        programme=programme,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // 50)),
        form=form,
        segment_form=segment_form,
        can_manage=programmes.can_manage(current_user),
    )


def _membership(membership_id: int, *, write: bool = False) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None:
        abort(404)
    try:
        check_contact_access(current_user, membership.contact, write=write)
    except Forbidden:
        if not (write and programmes.can_manage(current_user)):
            abort(403 if write else 404)
    return membership


@bp.get("/members/<int:membership_id>")
def member(membership_id: int) -> str:
    membership = _membership(membership_id)
    st = statement(db.session, membership)
    redeem_form = RedeemForm(prefix="redeem")
    redeem_form.reward_id.choices = [
        SelectChoice(str(r.id), f"{r.name} · {r.points_cost}")
        for r in rewards.available_rewards(db.session, membership)
    ]
    return render_template(
        "loyalty/statement.html",
        st=st,
        contact=membership.contact,
        redeem_form=redeem_form,
        adjust_form=AdjustForm(prefix="adjust"),
        confirm=ConfirmForm(),
        can_manage=programmes.can_manage(current_user),
    )


@bp.post("/members/<int:membership_id>/redeem")
def redeem(membership_id: int) -> Response:
    membership = _membership(membership_id, write=True)
    form = RedeemForm(prefix="redeem")
    reward_id = _int_or_none(form.reward_id.data)
    if form.validate() and reward_id:
        made: list[Any] = []
        if _act(
            lambda: made.append(rewards.redeem(db.session, current_user, membership, reward_id)),
            _("Reward redeemed."),
        ):
            flash(_("Reward code: %(code)s", code=made[0].code), "success")
    return redirect(url_for("loyalty.member", membership_id=membership_id))


@bp.post("/members/<int:membership_id>/adjust")
def adjust(membership_id: int) -> Response:
    membership = _membership(membership_id)
    form = AdjustForm(prefix="adjust")
    if form.validate():
        _act(
            lambda: rewards.adjust(
                db.session, current_user, membership, form.points.data, form.reason.data
            ),
            _("Points adjusted."),
        )
    else:
        flash(_("An adjustment needs a number of points and a reason."), "error")
    return redirect(url_for("loyalty.member", membership_id=membership_id))


@bp.post("/redemptions/<int:redemption_id>/cancel")
def cancel_redemption(redemption_id: int) -> Response:
    try:
        redemption = rewards.get_redemption(db.session, redemption_id)
    except NotFound:
        abort(404)
    membership_id = redemption.membership_id
    _membership(membership_id, write=True)
    if ConfirmForm().validate():
        _act(
            lambda: rewards.cancel_redemption(db.session, current_user, redemption),
            _("Redemption cancelled; its points are back."),
        )
    return redirect(url_for("loyalty.member", membership_id=membership_id))
