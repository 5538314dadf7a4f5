"""Writing imports: dedupe, merge, reports, consent, relationships, interactions, export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import import_service as imp
from app.contacts import importers, service
from app.contacts.models import (
    ConsentEvent,
    Contact,
    ImportRun,
    Interaction,
    Organization,
    Relationship,
)
from app.errors import Forbidden, Invalid
from app.extensions import db

DATA = Path(__file__).parent / "data"


def parse(name: str, kind: str = "contacts") -> importers.ParsedFile:
    return importers.parse_file((DATA / name).read_bytes(), name, kind)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def by_email(session: Session, email: str) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.email == email))
    assert contact is not None, email
    return contact


def import_file(session: Session, actor: User | None, name: str, kind: str = "contacts"):
    result = imp.run_import(session, actor.id if actor else None, parse(name, kind))
    session.commit()
    return result


def test_linkedin_import_creates_people_and_reimport_adds_nobody(
    session: Session, users: dict[str, User]
) -> None:
    result = import_file(session, users["manager"], "linkedin_connections.csv")
    assert (result.created, result.updated) == (3, 0)
    assert result.rejected == [{"line": 8, "reason": "Not a LinkedIn profile URL: "
                                "'https://www.linkedin.com/company/neri-spa'."}]  # fmt: skip
    marco = by_email(session, "marco.rossi@esempio.it")
    assert marco.linkedin_url == "https://www.linkedin.com/in/marcorossi"
    assert marco.organization is not None and marco.organization.name == "Rossi & Figli, S.p.A."
    assert marco.sort_name == "rossi marco"
    assert marco.search_text == "marco rossi marco.rossi@esempio.it rossi & figli, s.p.a."
    assert marco.source == "import:linkedin"
    assert marco.custom_fields == {"linkedin_connected_on": "03 Jan 2023"}
    assert count(session, Contact) == 3

    again = import_file(session, users["manager"], "linkedin_connections.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert count(session, Contact) == 3
    assert count(session, Organization) == 2


def test_merge_fills_empty_fields_adds_tags_and_never_blanks(
    session: Session, users: dict[str, User]
) -> None:
    acme = service.create_organization(session, users["manager"], name="Fontana SRL")
    existing = service.create_contact(
        session, users["manager"], first_name="Matt", email="MATTEO@fontana.it",
        title="Chief Technology Officer", tags=["vip"], organization_id=acme.id,
    )  # fmt: skip
    session.commit()
    result = import_file(session, users["manager"], "mautic_contacts.csv")
    assert (result.created, result.updated, result.rejected) == (1, 1, [])
    session.refresh(existing)
    assert existing.first_name == "Matt"  # not overwritten
    assert existing.last_name == "Fontana"  # filled
    assert existing.title == "Chief Technology Officer"
    assert existing.phone == "+39 340 1112223"
    assert existing.linkedin_url == "https://www.linkedin.com/in/matteo-fontana"
    assert existing.x_handle == "@mfontana"
    assert (existing.country, existing.language) == ("IT", "it")
    assert existing.organization_id == acme.id  # the account matched by name, not duplicated
    assert [t.name for t in existing.tags] == ["clienti", "newsletter", "vip"]
    assert existing.sort_name == "fontana matt"
    assert count(session, Organization) == 1
    irene = by_email(session, "irene.greco@example.it")
    assert irene.organization_id is None and irene.city == "Bari"


def test_bad_rows_are_reported_per_line_and_good_rows_import(
    session: Session, users: dict[str, User]
) -> None:
    result = import_file(session, users["manager"], "excel_latin1_semicolon.csv")
    assert result.created == 2
    assert sorted(result.rejected, key=lambda r: r["line"]) == [
        {"line": 4, "reason": "Missing email (and no LinkedIn URL): the person could not be "
                              "recognised on a later import."},
        {"line": 5, "reason": "Invalid email address 'carla@@sbagliata'."},
        {"line": 6, "reason": "Duplicate of line 2."},
    ]  # fmt: skip
    assert result.warnings == [{"line": 1, "reason": "Unknown columns ignored: Colonna strana."}]
    niccolo = by_email(session, "niccolo@acqua.it")
    assert (niccolo.first_name, niccolo.city) == ("Niccolò", "Forlì")
    assert niccolo.organization is not None and niccolo.organization.name == "Acqua Società"
    assert count(session, Contact) == 2


def test_vcards_import_and_group_card_is_reported(session: Session, users: dict[str, User]) -> None:
    result = import_file(session, users["manager"], "contacts_v30.vcf")
    assert result.created == 1
    assert [r["line"] for r in result.rejected] == [18]  # the card with no email
    elena = by_email(session, "elena@galloconti.it")
    assert elena.country == "IT" and elena.x_handle == "@elenagallo"
    assert [t.name for t in elena.tags] == ["clienti", "legali"]
    result = import_file(session, users["manager"], "contacts_v40.vcf")
    assert result.created == 1
    assert result.rejected == [{"line": 12, "reason": "This card describes a group, not a person."}]


def test_email_and_linkedin_pointing_at_two_people_is_refused(
    session: Session, users: dict[str, User]
) -> None:
    service.create_contact(session, users["manager"], first_name="A", email="a@example.it")
    service.create_contact(
        session, users["manager"], first_name="B", linkedin_url="linkedin.com/in/bee"
    )
    session.commit()
    rows = [
        {"line": 2, "email": "A@example.it", "linkedin_url": "https://www.linkedin.com/in/BEE/"},
        {"line": 3, "email": "new@example.it", "linkedin_url": "linkedin.com/in/bee"},
        {"line": 4, "email": "a@example.it", "phone": "123"},
    ]
    result = imp.import_contacts(session, users["manager"].id, rows)
    session.commit()
    assert result.rejected == [
        {"line": 2,
         "reason": "The email belongs to one existing person and the LinkedIn URL to another."},
        {"line": 3, "reason": "Duplicate of line 2."},
        {"line": 4, "reason": "Duplicate of line 2."},
    ]  # fmt: skip
    assert (result.created, result.updated) == (0, 0)
    # Taken one at a time, each row merges into its own person.
    result = imp.import_contacts(session, users["manager"].id, rows[1:2])
    result2 = imp.import_contacts(session, users["manager"].id, rows[2:])
    session.commit()
    assert (result.updated, result2.updated, result.rejected, result2.rejected) == (1, 1, [], [])
    bee = session.scalar(select(Contact).where(Contact.first_name == "B"))
    assert bee is not None and bee.email == "new@example.it"
    assert by_email(session, "a@example.it").phone == "123"
    assert count(session, Contact) == 2


def test_a_file_taken_in_segments_imports_as_if_taken_whole(
    session: Session, users: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long files are cleaned, matched and written a segment at a time; duplicates,
    existing people, accounts and tags must not depend on where a segment ends."""
    manager = users["manager"]
    existing = service.create_contact(session, manager, first_name="Eva", email="eva@old.it",
                                      linkedin_url="linkedin.com/in/eva")  # fmt: skip
    session.commit()
    rows = [
        {"line": 2, "email": "a@x.it", "organization": "Acme", "tags": "fiera"},
        {"line": 3, "email": "b@x.it", "organization": "Acme", "tags": "vip"},
        {"line": 4, "email": "EVA@old.it", "title": "CFO", "tags": "vip, cliente"},
        {"line": 5, "email": "not an email"},
        {"line": 6, "email": "c@x.it", "organization": "Beta", "consent_status": "yes"},
        {"line": 7, "email": "B@X.IT", "title": "duplicate of line 3"},
        {"line": 8, "email": "d@x.it", "organization": "acme", "tags": "nuovo"},
        {"line": 9, "email": "e@x.it", "linkedin_url": "https://linkedin.com/in/eva/"},
        {"line": 10, "email": "f@x.it", "tags": "fiera"},
        {"line": 11, "email": "g@x.it", "organization": "Acme", "organization_domain": "acme.it"},
    ]

    def run(segment: int) -> tuple[object, ...]:
        monkeypatch.setattr(imp, "SEGMENT", segment)
        reports: list[tuple[int, int]] = []
        result = imp.import_contacts(
            session, manager.id, rows, progress=lambda done, total: reports.append((done, total))
        )
        session.flush()
        people = {
            c.email: (c.organization.name if c.organization else None, c.title,
                      sorted(t.name for t in c.tags), c.consent_status)
            for c in session.scalars(select(Contact).order_by(Contact.id))
        }  # fmt: skip
        outcome = (result.created, result.updated, result.unchanged, result.rejected,
                   people, count(session, Organization), count(session, ConsentEvent))  # fmt: skip
        session.rollback()
        assert reports == sorted(reports) and reports[-1] == (len(rows), len(rows))
        return outcome

    whole, in_threes = run(10_000), run(3)
    assert in_threes == whole
    created, updated, _unchanged, rejected, people, organizations, _events = whole
    assert (created, updated) == (6, 1)
    assert [r["line"] for r in rejected] == [5, 7, 9]
    assert rejected[1]["reason"] == "Duplicate of line 3."
    assert rejected[2]["reason"] == "Duplicate of line 4 (the same person)."
    assert people[existing.email] == (None, "CFO", ["cliente", "vip"], "unknown")
    # "Acme" without a domain early on and with one later: one account, as in one go
    assert people["d@x.it"][0] == "Acme" and people["g@x.it"][0] == "Acme"
    assert organizations == 2


