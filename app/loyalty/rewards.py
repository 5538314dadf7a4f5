"""Rewards: redemption spends points (never more than the balance) and issues a code;
cancelling a redemption refunds its points, once."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit
from app.auth.models import User
from app.contacts.models import Contact
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.loyalty import ledger
from app.loyalty.models import LoyaltyTier, Membership, Programme, Redemption, Reward
from app.loyalty.programmes import check_open


def new_code() -> str:
    # No 0/O/1/I: codes are read aloud and typed at a till.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def available_rewards(session: Session, membership: Membership) -> list[Reward]:
    """Active rewards the member's tier may redeem (stock is shown, not filtered)."""
    rewards = session.scalars(
        select(Reward)
        .where(Reward.programme_id == membership.programme_id, Reward.active.is_(True))
        .order_by(Reward.points_cost, Reward.id)
    ).all()
    return [r for r in rewards if tier_allows(session, membership, r)]


def tier_allows(session: Session, membership: Membership, reward: Reward) -> bool:
    if reward.min_tier_id is None:
        return True
    needed = session.get(LoyaltyTier, reward.min_tier_id)
    if needed is None:
        return True
    current = session.get(LoyaltyTier, membership.tier_id) if membership.tier_id else None
    return current is not None and current.threshold_points >= needed.threshold_points


def redeem(
    session: Session,
    actor: User | None,
    membership: Membership,
    reward_id: int,
    now: datetime | None = None,
) -> Redemption:
    now = now or utcnow()
    programme = session.get(Programme, membership.programme_id)
    assert programme is not None
    check_open(programme, now)
    contact = session.get(Contact, membership.contact_id)
    if contact is None or contact.is_erased:
        raise Invalid("An erased person cannot redeem rewards.", field="contact")
    reward = session.get(Reward, reward_id)
    if reward is None or reward.programme_id != programme.id or not reward.active:
        raise NotFound("No such reward in this programme.")
    # Lock first, then read the balance: a concurrent redemption waits here.
    membership = ledger.lock_membership(session, membership.id)
    if not tier_allows(session, membership, reward):
        raise Forbidden("This reward is not available at the member's tier.")
    balance = ledger.balance(session, membership.id)
    if balance < reward.points_cost:
        raise Invalid(
            f"Not enough points: the reward costs {reward.points_cost}, the balance is {balance}.",
            field="reward_id",
        )
    if reward.stock is not None:
        taken = ledger.affected(
            session.execute(
                update(Reward)
                .where(Reward.id == reward.id, Reward.stock > 0)
                .values(stock=Reward.stock - 1)
                .execution_options(synchronize_session=False)
            )
        )
        if not taken:
            raise Invalid("This reward is out of stock.", field="reward_id")
        session.refresh(reward)
    redemption = Redemption(
        membership_id=membership.id, reward_id=reward.id, points=reward.points_cost,
        code=new_code(), status="issued", created_at=now,
        created_by_id=actor.id if actor else None,
    )  # fmt: skip
    session.add(redemption)
    session.flush()
    ledger.append(
        session, membership, kind="redeem", points=-reward.points_cost, at=now,
        reason=f"Redeemed: {reward.name}", key=f"redemption:{redemption.id}",
        source_type="redemption", source_id=redemption.id,
        actor_id=actor.id if actor else None,
    )  # fmt: skip
    return redemption


def get_redemption(session: Session, redemption_id: int) -> Redemption:
    redemption = session.get(Redemption, redemption_id)
    if redemption is None:
        raise NotFound("No such redemption.")
    return redemption


def cancel_redemption(
    session: Session, actor: User | None, redemption: Redemption, now: datetime | None = None
) -> Redemption:
    """Cancel and refund; a second cancel is refused and refunds nothing."""
    now = now or utcnow()
    membership = ledger.lock_membership(session, redemption.membership_id)
    changed = ledger.affected(
        session.execute(
            update(Redemption)
            .where(Redemption.id == redemption.id, Redemption.status == "issued")
            .values(status="cancelled", cancelled_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if not changed:
        raise Conflict("This redemption was already cancelled.")
    session.refresh(redemption)
    programme = session.get(Programme, membership.programme_id)
    assert programme is not None
    reward = session.get(Reward, redemption.reward_id)
    if reward is not None and reward.stock is not None:
        session.execute(
            update(Reward)
            .where(Reward.id == reward.id)
            .values(stock=Reward.stock + 1)
            .execution_options(synchronize_session=False)
        )
        session.refresh(reward)
    ledger.append(
        session, membership, kind="refund", points=redemption.points, at=now,
        reason=f"Refund of cancelled redemption {redemption.code}",
        key=f"refund:{redemption.id}", source_type="redemption", source_id=redemption.id,
        expires_at=ledger.expiry_for(programme, now), actor_id=actor.id if actor else None,
    )  # fmt: skip
    return redemption


def adjust(
    session: Session,
    actor: User,
    membership: Membership,
    points: int,
    reason: str,
    now: datetime | None = None,
) -> None:
    """A manual correction: needs a reason, never takes the balance below zero, is audited."""
    from app.loyalty.programmes import check_manage

    check_manage(actor)
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("An adjustment needs a reason.", field="reason")
    if points == 0:
        raise Invalid("Adjust by a non-zero number of points.", field="points")
    if abs(points) > 10**9:
        raise Invalid("That is too many points.", field="points")
    programme = session.get(Programme, membership.programme_id)
    assert programme is not None
    membership = ledger.lock_membership(session, membership.id)
    if points < 0 and ledger.balance(session, membership.id) + points < 0:
        raise Invalid("The adjustment would make the balance negative.", field="points")
    written = ledger.append(
        session, membership, kind="adjust", points=points, at=now, reason=reason,
        key=f"adjust:{uuid.uuid4().hex}", source_type="adjustment", actor_id=actor.id,
        expires_at=ledger.expiry_for(programme, now) if points > 0 else None,
    )  # fmt: skip
    audit.record(
        session, actor.id, "loyalty.adjust", "loyalty_membership", membership.id,
        points=points, reason=reason, entry_id=written.entry.id,
    )  # fmt: skip
