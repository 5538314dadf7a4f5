"""Scoring and tiering runs: read, build, score, tier, write snapshots.

A run is one transaction for its results: the scores, the tier changes and the 'done'
status are committed together, so a half-written snapshot is never shown as current.
Only one run may be running at a time (a partial unique index); a run whose heartbeat
has gone stale (its worker was killed) is marked failed when the next one starts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, any_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.auth.models import Role, User
from app.contacts.graph import fetch_all, read_graph_input
from app.contacts.models import Contact, Organization
from app.db import copy_rows, table_of, utcnow
from app.errors import Conflict, Forbidden, Invalid
from app.gc_pause import cyclic_gc_paused
from app.segments.facts import read_person_facts
from app.segments.models import (
    Circle,
    ContactScore,
    ScoreRun,
    ScoringSettings,
    TierAssignment,
    TierChange,
)
from app.segments.scoring import DEFAULT_WEIGHTS, Adjacency, check_weights, score_people
from app.segments.tiers import NONE, Candidate, TierParams, assign_tiers

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "engagement_half_life_days": 90,
    "tie_half_life_days": 180,
    "margin": 5.0,
    "one_to_few_share": 0.15,
    "circle_min": 5,
    "circle_max": 25,
    "bridging_samples": 64,
    "seed": 42,
}
STALE_AFTER = timedelta(minutes=30)
TIERS_WITH_PINS = ("one_to_one", "one_to_few", "broadcast", "none")

Progress = Callable[[str, dict[str, Any]], None]


def current_settings(session: Session) -> tuple[dict[str, float], dict[str, Any]]:
    row = session.get(ScoringSettings, 1)
    weights = dict(DEFAULT_WEIGHTS)
    params = dict(DEFAULT_PARAMS)
    if row is not None:
        weights.update(row.weights or {})
        params.update(row.params or {})
    return weights, params


def update_settings(
    session: Session,
    actor: User,
    weights: dict[str, Any],
    params: dict[str, Any] | None = None,
) -> ScoringSettings:
    if actor.role not in (Role.ADMIN, Role.MANAGER):
        raise Forbidden("Only managers can change the scoring weights.")
    clean = check_weights(weights)
    clean_params = dict(current_settings(session)[1])
    for key, value in (params or {}).items():
        if key not in DEFAULT_PARAMS:
            raise Invalid(f"Unknown setting {key!r}.", field=key)
        try:
            number = type(DEFAULT_PARAMS[key])(value)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"{key} must be a number.", field=key) from exc
        if number < 0:
            raise Invalid(f"{key} cannot be negative.", field=key)
        clean_params[key] = number
    if clean_params["circle_min"] < 2 or clean_params["circle_max"] < clean_params["circle_min"]:
        raise Invalid("Circles need at least 2 people and a maximum above the minimum.")
    if not 0 <= clean_params["one_to_few_share"] <= 1:
        raise Invalid("The one-to-few share is between 0 and 1.", field="one_to_few_share")
    row = session.get(ScoringSettings, 1)
    if row is None:
        row = ScoringSettings(id=1)
        session.add(row)
    old = {"weights": row.weights, "params": row.params}
    row.weights, row.params = clean, clean_params
    row.updated_at, row.updated_by_id = utcnow(), actor.id
    session.flush()
    audit.record(
        session, actor.id, "scoring.settings", "scoring_settings", 1,
        old=old, new={"weights": clean, "params": clean_params},
    )  # fmt: skip
    return row


def start_run(
    session: Session,
    requested_by: User | None,
    *,
    trigger: str = "manual",
    as_of: datetime | None = None,
    reform_circles: bool = False,
) -> ScoreRun:
    """Create the run row (status running). A second run at once is refused, not raced.

    Circles are kept from run to run; `reform_circles` forms them all afresh from the
    network as it is now (a circle keeps its identity when most of it stays together)."""
    if requested_by is not None and requested_by.role not in (Role.ADMIN, Role.MANAGER):
        raise Forbidden("Only managers can start a scoring run.")
    stale_before = utcnow() - STALE_AFTER
    running = session.scalar(select(ScoreRun).where(ScoreRun.status == "running"))
    if running is not None:
        last_sign = running.heartbeat_at or running.started_at
        if last_sign >= stale_before:
            raise Conflict("A scoring run is already in progress.")
        running.status = "failed"
        running.error = "stopped without finishing (worker lost); superseded by a new run"
        running.finished_at = utcnow()
        session.flush()
    weights, params = current_settings(session)
    if reform_circles:
        params = {**params, "reform_circles": True}
    run = ScoreRun(
        status="running",
        trigger=trigger,
        requested_by_id=requested_by.id if requested_by else None,
        as_of=as_of or utcnow(),
        weights=weights,
        params=params,
        stage="queued",
        heartbeat_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("A scoring run is already in progress.") from exc
    return run


def latest_run(session: Session) -> ScoreRun | None:
    return session.scalar(
        select(ScoreRun)
        .where(ScoreRun.status == "done")
        .order_by(ScoreRun.finished_at.desc(), ScoreRun.id.desc())
        .limit(1)
    )


def execute_run(session: Session, run_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Do the work of a run. Commits heartbeats between stages; the results and the 'done'
    status are flushed at the end for the caller's single final commit."""
    with cyclic_gc_paused():  # see app.gc_pause
        return _execute_run(session, run_id, progress)


