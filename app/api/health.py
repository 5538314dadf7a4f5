"""The attention inbox and health over JSON: thin doors onto app.health."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from flask import current_app
from pydantic import Field
from sqlalchemy import select

from app.api import bp
from app.api.auth import api_token, api_user
from app.api.openapi import api_route
from app.api.schemas import MAX_KEY_LENGTH, Channel, UTCDate, _Input, _Output, _Query
from app.contacts.service import get_contact
from app.errors import NotFound
from app.extensions import db
from app.health import inbox, snapshots
from app.health.models import HealthSnapshot

INBOX = "inbox"
HEALTH = "health"


class CommentIn(_Input):
    """An inbound comment, mention or message from another system (a social network, a shop,
    a helpdesk). An author who matches no contact is kept in the inbox as unmatched."""

    author: Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)] | None = Field(
        default=None,
        description="Email, LinkedIn profile URL or X handle (@name) of the author.",
        examples=["anna@example.com", "@anna_r"],
    )
    author_name: Annotated[str, Field(max_length=200)] | None = None
    channel: Channel
    kind: Literal["comment", "mention", "message"] = "comment"
    occurred_at: UTCDate = Field(description="ISO 8601 with a time zone; not in the future.")
    text: Annotated[str, Field(max_length=20_000)] | None = None
    sentiment: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    source: str | None = Field(
        default=None,
        max_length=50,
        pattern=r"^[A-Za-z0-9_.:@/-]+$",
        description='Where it comes from; defaults to "api:<token name>".',
    )


class CommentOut(_Output):
    matched: bool = Field(description="Whether the author is a known contact.")
    interaction_id: int | None = Field(description="The inbox item, when matched.")
    unmatched_id: int | None = Field(description="The unmatched comment kept, otherwise.")


class InboxQuery(_Query):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 50


class InboxItemOut(_Output):
    interaction_id: int
    contact_ids: list[int]
    owner_id: int | None
    channel: str
    kind: str
    occurred_at: datetime
    sentiment: float | None
    summary: str | None
    age_hours: float
    overdue: bool


class InboxPage(_Output):
    items: list[InboxItemOut]
    total: int
    page: int
    per_page: int
    pages: int
    target_hours: float


class HealthOut(_Output):
    contact_id: int
    as_of: str
    score: int = Field(description="0..100")
    status: str = Field(description="healthy, cooling or at_risk")
    reasons: list[dict[str, object]] = Field(description="Codes with their numbers.")
    days_silent: float | None
    usual_gap_days: float | None


@api_route(
    bp, "/inbox/comments", methods=["POST"], scope="interactions:write", tag=INBOX,
    body=CommentIn, response=CommentOut, errors=(409,),
    statuses={201: "Kept in the inbox.", 200: "Already received with this source and external_id."},
    summary="Post an inbound comment, mention or message that needs an answer",
)  # fmt: skip
def post_comment(body: CommentIn) -> tuple[CommentOut, int]:
    """Matched to a contact by email, LinkedIn URL or X handle; otherwise kept as unmatched
    (never dropped) until someone matches it to a person. A future date is refused (422)."""
    source = body.source or f"api:{api_token().name}"[:50]
    result = inbox.ingest_comment(
        db.session,
        inbox.CommentIn(
            author=body.author, author_name=body.author_name, channel=body.channel,
            kind=body.kind, occurred_at=body.occurred_at, text=body.text,
            sentiment=body.sentiment, source=source, external_id=body.external_id,
        ),
    )  # fmt: skip
    out = CommentOut(
        matched=result.matched,
        interaction_id=result.id if result.matched else None,
        unmatched_id=None if result.matched else result.id,
    )
    return out, 201 if result.created else 200


@api_route(
    bp, "/inbox", methods=["GET"], scope="contacts:read", tag=INBOX, query=InboxQuery,
    response=InboxPage, summary="Messages waiting for an answer, negative first",
)  # fmt: skip
def list_inbox(query: InboxQuery) -> InboxPage:
    """Salespeople see the messages of the people they own."""
    target = float(current_app.config.get("RESPONSE_TARGET_HOURS", 48))
    page = inbox.inbox_items(
        db.session, api_user(), target_hours=target, page=query.page, per_page=query.per_page
    )
    return InboxPage(
        items=[
            InboxItemOut(
                interaction_id=item.interaction.id,
                contact_ids=[p.id for p in item.people],
                owner_id=item.person.owner_id if item.person else None,
                channel=item.interaction.channel,
                kind=item.interaction.kind,
                occurred_at=item.interaction.occurred_at,
                sentiment=item.interaction.sentiment,
                summary=item.interaction.summary,
                age_hours=round(item.age_hours, 2),
                overdue=item.overdue,
            )
            for item in page.items
        ],
        total=page.total, page=page.page, per_page=page.per_page, pages=page.pages,
        target_hours=target,
    )  # fmt: skip


@api_route(
    bp, "/contacts/<int:contact_id>/health", methods=["GET"], scope="contacts:read",
    tag=HEALTH, response=HealthOut, summary="A contact's latest health",
)  # fmt: skip
def contact_health(contact_id: int) -> HealthOut:
    """From the latest health run; 404 when none has measured this person yet."""
    session = db.session
    contact = get_contact(session, api_user(), contact_id)
    run = snapshots.latest_run(session)
    snap = (
        session.scalar(
            select(HealthSnapshot).where(
                HealthSnapshot.run_id == run.id, HealthSnapshot.contact_id == contact.id
            )
        )
        if run
        else None
    )
    if run is None or snap is None:
        raise NotFound("No health measured for this contact yet.")
    return HealthOut(
        contact_id=contact.id, as_of=run.as_of.isoformat(), score=snap.score,
        status=snap.status, reasons=snap.reasons, days_silent=snap.days_silent,
        usual_gap_days=snap.usual_gap_days,
    )  # fmt: skip
