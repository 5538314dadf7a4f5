"""Concurrent redemptions on PostgreSQL, and the nightly job through a real worker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.contacts import service as contacts
from app.errors import Invalid
from app.extensions import db
from app.loyalty import earning, ledger, programmes, rewards
from app.loyalty.jobs import enqueue_nightly, nightly_job_id
from app.loyalty.models import LedgerEntry, LoyaltyTierChange, Membership, Redemption
from tests.loyalty.helpers import T0, member, programme


def test_concurrent_redemptions_never_spend_the_same_points(session: Session, users) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL row locks (SELECT ... FOR UPDATE); SQLite serialises writers")
    actor = users["admin"]
    prog = programme(session, actor)
    reward = programmes.add_reward(session, actor, prog, name="Mug", points_cost=60)
    m = member(session, actor, prog)
    earning.earn_for_event(
        session, prog, m, kind="purchase", value_cents=100_00, at=T0, key="seed",
        source_type="external", source_id=None, reason="seed", now=T0,
    )  # fmt: skip
    session.commit()
    membership_id, reward_id = m.id, reward.id  # the threads never touch the test's session
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        assert db.session_factory is not None
        own = db.session_factory()
        result = "error"
        try:
            membership = own.get(Membership, membership_id)
            barrier.wait(timeout=20)
            rewards.redeem(own, None, membership, reward_id, now=T0)
            own.commit()
            result = "ok"
        except Invalid:
            own.rollback()
            result = "refused"
        except BaseException as exc:  # reported by the assertion below, not hidden
            own.rollback()
            result = f"error: {exc!r}"
        finally:
            own.close()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok"] + ["refused"] * (threads_n - 1), outcomes
    session.rollback()
    assert ledger.balance(session, membership_id) == 40
    assert session.scalar(select(func.count()).select_from(Redemption)) == 1


def test_nightly_job_expires_points_moves_tiers_and_announces(
    session: Session, users, run_worker, smtp_sink
) -> None:
    actor = users["admin"]
    prog = programme(session, actor, expiry_days=30, tier_window_days=30, tier_grace_days=0)
    m = member(session, actor, prog, language="it")
    opted_out = member(session, actor, prog)
    now = datetime.now(UTC).replace(microsecond=0)
    for who in (m, opted_out):
        contacts.log_interaction(
            session, actor, [who.contact], channel="shop", direction="inbound",
            kind="purchase", occurred_at=now - timedelta(days=40), value_cents=150_00,
        )  # fmt: skip
    contacts.change_consent(session, actor.id, opted_out.contact, "opted_out", "consent")
    session.commit()
    # The nightly run credits the purchase (the credit expires 30 days from now), then
    # tiers: earned 40 days ago is outside the 30-day window, so no tier.
    enqueue_nightly()
    enqueue_nightly()  # the same day twice: one job id
    assert run_worker() == 0
    session.rollback()
    assert ledger.balance(session, m.id) == 150
    # 31 days later: the points expire.
    day = (now + timedelta(days=31)).date()
    enqueue_nightly(day)
    assert run_worker() == 0
    enqueue_nightly(day)  # run again: nothing more happens
    assert run_worker() == 0
    session.rollback()
    assert ledger.balance(session, m.id) == 0
    assert (
        session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "expire")
        )
        == 2
    )
    assert nightly_job_id(day) == f"loyalty-nightly-{day.isoformat()}"


def test_tier_change_is_announced_by_email_except_to_opted_out(
    session: Session, users, run_worker, smtp_sink
) -> None:
    actor = users["admin"]
    prog = programme(session, actor)
    m = member(session, actor, prog, language="it")
    quiet = member(session, actor, prog)
    contacts.change_consent(session, actor.id, quiet.contact, "opted_out", "consent")
    now = datetime.now(UTC)
    for who in (m, quiet):
        earning.earn_for_event(
            session, prog, who, kind="purchase", value_cents=200_00, at=now, key="k",
            source_type="external", source_id=None, reason="x", now=now,
        )  # fmt: skip
    session.commit()
    enqueue_nightly()
    assert run_worker() == 0
    session.rollback()
    received = smtp_sink.received
    assert [r.recipients for r in received] == [[m.contact.email]]
    assert "Silver" in str(received[0].message["Subject"])
    notices = dict(
        session.execute(select(LoyaltyTierChange.membership_id, LoyaltyTierChange.notice)).all()
    )
    assert notices == {m.id: "sent", quiet.id: "skipped"}
