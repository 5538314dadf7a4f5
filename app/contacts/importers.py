"""Reading import files: CSV (generic, LinkedIn, HubSpot, Mautic) and vCard 2.1 / 3.0 / 4.0.

Pure parsing, no Session: bytes in, row dicts out. Each row carries `line`, the physical
line of the file where it starts (the BEGIN:VCARD line for a vCard), so that the import
report can point at it. A file that cannot be read at all raises `Invalid`; a row that
cannot be read is listed in `rejected` and the others go on.
"""

from __future__ import annotations

import csv
import io
import quopri
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from app.errors import Invalid

FORMATS = ("csv", "linkedin", "vcard", "hubspot", "mautic")
KINDS = ("contacts", "relationships", "interactions")

# What a column of a contacts file can feed. `custom:<key>` is accepted as well.
CONTACT_IMPORT_FIELDS = (
    "first_name", "last_name", "full_name", "email", "phone", "title", "organization",
    "organization_domain", "language", "country", "city", "linkedin_url", "x_handle",
    "facebook", "notes", "tags", "consent_status", "consent_basis", "unsubscribed",
)  # fmt: skip
RELATIONSHIP_COLUMNS = ("from", "to", "kind", "strength", "since")
RELATIONSHIP_REQUIRED = ("from", "to", "kind")
INTERACTION_COLUMNS = (
    "participants", "channel", "direction", "kind", "occurred_at", "sentiment", "value",
    "value_cents", "summary", "needs_answer", "external_id",
)  # fmt: skip
INTERACTION_REQUIRED = ("participants", "channel", "direction", "kind", "occurred_at")

MAX_CELL = 10_000


@dataclass
class ParsedFile:
    """What a file held: rows to import, rows refused while reading, notes on the file."""

    format: str
    kind: str = "contacts"
    headers: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- decoding


