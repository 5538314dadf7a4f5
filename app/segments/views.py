"""Pages for scores, tiers and circles (tier board, circle page, runs, weights, backtest)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.auth.models import Role
from app.contacts.models import Contact
from app.contacts.service import get_contact, visible_contacts_clause
from app.errors import DomainError, Invalid
from app.extensions import db
from app.jobs import redis_conn
from app.segments import runs
from app.segments.forms import BacktestForm, PinForm, WeightsForm
from app.segments.jobs import enqueue_run
from app.segments.models import Circle, ContactScore, ScoreRun, TierAssignment, TierChange
from app.segments.scoring import COMPONENTS

bp = Blueprint("segments", __name__)


# A circle's basis is stored in words ("industry: vino (7/12)", "mixed: vino · Torino"):
# shown in the reader's language.
_BASIS = re.compile(r"^(organisation|industry|city): (.*) \((\d+)/(\d+)\)$")


@bp.app_template_filter("circle_basis")
def circle_basis(basis: str | None) -> str:
    if not basis:
        return ""
    match = _BASIS.match(basis)
    if match:
        kind, value, count, size = match.groups()
        label = {"organisation": _("organisation"), "industry": _("industry"), "city": _("city")}
        return _(
            "%(label)s: %(value)s (%(count)s of %(size)s)",
            label=label[kind], value=value, count=count, size=size,
        )  # fmt: skip
    if basis.startswith("mixed: "):
        return _("mixed: %(what)s", what=basis.removeprefix("mixed: "))
    return basis


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _is_manager() -> bool:
    return current_user.role in (Role.ADMIN, Role.MANAGER)


def _latest_scores(contact_ids: list[int]) -> dict[int, float]:
    run = runs.latest_run(db.session)
    if run is None or not contact_ids:
        return {}
    return dict(
        db.session.execute(
            select(ContactScore.contact_id, ContactScore.potential).where(
                ContactScore.run_id == run.id, ContactScore.contact_id.in_(contact_ids)
            )
        )
        .tuples()
        .all()
    )


@bp.get("/tiers")
def board() -> Any:
    """One-to-one per owner with capacity used, circles, broadcast count, recent moves."""
    visible = visible_contacts_clause(current_user)
    one_to_one = db.session.scalars(
        select(Contact)
        .where(Contact.tier == "one_to_one", visible)
        .options(selectinload(Contact.owner), selectinload(Contact.organization))
        .order_by(Contact.sort_name)
    ).all()
    scores = _latest_scores([c.id for c in one_to_one])
    owners: dict[int | None, dict[str, Any]] = {}
    for c in one_to_one:
        slot = owners.setdefault(c.owner_id, {"owner": c.owner, "people": []})
        slot["people"].append(c)
    for slot in owners.values():
        slot["people"].sort(key=lambda c: -scores.get(c.id, 0))
    counts: dict[str, int] = dict(
        db.session.execute(
            select(Contact.tier, func.count())
            .where(visible, Contact.erased_at.is_(None), Contact.merged_into_id.is_(None))
            .group_by(Contact.tier)
        )
        .tuples()
        .all()
    )
    circles = db.session.execute(
        select(Circle, func.count(TierAssignment.contact_id))
        .join(TierAssignment, TierAssignment.circle_id == Circle.id)
        .join(Contact, Contact.id == TierAssignment.contact_id)
        .where(Circle.active.is_(True), TierAssignment.tier == "one_to_few", visible)
        .group_by(Circle.id)
        .order_by(func.count(TierAssignment.contact_id).desc(), Circle.name)
        .options(selectinload(Circle.owner))
    ).all()
    moves = db.session.execute(
        select(TierChange, Contact)
        .join(Contact, Contact.id == TierChange.contact_id)
        .where(visible, TierChange.from_tier != TierChange.to_tier)
        .order_by(TierChange.at.desc(), TierChange.id.desc())
        .limit(25)
    ).all()
    recent_runs = db.session.scalars(select(ScoreRun).order_by(ScoreRun.id.desc()).limit(5)).all()
    return render_template(
        "segments/board.html",
        owners=sorted(owners.values(), key=lambda s: s["owner"].name if s["owner"] else "~"),
        scores=scores,
        counts=counts,
        circles=circles,
        moves=moves,
        runs=recent_runs,
        latest=runs.latest_run(db.session),
        can_run=_is_manager(),
    )


@bp.post("/tiers/runs")
def start_run() -> Any:
    try:
        with db.transaction() as session:
            run = runs.start_run(
                session, current_user, trigger="ui",
                reform_circles=request.form.get("reform_circles") == "1",
            )  # fmt: skip
            enqueue_run(session, run)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("segments.board"))
    flash(_("Scoring run started."), "success")
    return redirect(url_for("segments.run_status", run_id=run.id))


@bp.get("/tiers/runs/<int:run_id>")
def run_status(run_id: int) -> Any:
    run = db.session.get(ScoreRun, run_id)
    if run is None:
        abort(404)
    stage = run.stage
    if run.status == "running":
        try:
            job = Job.fetch(f"score-run-{run.id}", connection=redis_conn())
            stage = job.meta.get("stage") or stage
        except Exception:
            pass
    return render_template("segments/run.html", run=run, stage=stage)


@bp.get("/circles/<int:circle_id>")
def circle(circle_id: int) -> Any:
    row = db.session.get(Circle, circle_id)
    if row is None:
        abort(404)
    members = db.session.scalars(
        select(Contact)
        .join(TierAssignment, TierAssignment.contact_id == Contact.id)
        .where(TierAssignment.circle_id == row.id, visible_contacts_clause(current_user))
        .options(selectinload(Contact.organization), selectinload(Contact.owner))
        .order_by(Contact.sort_name)
    ).all()
    scores = _latest_scores([c.id for c in members])
    members = sorted(members, key=lambda c: -scores.get(c.id, 0))
    return render_template("segments/circle.html", circle=row, members=members, scores=scores)


@bp.route("/tiers/settings", methods=["GET", "POST"])
def settings() -> Any:
    if not _is_manager():
        abort(403)
    weights, params = runs.current_settings(db.session)
    form = WeightsForm(data={**weights, **params})
    if form.validate_on_submit():
        new_weights = {name: form[name].data for name in COMPONENTS}
        new_params = {
            "engagement_half_life_days": form.engagement_half_life_days.data,
            "margin": float(form.margin.data or 0),
            "one_to_few_share": float(form.one_to_few_share.data or 0),
            "circle_min": form.circle_min.data,
            "circle_max": form.circle_max.data,
        }
        try:
            with db.transaction() as session:
                runs.update_settings(session, current_user, new_weights, new_params)
            flash(_("Saved. The next run uses these settings."), "success")
            return redirect(url_for("segments.settings"))
        except Invalid as exc:
            flash(exc.message, "error")
    status = 422 if request.method == "POST" else 200
    return render_template("segments/settings.html", form=form), status


@bp.post("/contacts/<int:contact_id>/pin")
def pin(contact_id: int) -> Any:
    contact = get_contact(db.session, current_user, contact_id, write=True)
    if request.form.get("unpin"):
        with db.transaction() as session:
            runs.pin_tier(session, current_user, contact, None, "")
        flash(_("Pin removed: the next run decides the tier."), "success")
        return redirect(url_for("contacts.show", contact_id=contact.id) + "#score")
    form = PinForm()
    if not form.validate_on_submit():
        raise Invalid(_("Choose a tier and say why."))
    try:
        with db.transaction() as session:
            runs.pin_tier(session, current_user, contact, form.tier.data, form.reason.data or "")
        flash(_("Pinned. Runs will keep this tier."), "success")
    except Invalid as exc:
        flash(exc.message, "error")
    return redirect(url_for("contacts.show", contact_id=contact.id) + "#score")


@bp.get("/tiers/backtest")
def backtest_page() -> Any:
    from app.segments.backtest import backtest

    form = BacktestForm(request.args)
    if not request.args:
        form.at.data = (datetime.now(UTC) - timedelta(days=90)).date()
    result = None
    if request.args and form.validate():
        assert form.at.data is not None
        as_of = datetime.combine(form.at.data, datetime.min.time(), tzinfo=UTC)
        try:
            result = backtest(
                db.session, as_of, horizon_days=form.horizon.data or 90,
                k=form.capacity.data or None, outcome=form.outcome.data or "engaged",
            )  # fmt: skip
        except Invalid as exc:
            flash(exc.message, "error")
    return render_template("segments/backtest.html", form=form, result=result)


from app.segments import segment_views  # noqa: E402, F401