def test_import_follows_merges_to_the_kept_person(session: Session, users: dict[str, User]) -> None:
    keep = service.create_contact(session, users["manager"], first_name="Kept", email="k@x.it")
    gone = service.create_contact(session, users["manager"], first_name="Gone", email="g@x.it")
    session.flush()
    # A tombstone that still carries its email (older data): the import must not revive it.
    session.execute(update(Contact).where(Contact.id == gone.id).values(merged_into_id=keep.id))
    session.commit()
    result = imp.import_contacts(
        session, users["manager"].id, [{"line": 2, "email": "g@x.it", "title": "CFO"}]
    )
    session.commit()
    assert (result.created, result.updated) == (0, 1)
    session.refresh(keep)
    assert keep.title == "CFO"


def test_consent_from_the_file_is_applied_and_recorded(
    session: Session, users: dict[str, User]
) -> None:
    opted = service.create_contact(session, users["manager"], first_name="R",
                                   email="roberta.colombo@colombo.it")  # fmt: skip
    service.change_consent(session, users["manager"].id, opted, "opted_out", "consent")
    session.commit()
    rows = [
        {"line": 2, "email": "roberta.colombo@colombo.it", "consent_status": "granted"},
        {"line": 3, "email": "new@example.it", "consent_status": "yes",
         "consent_basis": "contract"},
        {"line": 4, "email": "bad@example.it", "consent_status": "maybe"},
    ]  # fmt: skip
    result = imp.import_contacts(session, users["manager"].id, rows)
    hub = imp.run_import(session, users["manager"].id, parse("hubspot_contacts.csv"))
    session.commit()
    assert result.rejected == [{"line": 4, "reason": "Unknown consent value 'maybe' "
                                "(use granted or opted_out)."}]  # fmt: skip
    assert result.warnings == [{"line": 2, "reason": "This person opted out; the consent in "
                                "the file was not applied."}]  # fmt: skip
    session.refresh(opted)
    assert opted.consent_status == "opted_out"
    new = by_email(session, "new@example.it")
    assert (new.consent_status, new.consent_basis) == ("granted", "contract")
    stefano = by_email(session, "stefano@ricci.it")  # HubSpot "Unsubscribed from all email"
    assert stefano.consent_status == "opted_out" and stefano.opted_out
    assert by_email(session, "roberta.colombo@colombo.it").country == "IT"
    events = session.scalars(
        select(ConsentEvent).where(ConsentEvent.source == "import").order_by(ConsentEvent.id)
    ).all()
    assert [(e.contact_id, e.old_status, e.new_status) for e in events] == [
        (new.id, "unknown", "granted"), (stefano.id, "unknown", "opted_out"),
    ]  # fmt: skip
    assert [r["line"] for r in hub.rejected] == [4]


