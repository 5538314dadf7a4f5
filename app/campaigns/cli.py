"""`flask campaigns ...`: resume what a Redis outage left behind, sweep, publish due posts."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.campaigns import jobs


@click.group("campaigns", help="Campaigns: resume, sweep, publish due posts.")
def campaigns_cli() -> None:
    pass


@campaigns_cli.command("resume")
@with_appcontext
def resume_command() -> None:
    """Enqueue everything pending now (after Redis came back): launches, batches, retries.

    Deliveries left in 'sending' are only recovered once they are older than
    CAMPAIGN_STALE_SENDING_SECONDS: a worker may still be sending them.
    """
    click.echo(json.dumps(jobs.run_sweep(grace=0)))


@campaigns_cli.command("sweep")
@click.option(
    "--stale-after",
    type=int,
    default=None,
    help="Seconds after which a 'sending' delivery is taken back (default: setting).",
)
@with_appcontext
def sweep_command(stale_after: int | None) -> None:
    """Recover stale deliveries and re-enqueue lost work, once."""
    click.echo(json.dumps(jobs.run_sweep(stale_after=stale_after)))


@campaigns_cli.command("schedule-sweep")
@with_appcontext
def schedule_sweep_command() -> None:
    """Start the periodic sweep (every minute; it schedules its own next run)."""
    click.echo(jobs.schedule_sweep())


@campaigns_cli.command("publish-due")
@with_appcontext
def publish_due_command() -> None:
    """Hand the due social posts to the adapter (export file or webhook)."""
    click.echo(json.dumps(jobs.publish_due_posts_job()))
