"""Loyalty over JSON: enrol, earn from an external shop's purchase, redeem, read a statement.

Thin doors onto app.loyalty; every call is one transaction (see `api_route`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.api import bp
from app.api.auth import api_user
from app.api.openapi import api_route
from app.api.schemas import MAX_CENTS, Id
from app.contacts.models import Contact
from app.contacts.service import check_contact_access, find_contact_by_key, log_interaction
from app.db import utcnow
from app.errors import Forbidden, Invalid, NotFound
from app.extensions import db
from app.jobs import QUEUE_DEFAULT, enqueue_after_commit
from app.loyalty import earning, programmes, rewards
from app.loyalty.models import Membership, Programme
from app.loyalty.statements import statement

LOYALTY = "loyalty"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MemberRef(_In):
    """Name the person by `contact_id` or by `email` (exactly one)."""

    contact_id: Id | None = None
    email: Annotated[str, Field(max_length=254)] | None = None


class EarnIn(MemberRef):
    event_id: Annotated[str, Field(min_length=1, max_length=150)] = Field(
        description="The shop's id for this purchase: the same id twice earns once."
    )
    value_cents: Annotated[int, Field(ge=0, le=MAX_CENTS)]
    occurred_at: AwareDatetime | None = None
    summary: Annotated[str, Field(max_length=500)] | None = None


class RedeemIn(MemberRef):
    reward_id: Id


EntryKind = Literal["earn", "redeem", "expire", "adjust", "refund"]


class EntryOut(BaseModel):
    id: int
    kind: EntryKind
    points: int
    at: datetime
    expires_at: datetime | None
    reason: str


class MembershipOut(BaseModel):
    membership_id: int
    programme_id: int
    contact_id: int
    enrolled_at: datetime
    tier: str | None
    balance: int


class EarnOut(BaseModel):
    points: int = Field(description="Points this event earned (0 when capped or replayed).")
    duplicate: bool = Field(description="True when this event id was already credited.")
    interaction_id: int
    balance: int
    tier: str | None


class RedemptionOut(BaseModel):
    redemption_id: int
    reward_id: int
    code: str
    points: int
    balance: int


class ExpiringOut(BaseModel):
    expires_at: datetime
    points: int


class StatementOut(BaseModel):
    membership_id: int
    programme_id: int
    contact_id: int
    balance: int
    tier: str | None
    next_tier: str | None
    points_to_next_tier: int
    earned_in_window: int
    expiring: list[ExpiringOut]
    history: list[EntryOut]


def _programme(programme_id: int) -> Programme:
    return programmes.get_programme(db.session, programme_id)


def _contact(ref: MemberRef) -> Contact:
    if (ref.contact_id is None) == (ref.email is None):
        raise Invalid("Give exactly one of contact_id or email.", field="contact_id")
    contact = (
        db.session.get(Contact, ref.contact_id)
        if ref.contact_id is not None
        else find_contact_by_key(db.session, ref.email or "")
    )
    if contact is None:
        raise NotFound("No such contact.")
    try:
        check_contact_access(api_user(), contact)
    except Forbidden as exc:
        raise NotFound("No such contact.") from exc
    if contact.is_erased:
        raise Invalid("This person was erased.", field="contact_id")
    return contact


def _membership(programme: Programme, contact: Contact) -> Membership:
    membership = programmes.membership_of(db.session, programme.id, contact.id)
    if membership is None:
        raise NotFound("This person is not a member of the programme.")
    return membership


def _membership_out(membership: Membership) -> MembershipOut:
    from app.loyalty import ledger

    return MembershipOut(
        membership_id=membership.id,
        programme_id=membership.programme_id,
        contact_id=membership.contact_id,
        enrolled_at=membership.enrolled_at,
        tier=membership.tier.name if membership.tier else None,
        balance=ledger.balance(db.session, membership.id),
    )


@api_route(
    bp, "/loyalty/programmes/<int:programme_id>/members", methods=["POST"],
    scope="contacts:write", tag=LOYALTY, body=MemberRef, response=MembershipOut, status=201,
    statuses={200: "Already a member", 201: "Enrolled"}, errors=(404,),
    summary="Enrol a person in a loyalty programme",
)  # fmt: skip
def enrol_member(programme_id: int, body: MemberRef) -> tuple[MembershipOut, int]:
    """Idempotent: enrolling a member again answers 200 with the membership."""
    programme = _programme(programme_id)
    contact = _contact(body)
    membership, created = programmes.enrol(db.session, api_user(), programme, contact, via="api")
    return _membership_out(membership), 201 if created else 200


@api_route(
    bp, "/loyalty/programmes/<int:programme_id>/earn", methods=["POST"],
    scope="interactions:write", tag=LOYALTY, body=EarnIn, response=EarnOut, errors=(404,),
    summary="Credit a purchase from an external shop",
)  # fmt: skip
def earn_purchase(programme_id: int, body: EarnIn) -> EarnOut:
    """Records the purchase as an interaction (source `shop`, external id = `event_id`) and
    credits its points now; the same `event_id` twice earns once. Points are
    floor(value x rule points / unit x multipliers), within the programme's caps."""
    programme = _programme(programme_id)
    programmes.check_open(programme)
    contact = _contact(body)
    membership = _membership(programme, contact)
    occurred_at = body.occurred_at or utcnow()
    interaction = log_interaction(
        db.session, api_user(), [contact], channel="shop", direction="inbound",
        kind="purchase", occurred_at=occurred_at, value_cents=body.value_cents,
        summary=body.summary, source="shop", external_id=body.event_id,
    )  # fmt: skip
    db.session.flush()
    result = earning.earn_for_interaction(db.session, programme, membership, interaction)
    from app.loyalty.jobs import sync_job_id, sync_purchases_job

    # Other members in the interaction, referrals and automatic enrolment: in the background.
    enqueue_after_commit(
        db.session, QUEUE_DEFAULT, sync_purchases_job, programme.id,
        job_id=sync_job_id(programme.id), job_timeout=600,
    )  # fmt: skip
    out = _membership_out(membership)
    return EarnOut(
        points=0 if result.duplicate else result.points,
        duplicate=result.duplicate,
        interaction_id=interaction.id,
        balance=out.balance,
        tier=out.tier,
    )


