"""What the manager dashboard and "my relationships" show, read from the latest health run.

Every function reads a bounded set (the one-to-one tier, a top-N, the run totals kept in
`health_runs.stats`), so the pages stay fast with 100,000 people.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, selectinload

from app.auth.models import Role, User
from app.contacts.models import TIERS, Contact, Organization
from app.db import utcnow
from app.health.models import HealthRun, HealthSnapshot
from app.health.scoring import STATUS_NAMES
from app.health.snapshots import tier_counts
from app.segments.models import Circle, TierAssignment, TierChange

STATUS_ORDER = case(
    (HealthSnapshot.status == "at_risk", 0), (HealthSnapshot.status == "cooling", 1), else_=2
)


def at_risk_key_accounts(
    session: Session, run: HealthRun, limit: int = 20
) -> list[tuple[Organization, HealthSnapshot]]:
    """Key accounts at risk, then cooling, worst first."""
    # The run kept the ids worth a look (at risk, then cooling): a lookup by key, not a
    # walk over every account's snapshot on each request.
    key_ids = (run.stats or {}).get("key_attention")
    if key_ids is None:
        key_ids = list(session.scalars(select(Organization.id).where(Organization.key_account)))
    if not key_ids:
        return []
    rows = session.execute(
        select(Organization, HealthSnapshot)
        .join(HealthSnapshot, HealthSnapshot.organization_id == Organization.id)
        .where(
            HealthSnapshot.run_id == run.id,
            HealthSnapshot.organization_id.in_(key_ids[: max(limit * 3, 60)]),
            Organization.key_account.is_(True),
            HealthSnapshot.status.in_(("at_risk", "cooling")),
        )
        .options(selectinload(Organization.owner))
        .order_by(STATUS_ORDER, HealthSnapshot.score, Organization.name)
        .limit(limit)
    ).all()
    return [(org, snap) for org, snap in rows]


def at_risk_people(
    session: Session, run: HealthRun, *, tier: str = "one_to_one", limit: int = 20,
    owner_id: int | None = None, portfolios: list[Portfolio] | None = None,
) -> list[tuple[Contact, HealthSnapshot]]:  # fmt: skip
    """People of a tier at risk, then cooling, lowest score first. With the one-to-one
    `portfolios` already read, only the top `limit` rows are loaded."""
    if portfolios is not None and tier == "one_to_one":
        rank = {"at_risk": 0, "cooling": 1}
        fading = sorted(
            (h for p in portfolios for h in p.people if h.status in rank),
            key=lambda h: (rank[h.status or ""], h.score or 0, h.name),
        )
        ids = [h.id for h in fading[:limit]]
    else:
        tier_ids = select(Contact.id).where(Contact.tier == tier)
        if owner_id is not None:
            tier_ids = tier_ids.where(Contact.owner_id == owner_id)
        ids = list(session.scalars(tier_ids))
    if not ids:
        return []
    stmt = (
        select(Contact, HealthSnapshot)
        .join(HealthSnapshot, HealthSnapshot.contact_id == Contact.id)
        .where(
            HealthSnapshot.run_id == run.id,
            HealthSnapshot.contact_id.in_(ids),
            HealthSnapshot.status.in_(("at_risk", "cooling")),
        )
        .options(selectinload(Contact.owner), selectinload(Contact.organization))
        .order_by(STATUS_ORDER, HealthSnapshot.score, Contact.sort_name)
        .limit(limit)
    )
    if owner_id is not None:
        stmt = stmt.where(Contact.owner_id == owner_id)
    return [(c, s) for c, s in session.execute(stmt).all()]


@dataclass(frozen=True)
class PersonHealth:
    id: int
    name: str
    score: int | None
    status: str | None


@dataclass
class Portfolio:
    owner: User | None
    people: list[PersonHealth] = field(default_factory=list)

    @property
    def used(self) -> int:
        return len(self.people)

    @property
    def capacity(self) -> int:
        return self.owner.capacity if self.owner else 0

    @property
    def capacity_pct(self) -> int:
        return min(100, self.used * 100 // max(self.capacity, 1)) if self.owner else 0

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(p.status or "unknown" for p in self.people)
        return {name: c.get(name, 0) for name in (*STATUS_NAMES, "unknown")}

    @property
    def average(self) -> float | None:
        scores = [p.score for p in self.people if p.score is not None]
        return round(sum(scores) / len(scores), 1) if scores else None


def owner_portfolios(session: Session, run: HealthRun | None) -> list[Portfolio]:
    """Each owner's one-to-one people with their health, worst first, and capacity used.
    Plain columns, not ORM objects: this is the widest list on the dashboard."""
    snap = HealthSnapshot
    join_on = and_(snap.contact_id == Contact.id, snap.run_id == (run.id if run else -1))
    rows = session.execute(
        select(
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.owner_id,
            snap.score,
            snap.status,
        )  # fmt: skip
        .outerjoin(snap, join_on)
        .where(
            Contact.tier == "one_to_one",
            Contact.erased_at.is_(None),
            Contact.merged_into_id.is_(None),
        )  # fmt: skip
    ).all()
    sellers = session.scalars(
        select(User).where(User.active.is_(True), User.role == Role.SALES.value).order_by(User.name)
    ).all()
    portfolios: dict[int | None, Portfolio] = {u.id: Portfolio(u) for u in sellers}
    missing = {row.owner_id for row in rows if row.owner_id not in portfolios} - {None}
    if missing:
        for u in session.scalars(select(User).where(User.id.in_(missing))):
            portfolios[u.id] = Portfolio(u)
    for row in rows:
        name = f"{row.first_name} {row.last_name}".strip() or (row.email or "")
        portfolios.setdefault(row.owner_id, Portfolio(None)).people.append(
            PersonHealth(row.id, name, row.score, row.status)
        )
    rank = {"at_risk": 0, "cooling": 1, "healthy": 2}
    for p in portfolios.values():
        p.people.sort(key=lambda h: (rank.get(h.status or "", 3),
                                     h.score if h.score is not None else 101, h.name))  # fmt: skip
    return sorted(
        portfolios.values(),
        key=lambda p: (p.owner is None, -p.counts["at_risk"], p.owner.name if p.owner else ""),
    )


def tier_distribution(
    session: Session, run: HealthRun | None = None, days: int = 30
) -> list[dict[str, Any]]:
    """People per tier now, and `days` ago (undoing the recorded tier moves since then).

    "Now" is the count kept with the latest health run plus the moves recorded after it,
    so the page does not count 100,000 people on every request.
    """
    stored = (run.stats or {}).get("tiers") if run is not None else None
    if stored is None or run is None or run.finished_at is None:
        now_counts = {k: int(v) for k, v in tier_counts(session).items()}
        since_run = None
    else:
        now_counts = {k: int(v) for k, v in stored.items()}
        since_run = run.finished_at
    since = utcnow() - timedelta(days=days)
    moves = session.execute(
        select(TierChange.from_tier, TierChange.to_tier, TierChange.at).where(
            TierChange.at >= min(since, since_run) if since_run else TierChange.at >= since
        )
    ).all()
    change: Counter[str] = Counter()
    for from_tier, to_tier, at in moves:
        if since_run is not None and at > since_run:
            now_counts[to_tier] = now_counts.get(to_tier, 0) + 1
            now_counts[from_tier] = now_counts.get(from_tier, 0) - 1
        if at >= since:
            change[to_tier] += 1
            change[from_tier] -= 1
    out = []
    for tier in TIERS:
        now = int(now_counts.get(tier, 0))
        out.append({"tier": tier, "now": now, "before": now - change[tier], "change": change[tier]})
    return out


def health_trend(session: Session, limit: int = 120) -> list[HealthRun]:
    """Runs oldest first, with their totals (kept in `stats`, so no snapshot is re-read)."""
    runs = session.scalars(
        select(HealthRun)
        .where(HealthRun.status == "done")
        .order_by(HealthRun.as_of.desc())
        .limit(limit)
    ).all()
    return list(reversed(runs))


def potential_trend(runs: list[HealthRun]) -> list[tuple[date, float, float | None]]:
    """Average potential in force at each health run (kept in its stats when it ran)."""
    out = []
    for run in runs:
        potential = (run.stats or {}).get("potential") or {}
        if potential.get("avg") is not None:
            out.append((run.as_of, float(potential["avg"]), potential.get("one_to_one_avg")))
    return out


# ------------------------------------------------------------------ my relationships


def who_to_call(
    session: Session, user: User, run: HealthRun | None, limit: int = 15
) -> list[tuple[Contact, HealthSnapshot]]:
    """The user's people who are cooling or at risk: one-to-one first, then the worst."""
    if run is None:
        return []
    tier_rank = case((Contact.tier == "one_to_one", 0), (Contact.tier == "one_to_few", 1), else_=2)
    rows = session.execute(
        select(Contact, HealthSnapshot)
        .join(HealthSnapshot, HealthSnapshot.contact_id == Contact.id)
        .where(
            HealthSnapshot.run_id == run.id,
            Contact.owner_id == user.id,
            Contact.erased_at.is_(None),
            Contact.consent_status != "opted_out",
            HealthSnapshot.status.in_(("at_risk", "cooling")),
        )
        .options(selectinload(Contact.organization))
        .order_by(tier_rank, STATUS_ORDER, HealthSnapshot.score, Contact.sort_name)
        .limit(limit)
    ).all()
    return [(c, s) for c, s in rows]


@dataclass
class QuietCircle:
    circle: Circle
    members: int
    last_contact: datetime | None
    at_risk: int

    def days_quiet(self, now: datetime) -> int | None:
        if self.last_contact is None:
            return None
        return max(0, (now - self.last_contact).days)


def quiet_circles(
    session: Session, user: User, run: HealthRun | None, *, quiet_days: int = 30,
    now: datetime | None = None,
) -> list[QuietCircle]:  # fmt: skip
    """The user's circles (one-to-few) by how long since anyone in them was in touch;
    only those quiet for `quiet_days` or more, or with most members at risk."""
    now = now or utcnow()
    at_risk_expr = func.count(HealthSnapshot.id)
    stmt = (
        select(
            Circle,
            func.count(func.distinct(TierAssignment.contact_id)),
            func.max(Contact.last_interaction_at),
            at_risk_expr,
        )
        .join(TierAssignment, TierAssignment.circle_id == Circle.id)
        .join(Contact, Contact.id == TierAssignment.contact_id)
        .outerjoin(
            HealthSnapshot,
            and_(
                HealthSnapshot.contact_id == Contact.id,
                HealthSnapshot.run_id == (run.id if run else -1),
                HealthSnapshot.status == "at_risk",
            ),
        )
        .where(Circle.active.is_(True), Contact.erased_at.is_(None))
        .group_by(Circle.id)
    )
    if not user.sees_everything:
        stmt = stmt.where(Circle.owner_id == user.id)
    out = []
    for circle, members, last, at_risk in session.execute(stmt).all():
        item = QuietCircle(circle, int(members), last, int(at_risk))
        quiet = item.days_quiet(now)
        if quiet is None or quiet >= quiet_days or at_risk * 2 > members:
            out.append(item)
    out.sort(key=lambda q: (q.last_contact is not None, q.last_contact or now))
    return out


def snapshot_history(
    session: Session, *, contact_id: int | None = None, organization_id: int | None = None,
    limit: int = 120,
) -> list[tuple[date, HealthSnapshot]]:  # fmt: skip
    """One subject's snapshots, oldest first."""
    stmt = select(HealthRun.as_of, HealthSnapshot).join(
        HealthRun, HealthRun.id == HealthSnapshot.run_id
    )
    if contact_id is not None:
        stmt = stmt.where(HealthSnapshot.contact_id == contact_id)
    else:
        stmt = stmt.where(HealthSnapshot.organization_id == organization_id)
    rows = session.execute(stmt.order_by(HealthRun.as_of.desc()).limit(limit)).all()
    return [(d, s) for d, s in reversed(rows)]
