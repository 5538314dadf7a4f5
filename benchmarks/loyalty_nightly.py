"""Loyalty at 100,000 members and 2,000,000 ledger entries (PostgreSQL).

    .venv/bin/python benchmarks/loyalty_nightly.py [--members 100000] [--entries-per-member 20]

Creates a fresh database, builds the schema with the migrations (`app.migrate.upgrade`),
loads contacts, memberships and ledger entries with COPY, runs ANALYZE, then times:

1. The nightly work: FIFO expiry (`expire_points`) plus tier re-evaluation
   (`evaluate_tiers`), both set-based SQL, in one transaction, committed. Target < 60 s.
   Its limit: one aggregate over the whole ledger (SUM ... GROUP BY membership), the least
   any set-based pass must read. A second nightly run (nothing left to do) is shown too.
2. A member's statement (`statement()`: balance, tier, progress, expiring lots, history),
   200 random members after a warm-up. Target p95 < 20 ms. Its limit: the member's balance
   as one SQL aggregate on a connection.

The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import migrate  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.loyalty.expiry import expire_points  # noqa: E402
from app.loyalty.models import LoyaltyTier, Membership, Programme  # noqa: E402
from app.loyalty.statements import statement  # noqa: E402
from app.loyalty.tiers import evaluate_tiers  # noqa: E402

PG_BASE = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NIGHTLY_TARGET_S = 60.0
STATEMENT_TARGET_MS = 20.0
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def create_database() -> str:
    url = make_url(PG_BASE)
    name = f"cerchia_bench_loyalty_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(db_url: str) -> None:
    url = make_url(db_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def copy_rows(raw, table: str, columns: list[str], rows) -> None:  # noqa: ANN001
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def load(engine, members: int, per_member: int) -> int:  # noqa: ANN001
    rng = random.Random(7)
    with Session(engine) as session:
        programme = Programme(
            name="Amici", eligibility="consent", enrolment="automatic", expiry_days=365,
            tier_window_days=365, tier_grace_days=30, cents_per_100_points=50,
        )  # fmt: skip
        session.add(programme)
        session.flush()
        silver = LoyaltyTier(programme_id=programme.id, name="Silver", threshold_points=1500)
        gold = LoyaltyTier(programme_id=programme.id, name="Gold", threshold_points=3000)
        session.add_all([silver, gold])
        session.commit()
        pid, tier_ids = programme.id, [None, silver.id, gold.id]
    conn = engine.raw_connection()
    try:
        raw = conn.driver_connection
        t = time.perf_counter()
        copy_rows(
            raw, "contacts",
            ["id", "first_name", "last_name", "sort_name", "search_text", "email", "custom_fields",
             "consent_status", "consent_basis", "tier"],
            ((i, "P", f"N{i}", f"n{i} p", f"p n{i}", f"p{i}@example.com", "{}", "granted",
              "consent", "none") for i in range(1, members + 1)),
        )  # fmt: skip
        enrolled = NOW - timedelta(days=800)
        copy_rows(
            raw, "loyalty_memberships",
            ["id", "programme_id", "contact_id", "enrolled_at", "enrolled_via", "tier_id"],
            ((i, pid, i, enrolled, "automatic", rng.choice(tier_ids))
             for i in range(1, members + 1)),
        )  # fmt: skip

        def entries():  # noqa: ANN202
            n = 0
            for mid in range(1, members + 1):
                balance = 0
                times = sorted(
                    NOW - timedelta(minutes=rng.randrange(730 * 24 * 60)) for _ in range(per_member)
                )
                for k, at in enumerate(times):
                    n += 1
                    cost = rng.choice((100, 200, 500))
                    if k % 5 == 4 and balance >= cost:
                        balance -= cost
                        yield (
                            n,
                            mid,
                            pid,
                            "redeem",
                            -cost,
                            at,
                            None,
                            "Redeemed",
                            "redemption",
                            f"r{k}",
                        )
                    else:
                        pts = rng.randrange(10, 400)
                        balance += pts
                        yield (
                            n,
                            mid,
                            pid,
                            "earn",
                            pts,
                            at,
                            at + timedelta(days=365),
                            "Purchase",
                            "interaction",
                            f"i{k}",
                        )

        copy_rows(
            raw, "loyalty_ledger",
            ["id", "membership_id", "programme_id", "kind", "points", "at", "expires_at", "reason",
             "source_type", "idempotency_key"],
            entries(),
        )  # fmt: skip
        cur = raw.cursor()
        for table in ("contacts", "loyalty_memberships", "loyalty_ledger"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        raw.commit()
        raw.autocommit = True
        cur.execute("VACUUM ANALYZE")
        raw.autocommit = False
        print(f"loaded {members:,} members in {time.perf_counter() - t:.1f} s")
    finally:
        conn.close()
    return pid


def timed(fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries-per-member", type=int, default=20)
    args = parser.parse_args()
    url = create_database()
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        pid = load(engine, args.members, args.entries_per_member)
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM loyalty_ledger")).scalar_one()
            print(f"ledger entries: {total:,}")
            limit_s = timed(
                lambda: conn.execute(
                    text(
                        "SELECT membership_id, sum(points), "
                        "sum(CASE WHEN points > 0 AND expires_at <= :now THEN points ELSE 0 END) "
                        "FROM loyalty_ledger GROUP BY membership_id"
                    ),
                    {"now": NOW},
                ).all()
            )

        def nightly() -> None:
            with Session(engine) as session:
                programme = session.get(Programme, pid)
                t0 = time.perf_counter()
                members, points = expire_points(session, programme, NOW)
                t1 = time.perf_counter()
                run = evaluate_tiers(session, programme, NOW)
                t2 = time.perf_counter()
                session.commit()
                print(
                    f"  expiry {t1 - t0:.2f} s, tiers {t2 - t1:.2f} s, commit "
                    f"{time.perf_counter() - t2:.2f} s; "
                    f"expired {points:,} points of {members:,} members; tiers: "
                    f"{run.upgraded:,} up, {run.downgraded:,} down, {run.grace_started:,} "
                    f"grace started, {run.grace_cleared:,} grace cleared"
                )

        first = timed(nightly)
        second = timed(nightly)
        print(
            f"nightly expiry + tiers: {first:.2f} s (second run, nothing to do: {second:.2f} s); "
            f"limit (one SQL aggregate over the ledger): {limit_s:.2f} s; "
            f"target < {NIGHTLY_TARGET_S:.0f} s"
        )

        rng = random.Random(11)
        ids = [rng.randrange(1, args.members + 1) for _ in range(220)]
        times, base = [], []
        with Session(engine) as session, engine.connect() as conn:
            for i, mid in enumerate(ids):
                t = time.perf_counter()
                membership = session.get(Membership, mid)
                st = statement(session, membership, NOW)
                assert st.balance >= 0
                elapsed = time.perf_counter() - t
                t = time.perf_counter()
                conn.execute(
                    text(
                        "SELECT coalesce(sum(points), 0) FROM loyalty_ledger "
                        "WHERE membership_id = :m"
                    ),
                    {"m": mid},
                ).scalar_one()
                b = time.perf_counter() - t
                session.expunge_all()
                if i >= 20:  # warm-up
                    times.append(elapsed * 1000)
                    base.append(b * 1000)

        def p95(values: list[float]) -> float:
            return statistics.quantiles(values, n=20)[-1]

        print(
            f"member statement: p95 {p95(times):.1f} ms, median {statistics.median(times):.1f} ms; "
            f"limit (one SQL aggregate for the member): p95 {p95(base):.2f} ms; "
            f"target p95 < {STATEMENT_TARGET_MS:.0f} ms"
        )
        engine.dispose()
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
