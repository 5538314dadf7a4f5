"""Reading interactions and writing health snapshots, set-based.

One Core select reads every (interaction, participant) row the health needs; the maths run in
numpy (`app.health.scoring`); snapshots and status changes go in with bulk inserts. A run is
unique per day (`health_runs.as_of`), so computing a day twice writes nothing the second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import numpy as np
from sqlalchemy import Float, case, cast, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.contacts.models import Contact, Interaction, Organization, interaction_participants
from app.db import copy_records, utcnow
from app.health.models import HealthRun, HealthSnapshot, HealthStatusChange
from app.health.scoring import (
    STATUS_NAMES,
    HealthParams,
    HealthResult,
    InteractionArrays,
    compute_account_health,
    compute_contact_health,
)

log = logging.getLogger(__name__)

# Tracking signals (an email opened, a page viewed) say little about a relationship.
PASSIVE_KINDS = ("open", "click", "view")
PERSONAL_KINDS = ("message", "reply", "comment", "mention")
BATCH = 5000

# Extension point for the loyalty domain: functions (session, moment) -> {contact id: 0..1
# loyalty activity}. Health reads none until a loyalty programme registers one; it never
# imports loyalty code itself.
LoyaltySource = Callable[[Session, datetime], Mapping[int, float]]
LOYALTY_SOURCES: list[LoyaltySource] = []


def register_loyalty_source(source: LoyaltySource) -> None:
    """Let a loyalty programme add its activity (0..1 per contact) to health."""
    if source not in LOYALTY_SOURCES:
        LOYALTY_SOURCES.append(source)


def loyalty_activity(session: Session, moment: datetime) -> dict[int, float]:
    merged: dict[int, float] = {}
    for source in LOYALTY_SOURCES:
        for contact_id, value in source(session, moment).items():
            merged[contact_id] = max(merged.get(contact_id, 0.0), float(value))
    return merged


# ------------------------------------------------------------------ reading


def _epoch(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        # extract() gives numeric (Decimal in Python): a float is what numpy wants.
        return cast(func.extract("epoch", column), Float)
    return cast(func.strftime("%s", column), Float)


def interactions_statement(session: Session, until: datetime) -> Any:
    """The one select health reads: a row per (interaction, participant) up to `until`."""
    ip = interaction_participants
    i = Interaction
    return (
        select(
            ip.c.contact_id,
            _epoch(session, i.occurred_at),
            case((i.direction == "inbound", 1), else_=0),
            case((i.kind.in_(PERSONAL_KINDS), 1), else_=0),
            i.sentiment,
            case((i.needs_answer, 1), else_=0),
            _epoch(session, i.answered_at),
        )
        .select_from(ip)
        .join(i, i.id == ip.c.interaction_id)
        .join(Contact, Contact.id == ip.c.contact_id)
        .where(
            i.kind.not_in(PASSIVE_KINDS),
            i.occurred_at <= until,
            Contact.erased_at.is_(None),
            Contact.merged_into_id.is_(None),
        )
    )


def _fetch_all(session: Session, statement: Any) -> list[Any]:
    """Rows as plain tuples. On PostgreSQL straight from the driver's cursor: the columns
    are already numbers, and skipping the Result layer reads a million rows about twice as
    fast."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return list(connection.execute(statement).all())
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute(compiled.string, compiled.params)
        return cursor.fetchall()


def read_interactions(session: Session, until: datetime) -> InteractionArrays:
    rows = _fetch_all(session, interactions_statement(session, until))
    if not rows:
        return InteractionArrays.from_columns([], [], [], [], [], [], [])
    contact, t, inbound, personal, sentiment, needs, answered = zip(*rows, strict=True)
    return InteractionArrays(
        contact=np.fromiter(contact, dtype=np.int64, count=len(rows)),
        t=np.fromiter(t, dtype=np.float64, count=len(rows)),
        inbound=np.fromiter(inbound, dtype=bool, count=len(rows)),
        personal_out=np.fromiter(personal, dtype=bool, count=len(rows)),
        sentiment=np.array(sentiment, dtype=np.float64),  # None -> nan
        needs_answer=np.fromiter(needs, dtype=bool, count=len(rows)),
        answered=np.array(answered, dtype=np.float64),
    ).sorted()


def organizations_of(session: Session) -> dict[int, int | None]:
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(Contact.id, Contact.organization_id).where(
                Contact.organization_id.is_not(None), Contact.erased_at.is_(None)
            )
        ).all()
    )


# ------------------------------------------------------------------ writing


def moment_of(as_of: date, now: datetime | None = None) -> datetime:
    """Health "as of a day" is measured at the end of that day (or now, for today)."""
    now = now or utcnow()
    end = datetime.combine(as_of + timedelta(days=1), dtime.min, tzinfo=UTC)
    return min(end, now)