def decode_text(data: bytes) -> str:
    """The text of an uploaded file: UTF-8 (with or without BOM), UTF-16 with BOM, else
    Windows-1252 / Latin-1 (what Excel writes on Italian and other Western machines)."""
    if not data or not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise Invalid("The file is empty.")
    if data.startswith(b"PK\x03\x04"):
        raise Invalid(
            "This looks like an Excel workbook or another zip archive, not a CSV or vCard "
            "file. Save it as CSV (UTF-8) and import that file."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise Invalid("The file cannot be read as text (broken UTF-16).") from exc
    else:
        if b"\x00" in data:
            raise Invalid("This is a binary file, not a CSV or vCard file.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    text = text.lstrip("\ufeff")
    controls = sum(1 for ch in text[:20_000] if ord(ch) < 32 and ch not in "\t\r\n\f")
    if controls > max(3, len(text[:20_000]) // 200):
        raise Invalid("This is a binary file, not a CSV or vCard file.")
    if not text.strip():
        raise Invalid("The file is empty.")
    return text


def _header_key(name: str) -> str:
    """'E-mail Address ' -> 'emailaddress'; accents dropped, so 'Città' -> 'citta'."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


# ---------------------------------------------------------------- header mappings

_GENERIC_SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "first", "givenname", "nome", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname", "cognome"),
    "full_name": ("name", "fullname", "contactname", "displayname", "nomecompleto", "contatto"),
    "email": ("email", "emailaddress", "mail", "emailaddr", "posta", "indirizzoemail", "pec"),
    "phone": (
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "telefono",
        "cellulare",
        "cell",
    ),  # fmt: skip
    "title": (
        "title",
        "jobtitle",
        "position",
        "role",
        "ruolo",
        "qualifica",
        "posizione",
        "carica",
    ),  # fmt: skip
    "organization": (
        "company",
        "companyname",
        "organization",
        "organisation",
        "org",
        "account",
        "azienda",
        "societa",
        "ditta",
        "ente",
    ),  # fmt: skip
    "organization_domain": (
        "domain",
        "companydomain",
        "companydomainname",
        "website",
        "dominio",
        "sitoweb",
    ),  # fmt: skip
    "language": ("language", "lang", "lingua", "preferredlanguage", "locale"),
    "country": ("country", "countrycode", "countryregion", "paese", "nazione"),
    "city": ("city", "town", "citta", "comune", "localita"),
    "linkedin_url": ("linkedin", "linkedinurl", "linkedinprofile", "linkedinprofileurl"),
    "x_handle": ("x", "xhandle", "twitter", "twitterhandle", "twitterusername"),
    "facebook": ("facebook", "facebookurl"),
    "notes": ("notes", "note", "comments", "comment", "note1"),
    "tags": ("tags", "tag", "labels", "categories", "etichette"),
    "consent_status": ("consent", "consentstatus", "consenso"),
    "consent_basis": ("consentbasis", "legalbasis", "basegiuridica"),
    "unsubscribed": ("unsubscribed", "optedout", "donotcontact", "dnc"),
}
_GENERIC_BY_KEY = {syn: f for f, syns in _GENERIC_SYNONYMS.items() for syn in syns}

LINKEDIN_HEADERS = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "URL": "linkedin_url",
    "Email Address": "email",
    "Company": "organization",
    "Position": "title",
    "Connected On": "custom:linkedin_connected_on",
}
HUBSPOT_HEADERS = {
    "Record ID": "custom:hubspot_id",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone Number": "phone",
    "Mobile Phone Number": "phone",
    "Company Name": "organization",
    "Company Domain Name": "organization_domain",
    "Website URL": "organization_domain",
    "Job Title": "title",
    "City": "city",
    "Country/Region": "country",
    "Country": "country",
    "Preferred language": "language",
    "Twitter Username": "x_handle",
    "LinkedIn URL": "linkedin_url",
    "Lifecycle Stage": "custom:hubspot_lifecycle_stage",
    "Lead Status": "custom:hubspot_lead_status",
    "Unsubscribed from all email": "unsubscribed",
    "Notes": "notes",
}
MAUTIC_HEADERS = {
    "id": "custom:mautic_id",
    "firstname": "first_name",
    "lastname": "last_name",
    "email": "email",
    "company": "organization",
    "position": "title",
    "phone": "phone",
    "mobile": "phone",
    "city": "city",
    "country": "country",
    "preferred_locale": "language",
    "website": "organization_domain",
    "linkedin": "linkedin_url",
    "twitter": "x_handle",
    "facebook": "facebook",
    "tags": "tags",
    "points": "custom:mautic_points",
    "stage": "custom:mautic_stage",
}
_KNOWN_HEADERS = {"linkedin": LINKEDIN_HEADERS, "hubspot": HUBSPOT_HEADERS,
                  "mautic": MAUTIC_HEADERS}  # fmt: skip

_RELATIONSHIP_SYNONYMS = {
    "from": ("from", "fromemail", "fromcontact", "source", "person", "da"),
    "to": ("to", "toemail", "tocontact", "target", "other", "a"),
    "kind": ("kind", "type", "relationship", "tipo"),
    "strength": ("strength", "weight", "forza"),
    "since": ("since", "from_date", "dal", "startdate"),
}
_INTERACTION_SYNONYMS = {
    "participants": (
        "participants",
        "participant",
        "people",
        "contacts",
        "contact",
        "email",
        "emails",
        "partecipanti",
    ),  # fmt: skip
    "channel": ("channel", "canale"),
    "direction": ("direction", "direzione"),
    "kind": ("kind", "type", "tipo"),
    "occurred_at": ("occurredat", "occurred", "date", "datetime", "when", "timestamp", "data"),
    "sentiment": ("sentiment",),
    "value": ("value", "amount", "valore", "importo"),
    "value_cents": ("valuecents", "amountcents"),
    "summary": ("summary", "subject", "description", "sommario", "oggetto"),
    "needs_answer": ("needsanswer", "needsreply", "awaitinganswer"),
    "external_id": ("externalid", "id", "messageid"),
}


def is_valid_target(target: str) -> bool:
    if target in CONTACT_IMPORT_FIELDS:
        return True
    return target.startswith("custom:") and bool(re.fullmatch(r"[a-z0-9_]{1,60}", target[7:]))


def suggest_mapping(headers: Iterable[str], file_format: str = "csv") -> dict[str, str]:
    """{column -> contact field} for the columns we recognise; the others are left out."""
    known = _KNOWN_HEADERS.get(file_format, {})
    out: dict[str, str] = {}
    for header in headers:
        if header in known:
            out[header] = known[header]
            continue
        target = _GENERIC_BY_KEY.get(_header_key(header))
        if target is not None:
            out[header] = target
    return out


# ---------------------------------------------------------------- detection


def _looks_like_vcard(text: str) -> bool:
    head = text.lstrip()[:200].upper()
    return head.startswith("BEGIN:VCARD")


def _format_from_headers(headers: list[str]) -> str:
    names = set(headers)
    if {"First Name", "Last Name", "Connected On"} <= names or (
        {"First Name", "Last Name", "Email Address", "Company", "Position"} <= names
    ):
        return "linkedin"
    if {"firstname", "lastname", "email"} <= names:
        return "mautic"
    hubspot_marks = {"Record ID", "Lifecycle Stage", "Contact owner", "Company Name",
                     "Phone Number", "Job Title"}  # fmt: skip
    if "Email" in names and len(names & hubspot_marks) >= 2:
        return "hubspot"
    return "csv"


def detect_format(data: bytes, filename: str | None = None) -> str:
    """'vcard', 'linkedin', 'hubspot', 'mautic' or 'csv' (generic, needs a column mapping)."""
    text = decode_text(data)
    suffix = PurePath(filename or "").suffix.lower()
    if _looks_like_vcard(text):
        return "vcard"
    if suffix in (".vcf", ".vcard"):
        raise Invalid("This .vcf file does not start with BEGIN:VCARD; it is not a vCard file.")
    _, headers, _ = _split_csv(text)
    return _format_from_headers(headers)


# ---------------------------------------------------------------- CSV


def _sniff_delimiter(header_line: str) -> str:
    best, best_count = ",", 0
    for delimiter in (",", ";", "\t", "|"):
        fields = next(csv.reader([header_line], delimiter=delimiter), [])
        if len(fields) > best_count:
            best, best_count = delimiter, len(fields)
    return best


def _split_csv(text: str) -> tuple[int, list[str], str]:
    """(physical line of the header, header names, delimiter). Skips LinkedIn's preamble."""
    lines = text.splitlines()
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index < len(lines) and lines[index].strip().lower().startswith("notes:"):
        # LinkedIn's Connections.csv opens with a quoted note, a blank line, then the header.
        for probe in range(index + 1, min(len(lines), index + 60)):
            if lines[probe].lstrip('"').startswith("First Name"):
                index = probe
                break
        else:
            raise Invalid("The file starts with 'Notes:' but no 'First Name' header follows.")
    if index >= len(lines):
        raise Invalid("The file is empty.")
    header_line = lines[index]
    delimiter = _sniff_delimiter(header_line)
    cells = next(csv.reader([header_line], delimiter=delimiter))
    headers = [h.strip().lstrip("\ufeff") for h in cells]
    if not any(headers):
        raise Invalid("The first line of the file should name the columns, but it is empty.")
    return index + 1, headers, delimiter


def _csv_records(text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]], str]:
    header_line, headers, delimiter = _split_csv(text)
    lines = text.splitlines(keepends=True)
    body = io.StringIO("".join(lines[header_line:]), newline="")

    def records() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(body, delimiter=delimiter, strict=False)
        previous = 0
        try:
            for record in reader:
                start = header_line + previous + 1
                previous = reader.line_num
                yield start, record
        except csv.Error as exc:
            raise Invalid(
                f"The CSV file is malformed near line {header_line + reader.line_num}: {exc}."
            ) from exc

    return headers, records(), delimiter


def _check_headers(headers: list[str]) -> None:
    seen: set[str] = set()
    for name in headers:
        if name and name in seen:
            raise Invalid(f"The column {name!r} appears twice in the header.")
        seen.add(name)


def _read_rows(
    text: str, parsed: ParsedFile, mapping: Mapping[str, str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, {field: value}) for each non-blank record, using `mapping`."""
    headers, records, _ = _csv_records(text)
    width = len(headers)
    # (position, field) of the mapped columns, in column order (a row may be short)
    columns = [(i, target) for i, h in enumerate(headers) if (target := mapping.get(h))]
    for line, record in records:
        if not "".join(record).strip():  # a blank record (only separators and spaces)
            continue
        if len(record) > width and "".join(record[width:]).strip():
            parsed.rejected.append({
                "line": line,
                "reason": f"{len(record)} values but the header names {width} columns "
                "(an unquoted separator inside a value?).",
            })  # fmt: skip
            continue
        values: dict[str, str] = {}
        present = len(record)
        for i, target in columns:
            if i >= present:
                break
            cell = record[i].strip()
            if not cell or target in values:  # the first filled column for a field wins
                continue
            if cell[0] == "'" and cell[1:2] in ("=", "+", "-", "@"):
                cell = cell[1:]  # a spreadsheet's guard against formulas, as our export writes
            values[target] = cell[:MAX_CELL]
        yield line, values


def _contact_row(line: int, values: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"line": line}
    custom: dict[str, str] = {}
    for target, value in values.items():
        if target.startswith("custom:"):
            custom[target[7:]] = value
        else:
            row[target] = value
    if custom:
        row["custom_fields"] = custom
    return row


def parse_csv_contacts(
    text: str, file_format: str = "csv", mapping: Mapping[str, str] | None = None
) -> ParsedFile:
    _, headers, _ = _split_csv(text)
    _check_headers(headers)
    parsed = ParsedFile(format=file_format, headers=headers)
    if mapping is None:
        chosen = suggest_mapping(headers, file_format)
    else:
        chosen = {col: target for col, target in mapping.items() if target}
        unknown_columns = [col for col in chosen if col not in headers]
        if unknown_columns:
            raise Invalid(
                f"The mapping names columns the file does not have: {', '.join(unknown_columns)}."
            )
        bad = [t for t in chosen.values() if not is_valid_target(t)]
        if bad:
            raise Invalid(f"Unknown contact fields in the mapping: {', '.join(sorted(set(bad)))}.")
    if not chosen:
        raise Invalid(
            "No column of this file could be matched to a contact field "
            f"(columns: {', '.join(h for h in headers if h) or 'none'})."
        )
    parsed.mapping = chosen
    ignored = [h for h in headers if h and h not in chosen]
    if ignored and mapping is None:
        parsed.warnings.append(
            {"line": 1, "reason": f"Unknown columns ignored: {', '.join(ignored)}."}
        )
    rows = _read_rows(text, parsed, chosen)
    if any(target.startswith("custom:") for target in chosen.values()):
        parsed.rows = [_contact_row(line, values) for line, values in rows]
    else:
        parsed.rows = [{"line": line, **values} for line, values in rows]
    return parsed


def _table_mapping(
    headers: list[str], synonyms: dict[str, tuple[str, ...]], required: tuple[str, ...], what: str
) -> dict[str, str]:
    by_key = {_header_key(syn): col for col, syns in synonyms.items() for syn in syns}
    mapping: dict[str, str] = {}
    for header in headers:
        target = by_key.get(_header_key(header))
        if target and target not in mapping.values():
            mapping[header] = target
    missing = [col for col in required if col not in mapping.values()]
    if missing:
        raise Invalid(
            f"A {what} file needs the columns {', '.join(required)}; "
            f"missing: {', '.join(missing)} (found: {', '.join(headers)})."
        )
    return mapping


def parse_table(data: bytes, kind: str, filename: str | None = None) -> ParsedFile:
    """A relationships or interactions CSV: rows keyed by the canonical column names."""
    if kind not in ("relationships", "interactions"):
        raise Invalid(f"Unknown import kind {kind!r}.")
    text = decode_text(data)
    if _looks_like_vcard(text):
        raise Invalid(f"A vCard file cannot be imported as {kind}; use a CSV file.")
    _, headers, _ = _split_csv(text)
    _check_headers(headers)
    if kind == "relationships":
        mapping = _table_mapping(headers, _RELATIONSHIP_SYNONYMS, RELATIONSHIP_REQUIRED,
                                 "relationships")  # fmt: skip
    else:
        mapping = _table_mapping(headers, _INTERACTION_SYNONYMS, INTERACTION_REQUIRED,
                                 "interactions")  # fmt: skip
    parsed = ParsedFile(format="csv", kind=kind, headers=headers, mapping=mapping)
    ignored = [h for h in headers if h and h not in mapping]
    if ignored:
        parsed.warnings.append(
            {"line": 1, "reason": f"Unknown columns ignored: {', '.join(ignored)}."}
        )
    parsed.rows = [{"line": line, **values} for line, values in _read_rows(text, parsed, mapping)]
    return parsed


# ---------------------------------------------------------------- vCard

_PROPERTY = re.compile(r"^(?:(?P<group>[A-Za-z0-9-]+)\.)?(?P<name>[A-Za-z0-9-]+)(?P<params>;.*)?$")
_V21_ENCODINGS = {"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"}


@dataclass
class VCardProperty:
    name: str
    params: dict[str, list[str]]
    value: str
    group: str | None = None

    def types(self) -> set[str]:
        return {t.lower() for t in self.params.get("TYPE", [])}

    @property
    def preferred(self) -> bool:
        return "pref" in self.types() or bool(self.params.get("PREF"))


def _split_unquoted(text: str, sep: str, limit: int = -1) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted and limit != 0:
            parts.append("".join(current))
            current = []
            limit -= 1
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _parse_params(raw: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for item in _split_unquoted(raw, ";"):
        if not item:
            continue
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip().upper()
            values = [v.strip().strip('"') for v in _split_unquoted(value, ",")]
        else:
            # vCard 2.1 writes bare parameters: TEL;WORK;VOICE or EMAIL;PREF;INTERNET.
            bare = item.strip().upper()
            key, values = ("ENCODING", [bare]) if bare in _V21_ENCODINGS else ("TYPE", [bare])
        params.setdefault(key, []).extend(v for v in values if v)
    return params


def _unescape(value: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value
    )  # \, \; \\ \n


def _split_structured(value: str) -> list[str]:
    """Split N / ORG / ADR on ';' that are not escaped, then unescape each part."""
    return [_unescape(p) for p in re.split(r"(?<!\\);", value)]


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfold continuation lines (leading space or tab) and quoted-printable soft breaks
    ('=' at the end of a line); yield (first physical line, logical line)."""
    current: str | None = None
    start = 0
    v21 = False  # vCard 2.1 keeps the whitespace of a folded line; 3.0 and 4.0 drop it
    for number, line in enumerate(text.splitlines(), start=1):
        if current is not None and line[:1] in (" ", "\t"):
            current += line if v21 else line[1:]
            continue
        if current is not None and current.endswith("=") and _is_quoted_printable(current):
            current = current[:-1] + line
            continue
        if current is not None:
            yield start, current
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            v21 = False
        elif upper.startswith("VERSION:"):
            v21 = upper.endswith("2.1")
        current, start = line, number
    if current is not None:
        yield start, current


def _is_quoted_printable(line: str) -> bool:
    head = line.split(":", 1)[0].upper()
    return "QUOTED-PRINTABLE" in head


def _decode_value(prop_params: dict[str, list[str]], raw: str) -> str:
    encoding = {e.upper() for e in prop_params.get("ENCODING", [])}
    if "QUOTED-PRINTABLE" in encoding:
        charset = (prop_params.get("CHARSET") or ["utf-8"])[0]
        decoded = quopri.decodestring(raw.encode("utf-8"))
        try:
            text = decoded.decode(charset)
        except (LookupError, UnicodeDecodeError):
            try:
                text = decoded.decode("utf-8")
            except UnicodeDecodeError:
                text = decoded.decode("cp1252", "replace")
        return text.replace("\r\n", "\n")
    return raw


def _parse_property(line: str) -> VCardProperty | None:
    head_value = _split_unquoted(line, ":", limit=1)
    if len(head_value) != 2:
        return None
    head, raw_value = head_value
    match = _PROPERTY.match(head.strip())
    if match is None:
        return None
    params = _parse_params((match.group("params") or "")[1:])
    value = _decode_value(params, raw_value)
    return VCardProperty(
        name=match.group("name").upper(),
        params=params,
        value=value,
        group=match.group("group"),
    )


def iter_vcards(text: str) -> Iterator[tuple[int, list[VCardProperty]]]:
    """(line of BEGIN:VCARD, properties) for each card. Raises Invalid on a truncated file."""
    card: list[VCardProperty] | None = None
    start = 0
    depth = 0
    found = False
    for line_no, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        upper = stripped.upper()
        if upper == "BEGIN:VCARD":
            if card is not None:
                depth += 1  # a nested card (vCard 2.1 AGENT): skipped
                continue
            card, start, found = [], line_no, True
            continue
        if upper == "END:VCARD":
            if card is None:
                raise Invalid(f"Line {line_no} has END:VCARD without a BEGIN:VCARD before it.")
            if depth:
                depth -= 1
                continue
            yield start, card
            card = None
            continue
        if card is None or depth:
            continue
        prop = _parse_property(stripped)
        if prop is not None:
            card.append(prop)
    if card is not None:
        raise Invalid(
            f"The vCard that starts on line {start} has no END:VCARD: the file is cut short "
            "or damaged. Nothing was imported."
        )
    if not found:
        raise Invalid("The file has no BEGIN:VCARD: it holds no contact cards.")


_COUNTRIES = {
    "italy": "IT", "italia": "IT", "france": "FR", "francia": "FR", "germany": "DE",
    "germania": "DE", "deutschland": "DE", "spain": "ES", "spagna": "ES", "espana": "ES",
    "switzerland": "CH", "svizzera": "CH", "schweiz": "CH", "austria": "AT",
    "united kingdom": "GB", "uk": "GB", "regno unito": "GB", "great britain": "GB",
    "united states": "US", "usa": "US", "stati uniti": "US", "united states of america": "US",
    "netherlands": "NL", "paesi bassi": "NL", "belgium": "BE", "belgio": "BE",
    "portugal": "PT", "portogallo": "PT", "ireland": "IE", "irlanda": "IE",
    "san marino": "SM", "vatican city": "VA", "slovenia": "SI", "croatia": "HR",
    "croazia": "HR", "greece": "GR", "grecia": "GR", "poland": "PL", "polonia": "PL",
    "sweden": "SE", "svezia": "SE", "denmark": "DK", "danimarca": "DK", "norway": "NO",
    "norvegia": "NO", "finland": "FI", "finlandia": "FI", "canada": "CA",
    "brazil": "BR", "brasile": "BR", "argentina": "AR", "china": "CN", "cina": "CN",
    "japan": "JP", "giappone": "JP", "india": "IN", "australia": "AU",
}  # fmt: skip


def country_code(raw: str | None) -> str | None:
    """'IT', 'it', 'Italy', 'Italia' -> 'IT'; None when not recognised."""
    value = " ".join((raw or "").split())
    if not value:
        return None
    if len(value) == 2 and value.isalpha():
        return value.upper()
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return _COUNTRIES.get(folded)


_LANGUAGES = {"italian": "it", "italiano": "it", "english": "en", "inglese": "en",
              "french": "fr", "francese": "fr", "german": "de", "tedesco": "de",
              "spanish": "es", "spagnolo": "es"}  # fmt: skip


def language_code(raw: str | None) -> str | None:
    """'it', 'it_IT', 'it-IT', 'Italian' -> 'it'; None when not recognised."""
    value = (raw or "").strip().lower()
    if not value:
        return None
    if re.fullmatch(r"[a-z]{2}([_-][a-z]{2,4})?", value):
        return value[:2]
    return _LANGUAGES.get(value)


def _vcard_row(line: int, props: list[VCardProperty]) -> dict[str, Any]:
    row: dict[str, Any] = {"line": line}

    def first(name: str) -> VCardProperty | None:
        matching = [p for p in props if p.name == name and p.value.strip()]
        preferred = [p for p in matching if p.preferred]
        return (preferred or matching or [None])[0]  # type: ignore[list-item]

    kind = first("KIND")
    if kind is not None and kind.value.strip().lower() in ("group", "org", "location"):
        row["_reject"] = f"This card describes a {kind.value.strip().lower()}, not a person."
        return row
    n = first("N")
    if n is not None:
        parts = _split_structured(n.value) + [""] * 5
        row["last_name"] = parts[0].strip()
        row["first_name"] = " ".join(p for p in (parts[1].strip(), parts[2].strip()) if p)
    fn = first("FN")
    if fn is not None:
        row["full_name"] = _unescape(fn.value).strip()
    email = first("EMAIL")
    if email is not None:
        row["email"] = _unescape(email.value).strip().removeprefix("mailto:")
    tel = first("TEL")
    if tel is not None:
        row["phone"] = _unescape(tel.value).strip().removeprefix("tel:")
    org = first("ORG")
    if org is not None:
        row["organization"] = _split_structured(org.value)[0].strip()
    title = first("TITLE") or first("ROLE")
    if title is not None:
        row["title"] = _unescape(title.value).strip()
    note = first("NOTE")
    if note is not None:
        row["notes"] = _unescape(note.value).strip()
    categories = first("CATEGORIES")
    if categories is not None:
        row["tags"] = ",".join(_unescape(c) for c in re.split(r"(?<!\\),", categories.value))
    lang = first("LANG")
    if lang is not None:
        row["language"] = lang.value.strip()
    adr = first("ADR")
    if adr is not None:
        parts = _split_structured(adr.value) + [""] * 7
        if parts[3].strip():
            row["city"] = parts[3].strip()
        if parts[6].strip():
            row["country"] = parts[6].strip()
    for prop in props:
        value = _unescape(prop.value).strip()
        if not value:
            continue
        types = prop.types()
        if (
            prop.name in ("URL", "X-SOCIALPROFILE", "X-LINKEDIN")
            and "linkedin.com" in value.lower()
        ):
            row.setdefault("linkedin_url", value)
        elif prop.name == "X-SOCIALPROFILE" and "linkedin" in types:
            row.setdefault("linkedin_url", value)
        elif prop.name in ("X-SOCIALPROFILE", "X-TWITTER", "URL") and (
            "twitter" in types or "x" in types or prop.name == "X-TWITTER"
            or re.search(r"//(www\.)?(twitter|x)\.com/", value)
        ):  # fmt: skip
            row.setdefault("x_handle", value)
        elif prop.name in ("X-SOCIALPROFILE", "URL") and (
            "facebook" in types or "facebook.com/" in value.lower()
        ):
            row.setdefault("facebook", value)
    return {k: v for k, v in row.items() if v != ""}


def parse_vcards(text: str) -> ParsedFile:
    parsed = ParsedFile(format="vcard")
    for line, props in iter_vcards(text):
        row = _vcard_row(line, props)
        reason = row.pop("_reject", None)
        if reason:
            parsed.rejected.append({"line": line, "reason": reason})
        elif len(row) > 1:
            parsed.rows.append(row)
        else:
            parsed.rejected.append({"line": line, "reason": "The card is empty."})
    return parsed


# ---------------------------------------------------------------- entry points


def parse_contacts(
    data: bytes,
    filename: str | None = None,
    *,
    file_format: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> ParsedFile:
    """Read a contacts file. `mapping` ({column -> field}) overrides the suggested one."""
    text = decode_text(data)
    fmt = file_format or detect_format(data, filename)
    if fmt not in FORMATS:
        raise Invalid(f"Unknown file format {fmt!r}.")
    if fmt == "vcard":
        return parse_vcards(text)
    return parse_csv_contacts(text, fmt, mapping)


def parse_file(
    data: bytes,
    filename: str | None = None,
    kind: str = "contacts",
    mapping: Mapping[str, str] | None = None,
) -> ParsedFile:
    if kind == "contacts":
        return parse_contacts(data, filename, mapping=mapping)
    if kind in ("relationships", "interactions"):
        return parse_table(data, kind, filename)
    raise Invalid(f"Unknown import kind {kind!r}.")


def preview(data: bytes, filename: str | None = None, rows: int = 5) -> dict[str, Any]:
    """What the mapping step shows: format, headers, a few rows, the suggested mapping."""
    fmt = detect_format(data, filename)
    if fmt == "vcard":
        parsed = parse_vcards(decode_text(data))
        return {"format": fmt, "headers": [], "sample_rows": parsed.rows[:rows],
                "suggested_mapping": {}}  # fmt: skip
    text = decode_text(data)
    headers, records, _ = _csv_records(text)
    sample: list[list[str]] = []
    for _line, record in records:
        if any(cell.strip() for cell in record):
            sample.append(record)
        if len(sample) >= rows:
            break
    return {
        "format": fmt,
        "headers": headers,
        "sample_rows": sample,
        "suggested_mapping": suggest_mapping(headers, fmt),
    }
