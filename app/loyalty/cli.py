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
    from app.extensions import db
    from app.loyalty import programmes
    from app.loyalty.earning import sync_purchases
    from app.loyalty.models import Programme

    with db.transaction() as session:
        if session.scalar(select(Programme).where(Programme.name == "Amici")) is not None:
            click.echo("Amici exists already.")
            return
        actor = session.scalars(select(User).where(User.role == Role.ADMIN)).first()
        if actor is None:
            raise click.ClickException("Create an admin user first (flask users create).")
        prog = programmes.create_programme(
            session, actor, name="Amici", eligibility="consent", enrolment="automatic",
            expiry_days=365, referral_bonus_points=100, cents_per_100_points=50,
        )  # fmt: skip
        for name, threshold in (("Bronze", 0), ("Silver", 500), ("Gold", 2000)):
            programmes.add_tier(session, actor, prog, name, threshold)
        programmes.add_rule(session, actor, prog, kind="purchase", points=1, per_cents=100)
        programmes.add_rule(
            session, actor, prog, kind="interaction", points=20, interaction_kind="meeting"
        )
        programmes.add_reward(session, actor, prog, name="Gift card 10 EUR", points_cost=500)
        programmes.add_reward(session, actor, prog, name="Tasting for two", points_cost=1500,
                              stock=20, min_tier_id=prog.tiers[1].id)  # fmt: skip
        result = sync_purchases(session, programme_id=prog.id)
    click.echo(
        f"Amici: {result.enrolled} members, {result.points} points from {result.events} events"
    )
