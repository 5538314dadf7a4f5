"""`flask loyalty ...`: sync purchases, run the nightly job, enqueue it."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

loyalty_cli = AppGroup("loyalty", help="Loyalty programmes: purchases, expiry, tiers.")


@loyalty_cli.command("sync")
@click.option("--programme", "programme_id", type=int, default=None)
def sync_command(programme_id: int | None) -> None:
    """Credit purchases (and rewarded interactions) not yet in the ledger."""
    from app.loyalty.jobs import sync_purchases_job

    result = sync_purchases_job(programme_id)
    click.echo(
        f"{result['events']} events, {result['points']} points, {result['enrolled']} enrolled"
    )


@loyalty_cli.command("nightly")
@click.option("--day", default=None, help="YYYY-MM-DD (UTC); expiry as of the start of that day")
@click.option(
    "--enqueue", is_flag=True, help="Queue the job (deterministic id) instead of running it"
)
def nightly_command(day: str | None, enqueue: bool) -> None:
    """Sync purchases, expire due points, re-evaluate tiers, announce tier changes."""
    from app.loyalty.jobs import enqueue_nightly, run_nightly

    if enqueue:
        job = enqueue_nightly(date.fromisoformat(day) if day else None)
        click.echo(f"queued {job.id}")
        return
    click.echo(str(run_nightly(day)))


@loyalty_cli.command("schedule-nightly")
def schedule_command() -> None:
    """Schedule tomorrow's nightly run on RQ's scheduler (idempotent; each run schedules the
    next)."""
    from app.loyalty.jobs import schedule_nightly

    click.echo(f"scheduled {schedule_nightly()}")


@loyalty_cli.command("setup-demo")
def setup_demo_command() -> None:
    """Create the demo programme "Amici" (tiers, rules, rewards), enrol everyone with
    consent and credit the demo purchases. Does nothing if it exists already."""
    from sqlalchemy import select

    from app.auth.models import Role, User
    from app.demo_showcase import create_demo_programme
    from app.extensions import db

    with db.transaction() as session:
        actor = session.scalars(select(User).where(User.role == Role.ADMIN)).first()
        if actor is None:
            raise click.ClickException("Create an admin user first (flask users create).")
        result = create_demo_programme(session, actor)
    if result is None:
        click.echo("Amici exists already.")
        return
    click.echo(
        f"Amici: {result.enrolled} members, {result.points} points from {result.events} events"
    )
