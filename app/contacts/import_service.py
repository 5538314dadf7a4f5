"""Writing imports: contacts, relationships and interactions, set-based.

Rows come from `app.contacts.importers` (dicts with a `line`). Each row is checked on its
own: a bad row is listed in the report with its line and reason, the good ones are
written. Existing people are found with lookups in batches (by lower-case email and
normalised LinkedIn URL), new ones are written with COPY on PostgreSQL (Core `INSERT ...
executemany` elsewhere), matched ones with one `UPDATE ... executemany` per set of changed
columns. No ORM object per row. Functions flush and never commit; the caller commits
once, so a failure leaves nothing of the import behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import String, Table, any_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from app.audit import AuditEvent
from app.auth.models import Role, User
from app.contacts import importers
from app.contacts.models import (
    CHANNELS,
    CONSENT_BASES,
    DIRECTIONS,
    INTERACTION_KINDS,
    RELATIONSHIP_KINDS,
    ConsentEvent,
    Contact,
    ImportRun,
    Interaction,
    Organization,
    Relationship,
    Tag,
    contact_tags,
    interaction_participants,
)
from app.contacts.normalize import (
    clean,
    normalize_email,
    normalize_linkedin_url,
    normalize_x_handle,
    search_text,
    sort_name,
)
from app.contacts.service import FUTURE_TOLERANCE, parse_tags, touch_last_interaction
from app.db import copy_records, copy_rows, table_of, utcnow
from app.errors import DomainError, Forbidden, Invalid
from app.gc_pause import cyclic_gc_paused

BATCH = 2000
# Rows cleaned, matched and written together (see `import_contacts`).
SEGMENT = 20_000
LOOKUP_BATCH = 1000

Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected.append({"line": line, "reason": reason})

    def report(self) -> list[dict[str, Any]]:
        """Rejected rows, then notes on the file, in line order (what ImportRun.rejected holds)."""
        rows = sorted(self.rejected, key=lambda r: r["line"])
        notes = [{**w, "level": "warning"} for w in sorted(self.warnings, key=lambda r: r["line"])]
        return rows + notes


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _among(session: Session, column: Any, keys: Sequence[str]) -> Iterator[Any]:
    """Conditions `column IN keys`, a batch each. PostgreSQL takes a batch as one array
    parameter (= ANY): a 1,000-item IN list costs more to render and parse than the
    lookup itself (1.3 s vs 0.3 s for 100,000 emails)."""
    if session.get_bind().dialect.name != "postgresql":
        for chunk in _chunks(keys, LOOKUP_BATCH):
            yield column.in_(chunk)
        return
    for chunk in _chunks(keys, LOOKUP_BATCH * 20):
        yield column == any_(bindparam("keys", list(chunk), type_=ARRAY(String)))


def _load_actor(session: Session, actor_id: int | None) -> User | None:
    if actor_id is None:
        return None
    actor = session.get(User, actor_id)
    if actor is None:
        raise Invalid("The user running the import does not exist.")
    if actor.role == Role.MARKETER:
        raise Forbidden("Marketers can read contacts but not import them.")
    return actor


def _insert_ignoring_duplicates(session: Session, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite (concurrent imports
    may create the same tag or link at the same moment)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table)


def _bulk_insert_ids(
    session: Session, table: Table, rows: Iterable[dict[str, Any]], count: int
) -> list[int]:
    """Insert `count` rows (all with the same keys) and return their new ids, in order.

    PostgreSQL: ids drawn from the table's sequence in one query, then all rows sent in
    one COPY (several times faster than INSERT executemany, whose statement psycopg must
    re-parse for every batch). `rows` may be a generator: the server stores the rows
    already sent while the generator prepares the next ones, where batches would take
    turns with it. Elsewhere: Core INSERT ... RETURNING, executemany, in batches.
    """
    if not count:
        return []
    it = iter(rows)
    if session.get_bind().dialect.name != "postgresql":
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        out: list[int] = []
        while batch := list(islice(it, BATCH)):
            out.extend(row.id for row in session.execute(stmt, batch))
        return out
    # One array, not one row per id: 100k result rows cost a second in the ORM layer. The
    # sequence is looked up once (a sub-select), not for every id: 0.23 s -> 0.03 s at 100k.
    ids: list[int] = session.scalar(
        text(
            "SELECT array_agg(nextval((SELECT pg_get_serial_sequence(:table, 'id')::regclass)))"
            " FROM generate_series(1, :n)"
        ),
        {"table": table.name, "n": count},
    )
    first = next(it)
    copy_records(
        session,
        table,
        ["id", *first],
        ({"id": new_id, **row} for new_id, row in zip(ids, chain([first], it), strict=True)),
    )
    return ids


# ---------------------------------------------------------------- cleaning one row

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOMAIN = r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
_SIMPLE_EMAIL = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@{_DOMAIN}$")
# A local part with accented letters (niccolò.rossi@...): ASCII atext plus lower- and
# upper-case letters, already in NFC, is valid for email_validator and comes back as is.
_INTL_ATEXT = rf"(?:{_ATEXT}|[^\x00-\x7f])"
_LETTERS_EMAIL = re.compile(rf"^{_INTL_ATEXT}+(?:\.{_INTL_ATEXT}+)*@{_DOMAIN}$")


@lru_cache(maxsize=8192)
def _checked_domain(domain: str) -> str | None:
    try:
        email = normalize_email(f"postmaster@{domain}")
    except Invalid:
        return None
    return email.split("@", 1)[1] if email else None


def _plain_local_part(local: str) -> bool:
    """True when email_validator would accept `local` and return it unchanged: ASCII,
    or with non-ASCII characters that are all cased letters, in NFC."""
    if len(local) > 64:
        return False
    if local.isascii():
        return True
    return (
        len(local.encode()) <= 64
        and unicodedata.is_normalized("NFC", local)
        and all(c.isascii() or unicodedata.category(c) in ("Ll", "Lu") for c in local)
    )


def import_email(raw: str | None) -> str | None:
    """Same result as `normalize_email`, fast for the addresses that make up nearly every
    file: the domain is checked once per file, not once per row. Anything unusual goes
    through `normalize_email`."""
    value = (raw or "").strip()
    if not value:
        return None
    match = (_SIMPLE_EMAIL if value.isascii() else _LETTERS_EMAIL).match(value)
    if match and len(value.encode()) <= 254:
        local = value[: match.start(1) - 1]
        if _plain_local_part(local):
            domain = _checked_domain(match.group(1).lower())
            if domain is not None:
                return f"{local.lower()}@{domain}"
    return normalize_email(value)


_CONSENT_VALUES = {
    "granted": "granted", "yes": "granted", "y": "granted", "true": "granted", "1": "granted",
    "si": "granted", "sì": "granted", "opt-in": "granted", "opted_in": "granted",
    "opt_in": "granted", "subscribed": "granted", "consent": "granted",
    "opted_out": "opted_out", "opted-out": "opted_out", "opt-out": "opted_out",
    "opt_out": "opted_out", "no": "opted_out", "n": "opted_out", "false": "opted_out",
    "0": "opted_out", "unsubscribed": "opted_out", "revoked": "opted_out",
    "unknown": None, "": None,
}  # fmt: skip
_TRUE = {"1", "true", "yes", "y", "si", "sì", "x", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


def _parse_bool(raw: str | None, what: str) -> bool:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Invalid(f"{what} must be yes or no, got {raw!r}.")


def _domain(raw: str | None) -> str | None:
    value = (raw or "").strip().lower()
    if not value:
        return None
    value = re.sub(r"^[a-z]+://", "", value).split("/", 1)[0].split("?", 1)[0]
    value = value.removeprefix("www.")
    return value[:200] or None


def _split_full_name(full: str) -> tuple[str, str]:
    parts = full.split()
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def _linkedin(raw: str) -> str | None:
    value = raw.strip()
    if value and "/" not in value and "." not in value:
        value = f"linkedin.com/in/{value}"  # Mautic keeps just the profile name
    return normalize_linkedin_url(value)


def clean_contact_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A file row as contact values; raises Invalid with the reason the row is refused."""
    first = clean(row.get("first_name"), 100) or ""
    last = clean(row.get("last_name"), 100) or ""
    full = clean(row.get("full_name"), 201)
    if full and not first and not last:
        first, last = _split_full_name(full)
        first, last = first[:100], last[:100]
    email_raw = row.get("email")
    try:
        email = import_email(email_raw)
    except Invalid as exc:
        raise Invalid(f"Invalid email address {str(email_raw).strip()!r}.") from exc
    linkedin_raw = row.get("linkedin_url")
    linkedin = _linkedin(linkedin_raw) if linkedin_raw else None
    if not email and not linkedin:
        raise Invalid(
            "Missing email (and no LinkedIn URL): the person could not be recognised "
            "on a later import."
        )
    custom = dict(row.get("custom_fields") or {})
    country_raw = row.get("country")
    country = importers.country_code(country_raw)
    if country_raw and not country:
        custom["country_name"] = clean(country_raw, 100)
    consent = None
    consent_raw = row.get("consent_status")
    if consent_raw is not None:
        key = str(consent_raw).strip().lower()
        if key not in _CONSENT_VALUES:
            raise Invalid(f"Unknown consent value {consent_raw!r} (use granted or opted_out).")
        consent = _CONSENT_VALUES[key]
    if row.get("unsubscribed") is not None and _parse_bool(row["unsubscribed"], "Unsubscribed"):
        consent = "opted_out"
    basis = (row.get("consent_basis") or "").strip().lower() or None
    if basis is not None and basis not in CONSENT_BASES:
        raise Invalid(f"Unknown consent basis {basis!r} (use {', '.join(CONSENT_BASES)}).")
    return {
        "first_name": first,
        "last_name": last,
        "email": email,
        "linkedin_url": linkedin,
        "phone": clean(row.get("phone"), 50),
        "title": clean(row.get("title"), 200),
        "language": importers.language_code(row.get("language")),
        "country": country,
        "city": clean(row.get("city"), 100),
        "x_handle": normalize_x_handle(row.get("x_handle")),
        "facebook": clean(row.get("facebook"), 300),
        "notes": (row.get("notes") or "").strip() or None,
        "custom_fields": custom,
        "organization": clean(row.get("organization"), 200),
        "organization_domain": _domain(row.get("organization_domain")),
        "tags": parse_tags(row.get("tags")),
        "consent_status": consent,
        "consent_basis": basis,
    }


