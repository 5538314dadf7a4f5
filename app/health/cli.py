"""`flask health ...`: snapshots, backfill, alerts, digests, comment import."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.errors import DomainError
from app.extensions import db
from app.health import alerts, inbox, snapshots
from app.health.jobs import params_from_config, schedule_daily
from app.mail import MailSettings


@click.group("health", help="Relationship health: snapshots, backfill, alerts, digests.")
def health_cli() -> None:
    pass


@health_cli.command("snapshot")
@click.option("--date", "day", default=None, help="ISO date (default: today).")
@with_appcontext
def snapshot(day: str | None) -> None:
    """Compute health as of a day (a day already stored is left alone), and raise alerts."""
    as_of = date.fromisoformat(day) if day else snapshots.utcnow().date()
    params = params_from_config(current_app.config)
    with db.transaction() as session:
        run = snapshots.record_health(session, as_of, trigger="cli", params=params)
        raised = alerts.raise_overdue_alerts(session, params.response_target_hours)
        if run is not None:
            raised += alerts.raise_status_alerts(session, run)
    if run is None:
        click.echo(f"Health as of {as_of} is already stored.")
    else:
        click.echo(json.dumps({"as_of": str(as_of), "alerts": raised, **run.stats}, indent=2))


@health_cli.command("backfill")
@click.option("--days", default=365, show_default=True, help="How far back.")
@click.option("--every", default=7, show_default=True, help="One snapshot every N days.")
@with_appcontext
def backfill(days: int, every: int) -> None:
    """Health as of past days, so trends can be drawn from the start (no alerts raised)."""
    params = params_from_config(current_app.config)
    session = db.session

    def commit(run: object, day: date) -> None:
        session.commit()
        click.echo(f"  {day}: {'stored' if run is not None else 'already there'}")

    try:
        done = snapshots.backfill(session, days, every, on_run=commit, params=params)
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from exc
    click.echo(f"{len(done)} day(s) stored.")


@health_cli.command("digest")
@with_appcontext
def digest() -> None:
    """Email each owner their alerts not emailed yet."""
    config = current_app.config
    with db.transaction() as session:
        sent = alerts.send_digests(session, MailSettings.from_config(config), config["BASE_URL"])
    click.echo(f"{sent} digest(s) sent.")


@health_cli.command("schedule")
@with_appcontext
def schedule() -> None:
    """Schedule the daily health run and digest (the worker needs --with-scheduler)."""
    for job_id in schedule_daily():
        click.echo(f"Scheduled {job_id}.")


@health_cli.command("import-comments")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_comments(path: Path) -> None:
    """Import comments from a CSV; unknown authors are kept as unmatched."""
    try:
        with db.transaction() as session:
            report = inbox.import_comments_csv(session, path.read_text(encoding="utf-8-sig"))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(json.dumps(report, indent=2))
