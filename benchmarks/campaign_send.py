"""10,000 personalised emails end to end, next to the two limits measured in the same run.

    .venv/bin/python benchmarks/campaign_send.py [--messages 10000] [--workers 2]

- a loopback aiosmtpd sink runs in its own process and counts what it accepts;
- limit 1: a bare smtplib loop sends the same number of messages (built the same way,
  with EmailMessage) over reused connections (one per 250 messages);
- limit 2: RQ's own rate for no-op jobs with the same number of SimpleWorker processes;
- the run: a fresh PostgreSQL database (migrations), Redis db 13, 10,000 contacts in a
  tier, a campaign launched through the service exactly as the UI does, then `flask worker`
  subprocesses do the fan-out and the batches. Time runs from the launch's commit to the
  last message accepted by the sink.

Target: at least half of the bare smtplib rate. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))

from redis import Redis  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app import create_app, migrate  # noqa: E402

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"
SUBJECT = "Hello {{ first_name }}"
BODY = "Dear {{ first_name }} of {{ company }},\nyour code {{ promo_code }}\nsee https://example.org/offer"


# ---------------------------------------------------------------- the sink, in its own process


def _sink_main(port: int, count: Any, last: Any, ready: Any) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with count.get_lock():
                count.value += len(envelope.rcpt_tos)
            last.value = time.time()
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(count: Any, n: int, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if count.value >= n:
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------- limit 1: bare smtplib


def bare_smtplib(port: int, n: int, count: Any, last: Any) -> float:
    """The same messages (same builder, same headers, text + HTML parts, signed links),
    sent in a loop over connections reused for 250 messages: no database, no queue."""
    from app.campaigns import channels, templating, tracking
    from app.mail import MailSettings

    settings = MailSettings(
        "127.0.0.1", port, "none", "", "", 30, "Cerchia <c@localhost>", Path(tempfile.mkdtemp())
    )
    signer = tracking.LinkSigner(os.environ["SECRET_KEY"], "http://127.0.0.1:5000")
    start_count = count.value
    t0 = time.time()
    conn = None
    for i in range(n):
        if i % 250 == 0:
            if conn is not None:
                conn.quit()
            conn = smtplib.SMTP("127.0.0.1", port, timeout=30)
        ctx = {"first_name": f"P{i}", "company": "", "promo_code": f"BEN-{i:08d}"}
        subject = templating.render(SUBJECT, ctx, "en")
        body = templating.render(BODY, ctx, "en") + f"\n--\nstop: {signer.unsubscribe_url(i)}\n"
        message = channels.OutgoingMessage(
            i,
            i,
            f"person{i}@example.org",
            subject,
            tracking.tracked_links(body, signer, i),
            signer.unsubscribe_url(i),
            signer.open_url(i),
            f"<bench.{i}@cerchia.invalid>",
        )
        conn.send_message(channels.email_message(settings, message))  # type: ignore[union-attr]
    if conn is not None:
        conn.quit()
    wait_for(count, start_count + n, 60)
    return n / (last.value - t0)


# ---------------------------------------------------------------- limit 2: RQ no-op jobs


def rq_noop_rate(n: int, workers: int, env: dict[str, str]) -> float:
    from rq import Queue

    conn = Redis.from_url(REDIS_URL)
    conn.flushdb()
    q = Queue("noop", connection=conn)
    with conn.pipeline() as pipe:
        q.enqueue_many(
            [Queue.prepare_data("builtins.len", args=([],), result_ttl=60) for _ in range(n)],
            pipeline=pipe,
        )
        pipe.execute()
    code = (
        "import sys; from redis import Redis; from rq import SimpleWorker, Queue; "
        f"c=Redis.from_url('{REDIS_URL}'); SimpleWorker([Queue('noop', connection=c)], "
        "connection=c).work(burst=True, logging_level='WARNING')"
    )
    t0 = time.time()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for p in procs:
        p.wait()
    elapsed = time.time() - t0
    conn.flushdb()
    return n / elapsed


# ---------------------------------------------------------------- the campaign


def create_database() -> str:
    url = make_url(PG_BASE)
    name = f"cerchia_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(db_url: str) -> None:
    url = make_url(db_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def load_people(session: Any, n: int) -> None:
    from app.contacts.models import Contact
    from app.db import utcnow
    from app.segments.models import TierAssignment

    rows = [
        {
            "first_name": f"P{i}",
            "last_name": "Rossi",
            "sort_name": f"rossi p{i}",
            "search_text": f"p{i} rossi",
            "email": f"person{i}@example.org",
            "custom_fields": {},
            "consent_status": "granted",
            "consent_basis": "consent",
            "tier": "broadcast",
        }
        for i in range(n)
    ]
    session.execute(insert(Contact), rows)
    ids = [r[0] for r in session.execute(text("SELECT id FROM contacts ORDER BY id"))]
    now = utcnow()
    session.execute(
        insert(TierAssignment), [{"contact_id": i, "tier": "broadcast", "since": now} for i in ids]
    )


def run_campaign(
    db_url: str, port: int, n: int, workers: int, count: Any, last: Any, env: dict[str, str]
) -> tuple[float, float, dict[str, int]]:
    from app.auth import service as auth_service
    from app.campaigns import jobs as campaign_jobs
    from app.campaigns import launch, sending
    from app.extensions import db

    instance = Path(tempfile.mkdtemp(prefix="cerchia-bench-"))
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_DIR": instance,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_TLS": "none",
        }
    )
    Redis.from_url(REDIS_URL).flushdb()
    with app.app_context():
        session = db.session
        load_people(session, n)
        user = auth_service.create_user(session, "m@example.org", "M", "benchmark pw 1", "marketer")
        campaign = launch.create_campaign(
            session,
            user,
            name="Bench",
            kind="promotion",
            audience_kind="tier",
            audience_tier="broadcast",
            promo_prefix="BEN",
            subject="Hello {{ first_name }}",
            body="Dear {{ first_name }} of {{ company }},\nyour code {{ promo_code }}\n"
            "see https://example.org/offer",
        )
        session.commit()
        start_count = count.value
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        time.sleep(2.0)  # let the workers boot (create_app, imports) before the clock starts
        campaign, what = launch.launch(session, user, campaign.id)
        campaign_jobs.enqueue_launch(session, campaign, what)
        session.commit()
        t0 = time.time()
        ok = wait_for(count, start_count + n, 600)
        elapsed = last.value - t0
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        session.rollback()
        progress = sending.progress(session, campaign.id)
        if not ok:
            print("  (not every message arrived)", progress)
    db.engine.dispose()  # type: ignore[union-attr]
    return n / elapsed, elapsed, progress


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, workers = args.messages, args.workers

    port = free_port()
    ctx = mp.get_context("spawn")
    count, last, ready = ctx.Value("i", 0), ctx.Value("d", 0.0), ctx.Event()
    sink = ctx.Process(target=_sink_main, args=(port, count, last, ready), daemon=True)
    sink.start()
    ready.wait(10)
    db_url = create_database()
    try:
        migrate.upgrade(db_url)
        env = dict(
            os.environ,
            DATABASE_URL=db_url,
            REDIS_URL=REDIS_URL,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_TLS="none",
            SMTP_USER="",
            LOG_LEVEL="WARNING",
            CERCHIA_INSTANCE_DIR=tempfile.mkdtemp(prefix="cerchia-bench-w-"),
            CAMPAIGN_FREQUENCY_CAP_PER_WEEK="0",
        )
        print(f"campaign send benchmark: {n:,} messages, {workers} workers, loopback aiosmtpd")
        smtp_rate = bare_smtplib(port, n, count, last)
        print(f"  limit: bare smtplib loop, reused connections   {smtp_rate:8.0f} msg/s")
        noop_n = min(n, 3000)
        rq_rate = rq_noop_rate(noop_n, workers, env)
        print(
            f"  limit: RQ no-op jobs, {workers} SimpleWorkers ({noop_n:,})  {rq_rate:8.0f} jobs/s"
        )
        rate, elapsed, progress = run_campaign(db_url, port, n, workers, count, last, env)
        print(
            f"  Cerchia campaign, launch -> last delivery       {rate:8.0f} msg/s"
            f"  ({elapsed:.1f} s to the last of {n:,})"
        )
        print(f"  deliveries: {progress}")
        ratio = rate / smtp_rate
        verdict = "OK" if ratio >= 0.5 else "BELOW TARGET"
        print(f"  ratio to bare smtplib: {ratio:.2f} (target >= 0.50) {verdict}")
    finally:
        drop_database(db_url)
        sink.terminate()


if __name__ == "__main__":
    main()