# ---------------------------------------------------------------- organisations


def resolve_organizations(
    session: Session,
    wanted: Iterable[tuple[str | None, str | None]],
    created_without_domain: dict[str, tuple[int, str]] | None = None,
) -> dict[tuple[str | None, str | None], tuple[int, str]]:
    """{(name, domain) -> (organization id, name)}: match by domain, else by name
    (case-insensitive), and create the missing ones in one batch.

    An import that calls this once per segment passes `created_without_domain` (lower
    name -> account), kept across its calls: a name-only account it created in an earlier
    segment takes the domain a later segment gives the same name, rather than a second
    account being created (what one call over the whole file would have done)."""
    pairs = {(n, d) for n, d in wanted if n or d}
    if not pairs:
        return {}
    domains = sorted({d for _, d in pairs if d})
    names = sorted({n.lower() for n, _ in pairs if n})
    by_domain: dict[str, tuple[int, str]] = {}
    by_name: dict[str, tuple[int, str]] = {}
    org = table_of(Organization)
    for match in _among(session, org.c.domain, domains):
        for row in session.execute(select(org.c.id, org.c.name, org.c.domain).where(match)):
            by_domain[row.domain] = (row.id, row.name)
    for match in _among(session, func.lower(org.c.name), names):
        for row in session.execute(select(org.c.id, org.c.name).where(match).order_by(org.c.id)):
            by_name.setdefault(row.name.lower(), (row.id, row.name))
    out: dict[tuple[str | None, str | None], tuple[int, str]] = {}
    to_create: dict[str, dict[str, Any]] = {}  # creation key -> values
    waiting: dict[tuple[str | None, str | None], str] = {}
    created_by_name: dict[str, str] = {}
    given_domains: list[dict[str, Any]] = []  # earlier name-only accounts, now with a domain
    for name, domain in sorted(pairs, key=lambda p: (p[1] is None, p[1] or "", p[0] or "")):
        if domain and domain in by_domain:
            out[(name, domain)] = by_domain[domain]
        elif domain and name and created_without_domain and name.lower() in created_without_domain:
            account = created_without_domain.pop(name.lower())
            given_domains.append({"b_id": account[0], "b_domain": domain})
            by_domain[domain] = out[(name, domain)] = account
        elif not domain and name and name.lower() in by_name:
            out[(name, domain)] = by_name[name.lower()]
        else:
            key = f"d:{domain}" if domain else f"n:{(name or '').lower()}"
            if not domain and name:
                # A name-only mention reuses an account this file creates with a domain.
                key = created_by_name.get(name.lower(), key)
            if key not in to_create:
                to_create[key] = {"name": name or domain, "domain": domain}
                created_by_name.setdefault((name or domain or "").lower(), key)
            waiting[(name, domain)] = key
    if given_domains:
        session.execute(
            update(org).where(org.c.id == bindparam("b_id")).values(domain=bindparam("b_domain")),
            given_domains,
        )
    if to_create:
        keys = list(to_create)
        created: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(keys, BATCH):
            values = [
                {
                    "name": to_create[k]["name"],
                    "domain": to_create[k]["domain"],
                    "annual_value_cents": 0,
                    "key_account": False,
                }  # fmt: skip
                for k in chunk
            ]
            ids = _bulk_insert_ids(session, org, values, len(values))
            for key, new_id, value in zip(chunk, ids, values, strict=True):
                created[key] = (new_id, value["name"])
                if created_without_domain is not None and not value["domain"]:
                    created_without_domain[value["name"].lower()] = created[key]
        for pair, key in waiting.items():
            out[pair] = created[key]
    return out


