"""A worker killed mid-batch, and Redis down at launch: everyone still gets one message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from flask import Flask
from redis import Redis
from sqlalchemy.orm import Session

from app import jobs as app_jobs
from app.campaigns import jobs as campaign_jobs
from app.campaigns.models import Campaign
from tests.campaigns.conftest import add_people, deliveries, launch_now, new_campaign, recipients
from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[2]


class KillingSink(SmtpSink):
    """Receives `kill_after` messages, then SIGKILLs the worker while it sends the next one
    (that one is not accepted: the worker dies in the middle of its SMTP transaction)."""

    def __init__(self, kill_after: int) -> None:
        super().__init__()
        self.kill_after = kill_after
        self.worker_pid: int | None = None
        handler = self.handler
        original = handler.handle_DATA

        async def handle_data(server: Any, session: Any, envelope: Any) -> str:
            if self.worker_pid and len(handler.received) >= self.kill_after:
                os.kill(self.worker_pid, signal.SIGKILL)
                self.worker_pid = None
                return "421 4.3.0 going away"
            return await original(server, session, envelope)

        handler.handle_DATA = handle_data  # type: ignore[method-assign]


def test_worker_killed_mid_batch_then_sweep(
    app: Flask,
    session: Session,
    users: Any,
    run_worker: Any,
    config_override: Any,
    redis_url: str,
    database_url: str,
    tmp_path: Path,
) -> None:
    sink = KillingSink(kill_after=7).start()
    try:
        config_override(
            SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_TLS="none", CAMPAIGN_SEND_BATCH_SIZE=10
        )
        emails = [f"k{i:02d}@example.org" for i in range(25)]
        add_people(session, users["manager"], emails)
        campaign = new_campaign(session, users["marketer"])
        session.commit()
        launch_now(session, users["marketer"], campaign)
        assert campaign_jobs.queue().count == 1, (redis_url, campaign_jobs.queue())
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(sink.port),
            SMTP_TLS="none",
            SMTP_USER="",
            CAMPAIGN_SEND_BATCH_SIZE="10",
            CERCHIA_INSTANCE_DIR=str(tmp_path),
            BASE_URL=app.config["BASE_URL"],
            SECRET_KEY=app.config["SECRET_KEY"],
            LOG_LEVEL="WARNING",
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sink.worker_pid = worker.pid
        assert worker.wait(timeout=60) == -signal.SIGKILL
        assert len(sink.received) == 7
        states = Counter(d.status for d in deliveries(session, campaign.id))
        assert states["sent"] == 7 and states["sending"] == 3  # the rest of the killed batch

        # The sweep takes back what the dead worker held (no job runs for 0 s here), a
        # worker finishes: everyone got exactly one message.
        session.commit()
        campaign_jobs.run_sweep(stale_after=0, grace=0)
        run_worker()
        assert Counter(recipients(sink)) == Counter({e: 1 for e in emails})
        session.expire_all()
        assert session.get(Campaign, campaign.id).status == "done"
    finally:
        sink.stop()


def test_redis_down_at_launch_is_sent_when_it_is_back(
    app: Flask, session: Session, users: Any, smtp_sink: Any, run_worker: Any
) -> None:
    emails = [f"r{i}@example.org" for i in range(4)]
    add_people(session, users["manager"], emails)
    campaign = new_campaign(session, users["marketer"])
    session.commit()
    real = app.extensions["cerchia_redis"]
    app.extensions["cerchia_redis"] = Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2
    )
    try:
        launch_now(session, users["marketer"], campaign)  # logs the failed enqueue
    finally:
        app.extensions["cerchia_redis"] = real
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "launching"  # recorded, not lost
    assert app_jobs.get_queue(campaign_jobs.QUEUE_CAMPAIGNS).count == 0

    result = app.test_cli_runner().invoke(args=["campaigns", "resume"])
    assert result.exit_code == 0, result.output
    assert '"launched": 1' in result.output
    run_worker()
    assert Counter(recipients(smtp_sink)) == Counter({e: 1 for e in emails})
    # Resumed again: nothing more.
    app.test_cli_runner().invoke(args=["campaigns", "resume"])
    run_worker()
    assert len(smtp_sink.received) == 4
