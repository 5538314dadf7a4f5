"""Rule segments and static lists: a whitelist of fields and operators compiled to one SQL
query, evaluated live every time (no stored membership for rule segments, so a new or
changed contact is in its segments the moment its row is committed).

Values always travel as bound parameters; field names and operators only ever select an
expression from the whitelist below, never text that reaches the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.auth.models import Role, User
from app.contacts.models import (
    CONSENT_BASES,
    CONSENT_STATUSES,
    SIZE_BANDS,
    TIERS,
    Contact,
    Organization,
    Tag,
    contact_tags,
)
from app.contacts.service import check_contact_access, visible_contacts_clause
from app.db import escape_like, utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.pagination import Page
from app.segments.models import ContactScore, Segment, SegmentMember, TierAssignment
from app.segments.runs import latest_run

MATCHES = ("all", "any")
KINDS = ("rules", "static")
MAX_RULES = 50
MAX_IN_VALUES = 500

OPERATORS = (
    "eq", "ne", "contains", "starts_with", "in", "not_in", "gt", "gte", "lt", "lte",
    "is_empty", "is_not_empty", "within_days", "not_within_days", "has_tag", "lacks_tag",
)  # fmt: skip
NO_VALUE = ("is_empty", "is_not_empty")
LIST_VALUE = ("in", "not_in")

TEXT_OPS = ("eq", "ne", "contains", "starts_with", "in", "not_in", "is_empty", "is_not_empty")
CHOICE_OPS = ("eq", "ne", "in", "not_in")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
DATE_OPS = ("gt", "gte", "lt", "lte", "within_days", "not_within_days")
ID_OPS = ("eq", "ne", "in", "not_in")


@dataclass(frozen=True)
class FieldSpec:
    """One field a rule may test: its group, its value type and the operators it allows."""

    key: str
    group: str  # contact, account, score, tier, tags, interaction, consent
    type: str  # text, choice, number, integer, money, bool, date, id, tag
    operators: tuple[str, ...]
    choices: tuple[str, ...] = ()
    nullable: bool = False


def _spec(key: str, group: str, type_: str, ops: tuple[str, ...], **kw: Any) -> FieldSpec:
    if kw.get("nullable") and "is_empty" not in ops:
        ops = (*ops, "is_empty", "is_not_empty")
    return FieldSpec(key, group, type_, ops, **kw)


SCORE_COMPONENTS = (
    "potential", "influence", "bridging", "engagement", "account_value", "sentiment",
)  # fmt: skip

_FIELD_LIST = [
    _spec("first_name", "contact", "text", TEXT_OPS),
    _spec("last_name", "contact", "text", TEXT_OPS),
    _spec("email", "contact", "text", TEXT_OPS),
    _spec("title", "contact", "text", TEXT_OPS),
    _spec("language", "contact", "text", TEXT_OPS),
    _spec("country", "contact", "text", TEXT_OPS),
    _spec("city", "contact", "text", TEXT_OPS),
    _spec("source", "contact", "text", TEXT_OPS),
    _spec("created_at", "contact", "date", DATE_OPS),
    _spec("owner_id", "contact", "id", ID_OPS, nullable=True),
    _spec("consent_status", "consent", "choice", CHOICE_OPS, choices=CONSENT_STATUSES),
    _spec("consent_basis", "consent", "choice", CHOICE_OPS, choices=CONSENT_BASES),
    _spec("tier", "tier", "choice", CHOICE_OPS, choices=TIERS),
    _spec("circle_id", "tier", "id", ID_OPS, nullable=True),
    _spec("tags", "tags", "tag", ("has_tag", "lacks_tag")),
    _spec("last_interaction_at", "interaction", "date", DATE_OPS, nullable=True),
    _spec("account.name", "account", "text", TEXT_OPS),
    _spec("account.industry", "account", "text", TEXT_OPS),
    _spec("account.size_band", "account", "choice", CHOICE_OPS, choices=SIZE_BANDS,
          nullable=True),
    _spec("account.city", "account", "text", TEXT_OPS),
    _spec("account.key_account", "account", "bool", ("eq",)),
    _spec("account.annual_value", "account", "money", NUMBER_OPS),
    *[_spec(f"score.{name}", "score", "number", NUMBER_OPS) for name in SCORE_COMPONENTS],
    _spec("score.rank", "score", "integer", NUMBER_OPS),
]  # fmt: skip
FIELDS: dict[str, FieldSpec] = {f.key: f for f in _FIELD_LIST}


@dataclass(frozen=True)
class Rule:
    """A checked rule: its field, its operator and its value in the field's Python type."""

    field: FieldSpec
    op: str
    value: Any

    def as_json(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        return {"field": self.field.key, "operator": self.op, "value": value}


# ---------------------------------------------------------------- checking rules


def check_rules(match: str, rules: Sequence[dict[str, Any]]) -> list[Rule]:
    """Check every rule against the whitelist; the first fault raises Invalid naming the rule."""
    if match not in MATCHES:
        raise Invalid("Match must be 'all' or 'any'.", field="match")
    if not isinstance(rules, list | tuple):
        raise Invalid("Rules must be a list.", field="rules")
    if len(rules) > MAX_RULES:
        raise Invalid(f"A segment has at most {MAX_RULES} rules.", field="rules")
    return [_check_rule(i, rule) for i, rule in enumerate(rules, start=1)]


def _check_rule(n: int, rule: Any) -> Rule:
    if not isinstance(rule, dict):
        raise Invalid(f"Rule {n}: a rule needs a field, an operator and a value.", field="rules")
    key = rule.get("field")
    op = rule.get("operator", rule.get("op"))
    spec = FIELDS.get(key) if isinstance(key, str) else None
    if spec is None:
        raise Invalid(f"Rule {n}: unknown field {key!r}.", field="rules")
    if op not in OPERATORS:
        raise Invalid(f"Rule {n}: unknown operator {op!r}.", field="rules")
    if op not in spec.operators:
        raise Invalid(f"Rule {n}: the operator {op!r} does not apply to {key!r}.", field="rules")
    try:
        value = _check_value(spec, op, rule.get("value"))
    except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
        raise Invalid(f"Rule {n}: {exc}", field="rules") from None
    return Rule(spec, op, value)


def _check_value(spec: FieldSpec, op: str, raw: Any) -> Any:
    if op in NO_VALUE:
        return None
    if op in ("within_days", "not_within_days"):
        days = _integer(raw, "a number of days")
        if not 0 <= days <= 36_500:
            raise ValueError("the number of days must be between 0 and 36500.")
        return days
    if op in LIST_VALUE:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ValueError("give a list of values (comma separated).")
        values = [_scalar(spec, item) for item in items if str(item).strip() != ""]
        if not values:
            raise ValueError("the list of values is empty.")
        if len(values) > MAX_IN_VALUES:
            raise ValueError(f"at most {MAX_IN_VALUES} values.")
        return tuple(dict.fromkeys(values))
    return _scalar(spec, raw)


def _scalar(spec: FieldSpec, raw: Any) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("a value is needed.")
    if isinstance(raw, list | tuple | dict):
        raise ValueError("give a single value.")
    if spec.type in ("text", "tag"):
        text = " ".join(str(raw).split())
        if len(text) > 300:
            raise ValueError("the value is too long.")
        return text.lower()
    if spec.type == "choice":
        value = str(raw).strip()
        if value not in spec.choices:
            raise ValueError(f"choose one of {', '.join(spec.choices)}.")
        return value
    if spec.type in ("integer", "id"):
        return _integer(raw, "a whole number")
    if spec.type == "number":
        if isinstance(raw, bool):
            raise ValueError("give a number.")
        try:
            number = float(str(raw).strip().replace(",", "."))
        except ValueError:
            raise ValueError("give a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("give a number.")
        return number
    if spec.type == "money":
        if isinstance(raw, bool):
            raise ValueError("give an amount.")
        try:
            amount = Decimal(str(raw).strip().replace(",", "."))
        except InvalidOperation:
            raise ValueError("give an amount.") from None
        if not amount.is_finite():
            raise ValueError("give an amount.")
        return amount.quantize(Decimal("0.01"))
    if spec.type == "bool":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in ("true", "yes", "1", "sì", "si", "y"):
            return True
        if word in ("false", "no", "0", "n"):
            return False
        raise ValueError("give yes or no.")
    if spec.type == "date":
        return _date(raw)
    raise ValueError("unsupported field.")  # pragma: no cover - the whitelist is closed


def _integer(raw: Any, what: str) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"give {what}.")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not text.lstrip("-").isdigit() or len(text) > 18:
        raise ValueError(f"give {what}.")
    return int(text)


def _date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC).date() if raw.tzinfo else raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip()[:10])
    except ValueError:
        raise ValueError("give a date as YYYY-MM-DD.") from None