# ---------------------------------------------------------------- tags


def _tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    tags = table_of(Tag)
    found: dict[str, int] = {}
    for chunk in _chunks(wanted, LOOKUP_BATCH):
        found.update(
            session.execute(select(tags.c.name, tags.c.id).where(tags.c.name.in_(chunk)))
            .tuples()
            .all()
        )
    missing = [{"name": n} for n in wanted if n not in found]
    if missing:
        session.execute(_insert_ignoring_duplicates(session, tags), missing)
        for chunk in _chunks([m["name"] for m in missing], LOOKUP_BATCH):
            found.update(
                session.execute(select(tags.c.name, tags.c.id).where(tags.c.name.in_(chunk)))
                .tuples()
                .all()
            )
    return found


def _link_tags(session: Session, links: Iterable[tuple[int, int]]) -> None:
    values = [{"contact_id": c, "tag_id": t} for c, t in sorted(set(links))]
    for chunk in _chunks(values, BATCH):
        session.execute(_insert_ignoring_duplicates(session, contact_tags), list(chunk))


# ---------------------------------------------------------------- contacts

_LOOKUP_COLUMNS = (
    "id", "email", "linkedin_url", "merged_into_id", "erased_at", "owner_id", "first_name",
    "last_name", "phone", "title", "organization_id", "language", "country", "city",
    "x_handle", "facebook", "notes", "custom_fields", "consent_status", "consent_basis",
)  # fmt: skip
_FILLABLE = (
    "first_name", "last_name", "email", "linkedin_url", "phone", "title", "language",
    "country", "city", "x_handle", "facebook", "notes",
)  # fmt: skip


def _existing_contacts(
    session: Session, emails: Sequence[str], urls: Sequence[str]
) -> tuple[dict[str, int], dict[str, int], dict[int, dict[str, Any]]]:
    """Existing people by email and by LinkedIn URL, merges followed to the kept person."""
    table = table_of(Contact)
    cols = [table.c[name] for name in _LOOKUP_COLUMNS]
    records: dict[int, dict[str, Any]] = {}
    by_email: dict[str, int] = {}
    by_url: dict[str, int] = {}
    for keys, column, target in ((emails, table.c.email, by_email),
                                 (urls, table.c.linkedin_url, by_url)):  # fmt: skip
        for match in _among(session, column, keys):
            for row in session.execute(select(*cols).where(match)):
                record = row._asdict()
                records[record["id"]] = record
                target[record[column.name]] = record["id"]
    # Follow merges: a tombstone points at the person it was folded into.
    pending = {r["merged_into_id"] for r in records.values() if r["merged_into_id"]}
    for _hop in range(10):
        pending -= set(records)
        if not pending:
            break
        for chunk in _chunks(sorted(pending), LOOKUP_BATCH):
            for row in session.execute(select(*cols).where(table.c.id.in_(chunk))):
                records[row.id] = row._asdict()
        pending = {r["merged_into_id"] for r in records.values() if r["merged_into_id"]}

    def final(contact_id: int) -> int:
        seen = 0
        while records.get(contact_id, {}).get("merged_into_id") and seen < 10:
            contact_id = records[contact_id]["merged_into_id"]
            seen += 1
        return contact_id

    for mapping in (by_email, by_url):
        for key, contact_id in mapping.items():
            mapping[key] = final(contact_id)
    return by_email, by_url, records


