"""Invariants over random sequences of earn / redeem / refund / expire / replay."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.loyalty import earning, expiry, ledger, programmes, rewards
from app.loyalty.models import LedgerEntry, Redemption
from tests.loyalty.helpers import T0, member, programme

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, 40_000)),
        st.tuples(st.just("redeem"), st.integers(0, 2)),
        st.tuples(st.just("refund"), st.integers(0, 10)),
        st.tuples(st.just("expire"), st.integers(1, 120)),
        st.tuples(st.just("replay"), st.integers(0, 10)),
    ),
    min_size=1,
    max_size=25,
)


def entries(session: Session, membership_id: int) -> list[LedgerEntry]:
    return list(
        session.scalars(select(LedgerEntry).where(LedgerEntry.membership_id == membership_id))
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_ledger_invariants(session: Session, users, ops) -> None:
    actor = users["admin"] if "admin" in users else None
    prog = programme(session, actor, name=f"P {uuid.uuid4().hex}", expiry_days=60)
    costs = [
        programmes.add_reward(session, actor, prog, name=f"R{c}", points_cost=c)
        for c in (10, 70, 300)
    ]
    m = member(session, actor, prog)
    clock = T0
    earned_keys: list[tuple[str, int]] = []
    redemptions: list[Redemption] = []
    for op, arg in ops:
        before = [(e.id, e.points) for e in entries(session, m.id)]
        if op == "earn":
            key = f"e{len(earned_keys)}"
            earning.earn_for_event(
                session, prog, m, kind="purchase", value_cents=arg, at=clock, key=key,
                source_type="external", source_id=None, reason="p", now=clock,
            )  # fmt: skip
            earned_keys.append((key, arg))
        elif op == "replay" and earned_keys:
            key, cents = earned_keys[arg % len(earned_keys)]
            earning.earn_for_event(
                session, prog, m, kind="purchase", value_cents=cents, at=clock, key=key,
                source_type="external", source_id=None, reason="p", now=clock,
            )  # fmt: skip
            assert [(e.id, e.points) for e in entries(session, m.id)] == before
        elif op == "redeem":
            reward = costs[arg]
            try:
                redemptions.append(rewards.redeem(session, actor, m, reward.id, now=clock))
            except Invalid:
                assert ledger.balance(session, m.id) < reward.points_cost
                assert [(e.id, e.points) for e in entries(session, m.id)] == before
        elif op == "refund" and redemptions:
            try:
                rewards.cancel_redemption(
                    session, actor, redemptions[arg % len(redemptions)], now=clock
                )
            except Conflict:
                assert [(e.id, e.points) for e in entries(session, m.id)] == before
        elif op == "expire":
            clock += timedelta(days=arg)
            expiry.expire_points(session, prog, clock)
            again = [(e.id, e.points) for e in entries(session, m.id)]
            expiry.expire_points(session, prog, clock)
            assert [(e.id, e.points) for e in entries(session, m.id)] == again
        rows = entries(session, m.id)
        balance = ledger.balance(session, m.id)
        assert balance == sum(e.points for e in rows)
        assert balance >= 0
        earned = sum(e.points for e in rows if e.kind in ("earn", "refund"))
        expired = -sum(e.points for e in rows if e.kind == "expire")
        assert expired <= earned
        assert sum(lot.points for lot in ledger.expiring_lots(session, m.id, clock)) <= balance
    session.rollback()