# ---------------------------------------------------------------- compiling to SQL


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _org_column(name: str) -> Any:
    return (
        select(getattr(Organization, name))
        .where(Organization.id == Contact.organization_id)
        .scalar_subquery()
    )


def _compare(rule: Rule, col: Any, *, lowered: bool = False) -> ColumnElement[bool]:
    """The operator applied to a column expression; `lowered` compares text case-insensitively.

    Negative operators (ne, not_in) keep the rows where the column is empty: a person
    with no country is 'not in Italy'.
    """
    op, value = rule.op, rule.value
    target = func.lower(col) if lowered else col
    if op == "eq":
        return target == value
    if op == "ne":
        return or_(col.is_(None), target != value)
    if op == "in":
        return target.in_(list(value))
    if op == "not_in":
        return or_(col.is_(None), target.not_in(list(value)))
    if op == "contains":
        return target.like(f"%{escape_like(value)}%", escape="\\")
    if op == "starts_with":
        return target.like(f"{escape_like(value)}%", escape="\\")
    if op == "is_empty":
        return or_(col.is_(None), col == "") if rule.field.type == "text" else col.is_(None)
    if op == "is_not_empty":
        return and_(col.is_not(None), col != "") if rule.field.type == "text" else col.is_not(None)
    if op in ("gt", "gte", "lt", "lte"):
        return {"gt": col > value, "gte": col >= value, "lt": col < value, "lte": col <= value}[op]
    raise Invalid(f"The operator {op!r} does not apply here.")  # pragma: no cover


