"""Import 100,000 generated contacts from CSV into PostgreSQL, next to a plain COPY.

    .venv/bin/python benchmarks/import_contacts.py [--rows 100000] [--url postgresql+psycopg://...]

Creates a throw-away database, runs the migrations, then times, in the same run:
1. the import end to end: parse the CSV bytes + `import_contacts` (dedupe lookups,
   accounts, tags, Core inserts) + commit;
2. a plain psycopg `COPY contacts (...) FROM STDIN` of the same rows into a fresh empty
   copy of the contacts table (same indexes), the floor any import can hope for.
Prints rows/s for both and the ratio. Target: >= 20,000 rows/s and within 4x of COPY.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "benchmark-only")

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import migrate  # noqa: E402
from app.contacts import importers  # noqa: E402
from app.contacts.import_service import import_contacts  # noqa: E402
from app.contacts.normalize import search_text, sort_name  # noqa: E402
from app.db import make_engine  # noqa: E402

FIRST = ["Anna", "Marco", "Giulia", "Luca", "Sofia", "Paolo", "Chiara", "Matteo", "Elena",
         "Davide", "Francesca", "Stefano", "Irene", "Niccolò", "Lucía", "Jürgen"]  # fmt: skip
LAST = ["Rossi", "Bianchi", "Verdi", "Esposito", "Romano", "Colombo", "Ricci", "Marino",
        "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano"]  # fmt: skip
CITIES = ["Milano", "Roma", "Torino", "Bologna", "Napoli", "Firenze", "Bari", "Forlì"]
TITLES = ["CEO", "CTO", "Responsabile acquisti", "Marketing manager", "Titolare", "Designer"]
TAGS = ["cliente", "fornitore", "fiera-2025", "newsletter", "vip", "partner"]

COLUMNS = ("first_name", "last_name", "sort_name", "search_text", "email", "phone", "title",
           "city", "country", "source", "custom_fields", "consent_status", "consent_basis",
           "tier")  # fmt: skip


def generate_csv(rows: int, seed: int = 42) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["First Name", "Last Name", "Email", "Company", "Job Title", "City",
                     "Country", "Phone", "Tags"])  # fmt: skip
    for i in range(rows):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = f"Azienda {rng.randrange(2000):04d} Srl"
        writer.writerow([
            first, last, f"{first.lower()}.{last.lower().replace(' ', '')}.{i}@example{i % 97}.it",
            company, rng.choice(TITLES), rng.choice(CITIES), "IT",
            f"+39 0{rng.randrange(10, 99)} {rng.randrange(1000000, 9999999)}",
            ",".join(rng.sample(TAGS, rng.randrange(0, 3))),
        ])  # fmt: skip
    return out.getvalue().encode("utf-8")


def copy_rows(parsed_rows: list[dict[str, str]]) -> list[tuple[object, ...]]:
    """The same people as plain column values, prepared outside the timer."""
    out = []
    for r in parsed_rows:
        email = r["email"].lower()
        out.append((
            r["first_name"], r["last_name"], sort_name(r["first_name"], r["last_name"], email),
            search_text(r["first_name"], r["last_name"], email, r.get("organization")),
            email, r.get("phone"), r.get("title"), r.get("city"), "IT", "benchmark", "{}",
            "unknown", "none", "none",
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/")
    args = parser.parse_args()

    base = make_url(args.url)
    name = f"cerchia_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        data = generate_csv(args.rows)
        print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB of CSV")

        engine = make_engine(url)
        with Session(engine) as session:
            session.execute(text("SELECT 1"))  # connect outside the timer
            done = []
            started = time.perf_counter()
            parsed = importers.parse_contacts(data, "contacts.csv")
            parsed_at = time.perf_counter()
            result = import_contacts(
                session, None, parsed.rows, source="benchmark",
                progress=lambda n, total: done.append(n),
            )  # fmt: skip
            session.commit()
            elapsed = time.perf_counter() - started
        assert result.created == args.rows and not result.rejected, result.rejected[:5]
        import_rate = args.rows / elapsed
        print(
            f"import (parse + write + commit): {elapsed:6.2f} s  {import_rate:9,.0f} rows/s"
            f"   (parse {parsed_at - started:.2f} s, {len(done)} progress reports)"
        )

        rows = copy_rows(parsed.rows)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE contacts_copy (LIKE contacts INCLUDING ALL)")
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy(f"COPY contacts_copy ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            conn.commit()
            copy_elapsed = time.perf_counter() - started
            # For reference: the same COPY without the trigram (GIN) search index.
            conn.execute("CREATE TABLE contacts_plain (LIKE contacts INCLUDING ALL)")
            conn.execute("DROP INDEX IF EXISTS contacts_plain_search_text_idx")
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy(f"COPY contacts_plain ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            conn.commit()
            plain_elapsed = time.perf_counter() - started
        copy_rate = args.rows / copy_elapsed
        print(f"plain COPY of the same rows:     {copy_elapsed:6.2f} s  {copy_rate:9,.0f} rows/s")
        print(
            f"  (reference: COPY without the trigram index {args.rows / plain_elapsed:,.0f} rows/s)"
        )
        ratio = elapsed / copy_elapsed
        verdict = "OK" if import_rate >= 20_000 and ratio <= 4 else "BELOW TARGET"
        print(f"import takes {ratio:.2f}x the time of COPY "
              f"(target: >= 20,000 rows/s and <= 4x): {verdict}")  # fmt: skip
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
