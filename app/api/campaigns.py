"""Campaigns over JSON: progress, and replies posted by other systems (thin doors)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.api import bp
from app.api.auth import api_user
from app.api.openapi import api_route
from app.campaigns import launch, sending, tracking
from app.extensions import db

CAMPAIGNS = "campaigns"


class CampaignProgress(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    total: int
    pending: int
    sending: int
    sent: int
    failed: int
    skipped: int
    opened: int
    clicked: int
    replied: int
    unsubscribed: int


class ReplyIn(BaseModel):
    """A reply from a recipient. With an `external_id`, posting it twice records it once."""

    model_config = ConfigDict(extra="forbid")

    contact_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    occurred_at: AwareDatetime = Field(description="ISO 8601 with a time zone.")
    summary: Annotated[str, Field(max_length=20_000)] | None = None
    sentiment: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class ReplyOut(BaseModel):
    delivery_id: int
    contact_id: int
    replied_at: AwareDatetime


@api_route(
    bp,
    "/campaigns/<int:campaign_id>/progress",
    methods=["GET"],
    scope="contacts:read",
    tag=CAMPAIGNS,
    response=CampaignProgress,
    errors=(404,),
    summary="A campaign's progress: pending, sent, skipped, failed, opened, clicked, replied",
)
def campaign_progress(campaign_id: int) -> CampaignProgress:
    campaign = launch.get_campaign(db.session, api_user(), campaign_id)
    return CampaignProgress(
        id=campaign.id,
        name=campaign.name,
        kind=campaign.kind,
        status=campaign.status,
        **sending.progress(db.session, campaign.id),
    )


@api_route(
    bp,
    "/campaigns/<int:campaign_id>/replies",
    methods=["POST"],
    scope="interactions:write",
    tag=CAMPAIGNS,
    body=ReplyIn,
    response=ReplyOut,
    status=201,
    errors=(404,),
    summary="Record a recipient's reply (an interaction that waits for an answer)",
)
def post_reply(campaign_id: int, body: ReplyIn) -> tuple[ReplyOut, int]:
    user = api_user()
    launch.get_campaign(db.session, user, campaign_id)
    delivery = tracking.record_reply(
        db.session,
        user,
        campaign_id,
        body.contact_id,
        occurred_at=body.occurred_at,
        summary=body.summary,
        sentiment=body.sentiment,
        external_id=f"api:{body.external_id}" if body.external_id else None,
    )
    assert delivery.replied_at is not None
    return ReplyOut(
        delivery_id=delivery.id, contact_id=delivery.contact_id, replied_at=delivery.replied_at
    ), 201