def _compare_date(rule: Rule, col: Any, now: datetime) -> ColumnElement[bool]:
    """Dates are whole UTC days: 'after 2024-05-01' starts on 2 May, 'before' ends on 30 April."""
    op, value = rule.op, rule.value
    if op == "within_days":
        return col >= now - timedelta(days=value)
    if op == "not_within_days":
        return or_(col.is_(None), col < now - timedelta(days=value))
    if op in NO_VALUE:
        return col.is_(None) if op == "is_empty" else col.is_not(None)
    start, next_day = _day_start(value), _day_start(value + timedelta(days=1))
    return {
        "gt": col >= next_day,
        "gte": col >= start,
        "lt": col < start,
        "lte": col < next_day,
    }[op]


def _compile_rule(rule: Rule, run_id: int | None, now: datetime) -> ColumnElement[bool]:
    key, spec = rule.field.key, rule.field
    if spec.type == "date":
        return _compare_date(rule, getattr(Contact, key), now)
    if key == "tags":
        tagged = exists().where(
            contact_tags.c.contact_id == Contact.id,
            contact_tags.c.tag_id == Tag.id,
            Tag.name == rule.value,
        )
        return tagged if rule.op == "has_tag" else not_(tagged)
    if key == "circle_id":
        return _compare(rule, _circle_column())
    if key.startswith("score."):
        if run_id is None:
            return false()  # no finished run: nobody has a score yet
        column = getattr(ContactScore, key.removeprefix("score."))
        return exists().where(
            ContactScore.run_id == run_id,
            ContactScore.contact_id == Contact.id,
            _compare(rule, column),
        )
    if key.startswith("account."):
        name = key.removeprefix("account.")
        if name == "annual_value":
            cents = Rule(spec, rule.op, int(rule.value * 100))
            return _compare(cents, func.coalesce(_org_column("annual_value_cents"), 0))
        if name == "key_account":
            flag = func.coalesce(_org_column("key_account"), False)
            return flag.is_(True) if rule.value else flag.is_(False)
        return _compare(rule, _org_column(name), lowered=spec.type == "text")
    return _compare(rule, getattr(Contact, key), lowered=spec.type == "text")


def _circle_column() -> Any:
    return (
        select(TierAssignment.circle_id)
        .where(TierAssignment.contact_id == Contact.id)
        .scalar_subquery()
    )


class _Unset:
    """No run looked up yet (None means: looked up, and there is no finished run)."""


UNSET = _Unset()
RunId = int | None | _Unset


def _needs_run(rules: Sequence[Rule]) -> bool:
    return any(r.field.group == "score" for r in rules)


def _mentions_scores(rules: Any) -> bool:
    return isinstance(rules, list) and any(
        isinstance(r, dict) and str(r.get("field", "")).startswith("score.") for r in rules
    )