def _execute_run(session: Session, run_id: int, progress: Progress | None) -> dict[str, Any]:
    run = session.get(ScoreRun, run_id)
    if run is None or run.status != "running":
        return {"skipped": True}
    timings: dict[str, float] = {}
    detail: dict[str, float] = {}  # finer stage times, for benchmarks and the logs
    report = progress or (lambda stage, meta: None)

    def stage(name: str) -> None:
        run.stage = name
        run.heartbeat_at = utcnow()
        session.commit()
        report(name, {"run_id": run_id, "timings": timings})

    params = run.params
    weights = check_weights(run.weights)

    t0 = time.perf_counter()
    if _on_postgres(session):
        # the reads hash-join a million interactions: let the join stay in memory (this
        # transaction only; the heartbeat commit below ends it)
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    data = read_graph_input(session, run.as_of, half_life_days=params["tie_half_life_days"])
    detail["read_graph"] = round(time.perf_counter() - t0, 3)
    graph = Adjacency.from_input(data)  # arrays; networkx only for the one-to-few band
    data.relationship_edges.clear()  # a million tuples, no longer needed
    data.shared_edges.clear()
    detail["build_graph"] = round(time.perf_counter() - t0 - detail["read_graph"], 3)
    facts, key_accounts = read_person_facts(
        session, run.as_of, half_life_days=params["engagement_half_life_days"]
    )
    timings["read_and_build"] = round(time.perf_counter() - t0, 3)
    detail["read_facts"] = round(
        timings["read_and_build"] - detail["read_graph"] - detail["build_graph"], 3
    )
    stage("graph built")

    t0 = time.perf_counter()
    people, stats = score_people(
        graph, facts, weights,
        organization_of=data.organization_of, key_account_orgs=key_accounts,
        bridging_samples=int(params["bridging_samples"]), seed=int(params["seed"]),
    )  # fmt: skip
    timings["score"] = round(time.perf_counter() - t0, 3)
    stage("scores computed")

    t0 = time.perf_counter()
    candidates, capacities, previous = _tier_inputs(session, people)
    tier_params = TierParams(
        margin=float(params["margin"]), one_to_few_share=float(params["one_to_few_share"]),
        circle_min=int(params["circle_min"]), circle_max=int(params["circle_max"]),
        seed=int(params["seed"]), keep_circles=not params.get("reform_circles", False),
    )  # fmt: skip
    plan = assign_tiers(candidates, capacities, graph, tier_params, previous)
    timings["tier"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    _write_scores(session, run.id, people)
    detail["write_scores"] = round(time.perf_counter() - t0, 3)
    moves = _apply_tiers(session, run, candidates, plan)
    timings["write"] = round(time.perf_counter() - t0, 3)
    detail["write_tiers"] = round(timings["write"] - detail["write_scores"], 3)

    run.stats = {
        **stats, "timings": timings, "timings_detail": detail, "tier_moves": moves,
        "circles": len(plan.circles),
        "tiers": _count_tiers(plan.tiers),
    }  # fmt: skip
    run.status = "done"
    run.stage = "done"
    run.finished_at = utcnow()
    session.flush()
    report("done", {"run_id": run_id, "timings": timings})
    return run.stats


def fail_run(session: Session, run_id: int, message: str) -> None:
    session.execute(
        update(ScoreRun)
        .where(ScoreRun.id == run_id, ScoreRun.status == "running")
        .values(status="failed", error=message[:500], finished_at=utcnow())
    )


def _count_tiers(tiers: dict[int, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tier in tiers.values():
        counts[tier] = counts.get(tier, 0) + 1
    return counts


def _tier_inputs(
    session: Session, people: list[Any]
) -> tuple[list[Candidate], dict[int, int], dict[int, set[int]]]:
    potential = {p.contact_id: p.potential for p in people}
    rows = fetch_all(
        session,
        select(
            Contact.id, Contact.owner_id, Contact.consent_status, Contact.city,
            Organization.name, Organization.industry, Organization.city, Organization.owner_id,
            TierAssignment.tier, TierAssignment.circle_id, TierAssignment.pinned_by_id,
        )
        .outerjoin(Organization, Organization.id == Contact.organization_id)
        .outerjoin(TierAssignment, TierAssignment.contact_id == Contact.id)
        .where(Contact.erased_at.is_(None), Contact.merged_into_id.is_(None)),
    )  # fmt: skip
    candidates = []
    previous: dict[int, set[int]] = {}
    for (cid, owner, consent, city, org_name, industry, org_city, org_owner, tier, circle_id,
         pinned_by) in rows:  # fmt: skip
        if cid not in potential:
            continue  # created after the run's as_of
        candidates.append(
            Candidate(
                contact_id=cid,
                potential=potential[cid],
                owner_id=owner or org_owner,
                consent_status=consent,
                organization=org_name,
                industry=industry,
                city=city or org_city,
                current_tier=tier or NONE,
                current_circle_id=circle_id,
                pinned_tier=tier if pinned_by is not None else None,
            )
        )
        if circle_id is not None:
            previous.setdefault(circle_id, set()).add(cid)
    capacities = dict(
        session.execute(select(User.id, User.capacity).where(User.active)).tuples().all()
    )
    return candidates, capacities, previous


SCORE_COLUMNS = ("run_id", "contact_id", "potential", "influence", "bridging", "engagement",
                 "account_value", "sentiment", "rank", "degree", "details")  # fmt: skip
ASSIGNMENT_COLUMNS = ("contact_id", "tier", "circle_id", "since", "run_id", "pinned_by_id",
                      "pin_reason")  # fmt: skip
CHANGE_COLUMNS = ("contact_id", "at", "from_tier", "to_tier", "from_circle_id", "to_circle_id",
                  "run_id")  # fmt: skip


def _on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _write_scores(session: Session, run_id: int, people: list[Any]) -> None:
    if _on_postgres(session):
        dumps = json.dumps
        copy_rows(session, ContactScore.__tablename__, SCORE_COLUMNS, (
            (run_id, p.contact_id, p.potential, p.components["influence"],
             p.components["bridging"], p.components["engagement"],
             p.components["account_value"], p.components["sentiment"], p.rank, p.degree,
             dumps(p.details))
            for p in people
        ))  # fmt: skip
        return
    rows = [
        {
            "run_id": run_id, "contact_id": p.contact_id, "potential": p.potential,
            "rank": p.rank, "degree": p.degree, "details": p.details, **p.components,
        }
        for p in people
    ]  # fmt: skip
    for start in range(0, len(rows), 5000):
        session.execute(insert(ContactScore), rows[start : start + 5000])


def _apply_tiers(session: Session, run: ScoreRun, candidates: list[Candidate], plan: Any) -> int:
    # Moves happen as of the run's moment: a run scoring the graph as it was last month
    # (the demo's history) records last month's moves, not today's.
    now = min(utcnow(), run.as_of)
    # circles: keep reused ones, create new ones, retire the rest
    circle_ids: list[int] = []
    reused = {c.reuse_id for c in plan.circles if c.reuse_id}
    session.execute(
        update(Circle)
        .where(Circle.active.is_(True), Circle.id.not_in(reused or {-1}))
        .values(active=False)
    )
    # A reused circle keeps its name and owner; its basis follows its members as they are.
    bases = [{"b_id": c.reuse_id, "b_basis": c.basis} for c in plan.circles if c.reuse_id]
    if bases:
        circles = table_of(Circle)
        session.execute(
            update(circles)
            .where(
                circles.c.id == bindparam("b_id"),
                circles.c.basis.is_distinct_from(bindparam("b_basis")),
            )
            .values(basis=bindparam("b_basis")),
            bases,
        )
    new_circles = {
        i: Circle(name=circle.name, basis=circle.basis, owner_id=circle.owner_id, run_id=run.id)
        for i, circle in enumerate(plan.circles)
        if not circle.reuse_id
    }
    session.add_all(new_circles.values())
    session.flush()  # one batched INSERT ... RETURNING, not one round trip per circle
    for i, circle in enumerate(plan.circles):
        circle_ids.append(circle.reuse_id or new_circles[i].id)
    circle_of = {m: circle_ids[i] for m, i in plan.circle_of().items()}

    # people erased while the run was busy get no tier, whatever was computed
    gone = set(
        session.scalars(
            select(Contact.id).where(
                (Contact.erased_at.is_not(None)) | (Contact.merged_into_id.is_not(None))
            )
        )
    )
    changes, new_rows, changed_ids = [], [], []
    by_tier: dict[str, list[int]] = {}
    for c in candidates:
        tier = NONE if c.contact_id in gone else plan.tiers.get(c.contact_id, NONE)
        circle_id = circle_of.get(c.contact_id) if tier == "one_to_few" else None
        if tier == c.current_tier and circle_id == c.current_circle_id:
            continue
        changed_ids.append(c.contact_id)
        if tier != c.current_tier:  # a move between circles leaves contacts.tier as it is
            by_tier.setdefault(tier, []).append(c.contact_id)
        changes.append({
            "contact_id": c.contact_id, "at": now, "from_tier": c.current_tier,
            "to_tier": tier, "from_circle_id": c.current_circle_id,
            "to_circle_id": circle_id, "run_id": run.id,
        })  # fmt: skip
        new_rows.append({
            "contact_id": c.contact_id, "tier": tier, "circle_id": circle_id, "since": now,
            "run_id": run.id, "pinned_by_id": None, "pin_reason": None,
        })  # fmt: skip
    pins = {
        contact_id: (pinned_by, reason)
        for contact_id, pinned_by, reason in session.execute(
            select(
                TierAssignment.contact_id, TierAssignment.pinned_by_id, TierAssignment.pin_reason
            ).where(TierAssignment.pinned_by_id.is_not(None))
        )
    }
    for row in new_rows:
        if row["contact_id"] in pins:
            row["pinned_by_id"], row["pin_reason"] = pins[row["contact_id"]]
    if _on_postgres(session):
        # set-based: one statement per kind of write, COPY for the new rows
        ids_param = bindparam("ids", type_=ARRAY(Integer))
        session.execute(
            delete(TierAssignment).where(TierAssignment.contact_id == any_(ids_param)),
            {"ids": changed_ids},
        )
        copy_rows(session, TierAssignment.__tablename__, ASSIGNMENT_COLUMNS,
                 ([row[c] for c in ASSIGNMENT_COLUMNS] for row in new_rows))  # fmt: skip
        copy_rows(session, TierChange.__tablename__, CHANGE_COLUMNS,
                 ([row[c] for c in CHANGE_COLUMNS] for row in changes))  # fmt: skip
        for tier, ids in by_tier.items():
            session.execute(
                update(Contact)
                .where(Contact.id == any_(ids_param))
                .values(tier=tier)
                .execution_options(synchronize_session=False),
                {"ids": ids},
            )
        return len(changes)
    for start in range(0, len(changed_ids), 1000):
        chunk = changed_ids[start : start + 1000]
        session.execute(delete(TierAssignment).where(TierAssignment.contact_id.in_(chunk)))
    for start in range(0, len(new_rows), 5000):
        session.execute(insert(TierAssignment), new_rows[start : start + 5000])
        session.execute(insert(TierChange), changes[start : start + 5000])
    for tier, ids in by_tier.items():
        for start in range(0, len(ids), 1000):
            session.execute(
                update(Contact)
                .where(Contact.id.in_(ids[start : start + 1000]))
                .values(tier=tier)
                .execution_options(synchronize_session=False)
            )
    return len(changes)


def pin_tier(
    session: Session, actor: User, contact: Contact, tier: str | None, reason: str
) -> TierAssignment | None:
    """Pin a person to a tier (or unpin with tier=None); pins survive runs. Audited."""
    from app.contacts.service import check_contact_access

    check_contact_access(actor, contact, write=True)
    reason = (reason or "").strip()
    if tier is not None and tier not in TIERS_WITH_PINS:
        raise Invalid(f"Unknown tier {tier!r}.", field="tier")
    if tier is not None and not reason:
        raise Invalid("Say why this person is pinned.", field="reason")
    if tier not in (None, "none") and contact.opted_out:
        raise Invalid("An opted-out person cannot be pinned to a tier that gets messages.")
    row = session.get(TierAssignment, contact.id)
    now = utcnow()
    old_tier = row.tier if row else NONE
    old_circle = row.circle_id if row else None
    if tier is None:
        if row is not None and row.pinned_by_id is not None:
            row.pinned_by_id = None
            row.pin_reason = None
            audit.record(session, actor.id, "tier.unpin", "contact", contact.id)
        return row
    if row is None:
        row = TierAssignment(contact_id=contact.id, tier=tier, since=now)
        session.add(row)
    row.tier = tier
    row.circle_id = old_circle if tier == "one_to_few" else None
    row.pinned_by_id = actor.id
    row.pin_reason = reason[:500]
    if old_tier != tier:
        row.since = now
        session.add(
            TierChange(
                contact_id=contact.id, at=now, from_tier=old_tier, to_tier=tier,
                from_circle_id=old_circle, to_circle_id=row.circle_id,
                changed_by_id=actor.id, reason=reason[:500],
            )
        )  # fmt: skip
    contact.tier = tier
    audit.record(
        session, actor.id, "tier.pin", "contact", contact.id, old=old_tier, new=tier, reason=reason
    )
    session.flush()
    return row


def run_count(session: Session) -> int:
    return session.scalar(select(func.count(ScoreRun.id))) or 0