def previous_run(session: Session, as_of: date) -> HealthRun | None:
    return session.scalar(
        select(HealthRun)
        .where(HealthRun.as_of < as_of, HealthRun.status == "done")
        .order_by(HealthRun.as_of.desc())
        .limit(1)
    )


def latest_run(session: Session) -> HealthRun | None:
    return session.scalar(
        select(HealthRun)
        .where(HealthRun.status == "done")
        .order_by(HealthRun.as_of.desc())
        .limit(1)
    )


def _snapshot_rows(run_id: int, result: HealthResult, column: str) -> list[dict[str, Any]]:
    other = "organization_id" if column == "contact_id" else "contact_id"
    rows = []
    for row in result.rows():
        rows.append(
            {
                "run_id": run_id,
                column: row.pop("subject"),
                other: None,
                **row,
            }
        )
    return rows


def _bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (in the session's transaction), Core executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        copy_records(session, table, [c.name for c in table.columns if c.name in rows[0]], rows)
        return
    for start in range(0, len(rows), BATCH):
        session.execute(insert(table), rows[start : start + BATCH])


def _status_changes(
    session: Session, run: HealthRun, prev: HealthRun | None, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if prev is None:
        return []
    before: dict[tuple[str, int], str] = {}
    for contact_id, org_id, status in session.execute(
        select(
            HealthSnapshot.contact_id, HealthSnapshot.organization_id, HealthSnapshot.status
        ).where(HealthSnapshot.run_id == prev.id)
    ):
        before[("c", contact_id) if contact_id else ("o", org_id)] = status
    changes = []
    for row in rows:
        key = ("c", row["contact_id"]) if row["contact_id"] else ("o", row["organization_id"])
        old = before.get(key)
        if old is not None and old != row["status"]:
            changes.append(
                {
                    "run_id": run.id,
                    "as_of": run.as_of,
                    "contact_id": row["contact_id"],
                    "organization_id": row["organization_id"],
                    "from_status": old,
                    "to_status": row["status"],
                    "score": row["score"],
                }  # fmt: skip
            )
    return changes


def _stats(people: HealthResult, accounts: HealthResult, key_accounts: set[int]) -> dict[str, Any]:
    def counts(result: HealthResult, mask: np.ndarray | None = None) -> dict[str, int]:
        status = result.status if mask is None else result.status[mask]
        return {name: int((status == i).sum()) for i, name in enumerate(STATUS_NAMES)}

    key_mask = np.isin(accounts.subject, np.fromiter(key_accounts, dtype=np.int64))
    return {
        "people": counts(people),
        "accounts": counts(accounts),
        "key_accounts": counts(accounts, key_mask),
        "people_avg_score": round(float(people.score.mean()), 1) if len(people) else None,
        "accounts_avg_score": round(float(accounts.score.mean()), 1) if len(accounts) else None,
    }


def potential_averages(session: Session, moment: datetime) -> dict[str, Any] | None:
    """Average potential (everyone, one-to-one) of the scoring run in force at `moment`, kept
    with each health run so the dashboard draws the potential trend without re-reading
    every score of every run."""
    from app.segments.models import ContactScore, ScoreRun

    run_id = session.scalar(
        select(ScoreRun.id)
        .where(ScoreRun.status == "done", ScoreRun.as_of <= moment)
        .order_by(ScoreRun.as_of.desc(), ScoreRun.id.desc())
        .limit(1)
    )
    if run_id is None:
        return None
    one_to_one = case((Contact.tier == "one_to_one", ContactScore.potential))
    avg, top = session.execute(
        select(func.avg(ContactScore.potential), func.avg(one_to_one))
        .join(Contact, Contact.id == ContactScore.contact_id)
        .where(ContactScore.run_id == run_id)
    ).one()
    return {
        "score_run_id": run_id,
        "avg": round(float(avg), 2) if avg is not None else None,
        "one_to_one_avg": round(float(top), 2) if top is not None else None,
    }


def tier_counts(session: Session) -> dict[str, int]:
    """People per tier now (kept with each run: the dashboard adds the moves since)."""
    return {
        tier: int(n)
        for tier, n in session.execute(
            select(Contact.tier, func.count())
            .where(Contact.erased_at.is_(None), Contact.merged_into_id.is_(None))
            .group_by(Contact.tier)
        )
    }


def _key_attention(accounts: HealthResult, key_accounts: set[int], limit: int = 50) -> list[int]:
    """The key accounts the dashboard lists first (at risk, then cooling, lowest score)."""
    if not len(accounts) or not key_accounts:
        return []
    key = np.isin(accounts.subject, np.fromiter(key_accounts, dtype=np.int64))
    idx = np.flatnonzero(key & (accounts.status > 0))
    order = np.lexsort((accounts.score[idx], -accounts.status[idx]))
    return [int(accounts.subject[i]) for i in idx[order][:limit]]


def record_health(
    session: Session,
    as_of: date,
    *,
    trigger: str = "daily",
    data: InteractionArrays | None = None,
    params: HealthParams | None = None,
    now: datetime | None = None,
) -> HealthRun | None:
    """Compute and store health as of a day. Returns None when that day is already stored.

    `data` may be given (read once, up to the latest day) to backfill many days cheaply.
    """
    if session.scalar(select(HealthRun.id).where(HealthRun.as_of == as_of)) is not None:
        return None
    moment = moment_of(as_of, now)
    run = HealthRun(as_of=as_of, trigger=trigger, status="running")
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        return None  # another worker stored this day first
    started = time.perf_counter()
    if data is None:
        data = read_interactions(session, moment)
    read_s = time.perf_counter() - started
    people = compute_contact_health(
        data, moment.timestamp(), params, loyalty_activity(session, moment) or None
    )
    accounts = compute_account_health(people, organizations_of(session))
    compute_s = time.perf_counter() - started - read_s
    rows = _snapshot_rows(run.id, people, "contact_id") + _snapshot_rows(
        run.id, accounts, "organization_id"
    )
    prev = previous_run(session, as_of)
    changes = _status_changes(session, run, prev, rows)
    _bulk_insert(session, HealthSnapshot.__table__, rows)
    _bulk_insert(session, HealthStatusChange.__table__, changes)
    key_accounts = set(
        session.scalars(select(Organization.id).where(Organization.key_account.is_(True)))
    )
    run.stats = {
        **_stats(people, accounts, key_accounts),
        "key_attention": _key_attention(accounts, key_accounts),
        "potential": potential_averages(session, moment),
        "changes": len(changes),
        "seconds": {
            "read": round(read_s, 3),
            "compute": round(compute_s, 3),
            "write": round(time.perf_counter() - started - read_s - compute_s, 3),
        },
    }
    run.stats["tiers"] = tier_counts(session)
    run.status = "done"
    run.finished_at = utcnow()
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Fresh statistics (our own uncommitted rows count): without them the planner
        # walks a whole run's snapshots for the dashboard's "top 20 at risk".
        session.execute(text("ANALYZE health_snapshots"))
    log.info("health run", extra={"as_of": str(as_of), "people": len(people),
                                  "accounts": len(accounts), "changes": len(changes)})  # fmt: skip
    return run


def backfill(
    session: Session,
    days: int,
    every: int,
    *,
    today: date | None = None,
    on_run: Callable[[HealthRun | None, date], None] | None = None,
    params: HealthParams | None = None,
) -> list[date]:
    """Health as of past days (oldest first), so trends exist from day one.

    Interactions are read once; each day sees only what had happened by then (its answers
    included). Days already stored are skipped. `on_run` lets the caller commit per day.
    """
    if days < 1 or every < 1:
        from app.errors import Invalid

        raise Invalid("Days and step must be positive.")
    today = today or utcnow().date()
    dates = sorted({today - timedelta(days=k) for k in range(0, days + 1, every)})
    data = read_interactions(session, moment_of(today))
    done = []
    for day in dates:
        run = record_health(session, day, trigger="backfill", data=data, params=params)
        if run is not None:
            done.append(day)
        if on_run is not None:
            on_run(run, day)
    return done


def prune_snapshots(session: Session, keep_daily_days: int = 90, today: date | None = None) -> int:
    """Keep every day's snapshots for `keep_daily_days`, then one run per week.

    100,000 people a day would be 36 million rows a year; the totals drawn as trends stay
    in `health_runs.stats` for every day, so only the per-person rows are thinned out.
    """
    today = today or utcnow().date()
    cutoff = today - timedelta(days=keep_daily_days)
    old = session.execute(
        select(HealthRun.id, HealthRun.as_of).where(HealthRun.as_of < cutoff)
    ).all()
    keep: dict[tuple[int, int], tuple[date, int]] = {}
    for run_id, as_of in old:
        week = tuple(as_of.isocalendar())[:2]
        if week not in keep or as_of > keep[week][0]:
            keep[week] = (as_of, run_id)  # type: ignore[index]
    kept = {run_id for _, run_id in keep.values()}
    drop = [run_id for run_id, _ in old if run_id not in kept]
    removed = 0
    for start in range(0, len(drop), 500):
        result = session.execute(
            delete(HealthSnapshot).where(HealthSnapshot.run_id.in_(drop[start : start + 500]))
        )
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed
