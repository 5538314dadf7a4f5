"""Import through the upload page and a real RQ worker, through the CLI; export as CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service
from app.contacts.import_service import create_import_run
from app.contacts.jobs import run_import
from app.contacts.models import Contact, ImportRun, Interaction, Relationship

DATA = Path(__file__).parent / "data"


def upload(client: FlaskClient, name: str, kind: str = "contacts", data: bytes | None = None):
    payload = data if data is not None else (DATA / name).read_bytes()
    return client.post(
        "/import",
        data={"file": (io.BytesIO(payload), name), "kind": kind},
        content_type="multipart/form-data",
    )


def count(session: Session, model: type) -> int:
    session.rollback()  # see what the worker committed
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_upload_runs_as_a_job_and_shows_the_report(
    client: FlaskClient, login, session: Session, users: dict[str, User], run_worker,
    redis: Redis,
) -> None:  # fmt: skip
    login(users["manager"])
    resp = upload(client, "linkedin_connections.csv")
    assert resp.status_code == 302
    run_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    pending = client.get(f"/import/{run_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in pending
    assert count(session, Contact) == 0  # nothing until the worker runs

    assert run_worker() == 0
    assert count(session, Contact) == 3
    state = client.get(f"/import/{run_id}.json").get_json()
    assert state["status"] == "done"
    assert (state["created"], state["updated"], state["processed"], state["total"]) == (3, 0, 4, 4)
    assert state["rejected"] == [{"line": 8, "reason": "Not a LinkedIn profile URL: "
                                  "'https://www.linkedin.com/company/neri-spa'."}]  # fmt: skip
    html = client.get(f"/import/{run_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html
    assert re.search(r"<td>8</td><td>Not a LinkedIn profile URL", html)
    meta = redis.hgetall(f"rq:job:import-{run_id}")
    assert meta, "the job was enqueued with its deterministic id"

    # The same file again: a new run, nobody new.
    resp = upload(client, "linkedin_connections.csv")
    assert run_worker() == 0
    assert count(session, Contact) == 3


def test_generic_csv_goes_through_the_mapping_step(
    client: FlaskClient, login, session: Session, users: dict[str, User], run_worker
) -> None:
    login(users["sales"])
    resp = upload(client, "excel_latin1_semicolon.csv")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Città" in html and "Forlì" in html  # headers and samples, decoded from Latin-1
    token = re.search(r'name="token" type="hidden" value="([0-9a-f]{32})"', html)
    assert token is not None
    assert re.search(r'<option selected value="city">', html)  # the suggestion is preselected
    assert count(session, ImportRun) == 0
    # Map "Azienda" to nothing, keep the rest as suggested; "Colonna strana" stays ignored.
    form = {"token": token.group(1), "col_0": "first_name", "col_1": "last_name",
            "col_2": "email", "col_3": "", "col_4": "city", "col_5": "phone", "col_6": "notes",
            "col_7": ""}  # fmt: skip
    resp = client.post("/import/mapping", data=form)
    assert resp.status_code == 302
    assert run_worker() == 0
    run = session.scalar(select(ImportRun))
    assert run is not None and run.status == "done" and run.mapping is not None
    assert [r["line"] for r in run.rejected] == [4, 5, 6]
    niccolo = session.scalar(select(Contact).where(Contact.email == "niccolo@acqua.it"))
    assert niccolo is not None and niccolo.city == "Forlì" and niccolo.organization_id is None
    assert niccolo.owner_id == users["sales"].id
    # The token is single use.
    assert client.post("/import/mapping", data=form).status_code == 422


def test_unreadable_upload_is_refused_and_nothing_is_queued(
    client: FlaskClient, login, session: Session, users: dict[str, User], redis: Redis
) -> None:
    login(users["manager"])
    for name, data in [("t.vcf", (DATA / "truncated.vcf").read_bytes()), ("e.csv", b""),
                       ("b.csv", b"\x00\x01binary\x00" * 20)]:  # fmt: skip
        resp = upload(client, name, data=data)
        assert resp.status_code in (400, 422)
    resp = upload(client, "t.vcf", data=(DATA / "truncated.vcf").read_bytes())
    assert "has no END:VCARD" in resp.get_data(as_text=True)
    assert count(session, ImportRun) == 0
    assert redis.llen("rq:queue:imports") == 0


def test_marketers_cannot_import(client: FlaskClient, login, users: dict[str, User]) -> None:
    login(users["marketer"])
    assert client.get("/import").status_code == 403
    assert upload(client, "linkedin_connections.csv").status_code == 403


def test_job_runs_a_pending_import_once_and_tolerates_a_missing_one(
    session: Session, users: dict[str, User], tmp_path: Path
) -> None:
    data = (DATA / "mautic_contacts.csv").read_bytes()
    run = create_import_run(session, users["admin"].id, "m.csv", data, "contacts", None, tmp_path)
    session.commit()
    first = run_import(run.id)
    assert (first["status"], first["created"]) == ("done", 2)
    second = run_import(run.id)
    assert second == {"import_run_id": run.id, "status": "done", "skipped": True}
    assert count(session, Contact) == 2
    assert run_import(987654)["status"] == "missing"


def test_cli_import_prints_the_report(app: Flask, session: Session, users: dict[str, User]) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "contacts",
            "import",
            str(DATA / "linkedin_connections.csv"),
            "--owner",
            "sales@example.com",
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "3 created, 0 updated, 0 unchanged, 1 rejected (of 4 rows)" in result.output
    assert "line 8: Not a LinkedIn profile URL" in result.output
    owners = session.scalars(select(Contact.owner_id)).all()
    assert owners == [users["sales"].id] * 3

    result = runner.invoke(
        args=["contacts", "import", "--relationships", str(DATA / "relationships.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "Relationships: 2 created" in result.output
    assert count(session, Relationship) == 2
    result = runner.invoke(
        args=["contacts", "import", "--interactions", str(DATA / "interactions.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "line 6: Unknown channel 'fax'" in result.output
    assert count(session, Interaction) == 3


def test_cli_refuses_an_unreadable_file_and_writes_nothing(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["contacts", "import", str(DATA / "truncated.vcf")])
    assert result.exit_code != 0
    assert "has no END:VCARD" in result.output and "Nothing was imported" in result.output
    assert count(session, Contact) == 0


def test_cli_generic_csv_with_mapping(app: Flask, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("Chi,Posta,Dove\nAnna Bianchi,anna@example.it,Roma\n")
    result = app.test_cli_runner().invoke(
        args=[
            "contacts",
            "import",
            str(path),
            "-m",
            "Chi=full_name",
            "-m",
            "Posta=email",
            "-m",
            "Dove=city",
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    anna = session.scalar(select(Contact))
    assert anna is not None and (anna.first_name, anna.last_name, anna.city) == (
        "Anna", "Bianchi", "Roma",
    )  # fmt: skip


def test_export_csv_from_the_page_and_the_cli(
    app: Flask, client: FlaskClient, login, session: Session, users: dict[str, User],
    tmp_path: Path,
) -> None:  # fmt: skip
    service.create_contact(session, users["manager"], first_name="Anna", email="a@x.it",
                           tags=["vip"], owner_id=users["sales"].id)  # fmt: skip
    service.create_contact(session, users["manager"], first_name="Bruno", email="b@x.it")
    session.commit()
    login(users["manager"])
    resp = client.get("/contacts/export.csv?tag=vip")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["first_name"], r["tags"], r["owner"]) for r in rows] == [
        ("Anna", "vip", "sales@example.com")
    ]
    assert client.get("/contacts/export.csv?consent=bogus").status_code == 422

    out = tmp_path / "all.csv"
    result = app.test_cli_runner().invoke(args=["contacts", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["email"] for r in rows] == ["a@x.it", "b@x.it"]