def _latest_run_id(session: Session) -> int | None:
    run = latest_run(session)
    return run.id if run is not None else None


def compile_segment(
    session: Session,
    match: str,
    rules: Sequence[dict[str, Any]],
    *,
    now: datetime | None = None,
    run_id: RunId = UNSET,
) -> ColumnElement[bool]:
    """One boolean SQL expression over Contact for the rules (no rules: everyone).

    Score rules read the latest finished run (pass `run_id` to reuse one already looked up).
    """
    checked = check_rules(match, rules)
    return _compile_checked(session, match, checked, now=now, run_id=run_id)


def _compile_checked(
    session: Session,
    match: str,
    checked: Sequence[Rule],
    *,
    now: datetime | None = None,
    run_id: RunId = UNSET,
) -> ColumnElement[bool]:
    if not checked:
        return true()
    if isinstance(run_id, _Unset):
        run_id = _latest_run_id(session) if _needs_run(checked) else None
    now = now or utcnow()
    parts = [_compile_rule(rule, run_id, now) for rule in checked]
    return and_(*parts) if match == "all" else or_(*parts)


def _base_query(user: User | None) -> Select[tuple[Contact]]:
    stmt = select(Contact).where(Contact.erased_at.is_(None), Contact.merged_into_id.is_(None))
    if user is not None:
        stmt = stmt.where(visible_contacts_clause(user))
    return stmt


def _segment_clause(
    session: Session, segment: Segment, *, run_id: RunId = UNSET
) -> ColumnElement[bool]:
    if segment.kind == "static":
        members = select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment.id)
        return Contact.id.in_(members)
    return compile_segment(session, segment.match, segment.rules or [], run_id=run_id)


def segment_query(session: Session, user: User | None, segment: Segment) -> Select[tuple[Contact]]:
    """The people in a segment as this user may see them (None: everyone, for jobs)."""
    return _base_query(user).where(_segment_clause(session, segment))


def _count(session: Session, stmt: Select[tuple[Contact]]) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def count_and_preview(
    session: Session,
    user: User,
    match: str,
    rules: Sequence[dict[str, Any]],
    limit: int = 20,
) -> tuple[int, list[Contact]]:
    """How many people the rules select for this user, and the first few of them."""
    stmt = _base_query(user).where(compile_segment(session, match, rules))
    people = list(
        session.scalars(
            stmt.options(selectinload(Contact.organization), selectinload(Contact.owner))
            .order_by(Contact.sort_name, Contact.id)
            .limit(max(0, min(limit, 200)))
        )
    )
    return _count(session, stmt), people


def segment_members_ids(session: Session, segment: Segment, user: User | None = None) -> list[int]:
    """The ids of the segment's people, evaluated now (erased and merged people excluded).

    Consent is not filtered here: the caller (a campaign) decides and records why it skips.
    """
    stmt = segment_query(session, user, segment).with_only_columns(Contact.id)
    return list(session.scalars(stmt.order_by(Contact.id)))


def segment_count(session: Session, user: User | None, segment: Segment) -> int:
    return _count(session, segment_query(session, user, segment))


def segment_counts(
    session: Session, user: User | None, segments: Sequence[Segment]
) -> dict[int, int | None]:
    """Live counts for many segments in one query (None for a segment whose rules no longer
    check, e.g. a field that was removed)."""
    run_id: RunId = UNSET
    if any(s.kind == "rules" and _mentions_scores(s.rules) for s in segments):
        run_id = _latest_run_id(session)
    counts: dict[int, int | None] = {}
    columns = []
    for segment in segments:
        try:
            clause = _segment_clause(session, segment, run_id=run_id)
        except Invalid:
            counts[segment.id] = None
            continue
        count = (
            select(func.count(Contact.id))
            .where(Contact.erased_at.is_(None), Contact.merged_into_id.is_(None), clause)
            .where(visible_contacts_clause(user) if user is not None else true())
            .scalar_subquery()
        )
        columns.append((segment.id, count))
    for start in range(0, len(columns), 40):
        chunk = columns[start : start + 40]
        row = session.execute(select(*[c.label(f"s{i}") for i, (_, c) in enumerate(chunk)]))
        values = row.one()
        for (segment_id, _), value in zip(chunk, values, strict=True):
            counts[segment_id] = int(value or 0)
    return counts


