"""The attention inbox: inbound messages, comments and mentions that wait for an answer.

Negative ones first (by sentiment), then the oldest. Nothing leaves the inbox without an answer
(logged through the contacts service) or a dismissal whose reason is kept. Comments from
other systems whose author matches no contact are kept as unmatched, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select, true
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.auth.models import User
from app.contacts.models import (
    CHANNELS,
    Contact,
    Interaction,
    interaction_participants,
)
from app.contacts.normalize import normalize_x_handle
from app.contacts.service import (
    FUTURE_TOLERANCE,
    can_edit_all,
    can_see_all,
    check_contact_access,
    find_contact_by_key,
    log_interaction,
    mark_answered,
    unique_guard,
)
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.health.models import InboxDismissal, UnmatchedComment
from app.pagination import Page

INBOX_KINDS = ("comment", "mention", "message")
NEGATIVE_BELOW = -0.2
MIN_REASON = 3


@dataclass
class InboxItem:
    interaction: Interaction
    people: list[Contact]
    age_hours: float
    target_hours: float

    @property
    def overdue(self) -> bool:
        return self.age_hours > self.target_hours

    @property
    def negative(self) -> bool:
        s = self.interaction.sentiment
        return s is not None and s < NEGATIVE_BELOW

    @property
    def person(self) -> Contact | None:
        return self.people[0] if self.people else None

    @property
    def owner(self) -> User | None:
        person = self.person
        return person.owner if person is not None else None


def _open_clause() -> ColumnElement[bool]:
    dismissed = exists().where(InboxDismissal.interaction_id == Interaction.id)
    return and_(
        Interaction.needs_answer.is_(True),
        Interaction.answered_at.is_(None),
        Interaction.direction == "inbound",
        ~dismissed,
    )


def _visible_clause(user: User, owner_id: int | None = None) -> ColumnElement[bool]:
    """Items about a person the user may see (salespeople: the people they own)."""
    ip = interaction_participants
    if can_see_all(user) and owner_id is None:
        return true()
    wanted = owner_id if can_see_all(user) else user.id
    return exists().where(
        ip.c.interaction_id == Interaction.id,
        ip.c.contact_id == Contact.id,
        Contact.owner_id == wanted,
    )


def _order() -> tuple[Any, ...]:
    negative_first = case((Interaction.sentiment < NEGATIVE_BELOW, 0), else_=1)
    return (
        negative_first,
        Interaction.sentiment.asc().nulls_last(),
        Interaction.occurred_at.asc(),
        Interaction.id.asc(),
    )


def inbox_items(
    session: Session,
    user: User,
    *,
    target_hours: float,
    page: int = 1,
    per_page: int = 50,
    owner_id: int | None = None,
    now: datetime | None = None,
) -> Page[InboxItem]:
    now = now or utcnow()
    per_page = max(1, min(per_page, 200))
    page = max(1, page)
    where = (_open_clause(), _visible_clause(user, owner_id))
    total = session.scalar(select(func.count(Interaction.id)).where(*where)) or 0
    rows = session.scalars(
        select(Interaction)
        .where(*where)
        .options(selectinload(Interaction.participants).selectinload(Contact.owner))
        .order_by(*_order())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = []
    for interaction in rows:
        people = [p for p in interaction.participants if can_see_all(user) or p.owner_id == user.id]
        age = (now - interaction.occurred_at).total_seconds() / 3600
        items.append(InboxItem(interaction, people, max(age, 0.0), target_hours))
    return Page(items=items, total=total, page=page, per_page=per_page)


def open_count(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count(Interaction.id)).where(_open_clause(), _visible_clause(user))
        )
        or 0
    )


def _writable_item(session: Session, actor: User, interaction_id: int) -> Interaction:
    interaction = session.get(Interaction, interaction_id, with_for_update=True)
    if interaction is None or not interaction.needs_answer:
        raise NotFound("No such inbox item.")
    people = interaction.participants
    if not (can_edit_all(actor) or any(p.owner_id == actor.id for p in people)):
        raise Forbidden("This message belongs to another owner.")
    return interaction


def answer_item(
    session: Session, actor: User, interaction_id: int, *, note: str | None = None
) -> Interaction:
    """Log that we answered: the message is marked answered and our reply is recorded (for
    people not erased). Answering twice is a Conflict and writes nothing the second time."""
    interaction = _writable_item(session, actor, interaction_id)
    if session.scalar(
        select(InboxDismissal.id).where(InboxDismissal.interaction_id == interaction.id)
    ):
        raise Conflict("This message was dismissed; it cannot be answered from the inbox.")
    mark_answered(session, actor, interaction.id)
    live = [p for p in interaction.participants if not p.is_erased]
    if live:
        log_interaction(
            session, None, live, channel=interaction.channel, direction="outbound",
            kind="reply", occurred_at=interaction.answered_at or utcnow(),
            summary=note, source="inbox",
        )  # fmt: skip
    session.flush()
    return interaction


def _reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise Invalid("Say why this needs no answer.", field="reason")
    return reason[:500]


def dismiss_item(
    session: Session, actor: User, interaction_id: int, reason: str | None
) -> InboxDismissal:
    """Put an item aside without an answer; the reason is kept (and audited)."""
    text = _reason(reason)
    interaction = _writable_item(session, actor, interaction_id)
    if interaction.answered_at is not None:
        raise Conflict("This message was already answered.")
    dismissal = InboxDismissal(
        interaction_id=interaction.id, reason=text, dismissed_by_id=actor.id, dismissed_at=utcnow()
    )
    try:
        with unique_guard(session, "dismissal"):
            session.add(dismissal)
    except Conflict as exc:
        raise Conflict("This message was already dismissed.") from exc
    audit.record(session, actor.id, "inbox.dismiss", "interaction", interaction.id, reason=text)
    return dismissal


def log_inbound(
    session: Session,
    actor: User,
    contact: Contact,
    *,
    channel: str,
    kind: str,
    occurred_at: datetime,
    text: str | None,
    sentiment: float | None = None,
) -> Interaction:
    """A message logged by hand that waits for an answer (refuses future dates)."""
    if kind not in INBOX_KINDS:
        raise Invalid(f"Unknown kind {kind!r}.", field="kind")
    return log_interaction(
        session, actor, [contact], channel=channel, direction="inbound", kind=kind,
        occurred_at=occurred_at, sentiment=sentiment, summary=text, needs_answer=True,
        source="ui",
    )  # fmt: skip


# ------------------------------------------------------------------ comments from elsewhere


@dataclass
class CommentIn:
    author: str | None
    channel: str
    occurred_at: datetime
    kind: str = "comment"
    author_name: str | None = None
    text: str | None = None
    sentiment: float | None = None
    source: str = "api"
    external_id: str | None = None


@dataclass
class IngestResult:
    matched: bool
    id: int  # interaction id when matched, unmatched comment id otherwise
    created: bool


def match_author(session: Session, key: str | None) -> Contact | None:
    """A person by email, LinkedIn URL or X handle (@name or an x.com / twitter.com link)."""
    key = (key or "").strip()
    if not key:
        return None
    lowered = key.lower()
    contact: Contact | None = None
    if key.startswith("@") or "x.com/" in lowered or "twitter.com/" in lowered:
        try:
            handle = normalize_x_handle(key)
        except Invalid:
            handle = None
        if handle:
            contact = session.scalar(
                select(Contact)
                .where(func.lower(Contact.x_handle) == handle.lower())
                .order_by(Contact.id)
                .limit(1)
            )
    else:
        contact = find_contact_by_key(session, key)
    while contact is not None and contact.merged_into_id is not None:
        contact = session.get(Contact, contact.merged_into_id)
    if contact is None or contact.is_erased:
        return None
    return contact


def _check_comment(item: CommentIn) -> None:
    if item.channel not in CHANNELS:
        raise Invalid(f"Unknown channel {item.channel!r}.", field="channel")
    if item.kind not in INBOX_KINDS:
        raise Invalid(f"Unknown kind {item.kind!r}.", field="kind")
    if item.occurred_at.tzinfo is None:
        raise Invalid("The date needs a time zone.", field="occurred_at")
    if item.occurred_at > utcnow() + FUTURE_TOLERANCE:
        raise Invalid("The comment is dated in the future.", field="occurred_at")
    if item.sentiment is not None and not -1 <= item.sentiment <= 1:
        raise Invalid("Sentiment must be between -1 and 1.", field="sentiment")


def ingest_comment(session: Session, item: CommentIn) -> IngestResult:
    """Put an inbound comment in the inbox: on its author's timeline when the author is
    known, else kept as unmatched. The same (source, external_id) twice is stored once."""
    _check_comment(item)
    if item.external_id:
        earlier_unmatched = session.scalar(
            select(UnmatchedComment.id).where(
                UnmatchedComment.source == item.source,
                UnmatchedComment.external_id == item.external_id,
            )
        )
        if earlier_unmatched is not None:
            return IngestResult(False, earlier_unmatched, False)
        earlier = session.scalar(
            select(Interaction.id).where(
                Interaction.source == item.source, Interaction.external_id == item.external_id
            )
        )
        if earlier is not None:
            return IngestResult(True, earlier, False)
    person = match_author(session, item.author)
    if person is not None:
        # Ingested from another system: the token's own access rules do not decide whether
        # a comment about a person is kept.
        interaction = log_interaction(
            session, None, [person], channel=item.channel, direction="inbound",
            kind=item.kind, occurred_at=item.occurred_at, sentiment=item.sentiment,
            summary=item.text, needs_answer=True, source=item.source,
            external_id=item.external_id,
        )  # fmt: skip
        return IngestResult(True, interaction.id, True)
    comment = UnmatchedComment(
        channel=item.channel, kind=item.kind, author_key=(item.author or "")[:300] or None,
        author_name=(item.author_name or "")[:200] or None, text=item.text,
        sentiment=item.sentiment, occurred_at=item.occurred_at, source=item.source,
        external_id=item.external_id, received_at=utcnow(),
    )  # fmt: skip
    with unique_guard(session, "comment"):
        session.add(comment)
    return IngestResult(False, comment.id, True)


def unmatched_comments(
    session: Session, user: User, *, page: int = 1, per_page: int = 50
) -> Page[UnmatchedComment]:
    """Open unmatched comments, negative first. Everyone but marketers may match them."""
    stmt = select(UnmatchedComment).where(
        UnmatchedComment.matched_at.is_(None), UnmatchedComment.dismissed_at.is_(None)
    )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = list(
        session.scalars(
            stmt.order_by(
                case((UnmatchedComment.sentiment < NEGATIVE_BELOW, 0), else_=1),
                UnmatchedComment.sentiment.asc().nulls_last(),
                UnmatchedComment.occurred_at.asc(),
                UnmatchedComment.id,
            )
            .limit(per_page)
            .offset((max(page, 1) - 1) * per_page)
        )
    )
    return Page(items=items, total=total, page=max(page, 1), per_page=per_page)


def _open_unmatched(session: Session, unmatched_id: int) -> UnmatchedComment:
    comment = session.get(UnmatchedComment, unmatched_id, with_for_update=True)
    if comment is None:
        raise NotFound("No such comment.")
    if comment.matched_at is not None:
        raise Conflict("This comment was already matched to a person.")
    if comment.dismissed_at is not None:
        raise Conflict("This comment was already dismissed.")
    return comment


def match_unmatched(
    session: Session, actor: User, unmatched_id: int, contact: Contact
) -> Interaction:
    """Attach an unmatched comment to a person: it becomes an interaction waiting for an
    answer, and the author's data kept here is cleared (it now lives with the person,
    where erasure reaches it)."""
    comment = _open_unmatched(session, unmatched_id)
    check_contact_access(actor, contact, write=True)
    interaction = log_interaction(
        session, actor, [contact], channel=comment.channel, direction="inbound",
        kind=comment.kind, occurred_at=comment.occurred_at, sentiment=comment.sentiment,
        summary=comment.text, needs_answer=True, source=comment.source,
        external_id=comment.external_id,
    )  # fmt: skip
    comment.matched_interaction_id = interaction.id
    comment.matched_at = utcnow()
    comment.matched_by_id = actor.id
    comment.author_key = None
    comment.author_name = None
    comment.text = None
    audit.record(
        session, actor.id, "inbox.match", "unmatched_comment", comment.id,
        contact_id=contact.id, interaction_id=interaction.id,
    )  # fmt: skip
    session.flush()
    return interaction


def dismiss_unmatched(
    session: Session, actor: User, unmatched_id: int, reason: str | None
) -> UnmatchedComment:
    text = _reason(reason)
    if actor.role == "marketer":
        raise Forbidden("Marketers cannot dismiss comments.")
    comment = _open_unmatched(session, unmatched_id)
    comment.dismissed_at = utcnow()
    comment.dismissed_by_id = actor.id
    comment.dismiss_reason = text
    audit.record(session, actor.id, "inbox.dismiss", "unmatched_comment", comment.id, reason=text)
    session.flush()
    return comment


# ------------------------------------------------------------------ import

IMPORT_COLUMNS = ("author", "author_name", "channel", "kind", "occurred_at", "sentiment", "text",
                  "external_id")  # fmt: skip
MAX_IMPORT_ROWS = 50_000


def import_comments_csv(session: Session, text: str, source: str = "import") -> dict[str, Any]:
    """Comments from a CSV export (columns: author, author_name, channel, kind, occurred_at,
    sentiment, text, external_id). Each row is kept or rejected with its reason; a row
    imported again (same external_id) is stored once."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"author", "channel", "occurred_at"} - set(reader.fieldnames or ())
    if missing:
        raise Invalid(f"Missing columns: {', '.join(sorted(missing))}.", field="file")
    report: dict[str, Any] = {"matched": 0, "unmatched": 0, "repeated": 0, "rejected": []}
    for line, row in enumerate(reader, start=2):
        if line > MAX_IMPORT_ROWS + 1:
            raise Invalid(f"At most {MAX_IMPORT_ROWS} rows per file.", field="file")
        try:
            at = datetime.fromisoformat((row.get("occurred_at") or "").strip())
            raw_sentiment = (row.get("sentiment") or "").strip()
            item = CommentIn(
                author=(row.get("author") or "").strip() or None,
                author_name=(row.get("author_name") or "").strip() or None,
                channel=(row.get("channel") or "").strip().lower(),
                kind=(row.get("kind") or "comment").strip().lower() or "comment",
                occurred_at=at,
                sentiment=float(raw_sentiment) if raw_sentiment else None,
                text=(row.get("text") or "").strip() or None,
                source=source,
                external_id=(row.get("external_id") or "").strip()[:200] or None,
            )
            with session.begin_nested():
                result = ingest_comment(session, item)
        except ValueError:
            report["rejected"].append({"line": line, "reason": "unreadable date or number"})
            continue
        except (Invalid, Conflict) as exc:
            report["rejected"].append({"line": line, "reason": exc.message})
            continue
        if not result.created:
            report["repeated"] += 1
        elif result.matched:
            report["matched"] += 1
        else:
            report["unmatched"] += 1
    return report
