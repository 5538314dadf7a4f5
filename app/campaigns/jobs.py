"""RQ jobs for campaigns. Thin: a job context, the service, the commit; then enqueue.

Jobs take ids and plain values and tolerate a row that has gone. Each send job carries a
batch of a few hundred deliveries: RQ's own overhead per job (DESIGN §5) makes one job per
message far too slow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from rq import Queue, Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import jobs as app_jobs
from app.auth.models import User
from app.campaigns import launch, sending
from app.campaigns.channels import Sender, email_channel, webhook_channel, webhook_secret
from app.campaigns.models import Campaign
from app.campaigns.tracking import LinkSigner
from app.mail import MailSettings

log = logging.getLogger(__name__)

# Its own queue (in app.jobs.ALL_QUEUES): a big campaign does not hold up imports or scoring.
QUEUE_CAMPAIGNS: str = app_jobs.QUEUE_CAMPAIGNS
SEND_JOB_TIMEOUT = 600
FAN_OUT_TIMEOUT = 1800
RESULT_TTL = 3600
FAILURE_TTL = 7 * 86400
SWEEP_INTERVAL = 60
SEND_RETRY = Retry(max=3, interval=[30, 120, 600])


def signer_from(config: Mapping[str, Any]) -> LinkSigner:
    return LinkSigner(secret=str(config["SECRET_KEY"]), base_url=str(config["BASE_URL"]))


def send_settings(config: Mapping[str, Any]) -> sending.SendSettings:
    mail_settings = MailSettings.from_config(config)
    secret = webhook_secret(config)
    timeout = float(config.get("CAMPAIGN_WEBHOOK_TIMEOUT", 10))

    @contextmanager
    def channel(campaign: Campaign) -> Iterator[Sender]:
        if campaign.channel == "webhook":
            with webhook_channel(campaign.webhook_url or "", secret, timeout) as sender:
                yield sender
        else:
            with email_channel(mail_settings) as sender:
                yield sender

    return sending.SendSettings(
        signer=signer_from(config),
        frequency_cap=int(config.get("CAMPAIGN_FREQUENCY_CAP_PER_WEEK", 3)),
        channel=channel,
    )


def _config() -> Mapping[str, Any]:
    return current_app.config


# ---------------------------------------------------------------- enqueueing


def queue() -> Queue:
    return app_jobs.get_queue(QUEUE_CAMPAIGNS)


def enqueue_batches(
    campaign_id: int, delivery_ids: Sequence[int], batch_size: int, delay: int = 0
) -> int:
    """One job per batch, all in one Redis pipeline."""
    q = queue()
    batches = list(sending.chunks(list(delivery_ids), batch_size))
    if not batches:
        return 0
    if delay:
        for ids in batches:
            q.enqueue_in(
                timedelta(seconds=delay),
                send_batch_job,
                campaign_id,
                ids,
                job_timeout=SEND_JOB_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                retry=SEND_RETRY,
            )
        return len(batches)
    with q.connection.pipeline() as pipe:
        q.enqueue_many(
            [
                Queue.prepare_data(
                    send_batch_job,
                    args=(campaign_id, ids),
                    timeout=SEND_JOB_TIMEOUT,
                    result_ttl=RESULT_TTL,
                    failure_ttl=FAILURE_TTL,
                    retry=SEND_RETRY,
                )
                for ids in batches
            ],
            pipeline=pipe,
        )
        pipe.execute()
    return len(batches)


def after_commit(session: Session, action: Callable[[], Any], what: str) -> None:
    """Run `action` once the transaction committed; if Redis is down, log it: the row is
    committed in a state the sweep (or `flask campaigns resume`) picks up."""

    @event.listens_for(session, "after_commit", once=True)
    def _run(_session: Session) -> None:
        try:
            action()
        except Exception:
            log.exception("could not enqueue %s; the sweep will", what)

    @event.listens_for(session, "after_rollback", once=True)
    def _forget(_session: Session) -> None:
        if event.contains(session, "after_commit", _run):
            event.remove(session, "after_commit", _run)


def enqueue_launch(session: Session, campaign: Campaign, what: str) -> None:
    """After the launch commits: fan out now, or at the scheduled time."""
    campaign_id = campaign.id
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if what == "fan_out":
        app_jobs.enqueue_after_commit(
            session,
            QUEUE_CAMPAIGNS,
            fan_out_job,
            campaign_id,
            job_timeout=FAN_OUT_TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            retry=Retry(max=3, interval=[10, 60, 300]),
        )
    elif what == "schedule" and campaign.scheduled_at is not None:
        at = campaign.scheduled_at

        def _schedule() -> None:
            app_jobs.get_queue(QUEUE_CAMPAIGNS, app).enqueue_at(
                at,
                start_scheduled_job,
                campaign_id,
                job_id=f"campaign-start-{campaign_id}",
                job_timeout=FAN_OUT_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
            )

        after_commit(session, _schedule, f"the start of campaign {campaign_id}")


def enqueue_approved(session: Session, campaign_id: int, delivery_id: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def _enqueue() -> None:
        with app.app_context():
            enqueue_batches(campaign_id, [delivery_id], 1)

    after_commit(session, _enqueue, f"approved delivery {delivery_id}")


# ---------------------------------------------------------------- the jobs


def fan_out_job(campaign_id: int) -> dict[str, Any]:
    """Snapshot the audience into deliveries, then enqueue the send batches."""
    with app_jobs.job_context() as session:
        config = _config()
        ids = launch.fan_out(session, campaign_id, signer_from(config))
        batch_size = int(config.get("CAMPAIGN_SEND_BATCH_SIZE", 250))
    # After the commit: if this enqueue fails, the job fails and is retried; the
    # deliveries are committed and the sweep would find them anyway.
    with app_jobs.job_context():
        batches = enqueue_batches(campaign_id, ids, batch_size)
    app_jobs.report_progress(deliveries=len(ids), batches=batches)
    return {"campaign_id": campaign_id, "deliveries": len(ids), "batches": batches}


def send_batch_job(campaign_id: int, delivery_ids: list[int]) -> dict[str, Any]:
    with app_jobs.job_context() as session:
        config = _config()
        result = sending.send_batch(session, campaign_id, delivery_ids, send_settings(config))
        if result.retry:
            enqueue_batches(campaign_id, result.retry, len(result.retry), delay=result.retry_in)
    app_jobs.report_progress(sent=result.sent, failed=result.failed, skipped=result.skipped)
    return {
        "sent": result.sent,
        "failed": result.failed,
        "skipped": result.skipped,
        "retry": len(result.retry or []),
    }


def start_scheduled_job(campaign_id: int) -> dict[str, Any]:
    with app_jobs.job_context() as session:
        started = launch.start_if_due(session, campaign_id)
    if not started:
        return {"campaign_id": campaign_id, "started": False}
    return fan_out_job(campaign_id)


def run_sweep(stale_after: int | None = None, grace: int | None = None) -> dict[str, Any]:
    """The sweep, then its enqueues. `stale_after`/`grace` in seconds (0 for `resume`)."""
    with app_jobs.job_context() as session:
        config = _config()
        stale = (
            stale_after
            if stale_after is not None
            else int(config.get("CAMPAIGN_STALE_SENDING_SECONDS", 1200))
        )
        result = sending.sweep(
            session,
            stale_after=timedelta(seconds=stale),
            grace=timedelta(seconds=grace if grace is not None else stale),
            batch_size=int(config.get("CAMPAIGN_SEND_BATCH_SIZE", 250)),
        )
    with app_jobs.job_context():
        q = queue()
        for campaign_id in result.launch:
            q.enqueue(
                fan_out_job,
                campaign_id,
                job_timeout=FAN_OUT_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
            )
        for campaign_id, ids in result.batches:
            enqueue_batches(campaign_id, ids, len(ids))
    return {
        "launched": len(result.launch),
        "batches": len(result.batches),
        "recovered": result.recovered,
        "finished": result.finished,
    }


def sweep_job() -> dict[str, Any]:
    """Periodic: schedules its next run first (deterministic id), sweeps, then hands the
    due social posts to their adapter."""
    schedule_sweep()
    result = run_sweep()
    result.update(publish_due_posts_job())
    return result


def schedule_sweep(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    at = now.replace(second=0, microsecond=0) + timedelta(seconds=SWEEP_INTERVAL)
    job_id = f"campaigns-sweep-{at:%Y%m%d%H%M}"
    q = queue()
    if q.fetch_job(job_id) is None:
        q.enqueue_at(
            at,
            sweep_job,
            job_id=job_id,
            job_timeout=SEND_JOB_TIMEOUT,
            result_ttl=600,
            failure_ttl=FAILURE_TTL,
        )
    return job_id


def publish_due_posts_job() -> dict[str, Any]:
    from app.campaigns import calendar

    with app_jobs.job_context() as session:
        config = _config()
        adapter = calendar.adapter_from(config)
        done = calendar.publish_due(session, adapter)
    return {"published": done}


def announce(
    session: Session,
    actor: User,
    contact_ids: Sequence[int],
    *,
    name: str,
    subject: str,
    body: str,
    language: str = "en",
    variants: dict[str, dict[str, str]] | None = None,
) -> Campaign:
    """For other domains (loyalty: a tier change): a message to hand-picked people, launched
    now and sent after the caller's commit. Consent, erasure and the weekly cap still apply
    at send time. The caller commits; with Redis down the sweep sends it later."""
    campaign = launch.create_campaign(
        session,
        actor,
        name=name,
        kind="circle",
        audience_kind="contacts",
        audience_contact_ids=list(contact_ids),
        subject=subject,
        body=body,
        language=language,
        variants=variants or {},
    )
    campaign, what = launch.launch(session, actor, campaign.id)
    enqueue_launch(session, campaign, what)
    return campaign
