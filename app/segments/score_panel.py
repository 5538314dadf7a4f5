"""The score section of the contact page: explanation, component bars, history, network."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import charts
from app.auth.models import User
from app.contacts.graph import read_ego_graph
from app.contacts.models import Contact, Organization
from app.contacts.service import visible_contacts_clause
from app.db import utcnow
from app.i18n import decimal, short_date
from app.segments.explain import explain_contact, explanation_words, score_history

COMPONENT_LABELS = {
    "influence": "Influence",
    "bridging": "Bridging",
    "engagement": "Engagement",
    "account_value": "Account value",
    "sentiment": "Sentiment",
}


def score_panel(session: Session, user: User, contact: Contact) -> dict[str, Any]:
    expl = explain_contact(session, contact)
    panel: dict[str, Any] = {"expl": expl, "words": explanation_words(expl)}
    if expl.get("scored"):
        panel["bars"] = charts.bar_chart_svg(
            [(_(COMPONENT_LABELS[k]), v) for k, v in expl["components"].items()],
            max_value=1.0,
            value_format=lambda v: decimal(v, 2),  # 0,80 in Italian
        )
    history = score_history(session, contact.id)
    panel["history"] = history
    if len(history) >= 2:
        panel["history_svg"] = charts.line_chart_svg(
            [(_("Potential"), [(h["as_of"], h["potential"]) for h in history])],
            y_min=0,
            y_max=100,
            date_format=short_date,
            empty_text=_("No history yet"),
        )
    panel["network_svg"] = _network_svg(session, user, contact)
    return panel


def _network_svg(session: Session, user: User, contact: Contact) -> Any:
    ego = read_ego_graph(session, contact.id, as_of=utcnow())
    if ego.number_of_nodes() <= 1:
        return None
    rows = session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name, Organization.name)
        .outerjoin(Organization, Organization.id == Contact.organization_id)
        .where(Contact.id.in_(list(ego.nodes)))
    ).all()
    visible = set(
        session.scalars(
            select(Contact.id).where(Contact.id.in_(list(ego.nodes)), visible_contacts_clause(user))
        )
    )
    labels = {r.id: f"{r.first_name} {r.last_name}".strip() for r in rows}
    groups = {r.id: r.name or _("no account") for r in rows}
    links = {n: url_for("contacts.show", contact_id=n) for n in ego.nodes if n in visible}
    return charts.ego_network_svg(
        ego, contact.id, labels, groups=groups, links=links, empty_text=_("No ties yet")
    )