def import_contacts(
    session: Session,
    actor_id: int | None,
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str = "import",
    owner_id: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Create new people and merge the others into the people they already are.

    A person is recognised by lower-case email or normalised LinkedIn URL (following merges).
    Merging fills empty fields, adds tags and never blanks a value; a consent found in the
    file is applied (an opt-out always, a grant only over an unknown status) and recorded.

    The file is taken in segments of `SEGMENT` rows: clean, find who exists, write. While
    the database stores one segment's rows (COPY on PostgreSQL), Python cleans the next
    segment's, so the two take no turns (`_Cleaner.step` runs between rows sent).
    """
    with cyclic_gc_paused():  # see app.gc_pause
        return _import_contacts(session, actor_id, rows, source, owner_id, progress)


def _import_contacts(
    session: Session,
    actor_id: int | None,
    rows: Sequence[Mapping[str, Any]],
    source: str,
    owner_id: int | None,
    progress: Progress | None,
) -> ImportResult:
    actor = _load_actor(session, actor_id)
    if actor is not None and actor.role == Role.SALES:
        owner_id = actor.id  # salespeople import people they own
    result = ImportResult(total=len(rows))
    writer = _ContactWriter(session, actor, owner_id, source, result, progress)
    cleaner = _Cleaner(rows, result)
    for start in range(0, len(rows), SEGMENT):
        stop = min(start + SEGMENT, len(rows))
        accepted = cleaner.upto(stop)
        writer.tick(stop - start - len(accepted))  # refused while cleaning
        writer.write(accepted, meanwhile=partial(cleaner.step, stop + SEGMENT))
    writer.finish()
    result.rejected.sort(key=lambda r: r["line"])
    return result


class _Cleaner:
    """Cleans a file's rows in order, on demand, refusing bad rows and duplicates within
    the file (the first occurrence is kept) as it meets them."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], result: ImportResult) -> None:
        self.rows = rows
        self.result = result
        self.done = 0  # rows cleaned so far
        self.accepted: list[tuple[int, dict[str, Any]]] = []
        self.seen_email: dict[str, int] = {}
        self.seen_url: dict[str, int] = {}

    def upto(self, stop: int) -> list[tuple[int, dict[str, Any]]]:
        """Clean the rows before `stop`; return the accepted ones not returned before."""
        while self.step(stop):
            pass
        accepted, self.accepted = self.accepted, []
        return accepted

    def step(self, stop: int) -> bool:
        """Clean one more row if it comes before `stop`; False when there is none."""
        if self.done >= min(stop, len(self.rows)):
            return False
        row = self.rows[self.done]
        self.done += 1
        line = int(row.get("line") or 0)
        try:
            values = clean_contact_row(row)
        except Invalid as exc:
            self.result.reject(line, exc.message)
            return True
        email, url = values["email"], values["linkedin_url"]
        first_line = self.seen_email.get(email or "") or self.seen_url.get(url or "")
        if first_line:
            self.result.reject(line, f"Duplicate of line {first_line}.")
            return True
        if email:
            self.seen_email[email] = line
        if url:
            self.seen_url[url] = line
        self.accepted.append((line, values))
        return True


class _ContactWriter:
    """Writes cleaned rows, one segment at a time, in the caller's transaction."""

    def __init__(
        self,
        session: Session,
        actor: User | None,
        owner_id: int | None,
        source: str,
        result: ImportResult,
        progress: Progress | None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.actor_id = actor.id if actor is not None else None
        self.owner_id = owner_id
        self.source = source[:50]
        self.result = result
        self.progress = progress
        self.done = 0
        self.now = utcnow()
        self.on_postgres = session.get_bind().dialect.name == "postgresql"
        self.claimed: dict[int, int] = {}  # existing person -> the line that matched them
        self.accounts_without_domain: dict[str, tuple[int, str]] = {}  # created so far
        self.changed_ids: set[int] = set()
        self.consent_events: list[dict[str, Any]] = []

    def tick(self, n: int) -> None:
        self.done += n
        if self.progress is not None and n:
            self.progress(min(self.done, self.result.total), self.result.total)

    def write(
        self, accepted: list[tuple[int, dict[str, Any]]], meanwhile: Callable[[], object]
    ) -> None:
        """Write one segment; `meanwhile` is called between rows sent to the database."""
        new, matched = self._match(accepted)
        orgs = resolve_organizations(
            self.session,
            [(v["organization"], v["organization_domain"]) for _, v in new]
            + [(v["organization"], v["organization_domain"]) for _, v, _r in matched],
            self.accounts_without_domain,
        )
        tag_ids = _tag_ids(
            self.session,
            [t for _, v in new for t in v["tags"]] + [t for _, v, _r in matched for t in v["tags"]],
        )
        new_links = self._create(new, orgs, tag_ids, meanwhile)
        links = self._update(matched, orgs, tag_ids)
        _link_tags(self.session, links)
        if self.on_postgres:
            copy_rows(
                self.session, contact_tags.name, ["contact_id", "tag_id"],
                _between(new_links, meanwhile),
            )  # fmt: skip
        else:
            _link_tags(self.session, new_links)

    def _match(
        self, accepted: list[tuple[int, dict[str, Any]]]
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any], dict[str, Any]]]]:
        """Split rows into new people and people who exist already (by email, LinkedIn URL)."""
        by_email, by_url, records = _existing_contacts(
            self.session,
            [v["email"] for _, v in accepted if v["email"]],
            [v["linkedin_url"] for _, v in accepted if v["linkedin_url"]],
        )
        new: list[tuple[int, dict[str, Any]]] = []
        matched: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        actor, result = self.actor, self.result
        for line, values in accepted:
            hit_email = by_email.get(values["email"]) if values["email"] else None
            hit_url = by_url.get(values["linkedin_url"]) if values["linkedin_url"] else None
            if hit_email and hit_url and hit_email != hit_url:
                result.reject(
                    line,
                    "The email belongs to one existing person and the LinkedIn URL to another.",
                )
                continue
            contact_id = hit_email or hit_url
            if contact_id is None:
                new.append((line, values))
                continue
            record = records[contact_id]
            if record["erased_at"] is not None:
                result.reject(line, "This person was erased and cannot be imported again.")
                continue
            if actor is not None and actor.role == Role.SALES and record["owner_id"] != actor.id:
                result.reject(line, "This person already exists and belongs to another owner.")
                continue
            if contact_id in self.claimed:
                result.reject(
                    line, f"Duplicate of line {self.claimed[contact_id]} (the same person)."
                )
                continue
            self.claimed[contact_id] = line
            matched.append((line, values, record))
        self.tick(len(accepted) - len(new) - len(matched))
        return new, matched

    def _create(
        self,
        new: list[tuple[int, dict[str, Any]]],
        orgs: dict[tuple[str | None, str | None], tuple[int, str]],
        tag_ids: dict[str, int],
        meanwhile: Callable[[], object],
    ) -> list[tuple[int, int]]:
        """Insert the new people; return their (person, tag) links."""
        now, actor_id = self.now, self.actor_id

        def consent_of(v: dict[str, Any]) -> tuple[str, str]:
            status = v["consent_status"] or "unknown"
            return status, (v["consent_basis"] or "consent") if status != "unknown" else "none"

        def new_people() -> Iterator[dict[str, Any]]:
            for count, (_line, v) in enumerate(new, 1):
                org_id, org_name = orgs.get(
                    (v["organization"], v["organization_domain"]), (None, None)
                )
                consent, basis = consent_of(v)
                row = {
                    "first_name": v["first_name"], "last_name": v["last_name"],
                    "sort_name": sort_name(v["first_name"], v["last_name"], v["email"]),
                    "search_text": search_text(
                        v["first_name"], v["last_name"], v["email"], org_name
                    ),
                    "email": v["email"], "phone": v["phone"], "title": v["title"],
                    "organization_id": org_id, "language": v["language"],
                    "country": v["country"], "city": v["city"], "owner_id": self.owner_id,
                    "linkedin_url": v["linkedin_url"], "x_handle": v["x_handle"],
                    "facebook": v["facebook"], "source": self.source, "notes": v["notes"],
                    "custom_fields": v["custom_fields"],
                    "consent_status": consent, "consent_basis": basis,
                    "consent_changed_at": now if consent != "unknown" else None,
                    "consent_changed_by_id": actor_id if consent != "unknown" else None,
                    "tier": "none",
                }  # fmt: skip
                if count % BATCH == 0 or count == len(new):
                    self.tick(count % BATCH or BATCH)
                yield row

        table = table_of(Contact)
        ids = _bulk_insert_ids(self.session, table, _between(new_people(), meanwhile), len(new))
        links: list[tuple[int, int]] = []
        for contact_id, (_line, v) in zip(ids, new, strict=True):
            links.extend((contact_id, tag_ids[t]) for t in v["tags"])
            consent, basis = consent_of(v)
            if consent != "unknown":
                self.consent_events.append(
                    _consent_event(contact_id, actor_id, "unknown", consent, basis, now)
                )
        self.result.created += len(new)
        return links

    def _update(
        self,
        matched: list[tuple[int, dict[str, Any], dict[str, Any]]],
        orgs: dict[tuple[str | None, str | None], tuple[int, str]],
        tag_ids: dict[str, int],
    ) -> list[tuple[int, int]]:
        """People who exist: fill what is empty, grouped by the set of columns that change.
        Returns their (person, tag) links."""
        session, result, now, actor_id = self.session, self.result, self.now, self.actor_id
        table = table_of(Contact)
        org_names = _organization_names(
            session, {r["organization_id"] for _, _, r in matched if r["organization_id"]}
        )
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        changed_ids: set[int] = set()
        links: list[tuple[int, int]] = []
        for line, v, record in matched:
            contact_id = record["id"]
            changes: dict[str, Any] = {}
            for name in _FILLABLE:
                if not record[name] and v[name]:
                    changes[name] = v[name]
            org_id, org_name = orgs.get((v["organization"], v["organization_domain"]), (None, None))
            if not record["organization_id"] and org_id:
                changes["organization_id"] = org_id
            else:
                org_name = org_names.get(record["organization_id"])
            custom = record["custom_fields"] or {}
            extra = {k: val for k, val in v["custom_fields"].items() if k not in custom}
            if extra:
                changes["custom_fields"] = {**custom, **extra}
            if changes.keys() & {"first_name", "last_name", "email", "organization_id"}:
                first = changes.get("first_name", record["first_name"])
                last = changes.get("last_name", record["last_name"])
                email = changes.get("email", record["email"])
                changes["sort_name"] = sort_name(first, last, email)
                changes["search_text"] = search_text(first, last, email, org_name)
            new_consent = v["consent_status"]
            if new_consent and new_consent != record["consent_status"]:
                if new_consent == "granted" and record["consent_status"] == "opted_out":
                    result.warnings.append({
                        "line": line,
                        "reason": "This person opted out; the consent in the file was not applied.",
                    })  # fmt: skip
                else:
                    basis = v["consent_basis"] or record["consent_basis"]
                    if basis == "none":
                        basis = "consent"
                    changes.update(
                        consent_status=new_consent, consent_basis=basis,
                        consent_changed_at=now, consent_changed_by_id=actor_id,
                    )  # fmt: skip
                    self.consent_events.append(
                        _consent_event(
                            contact_id, actor_id, record["consent_status"], new_consent, basis, now
                        )  # fmt: skip
                    )
            for tag in v["tags"]:
                links.append((contact_id, tag_ids[tag]))
            if changes:
                changed_ids.add(contact_id)
                groups[tuple(sorted(changes))].append({"b_id": contact_id, **{
                    f"b_{k}": val for k, val in changes.items()
                }})  # fmt: skip
        if links and matched:
            changed_ids |= _contacts_gaining_tags(session, links, {r["id"] for _, _, r in matched})
        for columns, params in groups.items():
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({name: bindparam(f"b_{name}") for name in columns})
            )
            for chunk in _chunks(params, BATCH):
                session.execute(stmt, list(chunk))
        result.updated += len(changed_ids)
        result.unchanged += len(matched) - len(changed_ids)
        self.changed_ids |= changed_ids
        self.tick(len(matched))
        return links

    def finish(self) -> None:
        """Consent records and their audit trail; forget stale ORM state."""
        session, now, actor_id = self.session, self.now, self.actor_id
        for chunk in _chunks(self.consent_events, BATCH):
            session.execute(insert(table_of(ConsentEvent)), list(chunk))
        audit_rows = [
            {
                "actor_id": actor_id,
                "action": "contact.consent_change",
                "target_type": "contact",
                "target_id": e["contact_id"],
                "at": now,
                "details": {
                    "old": e["old_status"],
                    "new": e["new_status"],
                    "basis": e["basis"],
                    "source": "import",
                },
            }  # fmt: skip
            for e in self.consent_events
        ]
        for chunk in _chunks(audit_rows, BATCH):
            session.execute(insert(table_of(AuditEvent)), list(chunk))
        # ORM objects already in the session may hold stale values.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Contact) and obj.id in self.changed_ids:
                session.expire(obj)
        session.flush()


