"""Per-person facts for scoring, read set-based from interactions and accounts."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.contacts.models import Contact, Interaction, Organization, interaction_participants
from app.segments.scoring import PersonFacts

# Light touches count less than a conversation.
KIND_WEIGHTS = {"open": 0.2, "view": 0.3, "click": 0.4, "reaction": 0.3, "follows": 0.2}
WINDOW_DAYS = 365
TREND_DAYS = 90


def read_person_facts(
    session: Session, as_of: datetime, *, half_life_days: float = 90.0
) -> tuple[dict[int, PersonFacts], set[int]]:
    """Facts for every active person, as they stood at `as_of`; also the key accounts."""
    facts: dict[int, PersonFacts] = {}
    orgs = {
        row.id: row
        for row in session.execute(
            select(Organization.id, Organization.annual_value_cents, Organization.key_account)
        )
    }
    key_accounts = {oid for oid, row in orgs.items() if row.key_account}
    for contact_id, org_id in session.execute(
        select(Contact.id, Contact.organization_id).where(
            Contact.erased_at.is_(None), Contact.merged_into_id.is_(None)
        )
    ):
        org = orgs.get(org_id) if org_id else None
        value = 0.0
        if org is not None:
            # log scale: a 1M account is worth more than a 10k one, not 100 times more
            value = math.log1p(org.annual_value_cents / 100) * (1.5 if org.key_account else 1.0)
        facts[contact_id] = PersonFacts(
            account_value_raw=value,
            organization_id=org_id,
            key_account=bool(org and org.key_account),
        )

    inbound: dict[int, float] = defaultdict(float)
    outbound: dict[int, float] = defaultdict(float)
    last_seen: dict[int, float] = {}
    sentiment_sum: dict[int, float] = defaultdict(float)
    sentiment_weight: dict[int, float] = defaultdict(float)
    ln2 = math.log(2)
    rows = session.execute(
        select(
            interaction_participants.c.contact_id,
            Interaction.direction,
            Interaction.kind,
            Interaction.occurred_at,
            Interaction.sentiment,
        )
        .join(Interaction, Interaction.id == interaction_participants.c.interaction_id)
        .where(
            Interaction.occurred_at <= as_of,
            Interaction.occurred_at > as_of - timedelta(days=WINDOW_DAYS),
        )
    )
    for contact_id, direction, kind, occurred_at, sentiment in rows:
        f = facts.get(contact_id)
        if f is None:
            continue
        age = max((as_of - occurred_at).total_seconds() / 86400, 0.0)
        weight = KIND_WEIGHTS.get(kind, 1.0) * math.exp(-ln2 * age / half_life_days)
        if direction == "inbound":
            inbound[contact_id] += weight
        else:
            outbound[contact_id] += weight
        if age <= TREND_DAYS:
            f.engagement_recent += KIND_WEIGHTS.get(kind, 1.0)
        elif age <= 2 * TREND_DAYS:
            f.engagement_before += KIND_WEIGHTS.get(kind, 1.0)
        if age < last_seen.get(contact_id, math.inf):
            last_seen[contact_id] = age
        if sentiment is not None:
            sentiment_sum[contact_id] += sentiment * weight
            sentiment_weight[contact_id] += weight

    for contact_id, f in facts.items():
        received, sent = inbound.get(contact_id, 0.0), outbound.get(contact_id, 0.0)
        if received + sent <= 0:
            continue
        reciprocity = min(received, sent) / max(received, sent)
        recency = math.exp(-ln2 * last_seen[contact_id] / half_life_days)
        # two-way conversations weigh more than one-way traffic; recent more than old
        f.engagement_raw = (
            math.log1p(received + sent) * (0.5 + 0.5 * reciprocity) * (0.5 + 0.5 * recency)
        )
        if sentiment_weight.get(contact_id):
            f.sentiment_mean = sentiment_sum[contact_id] / sentiment_weight[contact_id]
    return facts, key_accounts
