"""Pages: the manager dashboard (/health), the attention inbox (/inbox), "my relationships"
(/my-day) and alerts (/alerts). Thin doors onto the services; one commit per request."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import func, select

from app.auth.models import Role
from app.charts import (
    bar_chart_rows,
    bar_chart_svg,
    chart_table_csv,
    line_chart_rows,
    line_chart_svg,
    stacked_bar_rows,
    stacked_bar_svg,
)
from app.contacts.service import get_contact, get_organization
from app.db import utcnow
from app.errors import Forbidden, Invalid, NotFound
from app.extensions import db
from app.health import alerts, dashboard, inbox, snapshots
from app.health.forms import (
    AnswerForm,
    DismissForm,
    ImportCommentsForm,
    LogMessageForm,
    MatchForm,
)
from app.health.jobs import enqueue_health_now
from app.health.reasons import reasons_text, status_label
from app.i18n import short_date
from app.segments.models import TierChange

bp = Blueprint("health", __name__)


@bp.before_request
@login_required
def _require_login() -> None:
    return None


@bp.app_context_processor
def _health_helpers() -> dict[str, Any]:
    return {"health_status_label": status_label, "health_reasons": reasons_text}


def _require_manager() -> None:
    if current_user.role not in (Role.ADMIN, Role.MANAGER):
        raise Forbidden(_("The health dashboard is for managers."))


def _target_hours() -> float:
    return float(current_app.config.get("RESPONSE_TARGET_HOURS", 48))


# ------------------------------------------------------------------ charts


def _tier_label(tier: str) -> str:
    return {
        "one_to_one": _("one-to-one"), "one_to_few": _("one-to-few"),
        "broadcast": _("broadcast"), "none": _("no tier"),
    }.get(tier, tier)  # fmt: skip


# Charts change only when a health run lands or a tier moves: drawn once per (run, last
# tier move, language) in each process, not on every request.
_CHART_CACHE: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}


def _charts(session: Any) -> dict[str, dict[str, Any]]:
    run = snapshots.latest_run(session)
    if run is None:
        return _draw_charts(session)
    key = (
        run.id,
        run.finished_at,
        session.scalar(select(func.max(TierChange.id))),
        str(get_locale()),
    )
    charts = _CHART_CACHE.get(key)
    if charts is None:
        if len(_CHART_CACHE) > 32:
            _CHART_CACHE.clear()
        charts = _CHART_CACHE[key] = _draw_charts(session)
    return charts


def _draw_charts(session: Any) -> dict[str, dict[str, Any]]:
    """Each chart: its SVG, and its numbers as headers + rows (a table and a CSV)."""
    runs = dashboard.health_trend(session)
    charts: dict[str, dict[str, Any]] = {}
    # Stacked in this order so the shared palette draws cooling blue, at risk red, healthy green.
    order = ("cooling", "at_risk", "healthy")
    categories = [r.as_of.isoformat() for r in runs]
    series: list[tuple[str, list[float]]] = [
        (status_label(s), [int((r.stats or {}).get("people", {}).get(s, 0)) for r in runs])
        for s in order
    ]
    headers, rows = stacked_bar_rows(categories, series)
    headers[0] = _("Day")
    charts["status"] = {
        "title": _("People by health status, over time"),
        "svg": stacked_bar_svg(
            [short_date(r.as_of) for r in runs], series,
            title=_("People by health status, over time"),
            empty_text=_("No health computed yet"), chart_id="health-status-trend",
        ),
        "headers": headers, "rows": rows,
    }  # fmt: skip
    score_series = [
        (_("People"), [(r.as_of, float(r.stats.get("people_avg_score") or 0)) for r in runs
                       if (r.stats or {}).get("people_avg_score") is not None]),
        (_("Accounts"), [(r.as_of, float(r.stats.get("accounts_avg_score") or 0)) for r in runs
                         if (r.stats or {}).get("accounts_avg_score") is not None]),
    ]  # fmt: skip
    score_series = [(label, points) for label, points in score_series if points]
    charts["score"] = {
        "title": _("Average health score"),
        "svg": line_chart_svg(
            score_series, title=_("Average health score"), y_label=_("health"), y_min=0, y_max=100,
            empty_text=_("No health computed yet"), chart_id="health-score-trend",
            date_format=short_date,
        ),
        "headers": [_("Series"), _("Day"), _("Average health")],
        "rows": line_chart_rows(score_series),
    }  # fmt: skip
    potential = dashboard.potential_trend(runs)
    potential_series = [
        (_("Everyone"), [(d, round(avg, 1)) for d, avg, _top in potential]),
        (_("One-to-one"), [(d, round(top, 1)) for d, _avg, top in potential if top is not None]),
    ]
    potential_series = [(label, points) for label, points in potential_series if points]
    # One day of scores is a dot, not a trend: say when the line will appear instead.
    one_day = bool(potential_series) and max(len(points) for _label, points in potential_series) < 2
    charts["potential"] = {
        "title": _("Average potential score"),
        "svg": line_chart_svg(
            [] if one_day else potential_series, title=_("Average potential score"),
            y_label=_("potential"),
            empty_text=_("The trend appears from the second day with scores.") if one_day
            else _("No scoring run yet"),
            chart_id="potential-trend", date_format=short_date,
        ),
        "headers": [_("Series"), _("Day"), _("Average potential")],
        "rows": line_chart_rows(potential_series),
    }  # fmt: skip
    tiers = dashboard.tier_distribution(session, runs[-1] if runs else None)
    items = [(_tier_label(t["tier"]), float(t["now"])) for t in tiers]
    charts["tiers"] = {
        "title": _("People per tier"),
        "svg": bar_chart_svg(
            items,
            title=_("People per tier"),
            empty_text=_("No people yet"),
            chart_id="tier-distribution",
        ),  # fmt: skip
        "headers": [_("Tier"), _("Now"), _("30 days ago"), _("Change")],
        "rows": [[_tier_label(t["tier"]), t["now"], t["before"], t["change"]] for t in tiers],
        "bar_rows": bar_chart_rows(items),
    }
    return charts


# ------------------------------------------------------------------ dashboard


@bp.get("/health")
def dashboard_page() -> Any:
    _require_manager()
    session = db.session
    run = snapshots.latest_run(session)
    accounts = dashboard.at_risk_key_accounts(session, run) if run else []
    portfolios = dashboard.owner_portfolios(session, run)
    people = dashboard.at_risk_people(session, run, portfolios=portfolios) if run else []
    from app.campaigns.sending import results_by_tier
    from app.loyalty.statements import liability

    campaign_results = results_by_tier(session, since=utcnow() - timedelta(days=90))
    return render_template(
        "health/dashboard.html", run=run, accounts=accounts, people=people,
        portfolios=portfolios, charts=_charts(session), campaign_results=campaign_results,
        loyalty_liability=liability(session),
    )  # fmt: skip


@bp.get("/health/charts/<name>.csv")
def chart_csv(name: str) -> Response:
    _require_manager()
    charts = _charts(db.session)
    if name not in charts:
        raise NotFound(_("No such chart."))
    chart = charts[name]
    body = chart_table_csv([str(h) for h in chart["headers"]], chart["rows"])
    return Response(
        body, mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="health-{name}.csv"'},
    )  # fmt: skip


@bp.post("/health/run")
def run_now() -> Any:
    _require_manager()
    with db.transaction() as session:
        enqueue_health_now(session)
    flash(_("Health is being computed; refresh in a minute."), "success")
    return redirect(url_for("health.dashboard_page"))


def _history_chart(history: list[Any], chart_id: str) -> tuple[Markup, list[list[object]]]:
    series = [(_("Health"), [(d, float(s.score)) for d, s in history])]
    svg = line_chart_svg(
        series, title=_("Health over time"), y_label=_("health"),
        empty_text=_("No health computed yet"), chart_id=chart_id, date_format=short_date,
    )  # fmt: skip
    return svg, line_chart_rows(series)


@bp.get("/health/contacts/<int:contact_id>")
def contact_health(contact_id: int) -> Any:
    contact = get_contact(db.session, current_user, contact_id)
    history = dashboard.snapshot_history(db.session, contact_id=contact.id)
    svg, rows = _history_chart(history, "contact-health")
    return render_template(
        "health/subject.html", subject_name=contact.full_name, contact=contact, org=None,
        history=history, svg=svg, rows=rows,
        back=url_for("contacts.show", contact_id=contact.id),
    )  # fmt: skip


@bp.get("/health/accounts/<int:org_id>")
def account_health(org_id: int) -> Any:
    org = get_organization(db.session, current_user, org_id)
    history = dashboard.snapshot_history(db.session, organization_id=org.id)
    svg, rows = _history_chart(history, "account-health")
    return render_template(
        "health/subject.html", subject_name=org.name, contact=None, org=org,
        history=history, svg=svg, rows=rows,
        back=url_for("contacts.organization", org_id=org.id),
    )  # fmt: skip


# ------------------------------------------------------------------ inbox


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


@bp.get("/inbox")
def inbox_page() -> Any:
    session = db.session
    owner_id = _int_arg("owner") if current_user.sees_everything else None
    page = inbox.inbox_items(
        session, current_user, target_hours=_target_hours(), page=_int_arg("page", 1) or 1,
        owner_id=owner_id,
    )  # fmt: skip
    unmatched = (
        inbox.unmatched_comments(session, current_user, page=_int_arg("upage", 1) or 1)
        if current_user.role != Role.MARKETER
        else None
    )
    return render_template(
        "health/inbox.html", page=page, unmatched=unmatched, target=_target_hours(),
        answer_form=AnswerForm(), dismiss_form=DismissForm(), match_form=MatchForm(),
        args={k: v for k, v in request.args.items() if k not in ("page",)},
    )  # fmt: skip


def _back_to_inbox() -> Any:
    return redirect(url_for("health.inbox_page"))


@bp.post("/inbox/<int:interaction_id>/answer")
def answer(interaction_id: int) -> Any:
    form = AnswerForm()
    if not form.validate_on_submit():
        raise Invalid(_("The answer could not be read."))
    # Answering twice raises Conflict: a 409 page that says so, and nothing written.
    with db.transaction() as session:
        inbox.answer_item(session, current_user, interaction_id, note=form.note.data)
    flash(_("Answer logged."), "success")
    return _back_to_inbox()


@bp.post("/inbox/<int:interaction_id>/dismiss")
def dismiss(interaction_id: int) -> Any:
    form = DismissForm()
    if not form.validate_on_submit():
        raise Invalid(_("Say why this needs no answer (at least 3 characters)."), field="reason")
    with db.transaction() as session:
        inbox.dismiss_item(session, current_user, interaction_id, form.reason.data)
    flash(_("Dismissed; the reason is kept."), "success")
    return _back_to_inbox()


def _person_from_key(key: str) -> Any:
    person = inbox.match_author(db.session, key)
    if person is None:
        raise Invalid(_("No person with this email, LinkedIn URL or X handle."), field="person")
    return person


@bp.post("/inbox/unmatched/<int:unmatched_id>/match")
def match(unmatched_id: int) -> Any:
    form = MatchForm()
    if not form.validate_on_submit():
        raise Invalid(_("Name the person."), field="person")
    with db.transaction() as session:
        person = _person_from_key(form.person.data or "")
        inbox.match_unmatched(session, current_user, unmatched_id, person)
    flash(_("Comment matched to %(name)s.", name=person.full_name), "success")
    return _back_to_inbox()


@bp.post("/inbox/unmatched/<int:unmatched_id>/dismiss")
def dismiss_unmatched(unmatched_id: int) -> Any:
    form = DismissForm()
    if not form.validate_on_submit():
        raise Invalid(_("Say why this needs no answer (at least 3 characters)."), field="reason")
    with db.transaction() as session:
        inbox.dismiss_unmatched(session, current_user, unmatched_id, form.reason.data)
    flash(_("Dismissed; the reason is kept."), "success")
    return _back_to_inbox()


@bp.route("/inbox/new", methods=["GET", "POST"])
def log_message() -> Any:
    form = LogMessageForm()
    if form.validate_on_submit():
        try:
            with db.transaction() as session:
                person = _person_from_key(form.person.data or "")
                at = form.occurred_at.data.replace(tzinfo=UTC)  # type: ignore[union-attr]
                inbox.log_inbound(
                    session, current_user, person, channel=form.channel.data or "email",
                    kind=form.kind.data or "message", occurred_at=at, text=form.text.data,
                    sentiment=form.sentiment.data,
                )  # fmt: skip
        except (Invalid, NotFound) as exc:
            target = getattr(form, exc.field or "", None) if exc.field else None
            if target is None or not hasattr(target, "errors"):
                target = form.person
            target.errors = [*list(target.errors), exc.message]  # type: ignore[union-attr]
            return render_template("health/log_message.html", form=form), 422
        flash(_("Message logged; it waits in the inbox."), "success")
        return _back_to_inbox()
    status = 422 if request.method == "POST" else 200
    return render_template("health/log_message.html", form=form), status


@bp.route("/inbox/import", methods=["GET", "POST"])
def import_comments() -> Any:
    if current_user.role == Role.MARKETER:
        raise Forbidden(_("Marketers cannot import comments."))
    form = ImportCommentsForm()
    report = None
    if form.validate_on_submit():
        raw = form.file.data.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Invalid(_("The file must be UTF-8 text."), field="file") from exc
        with db.transaction() as session:
            report = inbox.import_comments_csv(session, text)
    return render_template("health/import.html", form=form, report=report)


# ------------------------------------------------------------------ my day, alerts


@bp.get("/my-day")
def my_day() -> Any:
    session = db.session
    run = snapshots.latest_run(session)
    call = dashboard.who_to_call(session, current_user, run)
    page = inbox.inbox_items(
        session, current_user, target_hours=_target_hours(), per_page=10,
        owner_id=current_user.id if current_user.sees_everything else None,
    )  # fmt: skip
    circles = dashboard.quiet_circles(session, current_user, run)
    return render_template(
        "health/my_day.html", run=run, call=call, page=page, circles=circles,
        target=_target_hours(), alerts=alerts.list_alerts(session, current_user, limit=10,
                                                          unread_only=True),
        now=snapshots.utcnow(),
    )  # fmt: skip


@bp.get("/alerts")
def alerts_page() -> Any:
    items = alerts.list_alerts(db.session, current_user)
    return render_template("health/alerts.html", items=items)


@bp.post("/alerts/read")
def alerts_read() -> Any:
    raw = request.form.get("id", "")
    with db.transaction() as session:
        alerts.mark_read(session, current_user, int(raw) if raw.isdigit() else None)
    return redirect(url_for("health.alerts_page"))


@bp.app_context_processor
def _alert_badge() -> dict[str, Any]:
    """The navigation's badge: unread alerts of the signed-in user (one count query)."""

    def unread_alerts() -> int:
        if not current_user.is_authenticated:
            return 0
        return alerts.unread_count(db.session, current_user.id)

    return {"unread_alerts": unread_alerts}