def _between(items: Iterable[T], work: Callable[[], object]) -> Iterator[T]:
    """The items, with one step of `work` done after each is taken."""
    for item in items:
        yield item
        work()


def _consent_event(
    contact_id: int, actor_id: int | None, old: str, new: str, basis: str, at: datetime
) -> dict[str, Any]:
    return {"contact_id": contact_id, "changed_by_id": actor_id, "old_status": old,
            "new_status": new, "basis": basis, "source": "import", "at": at,
            "note": "import"}  # fmt: skip


def _organization_names(session: Session, ids: set[int]) -> dict[int, str]:
    org = table_of(Organization)
    out: dict[int, str] = {}
    for chunk in _chunks(sorted(ids), LOOKUP_BATCH):
        out.update(
            session.execute(select(org.c.id, org.c.name).where(org.c.id.in_(chunk))).tuples().all()
        )
    return out


def _contacts_gaining_tags(
    session: Session, links: list[tuple[int, int]], contact_ids: set[int]
) -> set[int]:
    wanted = {(c, t) for c, t in links if c in contact_ids}
    have: set[tuple[int, int]] = set()
    ids = sorted({c for c, _ in wanted})
    for chunk in _chunks(ids, LOOKUP_BATCH):
        have.update(
            (row.contact_id, row.tag_id)
            for row in session.execute(
                select(contact_tags.c.contact_id, contact_tags.c.tag_id).where(
                    contact_tags.c.contact_id.in_(chunk)
                )
            )
        )
    return {c for c, t in wanted - have}


