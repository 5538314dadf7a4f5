"""Contact list and search at 100,000 contacts: server time of the page next to its limit.

    .venv/bin/python benchmarks/contact_list.py            # PostgreSQL (a fresh database)
    .venv/bin/python benchmarks/contact_list.py --sqlite   # a SQLite file instead

Creates a database, runs the migrations, loads generated contacts, organizations and tags
set-based (COPY on PostgreSQL, Core executemany on SQLite), runs ANALYZE (and, on
PostgreSQL, VACUUM of contacts and tag links, as autovacuum does after a load), signs in
a manager with Flask's test client and times each list query. The time is the wall clock
around `client.get` (routing, queries, ORM, template), 200 requests after a warm-up.

The baseline, measured in the same run, is the page's own SQL query (the one that fetches
the 50 rows, built by the same service function) executed directly on a connection: no
Flask, no ORM objects, no template. The page cannot be faster than that. The count query
that the page also runs (for "N contacts" and the pager) is shown next to it.

Target: p95 under 50 ms per page. A query that misses it gets its EXPLAIN ANALYZE printed.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))  # never written to disk

from sqlalchemy import Engine, Table, create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app import create_app, migrate  # noqa: E402
from app.auth import service as auth_service  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.contacts import search_index  # noqa: E402
from app.contacts.models import Contact, Organization, Tag, contact_tags  # noqa: E402
from app.contacts.normalize import search_text, sort_name  # noqa: E402
from app.contacts.service import SORTS, ContactFilter, filtered_contacts_query  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.extensions import db  # noqa: E402

TARGET_P95_MS = 50.0
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
PASSWORD = "benchmark password 1"
PER_PAGE = 50

FIRST_NAMES = """Alessandro Andrea Anna Antonio Beatrice Carla Chiara Claudio Cristina Daniele
Davide Elena Elisa Emanuele Federica Federico Francesca Francesco Gabriele Giacomo Giorgia
Giovanni Giulia Giuseppe Ilaria Laura Lorenzo Luca Lucia Marco Maria Marta Matteo Michele
Nicola Paola Paolo Pietro Roberta Roberto Sara Silvia Simone Sofia Stefano Tommaso Valentina
Valerio Vincenzo Viola""".split()
LAST_NAMES = """Barbieri Benedetti Bernardi Bianchi Bruno Caputo Cattaneo Colombo Conte Costa
D'Amico De Luca Esposito Fabbri Farina Ferrara Ferrari Ferri Fontana Galli Gallo Gentile
Giordano Greco Guerra Lombardi Longo Mancini Marchetti Mariani Marini Martini Mazza Monti
Morelli Moretti Neri Orlando Palumbo Pellegrini Rinaldi Rizzi Rizzo Romano Rossi Ruggiero
Russo Santoro Serra Silvestri Testa Valentini Villa Vitale""".split()
COMPANY_WORDS = """Acciai Alpi Arredi Bottega Cantine Ceramiche Costruzioni Dolciaria Edilizia
Elettronica Fonderia Frantoio Impianti Laboratorio Logistica Meccanica Moda Officine Pasta
Plastica Servizi Sistemi Studio Tessile Trasporti Vini""".split()
MAIL_DOMAINS = ["gmail.com", "libero.it", "outlook.it", "yahoo.it", "tiscali.it"]
TAGS = ["vip", "trade", "press", "partner", "supplier", "fair-2025", "fair-2026", "newsletter",
        "wine", "food", "design", "export", "lead", "customer", "churned", "investor",
        "speaker", "influencer", "b2b", "retail"]  # fmt: skip
SEARCH_SURNAME = "Ferrari"


@dataclass
class Case:
    label: str
    path: str
    f: ContactFilter


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# ---------------------------------------------------------------- database


def create_database(sqlite: bool, workdir: Path) -> str:
    if sqlite:
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    base = make_url(os.environ.get("BENCH_DATABASE_URL", PG_BASE))
    name = f"cerchia_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        return
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()


def load_rows(engine: Engine, table: Table, columns: list[str], rows: Iterable[tuple]) -> int:
    """COPY on PostgreSQL, Core executemany in batches elsewhere."""
    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            copy_sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with cur.copy(copy_sql) as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) == 5000:
                conn.execute(insert(table), batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
            count += len(batch)
    return count


def load_data(engine: Engine, n_contacts: int, n_orgs: int, seed: int = 42) -> dict[str, Any]:
    rnd = random.Random(seed)
    pg = engine.dialect.name == "postgresql"
    now = datetime.now(UTC).replace(microsecond=0)

    with engine.begin() as conn:
        owner_ids = [
            conn.execute(
                insert(User.__table__).returning(User.__table__.c.id),
                {"email": f"sales{i}@bench.example", "name": f"Sales {i}", "role": "sales",
                 "password_hash": "!", "active": True, "capacity": 15},
            ).scalar_one()
            for i in range(10)
        ]  # fmt: skip
        conn.execute(insert(Tag.__table__), [{"name": t} for t in TAGS])
        tag_ids = dict(conn.execute(select(Tag.__table__.c.name, Tag.__table__.c.id)).all())

    orgs = []
    for i in range(1, n_orgs + 1):
        name = f"{rnd.choice(LAST_NAMES)} {rnd.choice(COMPANY_WORDS)} {i}"
        orgs.append((i, name, f"org{i}.example.it", rnd.choice(COMPANY_WORDS).lower(),
                     rnd.choice(["1-9", "10-49", "50-249", "250+"]), "IT",
                     rnd.randrange(0, 5_000_000) * 100, rnd.random() < 0.05,
                     rnd.choice(owner_ids)))  # fmt: skip
    org_cols = ["id", "name", "domain", "industry", "size_band", "country",
                "annual_value_cents", "key_account", "owner_id"]  # fmt: skip
    load_rows(engine, Organization.__table__, org_cols, orgs)
    org_names = {o[0]: o[1] for o in orgs}

    contact_cols = ["id", "first_name", "last_name", "sort_name", "search_text", "email",
                    "title", "organization_id", "language", "country", "owner_id",
                    "custom_fields", "consent_status", "consent_basis", "tier",
                    "last_interaction_at", "created_at", "updated_at"]  # fmt: skip
    tag_rows: list[tuple[int, int]] = []
    sample_email = ""

    def contacts() -> Iterable[tuple]:
        nonlocal sample_email
        for i in range(1, n_contacts + 1):
            first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
            org_id = rnd.randint(1, n_orgs) if rnd.random() < 0.85 else None
            domain = f"org{org_id}.example.it" if org_id else rnd.choice(MAIL_DOMAINS)
            local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
            email = f"{local}.{i}@{domain}"
            if i == n_contacts // 2:
                sample_email = email
            company = org_names.get(org_id) if org_id else None
            r = rnd.random()
            consent = "granted" if r < 0.4 else ("opted_out" if r < 0.5 else "unknown")
            basis = "none" if consent == "unknown" else "consent"
            t = rnd.random()
            tier = ("one_to_one" if t < 0.02 else "one_to_few" if t < 0.1
                    else "broadcast" if t < 0.2 else "none")  # fmt: skip
            last_at = now - timedelta(minutes=rnd.randrange(2 * 365 * 24 * 60))
            created = now - timedelta(minutes=rnd.randrange(3 * 365 * 24 * 60))
            if rnd.random() < 0.05:
                tag_rows.append((i, tag_ids["vip"]))
            for tag in rnd.sample(TAGS[1:], rnd.choice([0, 0, 1, 1, 2, 3])):
                tag_rows.append((i, tag_ids[tag]))
            yield (
                i, first, last, sort_name(first, last, email),
                search_text(first, last, email, company), email, rnd.choice(["", "CEO", "Buyer"]),
                org_id, "it", "IT", rnd.choice(owner_ids), "{}" if pg else {}, consent, basis,
                tier, last_at if rnd.random() < 0.7 else None, created, created,
            )  # fmt: skip

    started = time.perf_counter()
    loaded = load_rows(engine, Contact.__table__, contact_cols, contacts())
    load_rows(engine, contact_tags, ["contact_id", "tag_id"], tag_rows)
    elapsed = time.perf_counter() - started

    with engine.begin() as conn:
        if pg:
            for table in ("users", "organizations", "contacts", "tags"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )  # fmt: skip
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
        if pg:
            # The visibility map for index-only scans, as autovacuum leaves it after a load.
            conn.execute(text("VACUUM (ANALYZE) contacts, contact_tags"))
    return {
        "contacts": loaded,
        "contact_tags": len(tag_rows),
        "seconds": elapsed,
        "sample_email": sample_email,
    }


# ---------------------------------------------------------------- timing


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def page_statement(user: User, f: ContactFilter, indexed: bool) -> Any:
    return (
        filtered_contacts_query(user, f, search_index=indexed)
        .order_by(*SORTS[f.sort])
        .limit(PER_PAGE)
        .offset((f.page - 1) * PER_PAGE)
    )


def count_statement(user: User, f: ContactFilter, indexed: bool) -> Any:
    query = filtered_contacts_query(user, f, search_index=indexed)
    return select(func.count()).select_from(query.subquery())


def explain(engine: Engine, stmt: Any) -> str:
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    pg = engine.dialect.name == "postgresql"
    if pg:
        sql = sql.replace("%%", "%")  # psycopg's compiler doubles % in literals
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        # No parameters: the driver sends the text as it is (LIKE '%x%' included).
        cur.execute(("EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN ") + sql)
        return "\n".join(str(r[0] if pg else r[-1]) for r in cur.fetchall())
    finally:
        raw.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="run on a SQLite file")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--organizations", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--profile", help="write a pyinstrument profile of 50 more requests per query here"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="cerchia-bench-"))
    url = create_database(args.sqlite, workdir)
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        loaded = load_data(engine, args.contacts, args.organizations)
        rate = loaded["contacts"] / loaded["seconds"]
        print(
            f"loaded {loaded['contacts']:,} contacts, {args.organizations} organizations, "
            f"{loaded['contact_tags']:,} tag links in {loaded['seconds']:.1f} s "
            f"({rate:,.0f} contacts/s incl. tags); ANALYZE done"
        )
        engine.dispose()
        return run_benchmark(url, workdir, args, loaded["sample_email"])
    finally:
        if db.engine is not None:
            db.engine.dispose()
        if args.keep:
            print(f"kept: {url}")
        else:
            drop_database(url)
            shutil.rmtree(workdir, ignore_errors=True)


def run_benchmark(url: str, workdir: Path, args: argparse.Namespace, sample_email: str) -> int:
    app = create_app(
        {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_DIR": workdir,
            "LOG_LEVEL": "WARNING",
            "SERVER_NAME": None,
        }
    )
    email_fragment = sample_email.split("@")[0]  # e.g. "giulia.verdi.50000"
    cases = [
        Case("list, page 1", "/contacts", ContactFilter()),
        Case("list, page 500", "/contacts?page=500", ContactFilter(page=500)),
        Case(f"q={SEARCH_SURNAME.lower()}", f"/contacts?q={SEARCH_SURNAME}",
             ContactFilter(q=SEARCH_SURNAME)),
        Case(f"q={email_fragment}", f"/contacts?q={email_fragment}",
             ContactFilter(q=email_fragment)),
        Case("tag=vip&consent=granted", "/contacts?tag=vip&consent=granted",
             ContactFilter(tag="vip", consent="granted")),
        Case("sort=last_interaction", "/contacts?sort=last_interaction",
             ContactFilter(sort="last_interaction")),
    ]  # fmt: skip

    with app.app_context():
        with db.transaction() as session:
            manager = auth_service.create_user(
                session, "manager@bench.example", "Manager", PASSWORD, "manager"
            )
        manager_id = manager.id
    client = app.test_client()
    resp = client.post("/login", data={"email": "manager@bench.example", "password": PASSWORD})
    assert resp.status_code == 302, resp.status_code

    n = args.requests
    print(f"\n{n} requests per query after 5 warm-up requests; times in ms; target p95 < "
          f"{TARGET_P95_MS:.0f} ms")  # fmt: skip
    header = (
        f"{'query':<28} {'rows':>7} {'page p50':>9} {'page p95':>9} {'app p50':>8} "
        f"{'SQL rows p50':>13} {'SQL count p50':>14}  target"
    )
    print(header)
    print("-" * len(header))
    misses: list[tuple[Case, Any, Any]] = []
    for case in cases:
        server_ms: list[float] = []

        def get(case: Case = case, server_ms: list[float] = server_ms) -> None:
            r = client.get(case.path)
            if r.status_code != 200:
                raise SystemExit(f"{case.path}: HTTP {r.status_code}")
            timing = r.headers.get("Server-Timing", "")
            if "dur=" in timing:
                server_ms.append(float(timing.split("dur=")[1]))

        wall = time_calls(get, n)
        app_ms = server_ms[5:]
        with app.app_context():
            user = db.session.get(User, manager_id)
            assert user is not None
            indexed = search_index.available(db.session)  # SQLite's FTS5 index, as the app
            page_stmt = page_statement(user, case.f, indexed)
            count_stmt = count_statement(user, case.f, indexed)
            db.session.close()
            engine = db.engine
            assert engine is not None
            with engine.connect() as conn:
                total = conn.execute(count_stmt).scalar_one()
                sql_rows = time_calls(lambda s=page_stmt, c=conn: c.execute(s).all(), n)
                sql_count = time_calls(lambda s=count_stmt, c=conn: c.execute(s).scalar_one(), n)
            p95 = pct(wall, 95)
            ok = p95 < TARGET_P95_MS
            if not ok:
                misses.append((case, page_stmt, count_stmt))
        print(
            f"{case.label:<28} {total:>7,} {statistics.median(wall):>9.1f} {p95:>9.1f} "
            f"{statistics.median(app_ms):>8.1f} {statistics.median(sql_rows):>13.2f} "
            f"{statistics.median(sql_count):>14.2f}  {'ok' if ok else 'MISS'}"
        )

    if args.profile:  # pyinstrument is for the benchmark only, like igraph for scoring_run
        from pyinstrument import Profiler

        with open(args.profile, "w") as out:
            for case in cases:
                profiler = Profiler(interval=0.0005)
                profiler.start()
                for _ in range(50):
                    client.get(case.path)
                profiler.stop()
                out.write(f"=== {case.label} (50 requests)\n")
                out.write(profiler.output_text(unicode=False, color=False))
        print(f"(profile written to {args.profile})")
    print(
        "\npage = wall clock around client.get (whole request); app = the app's Server-Timing;"
        "\nSQL rows = the page's row query alone on a connection (the limit); SQL count = the"
        "\npage's count query alone. rows = contacts matching the filter."
    )
    for case, page_stmt, count_stmt in misses:
        with app.app_context():
            engine = db.engine
            assert engine is not None
            print(f"\n=== MISS: {case.label} — row query plan")
            print(explain(engine, page_stmt))
            print(f"=== MISS: {case.label} — count query plan")
            print(explain(engine, count_stmt))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