def segment_page(
    session: Session, user: User, segment: Segment, page: int = 1, per_page: int = 50
) -> Page[Contact]:
    stmt = segment_query(session, user, segment)
    page = max(1, page)
    items = list(
        session.scalars(
            stmt.options(selectinload(Contact.organization), selectinload(Contact.owner),
                         selectinload(Contact.tags))
            .order_by(Contact.sort_name, Contact.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )  # fmt: skip
    return Page(items=items, total=_count(session, stmt), page=page, per_page=per_page)


# ---------------------------------------------------------------- saved segments


def can_manage(user: User, segment: Segment) -> bool:
    """Admins, managers and marketers manage every segment; salespeople their own."""
    if user.role in (Role.ADMIN, Role.MANAGER, Role.MARKETER):
        return True
    return segment.created_by_id == user.id


def _check_manage(user: User, segment: Segment) -> None:
    if not can_manage(user, segment):
        raise Forbidden("Only its author or a manager can change this segment.")


def get_segment(session: Session, user: User, segment_id: int, *, write: bool = False) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("No such segment.")
    if write:
        _check_manage(user, segment)
    return segment


def list_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(func.lower(Segment.name), Segment.id)))


def _clean_name(name: str | None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise Invalid("A segment needs a name.", field="name")
    if len(name) > 200:
        raise Invalid("The name is too long (200 characters at most).", field="name")
    return name


def _save(session: Session, segment: Segment) -> None:
    try:
        with session.begin_nested():
            session.add(segment)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("Another segment has this name.", field="name") from exc


def create_segment(
    session: Session,
    actor: User,
    *,
    name: str,
    kind: str = "rules",
    match: str = "all",
    rules: Sequence[dict[str, Any]] = (),
    description: str | None = None,
) -> Segment:
    if kind not in KINDS:
        raise Invalid("A segment is built from rules or is a static list.", field="kind")
    checked = check_rules(match, list(rules)) if kind == "rules" else []
    segment = Segment(
        name=_clean_name(name),
        description=(description or "").strip() or None,
        kind=kind,
        match=match if match in MATCHES else "all",
        rules=[r.as_json() for r in checked],
        created_by_id=actor.id,
    )
    _save(session, segment)
    return segment


def update_segment(
    session: Session,
    actor: User,
    segment: Segment,
    *,
    name: str | None = None,
    match: str | None = None,
    rules: Sequence[dict[str, Any]] | None = None,
    description: str | None = None,
) -> Segment:
    """Change a segment; its kind (rules or static list) stays what it was."""
    _check_manage(actor, segment)
    new_match = segment.match if match is None else match
    if segment.kind == "rules":
        current = segment.rules if rules is None else list(rules)
        checked = check_rules(new_match, current)
        segment.rules = [r.as_json() for r in checked]
    elif new_match not in MATCHES:
        raise Invalid("Match must be 'all' or 'any'.", field="match")
    segment.match = new_match
    if name is not None:
        segment.name = _clean_name(name)
    if description is not None:
        segment.description = description.strip() or None
    segment.updated_at = utcnow()
    _save(session, segment)
    return segment


def delete_segment(session: Session, actor: User, segment: Segment) -> None:
    _check_manage(actor, segment)
    session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def add_to_static(session: Session, actor: User, segment: Segment, contact: Contact) -> bool:
    """Add a person to a static list; False when they were already on it."""
    _check_manage(actor, segment)
    if segment.kind != "static":
        raise Invalid("People are added by hand to static lists only.")
    check_contact_access(actor, contact)
    if contact.is_erased or contact.merged_into_id is not None:
        raise Invalid("An erased or merged person cannot join a list.")
    present = session.scalar(
        select(SegmentMember.id).where(
            SegmentMember.segment_id == segment.id, SegmentMember.contact_id == contact.id
        )
    )
    if present is not None:
        return False
    try:
        with session.begin_nested():
            session.add(SegmentMember(segment_id=segment.id, contact_id=contact.id))
            session.flush()
    except IntegrityError:
        return False  # added at the same moment by someone else
    return True


def remove_from_static(session: Session, actor: User, segment: Segment, contact_id: int) -> bool:
    """Take a person off a static list; False when they were not on it."""
    _check_manage(actor, segment)
    if segment.kind != "static":
        raise Invalid("People are removed by hand from static lists only.")
    contact = session.get(Contact, contact_id)
    if contact is not None:
        check_contact_access(actor, contact)
    result = session.execute(
        delete(SegmentMember).where(
            SegmentMember.segment_id == segment.id, SegmentMember.contact_id == contact_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