# ---------------------------------------------------------------- people named in a file


def _person_keys(raw: str) -> str | None:
    """The lookup key of 'mario@x.it' or 'linkedin.com/in/mario' (None if neither)."""
    value = (raw or "").strip()
    if not value:
        return None
    if "linkedin.com" in value.lower():
        try:
            return normalize_linkedin_url(value)
        except Invalid:
            return None
    if "@" in value:
        try:
            return import_email(value)
        except Invalid:
            return None
    return None


def _resolve_people(session: Session, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{key -> {id, owner_id, erased}} for the people named by email or LinkedIn URL."""
    keys = set(keys)
    emails = sorted(k for k in keys if not k.startswith("https://"))
    urls = sorted(k for k in keys if k.startswith("https://"))
    by_email, by_url, records = _existing_contacts(session, emails, urls)
    out: dict[str, dict[str, Any]] = {}
    for key, contact_id in {**by_email, **by_url}.items():
        record = records.get(contact_id)
        if record is not None:
            out[key] = {"id": contact_id, "owner_id": record["owner_id"],
                        "erased": record["erased_at"] is not None}  # fmt: skip
    return out


def _person(people: dict[str, dict[str, Any]], raw: str, actor: User | None, what: str) -> int:
    key = _person_keys(raw)
    if key is None:
        raise Invalid(f"{what} {raw!r} is neither an email nor a LinkedIn profile URL.")
    person = people.get(key)
    if person is None:
        raise Invalid(f"{what} {raw!r} is not a known person.")
    if person["erased"]:
        raise Invalid(f"{what} {raw!r} was erased.")
    if actor is not None and actor.role == Role.SALES and person["owner_id"] != actor.id:
        raise Invalid(f"{what} {raw!r} belongs to another owner.")
    return int(person["id"])


def parse_when(raw: str | None, what: str = "Date") -> datetime | None:
    """ISO 8601 date or date-time; a naive one is taken as UTC."""
    value = (raw or "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError as exc:
        raise Invalid(f"{what} {raw!r} is not an ISO 8601 date (2024-05-31T14:30:00Z).") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_decimal(raw: str, what: str) -> Decimal:
    value = raw.strip().replace("€", "").replace(" ", "").replace("\u00a0", "")
    if "," in value and "." in value:
        # 1.234,56 (Italian) or 1,234.56 (English): the last separator is the decimal one.
        if value.rfind(",") > value.rfind("."):
            value = value.replace(".", "").replace(",", ".")
        else:
            value = value.replace(",", "")
    else:
        value = value.replace(",", ".")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise Invalid(f"{what} {raw!r} is not a number.") from exc
    if not number.is_finite():
        raise Invalid(f"{what} {raw!r} is not a number.")
    return number


def _choice(raw: str | None, allowed: Sequence[str], what: str) -> str:
    value = (raw or "").strip().lower().replace("-", "_").replace(" ", "_")
    if value not in allowed:
        raise Invalid(f"Unknown {what} {raw!r} (use one of: {', '.join(allowed)}).")
    return value


# ---------------------------------------------------------------- relationships


def import_relationships(
    session: Session,
    actor_id: int | None,
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str = "import",
    progress: Progress | None = None,
) -> ImportResult:
    """Rows with from, to (email or LinkedIn URL), kind, strength (0..1), since.

    An existing relationship (same from, to and kind) is updated, never duplicated.
    """
    actor = _load_actor(session, actor_id)
    result = ImportResult(total=len(rows))
    people = _resolve_people(
        session,
        [
            k
            for r in rows
            for k in (_person_keys(r.get("from", "")), _person_keys(r.get("to", "")))
            if k
        ],  # fmt: skip
    )
    accepted: dict[tuple[int, int, str], dict[str, Any]] = {}
    first_line: dict[tuple[int, int, str], int] = {}
    for row in rows:
        line = int(row.get("line") or 0)
        try:
            src = _person(people, row.get("from", ""), actor, "From")
            dst = _person(people, row.get("to", ""), actor, "To")
            kind = _choice(row.get("kind"), RELATIONSHIP_KINDS, "relationship kind")
            if src == dst:
                raise Invalid("A person cannot be related to themselves.")
            strength = 0.5
            if (row.get("strength") or "").strip():
                strength = float(parse_decimal(row["strength"], "Strength"))
                if not 0 <= strength <= 1:
                    raise Invalid(f"Strength must be between 0 and 1, got {row['strength']!r}.")
            since = parse_when(row.get("since"), "Since")
        except Invalid as exc:
            result.reject(line, exc.message)
            continue
        key = (src, dst, kind)
        if key in first_line:
            result.reject(line, f"Duplicate of line {first_line[key]}.")
            continue
        first_line[key] = line
        accepted[key] = {"strength": strength, "since": since}
    rel = table_of(Relationship)
    existing: dict[tuple[int, int, str], tuple[int, float, datetime | None]] = {}
    sources = sorted({k[0] for k in accepted})
    for chunk in _chunks(sources, LOOKUP_BATCH):
        for found in session.execute(
            select(rel.c.id, rel.c.from_contact_id, rel.c.to_contact_id, rel.c.kind,
                   rel.c.strength, rel.c.since).where(rel.c.from_contact_id.in_(chunk))
        ):  # fmt: skip
            existing[(found.from_contact_id, found.to_contact_id, found.kind)] = (
                found.id, found.strength, found.since,
            )  # fmt: skip
    inserts, updates = [], []
    for key, values in accepted.items():
        if key in existing:
            rel_id, strength, since = existing[key]
            new_since = values["since"] or since
            if strength != values["strength"] or new_since != since:
                updates.append({"b_id": rel_id, "b_strength": values["strength"],
                                "b_since": new_since})  # fmt: skip
            else:
                result.unchanged += 1
        else:
            inserts.append({"from_contact_id": key[0], "to_contact_id": key[1], "kind": key[2],
                            "strength": values["strength"], "since": values["since"],
                            "source": source[:50]})  # fmt: skip
    for chunk in _chunks(inserts, BATCH):
        session.execute(insert(rel), list(chunk))
    stmt = (
        update(rel)
        .where(rel.c.id == bindparam("b_id"))
        .values(strength=bindparam("b_strength"), since=bindparam("b_since"))
    )
    for chunk in _chunks(updates, BATCH):
        session.execute(stmt, list(chunk))
    result.created, result.updated = len(inserts), len(updates)
    if progress is not None:
        progress(len(rows), len(rows))
    session.flush()
    return result


# ---------------------------------------------------------------- interactions


def _interaction_key(values: dict[str, Any], participant_ids: Sequence[int]) -> str:
    """A stable id for a row that has none, so importing the same file twice is harmless."""
    raw = "|".join([
        values["occurred_at"].isoformat(), values["channel"], values["direction"],
        values["kind"], ",".join(str(i) for i in sorted(participant_ids)),
        values["summary"] or "", str(values["value_cents"]),
    ])  # fmt: skip
    return "row:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def import_interactions(
    session: Session,
    actor_id: int | None,
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str = "import",
    progress: Progress | None = None,
) -> ImportResult:
    """Rows with participants (emails / LinkedIn URLs split by ';' or '|'), channel,
    direction, kind, occurred_at, sentiment, value (euros) or value_cents, summary,
    needs_answer, external_id. The same (source, external_id) is stored once; a row with
    no external_id gets one from its content, so re-importing a file adds nothing."""
    actor = _load_actor(session, actor_id)
    result = ImportResult(total=len(rows))
    source = source[:50]

    def split(raw: str | None) -> list[str]:
        return [p.strip() for p in re.split(r"[;|,]", raw or "") if p.strip()]

    people = _resolve_people(
        session, [k for r in rows for p in split(r.get("participants")) if (k := _person_keys(p))]
    )
    accepted: list[tuple[int, dict[str, Any], list[int]]] = []
    first_line: dict[str, int] = {}
    for row in rows:
        line = int(row.get("line") or 0)
        try:
            names = split(row.get("participants"))
            if not names:
                raise Invalid("No participants.")
            ids = list(dict.fromkeys(_person(people, n, actor, "Participant") for n in names))
            channel = _choice(row.get("channel"), CHANNELS, "channel")
            direction = _choice(row.get("direction"), DIRECTIONS, "direction")
            kind = _choice(row.get("kind"), INTERACTION_KINDS, "interaction kind")
            occurred_at = parse_when(row.get("occurred_at"), "Occurred at")
            if occurred_at is None:
                raise Invalid("Missing occurred_at (when it happened).")
            if occurred_at > utcnow() + FUTURE_TOLERANCE:
                raise Invalid("The interaction is dated in the future.")
            sentiment = None
            if (row.get("sentiment") or "").strip():
                sentiment = float(parse_decimal(row["sentiment"], "Sentiment"))
                if not -1 <= sentiment <= 1:
                    raise Invalid(f"Sentiment must be between -1 and 1, got {row['sentiment']!r}.")
            value_cents = 0
            if (row.get("value_cents") or "").strip():
                cents = parse_decimal(row["value_cents"], "Value in cents")
                if cents != cents.to_integral_value():
                    raise Invalid(f"Value in cents {row['value_cents']!r} must be whole.")
                value_cents = int(cents)
            elif (row.get("value") or "").strip():
                euros = parse_decimal(row["value"], "Value")
                cents = euros * 100
                if cents != cents.to_integral_value():
                    raise Invalid(f"Value {row['value']!r} has more than two decimals.")
                value_cents = int(cents)
            if value_cents < 0:
                raise Invalid("The value cannot be negative.")
            needs_answer = _parse_bool(row.get("needs_answer"), "Needs answer")
            values = {
                "channel": channel, "direction": direction, "kind": kind,
                "occurred_at": occurred_at, "sentiment": sentiment, "value_cents": value_cents,
                "summary": (row.get("summary") or "").strip() or None,
                "needs_answer": needs_answer and direction == "inbound",
                "source": source, "created_by_id": actor_id,
            }  # fmt: skip
            external_id = clean(row.get("external_id"), 200) or _interaction_key(values, ids)
        except Invalid as exc:
            result.reject(line, exc.message)
            continue
        if external_id in first_line:
            result.reject(line, f"Duplicate of line {first_line[external_id]}.")
            continue
        first_line[external_id] = line
        values["external_id"] = external_id
        accepted.append((line, values, ids))
    table = table_of(Interaction)
    known: set[str] = set()
    for chunk in _chunks(sorted(first_line), LOOKUP_BATCH):
        known.update(
            session.scalars(
                select(table.c.external_id).where(
                    table.c.source == source, table.c.external_id.in_(chunk)
                )
            )
        )
    fresh = [(line, v, ids) for line, v, ids in accepted if v["external_id"] not in known]
    result.unchanged = len(accepted) - len(fresh)
    touched: set[int] = set()
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    done = len(rows) - len(fresh)
    for chunk in _chunks(fresh, BATCH):
        new_ids = [r.id for r in session.execute(stmt, [v for _, v, _ in chunk])]
        links = [
            {"interaction_id": iid, "contact_id": cid}
            for iid, (_, _, ids) in zip(new_ids, chunk, strict=True)
            for cid in ids
        ]
        session.execute(insert(interaction_participants), links)
        touched.update(link["contact_id"] for link in links)
        result.created += len(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, len(rows))
    touch_last_interaction(session, sorted(touched))
    if progress is not None:
        progress(len(rows), len(rows))
    session.flush()
    return result


# ---------------------------------------------------------------- import runs


def create_import_run(
    session: Session,
    actor_id: int | None,
    filename: str,
    data: bytes,
    kind: str,
    mapping: Mapping[str, str] | None,
    storage_dir: Path,
) -> ImportRun:
    """Check that the file can be read at all (raises Invalid, writes nothing), keep it
    under `storage_dir` and record a pending ImportRun for the job to execute."""
    if kind not in importers.KINDS:
        raise Invalid(f"Unknown import kind {kind!r}.")
    _load_actor(session, actor_id)
    parsed = importers.parse_file(data, filename, kind, mapping)
    if not parsed.rows and not parsed.rejected:
        raise Invalid("The file has a header but no rows to import.")
    storage_dir.mkdir(parents=True, exist_ok=True)
    safe = secure_filename(filename or "") or "upload"
    path = storage_dir / f"{uuid.uuid4().hex}-{safe[-100:]}"
    path.write_bytes(data)
    run = ImportRun(
        kind=kind,
        file_format=parsed.format,
        filename=(filename or safe)[:255],
        stored_path=str(path),
        mapping=dict(mapping) if mapping else None,
        status="pending",
        total_rows=len(parsed.rows) + len(parsed.rejected),
        processed_rows=0,
        created_count=0,
        updated_count=0,
        rejected=[],
        created_by_id=actor_id,
    )
    session.add(run)
    session.flush()
    return run


def run_import(
    session: Session,
    actor_id: int | None,
    parsed: importers.ParsedFile,
    *,
    owner_id: int | None = None,
    source: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Write a parsed file of any kind; rows refused while reading join the report."""
    if parsed.kind == "contacts":
        result = import_contacts(
            session, actor_id, parsed.rows, source=source or f"import:{parsed.format}",
            owner_id=owner_id, progress=progress,
        )  # fmt: skip
    elif parsed.kind == "relationships":
        result = import_relationships(
            session, actor_id, parsed.rows, source=source or "import", progress=progress
        )
    else:
        result = import_interactions(
            session, actor_id, parsed.rows, source=source or "import", progress=progress
        )
    result.total += len(parsed.rejected)
    result.rejected = sorted(result.rejected + parsed.rejected, key=lambda r: r["line"])
    result.warnings.extend(parsed.warnings)
    return result


def execute_import_run(
    session: Session, run: ImportRun, progress: Progress | None = None
) -> ImportRun:
    """Run a stored import. Bad rows go into the report; a file that cannot be read or a
    refused import marks the run failed with the reason, and nothing of it is written.
    Anything unexpected propagates: the caller rolls back the whole import."""
    try:
        with session.begin_nested():
            data = Path(run.stored_path or "").read_bytes()
            parsed = importers.parse_file(data, run.filename, run.kind, run.mapping)
            result = run_import(session, run.created_by_id, parsed, progress=progress)
    except FileNotFoundError:
        _fail(run, "The uploaded file is no longer on the server; upload it again.")
        return run
    except DomainError as exc:
        _fail(run, exc.message)
        return run
    run.status = "done"
    run.total_rows = result.total
    run.processed_rows = result.total
    run.created_count = result.created
    run.updated_count = result.updated
    run.rejected = result.report()
    run.error = None
    run.finished_at = utcnow()
    session.flush()
    return run


def _fail(run: ImportRun, message: str) -> None:
    run.status = "failed"
    run.error = message[:500]
    run.finished_at = utcnow()


# ---------------------------------------------------------------- export

EXPORT_COLUMNS = (
    "first_name", "last_name", "email", "phone", "title", "organization", "language",
    "country", "city", "linkedin_url", "x_handle", "tags", "consent_status", "tier", "owner",
)  # fmt: skip
_SAFE_NUMBER = re.compile(r"^[+-]?[\d\s().-]+$")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "@", "\t", "\r") or (
        text[:1] in ("+", "-") and not _SAFE_NUMBER.match(text)
    ):
        return "'" + text
    return text


def export_contacts_csv(
    contacts: Iterable[Contact], owner_emails: Mapping[int, str] | None = None
) -> Iterator[str]:
    """CSV lines (header first) for the given people; re-importable as a generic CSV.

    `owner_emails` ({user id -> email}) avoids loading each owner; without it the
    `owner` relationship is used.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    for contact in contacts:
        if owner_emails is not None:
            owner = owner_emails.get(contact.owner_id or 0, "")
        else:
            owner = contact.owner.email if contact.owner else ""
        writer.writerow([
            _cell(v) for v in (
                contact.first_name, contact.last_name, contact.email, contact.phone,
                contact.title, contact.organization.name if contact.organization else "",
                contact.language, contact.country, contact.city, contact.linkedin_url,
                contact.x_handle, ";".join(t.name for t in contact.tags),
                contact.consent_status, contact.tier, owner,
            )
        ])  # fmt: skip
        yield flush()
