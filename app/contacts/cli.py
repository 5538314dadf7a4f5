"""`flask contacts import FILE` and `flask contacts export`: thin doors onto the import service."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.auth.models import Role, User
from app.contacts import importers
from app.contacts.import_service import ImportResult, export_contacts_csv, run_import
from app.contacts.service import ContactFilter, iter_filtered_contacts
from app.errors import DomainError
from app.extensions import db


@click.group("contacts", help="Contacts: import and export.")
def contacts_cli() -> None:
    pass


def _parse_mapping(items: tuple[str, ...]) -> dict[str, str] | None:
    if not items:
        return None
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip():
            raise click.BadParameter(f"{item!r}: write COLUMN=FIELD.", param_hint="--mapping")
        mapping[column.strip()] = target.strip()
    return mapping


def _print_report(result: ImportResult, kind: str) -> None:
    click.echo(
        f"{kind.capitalize()}: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {len(result.rejected)} rejected "
        f"(of {result.total} rows)."
    )
    for item in sorted(result.rejected, key=lambda r: r["line"]):
        click.echo(f"  line {item['line']}: {item['reason']}")
    for item in sorted(result.warnings, key=lambda r: r["line"]):
        click.echo(f"  note, line {item['line']}: {item['reason']}")


@contacts_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--relationships",
    "kind",
    flag_value="relationships",
    help="The file holds relationships (from, to, kind, strength, since).",
)
@click.option(
    "--interactions",
    "kind",
    flag_value="interactions",
    help="The file holds interactions (participants, channel, kind, ...).",
)
@click.option("--contacts", "kind", flag_value="contacts", default=True, hidden=True)
@click.option(
    "--owner",
    "owner_email",
    metavar="EMAIL",
    help="The user who owns the people this import creates.",
)
@click.option(
    "--mapping",
    "-m",
    "mapping_items",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="For a generic CSV: which column feeds which contact field (repeatable).",
)
@with_appcontext
def import_command(
    file: Path, kind: str, owner_email: str | None, mapping_items: tuple[str, ...]
) -> None:
    """Import FILE (CSV, LinkedIn Connections.csv, vCard, HubSpot or Mautic export).

    The format is detected from the file. Rows that cannot be imported are listed with
    their line number; a file that cannot be read at all is refused and nothing is saved.
    """  # fmt: skip
    mapping = _parse_mapping(mapping_items)
    try:
        data = file.read_bytes()
        parsed = importers.parse_file(data, file.name, kind, mapping)
    except DomainError as exc:
        raise click.ClickException(f"{file.name}: {exc.message} Nothing was imported.") from exc
    except OSError as exc:
        raise click.ClickException(f"{file.name}: cannot be read ({exc.strerror}).") from exc
    owner_id = None
    if owner_email:
        owner_id = db.session.scalar(select(User.id).where(User.email == owner_email.lower()))
        if owner_id is None:
            raise click.ClickException(f"No user with the email {owner_email}.")
    click.echo(f"{file.name}: {parsed.format} file, {len(parsed.rows)} rows to import.", err=True)
    try:
        with (
            db.transaction() as session,
            click.progressbar(
                length=max(len(parsed.rows), 1), label="Importing", file=sys.stderr
            ) as bar,  # fmt: skip
        ):

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            result = run_import(session, None, parsed, owner_id=owner_id, progress=progress)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} Nothing was imported.") from exc
    _print_report(result, kind)


@contacts_cli.command("export")
@click.option(
    "-o", "--output", default="-", metavar="FILE", help="Where to write (default: stdout)."
)
@click.option("-q", "--query", default="", help="Words to search for.")
@click.option("--tag", default="")
@click.option("--consent", default="", type=click.Choice(["", "unknown", "granted", "opted_out"]))
@click.option("--tier", default="")
@click.option("--owner", "owner_email", default="", metavar="EMAIL")
@with_appcontext
def export_command(
    output: str, query: str, tag: str, consent: str, tier: str, owner_email: str
) -> None:
    """Export the people matching the filters as CSV."""
    session = db.session
    owners = dict(session.execute(select(User.id, User.email)).tuples().all())
    owner_id = None
    if owner_email:
        owner_id = next((i for i, e in owners.items() if e == owner_email.lower()), None)
        if owner_id is None:
            raise click.ClickException(f"No user with the email {owner_email}.")
    # The command line runs with the operator's authority: every person is visible.
    operator = User(role=Role.ADMIN.value)
    try:
        contacts = iter_filtered_contacts(
            session, operator,
            ContactFilter(q=query, tag=tag, consent=consent, tier=tier, owner_id=owner_id),
        )  # fmt: skip
        lines = export_contacts_csv(contacts, owners)
        count = -1
        if output == "-":
            for count, chunk in enumerate(lines):  # noqa: B007
                sys.stdout.write(chunk)
        else:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                for count, chunk in enumerate(lines):  # noqa: B007
                    fh.write(chunk)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    session.rollback()
    click.echo(f"{count} people exported.", err=True)
