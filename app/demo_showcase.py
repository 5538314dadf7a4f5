"""What the demo shows beyond its people: saved segments, the loyalty programme "Amici",
campaigns in preparation and a publication calendar.

Made through the same services a user's clicks go through, so every page of a fresh
`make run` has something on it. Run after the first scoring run: segments and campaigns
name tiers, circles and scores. `flask demo` calls `build_showcase`; `flask loyalty
setup-demo` calls `create_demo_programme` alone.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.campaigns import audiences, calendar, launch, tracking
from app.campaigns.models import Campaign, Delivery, PublicationPost
from app.contacts.models import Contact
from app.db import utcnow
from app.errors import Invalid
from app.loyalty import programmes
from app.loyalty.earning import SyncResult, sync_purchases
from app.loyalty.models import Programme
from app.loyalty.tiers import evaluate_tiers
from app.segments import rules, runs
from app.segments.models import Circle, Segment, TierAssignment

DEMO_PROGRAMME = "Amici"

SEGMENTS: tuple[dict[str, Any], ...] = (
    {
        "name": "Vino e alimentare, con consenso",
        "description": "Chi lavora in cantine e aziende alimentari e ci ha dato il consenso.",
        "match": "all",
        "rules": [
            {"field": "account.industry", "operator": "in", "value": ["vino", "alimentare"]},
            {"field": "consent_status", "operator": "eq", "value": "granted"},
        ],
    },
    {
        "name": "Key account da ricontattare",
        "description": "Persone dei key account che non sentiamo da oltre 45 giorni.",
        "match": "all",
        "rules": [
            {"field": "account.key_account", "operator": "eq", "value": True},
            {"field": "last_interaction_at", "operator": "not_within_days", "value": 45},
        ],
    },
    {
        "name": "Alto potenziale fuori dall'uno a uno",
        "description": "Potenziale alto ma ancora senza cura personale: i candidati al "
        "prossimo giro.",
        "match": "all",
        "rules": [
            {"field": "score.potential", "operator": "gte", "value": 60},
            {"field": "tier", "operator": "ne", "value": "one_to_one"},
        ],
    },
    {
        "name": "Incontrati in fiera o al webinar",
        "description": "Chi è passato allo stand di Milano o ha seguito il webinar export.",
        "match": "any",
        "rules": [
            {"field": "tags", "operator": "has_tag", "value": "fiera-milano-2026"},
            {"field": "tags", "operator": "has_tag", "value": "webinar-export"},
        ],
    },
)
STATIC_LIST = "Invitati alla cena di Natale"
UNSUBSCRIBE = "\n\nPer non ricevere più messaggi: {{ unsubscribe_link }}"


def _user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        raise Invalid(f"The demo user {email} is missing: load the demo data first.")
    return user


def build_showcase(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Segments, the loyalty programme, draft campaigns and the calendar; flush only."""
    now = now or utcnow()
    manager = _user(session, "manager@demo.cerchia.eu")
    marketer = _user(session, "marketer@demo.cerchia.eu")
    admin = _user(session, "admin@demo.cerchia.eu")
    segments = create_demo_segments(session, manager)
    loyalty = create_demo_programme(session, admin) or SyncResult()
    campaigns = create_demo_campaigns(session, marketer, segments[0], now)
    sent = create_demo_sent_campaigns(session, marketer, now)
    posts = create_demo_calendar(session, marketer, now)
    return {
        "segments": len(segments),
        "loyalty_members": loyalty.enrolled,
        "loyalty_points": loyalty.points,
        "campaigns": campaigns + sent,
        "calendar_posts": posts,
    }


def score_past_months(session: Session, months: int, now: datetime | None = None) -> int:
    """Scoring runs as the graph stood at the end of each of the last `months` months
    (oldest first, each committed), so scores, tiers and circles have a history: the
    score chart on a contact's page, tier moves, the potential trend of the dashboard."""
    now = now or utcnow()
    for back in range(months, 0, -1):
        run = runs.start_run(session, None, trigger="demo", as_of=now - timedelta(days=30 * back))
        session.commit()
        runs.execute_run(session, run.id)
        session.commit()
    return months


def create_demo_segments(session: Session, actor: User) -> list[Segment]:
    made = [rules.create_segment(session, actor, kind="rules", **spec) for spec in SEGMENTS]
    guests = rules.create_segment(
        session, actor, name=STATIC_LIST, kind="static",
        description="Scelti a mano: chi sta a cuore al team, tra le persone in cura personale.",
    )  # fmt: skip
    top_people = session.scalars(
        select(Contact)
        .join(TierAssignment, TierAssignment.contact_id == Contact.id)
        .where(TierAssignment.tier == "one_to_one")
        .order_by(Contact.sort_name)
        .limit(12)
    ).all()
    for person in top_people:
        rules.add_to_static(session, actor, guests, person)
    return [*made, guests]


