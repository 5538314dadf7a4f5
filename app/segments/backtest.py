"""Is the score any good? Score the graph as it was at a past date, then see how well it
ranked the people who bought or engaged in the following days, against a plain baseline
(how many interactions each person had with us in the year before)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.graph import read_graph_input
from app.contacts.models import Interaction, interaction_participants
from app.errors import Invalid
from app.segments.facts import read_person_facts
from app.segments.runs import current_settings
from app.segments.scoring import Adjacency, score_people

# What counts as a success afterwards: they bought ("purchase"), or bought or came to us.
OUTCOMES = {
    "engaged": ("purchase", "reply", "message", "comment", "meeting", "call"),
    "purchase": ("purchase",),
}


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a random positive is ranked above a random negative (ties: half)."""
    y = np.asarray(labels, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def precision_at_k(scores: list[float], labels: list[bool], k: int) -> float:
    if k <= 0 or not scores:
        return float("nan")
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=float)))[:k]
    return float(np.asarray(labels, dtype=bool)[order].mean())


def backtest(
    session: Session,
    as_of: datetime,
    *,
    horizon_days: int = 90,
    k: int | None = None,
    outcome: str = "engaged",
) -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise Invalid(f"Unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}.")
    if horizon_days <= 0:
        raise Invalid("The horizon must be at least one day.", field="horizon")
    weights, params = current_settings(session)
    data = read_graph_input(session, as_of, half_life_days=params["tie_half_life_days"])
    graph = Adjacency.from_input(data)
    facts, key_accounts = read_person_facts(
        session, as_of, half_life_days=params["engagement_half_life_days"]
    )
    people, _stats = score_people(
        graph, facts, weights, organization_of=data.organization_of,
        key_account_orgs=key_accounts, bridging_samples=int(params["bridging_samples"]),
    )  # fmt: skip
    end = as_of + timedelta(days=horizon_days)
    ip = interaction_participants
    engaged = set(
        session.scalars(
            select(ip.c.contact_id)
            .join(Interaction, Interaction.id == ip.c.interaction_id)
            .where(
                Interaction.occurred_at > as_of,
                Interaction.occurred_at <= end,
                Interaction.kind.in_(OUTCOMES[outcome]),
                (Interaction.direction == "inbound") | (Interaction.kind == "meeting"),
            )
            .distinct()
        )
    )
    counts: Counter[int] = Counter(
        dict(
            session.execute(
                select(ip.c.contact_id, func.count())
                .join(Interaction, Interaction.id == ip.c.interaction_id)
                .where(
                    Interaction.occurred_at <= as_of,
                    Interaction.occurred_at > as_of - timedelta(days=365),
                )
                .group_by(ip.c.contact_id)
            )
            .tuples()
            .all()
        )
    )
    if k is None:
        k = int(session.scalar(select(func.sum(User.capacity)).where(User.active)) or 0)
    ids = [p.contact_id for p in people]
    labels = [i in engaged for i in ids]
    potential = [p.potential for p in people]
    baseline = [float(counts.get(i, 0)) for i in ids]
    k = min(k, len(ids))
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": horizon_days,
        "outcome": outcome,
        "people": len(ids),
        "positives": int(sum(labels)),
        "k": k,
        "potential": {
            "auc": roc_auc(potential, labels),
            "precision_at_k": precision_at_k(potential, labels, k),
        },
        "baseline": {
            "auc": roc_auc(baseline, labels),
            "precision_at_k": precision_at_k(baseline, labels, k),
        },
        "base_rate": (sum(labels) / len(labels)) if labels else float("nan"),
    }
