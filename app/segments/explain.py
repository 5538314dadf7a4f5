"""Why a person has the score and tier they have: numbers for machines, words for people."""

from __future__ import annotations

import math
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.contacts.models import Contact
from app.segments.models import Circle, ContactScore, ScoreRun, TierAssignment
from app.segments.runs import latest_run
from app.segments.scoring import COMPONENTS


def explain_contact(session: Session, contact: Contact) -> dict[str, Any]:
    """Score, components, rank, percentile, tier and circle from the latest finished run."""
    run = latest_run(session)
    assignment = session.get(TierAssignment, contact.id)
    circle = (
        session.get(Circle, assignment.circle_id) if assignment and assignment.circle_id else None
    )
    result: dict[str, Any] = {
        "contact_id": contact.id,
        "name": contact.full_name,
        "email": contact.email,
        "tier": assignment.tier if assignment else contact.tier,
        "pinned": bool(assignment and assignment.pinned_by_id),
        "pin_reason": assignment.pin_reason if assignment else None,
        "circle": {"id": circle.id, "name": circle.name, "basis": circle.basis} if circle else None,
        "run_id": None,
        "scored": False,
    }
    if run is None:
        return result
    score = session.get(ContactScore, (run.id, contact.id))
    if score is None:
        result["run_id"] = run.id
        return result
    people = (
        session.scalar(
            select(func.count()).select_from(ContactScore).where(ContactScore.run_id == run.id)
        )
        or 1
    )
    contributors = []
    ids = score.details.get("top_contributors", [])
    if ids:
        names = {
            row.id: row
            for row in session.execute(
                select(Contact.id, Contact.first_name, Contact.last_name).where(
                    Contact.id.in_(ids), Contact.erased_at.is_(None)
                )
            )
        }
        contributors = [
            {"id": i, "name": f"{names[i].first_name} {names[i].last_name}".strip()}
            for i in ids
            if i in names
        ]
    result.update(
        run_id=run.id,
        scored=True,
        as_of=run.as_of.isoformat(),
        potential=score.potential,
        rank=score.rank,
        people=people,
        # rounded up: rank 1 of 3,000 is in the top 0.1%, not the top 0%
        top_percent=math.ceil(1000 * score.rank / people) / 10,
        components={name: getattr(score, name) for name in COMPONENTS},
        weights=run.weights,
        degree=score.degree,
        details={**score.details, "top_contributors": contributors},
    )
    return result


def explanation_words(expl: dict[str, Any]) -> list[str]:
    """Short sentences a salesperson can read."""
    if not expl.get("scored"):
        return [_("Not scored yet: run the scoring from the tier board.")]
    c = expl["components"]
    d = expl["details"]
    words = [
        _(
            "Potential %(score)s of 100, rank %(rank)s of %(people)s (top %(pct)s%%).",
            score=round(expl["potential"]),
            rank=expl["rank"],
            people=expl["people"],
            pct=format_decimal(expl["top_percent"]),  # 0,1 in Italian
        )  # fmt: skip
    ]
    if c["influence"] >= 0.9:
        words.append(
            _(
                "Top %(pct)s%% influence in the network.",
                pct=max(1, round(100 * (1 - c["influence"]))),
            )
        )
    if d.get("key_accounts_known"):
        words.append(_("Knows people at %(n)s of your key accounts.", n=d["key_accounts_known"]))
    if c["bridging"] >= 0.9:
        words.append(_("Connects groups that are otherwise apart."))
    change = d.get("engagement_change")
    if c["engagement"] == 0:
        words.append(_("No two-way contact with us in the last year."))
    elif change is not None and change <= -0.2:
        words.append(_("Engagement fell %(pct)s%% in the last 90 days.", pct=round(-100 * change)))
    elif d.get("engagement_new"):
        words.append(_("New contact with us in the last 90 days."))
    elif change is not None and change >= 0.2:
        words.append(_("Engagement rose %(pct)s%% in the last 90 days.", pct=round(100 * change)))
    if c["account_value"] >= 0.8:
        words.append(_("Works at one of the most valuable accounts."))
    if d.get("sentiment_mean") is not None:
        if d["sentiment_mean"] <= -0.3:
            words.append(_("Recent conversations were negative."))
        elif d["sentiment_mean"] >= 0.4:
            words.append(_("Recent conversations were positive."))
    if expl.get("pinned"):
        words.append(_("Pinned to this tier: %(reason)s", reason=expl.get("pin_reason") or ""))
    return words


def score_history(session: Session, contact_id: int, limit: int = 60) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ScoreRun.id, ScoreRun.as_of, ContactScore.potential, ContactScore.rank)
        .join(ContactScore, ContactScore.run_id == ScoreRun.id)
        .where(ContactScore.contact_id == contact_id, ScoreRun.status == "done")
        .order_by(ScoreRun.as_of.desc())
        .limit(limit)
    ).all()
    return [
        {"run_id": r.id, "as_of": r.as_of, "potential": r.potential, "rank": r.rank}
        for r in reversed(rows)
    ]