def create_demo_programme(session: Session, actor: User) -> SyncResult | None:
    """The programme "Amici" (tiers, rules, rewards); everyone with consent is enrolled and
    credited for their purchases. None, and nothing done, if it exists already."""
    if session.scalar(select(Programme).where(Programme.name == DEMO_PROGRAMME)) is not None:
        return None
    prog = programmes.create_programme(
        session, actor, name=DEMO_PROGRAMME, eligibility="consent", enrolment="automatic",
        expiry_days=365, referral_bonus_points=100, cents_per_100_points=50,
    )  # fmt: skip
    for name, threshold in (("Bronze", 0), ("Silver", 500), ("Gold", 2000)):
        programmes.add_tier(session, actor, prog, name, threshold)
    programmes.add_rule(session, actor, prog, kind="purchase", points=1, per_cents=100)
    programmes.add_rule(
        session, actor, prog, kind="interaction", points=20, interaction_kind="meeting"
    )
    programmes.add_reward(session, actor, prog, name="Gift card 10 EUR", points_cost=500)
    programmes.add_reward(session, actor, prog, name="Tasting for two", points_cost=1500,
                          stock=20, min_tier_id=prog.tiers[1].id)  # fmt: skip
    result = sync_purchases(session, programme_id=prog.id)
    evaluate_tiers(session, prog, utcnow())  # members with no purchase yet start in Bronze
    return result


def create_demo_campaigns(session: Session, marketer: User, segment: Segment, now: datetime) -> int:
    """Drafts a marketer is preparing: one per kind that writes to people."""
    circle = session.scalars(
        select(Circle)
        .join(TierAssignment, TierAssignment.circle_id == Circle.id)
        .where(Circle.active.is_(True))
        .group_by(Circle.id)
        .order_by(func.count().desc(), Circle.id)
        .limit(1)
    ).first()
    drafts: list[dict[str, Any]] = [
        {
            "name": "Promozione di Natale: vino e alimentare",
            "kind": "promotion", "audience_kind": "segment",
            "audience_segment_id": segment.id, "language": "it", "promo_prefix": "NATALE",
            "subject": "{{ first_name }}, un regalo per {{ company }}",
            "body": "Gentile {{ first_name }},\nper le feste il codice {{ promo_code }} vale "
                    "il 15% sul primo ordine di gennaio." + UNSUBSCRIBE,
        },
        {
            "name": "Anteprima listino 2027",
            "kind": "reserved_drop", "audience_kind": "tier", "audience_tier": "one_to_one",
            "language": "it",
            "subject": "{{ first_name }}, il listino 2027 prima di tutti",
            "body": "Gentile {{ first_name }},\nle abbiamo riservato l'anteprima del listino "
                    "2027: {{ drop_link }}\nIl link è personale." + UNSUBSCRIBE,
        },
    ]  # fmt: skip
    if circle is not None:
        drafts.append({
            "name": f"Incontro di cerchia: {circle.name}",
            "kind": "circle", "audience_kind": "circle", "audience_circle_id": circle.id,
            "language": "it",
            "subject": "{{ first_name }}, ci vediamo a gennaio?",
            "body": "Gentile {{ first_name }},\nstiamo riunendo poche persone che conoscono "
                    "bene il nostro lavoro, {{ company }} tra queste. Le va un caffè a "
                    "gennaio?" + UNSUBSCRIBE,
        })  # fmt: skip
    for values in drafts:
        campaign = launch.create_campaign(session, marketer, **values)
        if campaign.kind == "reserved_drop":
            launch.set_drop(
                session, campaign, title="Listino 2027 (anteprima)",
                content="Prezzi 2027 in anteprima per i clienti che seguiamo da vicino.",
                expires_at=now + timedelta(days=60),
            )  # fmt: skip
    return len(drafts)


# (days ago, campaign, share of recipients who open, click, reply)
SENT_CAMPAIGNS: tuple[tuple[int, dict[str, Any], tuple[float, float, float]], ...] = (
    (35, {
        "name": "Novità d'autunno", "kind": "promotion", "audience_kind": "tier",
        "audience_tier": "broadcast", "language": "it", "promo_prefix": "AUTUNNO",
        "subject": "Le novità d'autunno per {{ company }}",
        "body": "Gentile {{ first_name }},\nil catalogo d'autunno è online: "
                "https://example.org/autunno\nCon il codice {{ promo_code }} la spedizione è "
                "gratuita fino a fine mese." + UNSUBSCRIBE,
    }, (0.31, 0.07, 0.01)),
    (14, {
        "name": "Invito: tavola rotonda sull'export", "kind": "circle",
        "audience_kind": "tier", "audience_tier": "one_to_few", "language": "it",
        "subject": "{{ first_name }}, una tavola rotonda tra pochi",
        "body": "Gentile {{ first_name }},\nil 12 dicembre riuniamo a Milano poche aziende "
                "che esportano come {{ company }}. Il programma: "
                "https://example.org/tavola-rotonda" + UNSUBSCRIBE,
    }, (0.52, 0.2, 0.06)),
)  # fmt: skip