def test_sales_import_owns_new_people_and_cannot_touch_others(
    session: Session, users: dict[str, User]
) -> None:
    service.create_contact(session, users["sales2"], first_name="Theirs", email="t@x.it")
    session.commit()
    rows = [{"line": 2, "email": "t@x.it", "phone": "1"}, {"line": 3, "email": "mine@x.it"}]
    result = imp.import_contacts(session, users["sales"].id, rows, owner_id=users["admin"].id)
    session.commit()
    assert result.rejected == [
        {"line": 2, "reason": "This person already exists and belongs to another owner."}
    ]
    assert by_email(session, "mine@x.it").owner_id == users["sales"].id
    assert by_email(session, "t@x.it").phone is None
    with pytest.raises(Forbidden):
        imp.import_contacts(session, users["marketer"].id, rows)


def test_unexpected_failure_leaves_nothing_behind(
    session: Session, users: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(imp, "_link_tags", boom)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        imp.run_import(tx, users["manager"].id, parse("mautic_contacts.csv"))
    assert count(session, Contact) == 0
    assert count(session, Organization) == 0


def _people(session: Session, manager: User) -> None:
    import_file(session, manager, "linkedin_connections.csv")


def test_relationships_import_reports_each_bad_row(
    session: Session, users: dict[str, User]
) -> None:
    _people(session, users["manager"])
    result = import_file(session, users["manager"], "relationships.csv", "relationships")
    assert result.created == 2
    assert result.rejected == [
        {"line": 4, "reason": "To 'nobody@nowhere.it' is not a known person."},
        {"line": 5, "reason": "Unknown relationship kind 'enemy' (use one of: colleague, "
                              "reports_to, referred_by, knows, follows)."},
        {"line": 6, "reason": "A person cannot be related to themselves."},
        {"line": 7, "reason": "Duplicate of line 2."},
        {"line": 8, "reason": "Strength must be between 0 and 1, got '1.5'."},
    ]  # fmt: skip
    marco = by_email(session, "marco.rossi@esempio.it")
    rels = session.scalars(select(Relationship).order_by(Relationship.kind)).all()
    assert [(r.kind, r.strength) for r in rels] == [("knows", 0.8), ("reports_to", 0.6)]
    assert rels[0].from_contact_id == marco.id and rels[0].since is not None
    again = import_file(session, users["manager"], "relationships.csv", "relationships")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert count(session, Relationship) == 2


def test_interactions_import_is_idempotent_and_updates_last_interaction(
    session: Session, users: dict[str, User]
) -> None:
    _people(session, users["manager"])
    result = import_file(session, users["manager"], "interactions.csv", "interactions")
    assert result.created == 3
    assert [(r["line"], r["reason"]) for r in result.rejected] == [
        (5, "Participant 'ghost@nowhere.it' is not a known person."),
        (6, "Unknown channel 'fax' (use one of: email, linkedin, x, facebook, phone, meeting, "
            "event, web, shop)."),
        (7, "Occurred at 'ieri' is not an ISO 8601 date (2024-05-31T14:30:00Z)."),
        (8, "Duplicate of line 2."),
    ]  # fmt: skip
    meeting = session.scalar(select(Interaction).where(Interaction.external_id == "crm-1"))
    assert meeting is not None and len(meeting.participants) == 2
    assert meeting.occurred_at.isoformat() == "2024-05-02T08:30:00+00:00"
    purchase = session.scalar(select(Interaction).where(Interaction.external_id == "crm-2"))
    assert purchase is not None and purchase.value_cents == 123450
    assert purchase.occurred_at.isoformat() == "2024-05-10T09:00:00+00:00"  # naive = UTC
    comment = session.scalar(select(Interaction).where(Interaction.kind == "comment"))
    assert comment is not None and comment.needs_answer and comment.sentiment == -0.2
    giulia = session.scalar(select(Contact).where(Contact.first_name == "Giulia"))
    assert giulia is not None and giulia.last_interaction_at == comment.occurred_at

    again = import_file(session, users["manager"], "interactions.csv", "interactions")
    assert (again.created, again.unchanged) == (0, 3)
    assert count(session, Interaction) == 3


def test_create_import_run_refuses_unreadable_files_and_writes_nothing(
    session: Session, users: dict[str, User], tmp_path: Path
) -> None:
    for name, data in [("empty.csv", b""), ("truncated.vcf", (DATA / "truncated.vcf").read_bytes()),
                       ("bin.csv", b"\x00\x01\x02garbage\xff" * 10)]:  # fmt: skip
        with pytest.raises(Invalid):
            imp.create_import_run(
                session, users["manager"].id, name, data, "contacts", None, tmp_path / "up"
            )
    session.commit()
    assert count(session, ImportRun) == 0 and count(session, Contact) == 0
    assert not (tmp_path / "up").exists() or not any((tmp_path / "up").iterdir())


def test_execute_import_run_writes_counts_and_report(
    session: Session, users: dict[str, User], tmp_path: Path
) -> None:
    data = (DATA / "excel_latin1_semicolon.csv").read_bytes()
    run = imp.create_import_run(
        session, users["manager"].id, "clienti.csv", data, "contacts",
        {"Nome": "first_name", "Cognome": "last_name", "Email": "email", "Città": "city"},
        tmp_path,
    )  # fmt: skip
    session.commit()
    assert run.status == "pending" and run.file_format == "csv" and run.total_rows == 5
    assert Path(run.stored_path or "").read_bytes() == data
    imp.execute_import_run(session, run)
    session.commit()
    assert (run.status, run.created_count, run.updated_count) == ("done", 2, 0)
    assert [r["line"] for r in run.rejected] == [4, 5, 6]
    assert by_email(session, "lucia@martinez.es").organization_id is None  # not mapped

    Path(run.stored_path or "").unlink()
    run.status = "pending"
    imp.execute_import_run(session, run)
    assert run.status == "failed" and "no longer on the server" in (run.error or "")


def test_export_csv_round_trips_and_defuses_formulas(
    session: Session, users: dict[str, User]
) -> None:
    import_file(session, users["manager"], "contacts_v30.vcf")
    service.create_contact(
        session, users["manager"], first_name='=HYPERLINK("x")', email="evil@example.it",
        phone="+39 02 1234", tags=["a", "b"],
    )  # fmt: skip
    session.commit()
    contacts = session.scalars(select(Contact).order_by(Contact.id)).all()
    text = "".join(imp.export_contacts_csv(contacts, {users["manager"].id: "manager@example.com"}))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(imp.EXPORT_COLUMNS)
    assert rows[0]["organization"] == "Gallo, Conti e Associati"
    assert rows[0]["tags"] == "clienti;legali"
    assert rows[1]["first_name"] == '\'=HYPERLINK("x")'
    assert rows[1]["phone"] == "+39 02 1234"
    # The export reads back as a generic CSV with nothing to fix by hand.
    parsed = importers.parse_contacts(text.encode(), "export.csv")
    assert parsed.format == "csv"
    again = imp.import_contacts(session, users["manager"].id, parsed.rows)
    assert (again.created, again.updated, again.rejected) == (0, 0, [])
