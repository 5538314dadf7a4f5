"""The API's request and response shapes: they validate requests and generate the OpenAPI document.

Schemas check format only (types, lengths the columns can hold, allowed values); the services keep
the rules (who may see or edit whom, uniqueness, idempotency).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator

from app.contacts.models import (
    CHANNELS,
    CONSENT_BASES,
    CONSENT_STATUSES,
    DIRECTIONS,
    INTERACTION_KINDS,
    SIZE_BANDS,
    TIERS,
    Contact,
    Interaction,
    Organization,
)
from app.contacts.service import SORTS

# Identifiers are 32-bit integers in the database; larger numbers cannot name a row.
MAX_ID = 2**31 - 1
# Money in cents fits a BIGINT with a wide margin (ten thousand billion euros).
MAX_CENTS = 10**15

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Cents = Annotated[int, Field(ge=0, le=MAX_CENTS)]


def _length(model: type[Any], column: str) -> int:
    length: int = model.__table__.c[column].type.length
    return length


def _text(model: type[Any], column: str, **kwargs: Any) -> Any:
    """An optional string no longer than its column."""
    return Field(default=None, max_length=_length(model, column), **kwargs)


def _to_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("the date is out of range") from exc
    if not 1900 <= utc.year <= 2999:
        raise ValueError("the date must be between the years 1900 and 2999")
    return utc


UTCDate = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Direction = Literal[DIRECTIONS]  # type: ignore[valid-type]
InteractionKind = Literal[INTERACTION_KINDS]  # type: ignore[valid-type]
ConsentStatus = Literal[CONSENT_STATUSES]  # type: ignore[valid-type]
ConsentBasis = Literal[CONSENT_BASES]  # type: ignore[valid-type]
TierName = Literal[TIERS]  # type: ignore[valid-type]
SizeBand = Literal[SIZE_BANDS]  # type: ignore[valid-type]
ContactSort = Literal[tuple(SORTS)]  # type: ignore[valid-type]

CountryCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", examples=["IT"])]
LanguageCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}([-_][A-Za-z]{2})?$", examples=["it"])]
TagName = Annotated[str, Field(max_length=60)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Query(BaseModel):
    # Unknown query parameters (cache busters, ?lang=) are ignored rather than refused.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- problems


class FieldError(_Output):
    field: str = Field(description="Where the problem is: a field name, or a dotted path.")
    message: str


class Problem(_Output):
    """An RFC 9457 problem body, sent as application/problem+json."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldError] | None = None


# ---------------------------------------------------------------- contacts


class ContactFields(_Input):
    first_name: str | None = _text(Contact, "first_name")
    last_name: str | None = _text(Contact, "last_name")
    email: str | None = _text(Contact, "email")
    phone: str | None = _text(Contact, "phone")
    title: str | None = _text(Contact, "title")
    organization_id: Id | None = None
    language: LanguageCode | None = None
    country: CountryCode | None = None
    city: str | None = _text(Contact, "city")
    owner_id: Id | None = Field(
        default=None, description="Ignored for salespeople: they own the people they create."
    )
    # Normalising adds at most "https://www." (12 characters); the result must fit the column.
    linkedin_url: str | None = Field(
        default=None, max_length=_length(Contact, "linkedin_url") - len("https://www.")
    )
    x_handle: str | None = _text(Contact, "x_handle")
    facebook: str | None = _text(Contact, "facebook")
    source: str | None = _text(Contact, "source")
    notes: Annotated[str, Field(max_length=20_000)] | None = Field(
        default=None, description="Private notes; never shown to marketers."
    )
    custom_fields: dict[str, Any] | None = None
    tags: Annotated[list[TagName], Field(max_length=100)] | None = None
    consent_status: ConsentStatus | None = None
    consent_basis: ConsentBasis | None = None


class ContactIn(ContactFields):
    """A new person. Needs a name or an email; email and LinkedIn URL are unique."""


class ContactPatch(ContactFields):
    """Only the fields sent are changed; `null` clears a field."""


class ContactQuery(_Query):
    q: Annotated[str, Field(max_length=200, description="Words in name, email or company.")] = ""
    tag: TagName = ""
    consent: ConsentStatus | None = None
    tier: TierName | None = None
    owner_id: Id | None = None
    organization_id: Id | None = None
    sort: ContactSort = "name"  # type: ignore[valid-type]
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 50


class ContactLookup(_Query):
    email: str | None = _text(Contact, "email")
    linkedin_url: str | None = _text(Contact, "linkedin_url")


