"""Top-level commands: database migrations, demo data, the worker, and `serve` (web + worker)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker, Worker
from werkzeug.serving import run_simple

from app import jobs, migrate
from app.errors import DomainError
from app.extensions import db

log = logging.getLogger(__name__)


@click.group("db", help="Database schema (Alembic).")
def db_cli() -> None:
    pass


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Bring the database to REVISION (default: the latest)."""
    migrate.upgrade(current_app.config["DATABASE_URL"], revision)


@db_cli.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    migrate.downgrade(current_app.config["DATABASE_URL"], revision)


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Autogenerate a revision from the models (review it before committing)."""
    migrate.revision(current_app.config["DATABASE_URL"], message)


@db_cli.command("current")
@with_appcontext
def db_current() -> None:
    migrate.current(current_app.config["DATABASE_URL"])


@click.command("demo", help="Fill an empty database with the deterministic demo data set.")
@click.option("--people", default=3000, show_default=True, help="How many people to create.")
@click.option("--seed", default=7, show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has contacts.")
@click.option(
    "--with-runs/--data-only",
    default=True,
    show_default=True,
    help="Also score the graph, save segments, set up loyalty, campaigns and the calendar,"
    " and back-fill a year of relationship health.",
)
@click.pass_context
@with_appcontext
def demo_command(
    ctx: click.Context, people: int, seed: int, if_empty: bool, with_runs: bool
) -> None:
    from sqlalchemy import func, select

    from app.contacts.models import Contact
    from app.demo import DEMO_PASSWORD, build_demo

    if if_empty and db.session.scalar(select(func.count(Contact.id))):
        click.echo("The database already has contacts; demo data not loaded.")
        return
    try:
        with db.transaction() as session:
            summary = build_demo(session, people=people, seed=seed)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for key, value in summary.items():
        click.echo(f"{key}: {value}")
    if with_runs:
        from app.demo_showcase import build_showcase, score_past_months
        from app.health import alerts, snapshots
        from app.health.cli import backfill
        from app.health.jobs import params_from_config
        from app.segments.cli import score

        click.echo("Scoring the contact graph as it stood each of the last five months...")
        score_past_months(db.session, 5)
        click.echo("Scoring it as it is today (tiers and circles)...")
        ctx.invoke(score, inline=True, wait=True)
        click.echo("Segments, the loyalty programme, campaigns and the calendar...")
        try:
            with db.transaction() as session:
                shown = build_showcase(session)
        except DomainError as exc:
            raise click.ClickException(f"The showcase was not built: {exc.message}") from exc
        for key, value in shown.items():
            click.echo(f"{key}: {value}")
        click.echo("Back-filling a year of relationship health (one snapshot a month)...")
        ctx.invoke(backfill, days=365, every=30)
        with db.transaction() as session:  # what today's daily health job would raise
            target = params_from_config(current_app.config).response_target_hours
            raised = alerts.raise_daily_alerts(session, snapshots.latest_run(session), target)
        click.echo(f"alerts: {raised}")
    click.echo(f"Demo users share the password {DEMO_PASSWORD!r} (e.g. manager@demo.cerchia.eu).")


@click.command("worker", help="Run an RQ worker on Cerchia's queues.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--fork/--no-fork",
    default=False,
    show_default=True,
    help="Fork a work horse per job (isolation) instead of running jobs in this process.",
)
@with_appcontext
def worker_command(burst: bool, fork: bool) -> None:
    conn = jobs.redis_conn()
    schedule_periodic_jobs()
    worker_class = Worker if fork else SimpleWorker
    queues = [jobs.get_queue(name) for name in jobs.ALL_QUEUES]
    worker_class(queues, connection=conn).work(burst=burst, with_scheduler=True)


def schedule_periodic_jobs() -> None:
    """Nightly scoring, loyalty expiry, daily health and the campaign sweep. Each has a
    deterministic job id, so every worker may call this at start without doubling them."""
    from app.campaigns.jobs import schedule_sweep
    from app.health.jobs import schedule_daily
    from app.loyalty.jobs import schedule_nightly as schedule_loyalty
    from app.segments.jobs import schedule_nightly as schedule_scoring

    for schedule in (schedule_scoring, schedule_loyalty, schedule_daily, schedule_sweep):
        try:
            schedule()
        except Exception:  # a worker must start even if Redis hiccups here; it is logged
            log.exception("could not schedule %s", schedule.__name__)


@click.command("serve", help="Run the web server and an RQ worker together (local use).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    conn = jobs.redis_conn()
    env = dict(os.environ, REDIS_URL=jobs.redis_url_for(conn))
    if "BASE_URL" not in os.environ:  # links in messages point at this server
        app.config["BASE_URL"] = env["BASE_URL"] = f"http://{host}:{port}"
    # Started in the checkout (where wsgi.py and config.py are), wherever serve was run from.
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        env=env,
        cwd=Path(app.root_path).parent,
    )
    click.echo(f"Cerchia is running at http://{host}:{port}/")
    click.echo("Sign in as manager@demo.cerchia.eu with the password 'cerchia-demo'.")
    # Stopped with SIGTERM (kill, a process manager), still stop the worker below: an
    # orphaned worker would keep taking jobs with the old settings.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        # Flask ignores app.run() inside its own CLI; werkzeug's server is what it would run.
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
