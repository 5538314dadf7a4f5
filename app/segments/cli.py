"""`flask graph ...`: scoring runs, explanations and the backtest."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click
from flask.cli import with_appcontext
from rq.job import Job

from app.contacts.service import find_contact_by_key
from app.errors import DomainError
from app.extensions import db
from app.jobs import redis_conn
from app.segments import runs
from app.segments.explain import explain_contact, explanation_words
from app.segments.jobs import enqueue_run, run_scoring, schedule_nightly


@click.group("graph", help="The contact graph: scoring runs, explanations, backtest.")
def graph_cli() -> None:
    pass


@graph_cli.command("score")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the worker and print its progress.")  # fmt: skip
@click.option("--inline", is_flag=True, help="Run here instead of on a worker.")
@click.option("--reform-circles", is_flag=True,
              help="Form every circle afresh instead of keeping them.")  # fmt: skip
@with_appcontext
def score(wait: bool, inline: bool, reform_circles: bool) -> None:
    """Enqueue a scoring and tiering run (refused while another is running)."""
    try:
        with db.transaction() as session:
            run = runs.start_run(session, None, trigger="cli", reform_circles=reform_circles)
            run_id = run.id
            if not inline:
                enqueue_run(session, run)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Run {run_id} started.")
    if inline:
        stats = run_scoring(run_id)
        click.echo(json.dumps(stats, indent=2, default=str))
        return
    if not wait:
        return
    last = None
    while True:
        time.sleep(0.5)
        try:
            job = Job.fetch(f"score-run-{run_id}", connection=redis_conn())
        except Exception:
            job = None
        stage = (job.meta.get("stage") if job else None) or "queued"
        if stage != last:
            click.echo(f"  {stage}")
            last = stage
        db.session.expire_all()
        row = db.session.get(runs.ScoreRun, run_id)
        if row is not None and row.status != "running":
            if row.status == "failed":
                raise click.ClickException(f"Run {run_id} failed: {row.error}")
            click.echo(json.dumps(row.stats, indent=2, default=str))
            return


@graph_cli.command("explain")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@with_appcontext
def explain(email: str, as_json: bool) -> None:
    """Print a person's score, components, rank, tier and circle."""
    contact = find_contact_by_key(db.session, email)
    if contact is None:
        raise click.ClickException(f"Nobody with {email} is in Cerchia.")
    expl = explain_contact(db.session, contact)
    if as_json:
        click.echo(json.dumps(expl, indent=2, default=str))
        return
    click.echo(f"{expl['name']} <{expl['email']}>")
    click.echo(f"  tier: {expl['tier']}" + (" (pinned)" if expl["pinned"] else ""))
    if expl["circle"]:
        click.echo(f"  circle: {expl['circle']['name']}")
    if expl["scored"]:
        click.echo(f"  potential: {expl['potential']:.1f}  rank {expl['rank']}/{expl['people']}")
        for name, value in expl["components"].items():
            bar = "#" * round(value * 20)
            click.echo(f"  {name:<14} {value:5.2f} {bar}")
    for line in explanation_words(expl):
        click.echo(f"  - {line}")


@graph_cli.command("schedule-nightly")
@with_appcontext
def schedule() -> None:
    """Schedule the nightly run on RQ's scheduler (idempotent)."""
    click.echo(f"Scheduled {schedule_nightly()}.")


@graph_cli.command("backtest")
@click.option("--at", "at_date", required=True, help="Score the graph as it was on this date.")
@click.option("--horizon", default=90, show_default=True, help="Days to look ahead.")
@click.option("--outcome", type=click.Choice(["engaged", "purchase"]), default="engaged",
              show_default=True, help="What counts as a success afterwards.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def backtest_command(at_date: str, horizon: int, outcome: str, as_json: bool) -> None:
    """How well did the score, as of a past date, rank who bought or engaged next?"""
    from app.segments.backtest import backtest

    try:
        as_of = datetime.fromisoformat(at_date)
    except ValueError as exc:
        raise click.ClickException("Give the date as YYYY-MM-DD.") from exc
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    try:
        result = backtest(db.session, as_of, horizon_days=horizon, outcome=outcome)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    click.echo(f"As of {as_of:%Y-%m-%d}, next {horizon} days: {result['positives']} of "
               f"{result['people']} people succeeded ({outcome}).")  # fmt: skip
    for name in ("potential", "baseline"):
        r = result[name]
        click.echo(f"  {name:<10} ROC AUC {r['auc']:.3f}   precision@{result['k']} "
                   f"{r['precision_at_k']:.3f}")  # fmt: skip
