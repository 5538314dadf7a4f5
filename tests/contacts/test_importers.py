"""Reading import files: formats, encodings, line numbers, refusals. No database."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from app.contacts import importers
from app.contacts.import_service import import_email
from app.contacts.normalize import normalize_email
from app.errors import Invalid

DATA = Path(__file__).parent / "data"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("linkedin_connections.csv", "linkedin"),
        ("linkedin_old_bom.csv", "linkedin"),
        ("contacts_v21.vcf", "vcard"),
        ("contacts_v30.vcf", "vcard"),
        ("contacts_v40.vcf", "vcard"),
        ("hubspot_contacts.csv", "hubspot"),
        ("mautic_contacts.csv", "mautic"),
        ("excel_latin1_semicolon.csv", "csv"),
    ],
)
def test_detect_format(name: str, expected: str) -> None:
    assert importers.detect_format(read(name), name) == expected


def test_linkedin_current_export_skips_the_notes_preamble_and_keeps_file_lines() -> None:
    parsed = importers.parse_contacts(read("linkedin_connections.csv"), "Connections.csv")
    assert parsed.format == "linkedin"
    assert [r["line"] for r in parsed.rows] == [5, 6, 7, 8]
    giulia, marco = parsed.rows[0], parsed.rows[1]
    assert giulia["first_name"] == "Giulia" and "email" not in giulia
    assert giulia["linkedin_url"] == "https://www.linkedin.com/in/giulia-bianchi-4a1b2c"
    assert marco["organization"] == "Rossi & Figli, S.p.A."  # quoted comma kept
    assert marco["custom_fields"] == {"linkedin_connected_on": "03 Jan 2023"}


def test_linkedin_old_export_with_bom_and_no_url_column() -> None:
    data = read("linkedin_old_bom.csv")
    assert data.startswith(codecs.BOM_UTF8)
    parsed = importers.parse_contacts(data, "Connections.csv")
    assert parsed.format == "linkedin"
    assert parsed.headers[0] == "First Name"  # no BOM glued to the first header
    assert parsed.rows[0]["first_name"] == "Chiara"
    assert parsed.rows[0]["organization"] == "Caffè Napoli"
    assert all("linkedin_url" not in r for r in parsed.rows)


def test_latin1_semicolon_excel_csv_is_read_with_accents() -> None:
    data = read("excel_latin1_semicolon.csv")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    info = importers.preview(data, "export.csv")
    assert info["format"] == "csv"
    assert info["headers"][:5] == ["Nome", "Cognome", "Email", "Azienda", "Città"]
    assert info["suggested_mapping"]["Città"] == "city"
    assert "Colonna strana" not in info["suggested_mapping"]
    parsed = importers.parse_contacts(data, "export.csv")
    first = parsed.rows[0]
    assert (first["first_name"], first["last_name"], first["city"]) == (
        "Niccolò", "Dell'Acqua", "Forlì",
    )  # fmt: skip
    assert first["notes"] == "Cliente dal 2019 € 5000"  # cp1252's euro sign
    assert parsed.warnings == [{"line": 1, "reason": "Unknown columns ignored: Colonna strana."}]


def test_generic_csv_with_explicit_mapping_and_custom_fields() -> None:
    data = b"Who,Mail,Extra,Org\nAnna Bianchi,anna@example.it,42,Acme\n"
    parsed = importers.parse_contacts(
        data, "x.csv", mapping={"Who": "full_name", "Mail": "email", "Extra": "custom:score"}
    )
    assert parsed.rows == [{"line": 2, "full_name": "Anna Bianchi", "email": "anna@example.it",
                            "custom_fields": {"score": "42"}}]  # fmt: skip
    with pytest.raises(Invalid, match="Unknown contact fields"):
        importers.parse_contacts(data, "x.csv", mapping={"Who": "password"})
    with pytest.raises(Invalid, match="does not have: Nope"):
        importers.parse_contacts(data, "x.csv", mapping={"Nope": "email"})


def test_csv_line_numbers_count_multiline_cells_and_blank_lines() -> None:
    data = (
        b"first_name,email,notes\n"
        b'Anna,anna@example.it,"two\nlines"\n'
        b"\n"
        b"Bruno,bruno@example.it,\n"
        b"Carla,carla@example.it,x,unexpected\n"
    )
    parsed = importers.parse_contacts(data, "x.csv")
    assert [(r["line"], r["first_name"]) for r in parsed.rows] == [(2, "Anna"), (5, "Bruno")]
    assert parsed.rows[0]["notes"] == "two\nlines"
    assert parsed.rejected == [{"line": 6, "reason": "4 values but the header names 3 columns "
                                "(an unquoted separator inside a value?)."}]  # fmt: skip


def test_vcard_21_quoted_printable_soft_breaks_and_folding() -> None:
    parsed = importers.parse_contacts(read("contacts_v21.vcf"), "contacts.vcf")
    jose, jurgen = parsed.rows
    assert jose["line"] == 1 and jurgen["line"] == 14
    assert (jose["first_name"], jose["last_name"]) == ("José", "Città")
    assert jose["organization"] == "Caffè & Co."
    assert jose["email"] == "jose.citta@example.org"
    assert jose["phone"] == "+39 02 1234567"  # TEL;WORK;VOICE comes first
    assert jose["title"] == "Direttore commerciale"  # 2.1 folding keeps the space
    assert (
        jose["notes"]
        == "Incontrato alla fiera di Milano, parla di una lunga collaborazione\ncon noi."
    )
    assert (jurgen["first_name"], jurgen["last_name"]) == ("Jürgen", "Müller")  # ISO-8859-1 QP


def test_vcard_30_groups_escapes_and_social_profiles() -> None:
    parsed = importers.parse_contacts(read("contacts_v30.vcf"), "contacts.vcf")
    elena = parsed.rows[0]
    assert elena["email"] == "elena@galloconti.it"  # item1.EMAIL
    assert elena["linkedin_url"] == "https://www.linkedin.com/in/elena-gallo"  # item2.URL
    assert elena["x_handle"] == "https://twitter.com/elenagallo"
    assert elena["organization"] == "Gallo, Conti e Associati"
    assert elena["notes"] == "Preferisce essere contattata\nvia email."
    assert (elena["city"], elena["country"]) == ("Torino", "Italia")
    assert elena["tags"] == "clienti,legali"
    assert parsed.rows[1] == {"line": 18, "full_name": "Famiglia Gallo"}


def test_vcard_40_pref_email_tel_uri_and_group_card_refused() -> None:
    parsed = importers.parse_contacts(read("contacts_v40.vcf"), "c.vcf")
    (francesca,) = parsed.rows
    assert francesca["email"] == "francesca.moretti@example.net"
    assert francesca["phone"] == "+39-06-5550100"
    assert francesca["linkedin_url"] == "https://it.linkedin.com/in/francesca-moretti"
    assert francesca["language"] == "it"
    assert parsed.rejected == [{"line": 12, "reason": "This card describes a group, not a person."}]


def test_hubspot_and_mautic_headers() -> None:
    hub = importers.parse_contacts(read("hubspot_contacts.csv"), "hubspot.csv")
    assert hub.rows[0]["organization"] == "Colombo Srl"
    assert hub.rows[0]["custom_fields"]["hubspot_id"] == "51"
    assert hub.rows[1]["unsubscribed"] == "true"
    mautic = importers.parse_contacts(read("mautic_contacts.csv"), "mautic.csv")
    matteo = mautic.rows[0]
    assert matteo["phone"] == "+39 340 1112223"  # mobile used when phone is empty
    assert (matteo["title"], matteo["language"], matteo["tags"]) == (
        "CTO",
        "it_IT",
        "newsletter,clienti",
    )


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.csv", "empty"),
        (b"\xef\xbb\xbf\r\n  \r\n", "bom-only.csv", "empty"),
        (bytes(range(256)) * 40, "photo.csv", "binary"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02" * 50, "x.csv", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"x" * 100, "people.csv", "Excel"),
        (b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ok\r\nEMAIL:a@b.it\r\n", "c.vcf", "no END:VCARD"),
        (b"hello world\n", "c.vcf", "not a vCard"),
        (b"colour,flavour\nred,sweet\n", "x.csv", "No column of this file"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_message(
    data: bytes, name: str, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        importers.parse_contacts(data, name)


def test_truncated_vcard_names_the_line_of_the_cut_card() -> None:
    with pytest.raises(Invalid, match="starts on line 6 has no END:VCARD"):
        importers.parse_contacts(read("truncated.vcf"), "truncated.vcf")


def test_relationship_and_interaction_files_need_their_columns() -> None:
    parsed = importers.parse_table(read("relationships.csv"), "relationships")
    assert parsed.rows[1]["kind"] == "reports-to" and parsed.rows[1]["line"] == 3
    with pytest.raises(Invalid, match="missing: kind"):
        importers.parse_table(b"from,to\na@b.it,c@d.it\n", "relationships")
    with pytest.raises(Invalid, match="missing: occurred_at"):
        importers.parse_table(
            b"participants,channel,direction,kind\na@b.it,email,inbound,message\n",
            "interactions",
        )


@pytest.mark.parametrize(
    "raw",
    ["Mario.Rossi@Example.IT", "a+tag@sub.example.co.uk", "x@localhost", "a..b@example.com",
     "o'brien@example.ie", "  spaced@example.com ", "a@example.invalid", "user@xn--bcher-kva.ch",
     "ünï@example.com", "a@b", "Niccolò.Rossi@Example.it", "jürgen.müller@example.de",
     "u\u0308ber@example.de", "\u0301a@example.com", "a\u00a0b@example.com", "é..x@example.com",
     "ΣΟΦΙΑ@example.gr", "ǅx@example.hr", "İpek@example.tr", "ß@example.de", "a\u200bb@example.com",
     "用户@example.cn", "ü@例子.广告", "é" * 64 + "@example.com", "é" * 40 + "@example.com"],
)  # fmt: skip
def test_fast_email_check_agrees_with_the_canonical_one(raw: str) -> None:
    try:
        expected: str | None | Exception = normalize_email(raw)
    except Invalid as exc:
        expected = exc
    if isinstance(expected, Exception):
        with pytest.raises(Invalid):
            import_email(raw)
    else:
        assert import_email(raw) == expected