class ContactOut(_Output):
    id: int
    first_name: str
    last_name: str
    full_name: str
    email: str | None
    phone: str | None
    title: str | None
    organization_id: int | None
    organization_name: str | None
    language: str | None
    country: str | None
    city: str | None
    owner_id: int | None
    linkedin_url: str | None
    x_handle: str | None
    facebook: str | None
    source: str | None
    notes: str | None = Field(description="Private notes; always null for marketers.")
    custom_fields: dict[str, Any]
    tags: list[str]
    consent_status: str
    consent_basis: str
    consent_changed_at: datetime | None
    tier: str
    last_interaction_at: datetime | None
    erased: bool
    created_at: datetime | None
    updated_at: datetime | None


class ContactPage(_Output):
    items: list[ContactOut]
    total: int
    page: int
    per_page: int
    pages: int


# ---------------------------------------------------------------- organizations


class OrganizationIn(_Input):
    """A new account. Domains are unique."""

    name: Annotated[str, Field(min_length=1, max_length=_length(Organization, "name"))]
    domain: str | None = _text(Organization, "domain")
    industry: str | None = _text(Organization, "industry")
    size_band: SizeBand | None = None
    city: str | None = _text(Organization, "city")
    country: CountryCode | None = None
    annual_value_cents: Cents = 0
    key_account: bool = False
    owner_id: Id | None = Field(
        default=None, description="Ignored for salespeople: they own the accounts they create."
    )


class OrganizationQuery(_Query):
    q: Annotated[str, Field(max_length=200, description="Part of the account's name.")] = ""
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 50


class OrganizationOut(_Output):
    id: int
    name: str
    domain: str | None
    industry: str | None
    size_band: str | None
    city: str | None
    country: str | None
    annual_value_cents: int
    key_account: bool
    owner_id: int | None
    created_at: datetime | None


class OrganizationPage(_Output):
    items: list[OrganizationOut]
    total: int
    page: int
    per_page: int
    pages: int


# ---------------------------------------------------------------- interactions

MAX_KEY_LENGTH = 300


def _participant_key(value: Any) -> int | str:
    # One readable message, rather than one error per member of an int | str union.
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_ID:
            raise ValueError("is not a contact id")
        return value
    if isinstance(value, str) and 3 <= len(value.strip()) <= MAX_KEY_LENGTH:
        return value.strip()
    raise ValueError("must be a contact id, an email address or a LinkedIn profile URL")


ParticipantKey = Annotated[
    int | str,
    PlainValidator(
        _participant_key,
        json_schema_input_type=Annotated[int, Field(ge=1, le=MAX_ID)]
        | Annotated[str, Field(min_length=3, max_length=MAX_KEY_LENGTH)],
    ),
    Field(
        description="A contact id, an email address or a LinkedIn profile URL.",
        examples=[42, "anna@example.com", "https://www.linkedin.com/in/anna"],
    ),
]


class InteractionIn(_Input):
    """One interaction with one or more known people (a purchase, a comment, a meeting...).

    With an `external_id`, posting the same (source, external_id) again records nothing new and
    answers 200 with the interaction already stored.
    """

    participants: Annotated[list[ParticipantKey], Field(min_length=1, max_length=100)]
    channel: Channel
    direction: Direction
    kind: InteractionKind
    occurred_at: UTCDate = Field(description="ISO 8601 with a time zone.")
    sentiment: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] | None = None
    value_cents: Cents = 0
    summary: Annotated[str, Field(max_length=20_000)] | None = None
    needs_answer: bool = False
    external_id: str | None = _text(Interaction, "external_id")
    source: str | None = _text(
        Interaction,
        "source",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.:@/-]+$",
        description='Where the interaction comes from; defaults to "api:<token name>".',
    )


class TimelineQuery(_Query):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    before_id: Id | None = Field(
        default=None,
        description="Page back: only the interactions that come after this one (an id from "
        "the previous page, normally its last) in newest-first order.",
    )


class InteractionOut(_Output):
    id: int
    channel: str
    direction: str
    kind: str
    occurred_at: datetime
    sentiment: float | None
    value_cents: int
    summary: str | None
    needs_answer: bool
    answered_at: datetime | None
    source: str
    external_id: str | None
    participant_ids: list[int] = Field(description="The participants the caller may see.")
    created_at: datetime | None


class InteractionList(_Output):
    items: list[InteractionOut]