@api_route(
    bp, "/loyalty/programmes/<int:programme_id>/redemptions", methods=["POST"],
    scope="contacts:write", tag=LOYALTY, body=RedeemIn, response=RedemptionOut, status=201,
    errors=(404,), summary="Redeem a reward",
)  # fmt: skip
def redeem_reward(programme_id: int, body: RedeemIn) -> tuple[RedemptionOut, int]:
    """Spends the reward's points (never more than the balance) and returns its code."""
    programme = _programme(programme_id)
    contact = _contact(body)
    membership = _membership(programme, contact)
    redemption = rewards.redeem(db.session, api_user(), membership, body.reward_id)
    from app.loyalty import ledger

    return (
        RedemptionOut(
            redemption_id=redemption.id,
            reward_id=redemption.reward_id,
            code=redemption.code,
            points=redemption.points,
            balance=ledger.balance(db.session, membership.id),
        ),
        201,
    )


@api_route(
    bp, "/loyalty/programmes/<int:programme_id>/members/<int:contact_id>/statement",
    methods=["GET"], scope="contacts:read", tag=LOYALTY, response=StatementOut, errors=(404,),
    summary="Read a member's statement",
)  # fmt: skip
def member_statement(programme_id: int, contact_id: int) -> StatementOut:
    """Balance, tier, progress, what expires when, and the latest 50 ledger entries."""
    programme = _programme(programme_id)
    contact = _contact(MemberRef(contact_id=contact_id))
    membership = _membership(programme, contact)
    st = statement(db.session, membership)
    return StatementOut(
        membership_id=membership.id,
        programme_id=programme.id,
        contact_id=contact.id,
        balance=st.balance,
        tier=st.tier.name if st.tier else None,
        next_tier=st.next_tier.name if st.next_tier else None,
        points_to_next_tier=st.points_to_next,
        earned_in_window=st.earned_in_window,
        expiring=[ExpiringOut(expires_at=lot.expires_at, points=lot.points) for lot in st.expiring],
        history=[
            EntryOut(
                id=e.id,
                kind=cast(EntryKind, e.kind),
                points=e.points,
                at=e.at,
                expires_at=e.expires_at,
                reason=e.reason,
            )  # fmt: skip
            for e in st.history
        ],
    )