def create_demo_sent_campaigns(session: Session, marketer: User, now: datetime) -> int:
    """Campaigns sent weeks ago, with what tracking recorded since: opens and clicks (as
    Delivery times and light interactions) and replies that wait for an answer. Written as
    history, like the rest of the demo; sending itself is shown by launching a draft."""
    rng = random.Random(11)
    for days_ago, values, (p_open, p_click, p_reply) in SENT_CAMPAIGNS:
        campaign = launch.create_campaign(session, marketer, **values)
        sent_at = (now - timedelta(days=days_ago)).replace(hour=8, minute=30, second=0)
        ids = audiences.resolve_audience(session, campaign)
        rows = [
            {
                "campaign_id": campaign.id, "contact_id": cid, "status": "sent",
                "attempts": 1, "queued_at": sent_at, "sent_at": sent_at,
                "promo_code": launch.promo_code("demo", campaign.promo_prefix, campaign.id, cid)
                if campaign.promo_prefix else None,
            }
            for cid in ids
        ]  # fmt: skip
        session.execute(insert(Delivery), rows)
        campaign.status, campaign.recipients_count = "done", len(ids)
        campaign.launched_at, campaign.finished_at = sent_at, sent_at + timedelta(minutes=12)
        session.flush()
        for delivery in session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign.id).order_by(Delivery.id)
        ):
            if rng.random() >= p_open:
                continue
            _track(session, campaign, delivery, sent_at, rng, p_click / p_open, p_reply / p_open)
    session.flush()
    return len(SENT_CAMPAIGNS)


def _track(
    session: Session,
    campaign: Campaign,
    delivery: Delivery,
    sent_at: datetime,
    rng: random.Random,
    p_click: float,
    p_reply: float,
) -> None:
    """One recipient who opened: the open, perhaps a click and a reply, through tracking's
    own functions, dated in the past."""
    opened = sent_at + timedelta(minutes=rng.randrange(20, 3 * 24 * 60))
    tracking.record_open(session, delivery.id, at=opened)
    if rng.random() < p_click:
        link = re.search(r"https://\S+", campaign.body)
        target = link.group(0) if link else "https://example.org"
        clicked = opened + timedelta(minutes=rng.randrange(1, 30))
        tracking.record_click(session, delivery.id, target, at=clicked)
    if rng.random() < p_reply:
        tracking.record_reply(
            session, None, campaign.id, delivery.contact_id,
            occurred_at=opened + timedelta(hours=rng.randrange(1, 30)),
            sentiment=round(rng.uniform(-0.2, 0.9), 2),
            summary=rng.choice(("Ci sarò, grazie.", "Mandatemi il programma completo.",
                                "Quest'anno non riesco, teniamoci in contatto.")),
        )  # fmt: skip


CALENDAR_SLOTS = (
    ("linkedin", 1, time(9, 0), "didactic"),
    ("x", 3, time(12, 30), "argumentative"),
    ("facebook", 4, time(17, 0), "promotional"),
)
CALENDAR_POSTS = (
    ("linkedin", "didactic", "Tre cose che abbiamo imparato in fiera a Milano."),
    ("x", "argumentative", "Le relazioni contano più delle liste: ecco perché."),
    ("facebook", "promotional", "Da lunedì il listino 2027 per chi ci segue da vicino."),
    ("linkedin", "didactic", "Come scegliamo i fornitori: la nostra checklist."),
)


def create_demo_calendar(session: Session, marketer: User, now: datetime) -> int:
    """Recurring slots, posts published in the past weeks and posts planned for the next."""
    for network, weekday, slot_time, label in CALENDAR_SLOTS:
        calendar.create_slot(
            session, network=network, weekday=weekday, at_time=slot_time, label=label
        )
    made = 0
    for weeks_ago, (network, label, body) in enumerate(CALENDAR_POSTS, start=1):
        at = (now - timedelta(weeks=weeks_ago)).replace(hour=9, minute=0, second=0, microsecond=0)
        session.add(PublicationPost(
            network=network, label=label, body=body, scheduled_at=at, status="published",
            published_at=at, adapter="export", created_by_id=marketer.id,
        ))  # fmt: skip
        made += 1
    for days_ahead, (network, label, body) in zip((2, 6, 9, 13), CALENDAR_POSTS, strict=True):
        at = (now + timedelta(days=days_ahead)).replace(hour=10, minute=0, second=0, microsecond=0)
        calendar.create_post(
            session, marketer, network=network, label=label, body=body, scheduled_at=at
        )
        made += 1
    session.flush()
    return made
