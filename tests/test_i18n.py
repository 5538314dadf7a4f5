"""The Italian catalog: complete, faithful to the placeholders, compilable, and used by the
pages (words, numbers, money and dates in the Italian way)."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.models import ROLE_VALUES, User
from app.contacts import service
from app.contacts.models import (
    CHANNELS,
    CONSENT_BASES,
    CONSENT_STATUSES,
    DIRECTIONS,
    INTERACTION_KINDS,
    RELATIONSHIP_KINDS,
    TIERS,
)
from app.segments.models import RUN_STATUSES
from app.segments.scoring import DEFAULT_WEIGHTS

TRANSLATIONS = Path(__file__).resolve().parent.parent / "app" / "translations"
POT = TRANSLATIONS / "messages.pot"
IT_PO = TRANSLATIONS / "it" / "LC_MESSAGES" / "messages.po"
IT_MO = IT_PO.with_suffix(".mo")

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _entries(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def _forms(message: Message) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs: one for a plain entry, one per plural form otherwise."""
    if isinstance(message.id, tuple):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        return [(message.id[min(i, 1)], s) for i, s in enumerate(strings)]
    return [(message.id, message.string)]


@pytest.fixture(scope="session", autouse=True)
def _italian_mo(app: Flask) -> None:
    """The .mo is a build product (make install compiles it): compile it here when it is
    missing or older than the .po, so the page tests see the current translations."""
    if IT_MO.exists() and IT_MO.stat().st_mtime >= IT_PO.stat().st_mtime:
        return
    catalog = _read(IT_PO, "it")
    fd, tmp = tempfile.mkstemp(dir=IT_MO.parent, suffix=".mo.tmp")
    with os.fdopen(fd, "wb") as f:
        write_mo(f, catalog)
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, IT_MO)  # atomic: a parallel run never reads half a file
    # Flask-Babel caches a locale's translations for the process: drop what was loaded
    # (possibly nothing at all) before the .mo was there.
    from app.extensions import babel

    with app.app_context():
        babel.domain_instance.cache.clear()


@pytest.fixture(scope="module")
def italian() -> Catalog:
    return _read(IT_PO, "it")


def test_italian_catalog_is_complete_and_not_fuzzy(italian: Catalog) -> None:
    assert italian.num_plurals == 2
    assert italian.plural_expr == "(n != 1)"
    assert not italian.fuzzy, "the catalog header is marked fuzzy"
    untranslated = [m.id for m in _entries(italian) if not all(s for _, s in _forms(m))]
    fuzzy = [m.id for m in _entries(italian) if m.fuzzy]
    assert untranslated == [], f"untranslated: {untranslated}"
    assert fuzzy == [], f"fuzzy: {fuzzy}"


def test_italian_catalog_covers_the_template(italian: Catalog) -> None:
    """Every msgid extracted into messages.pot is in the Italian catalog (run
    `make translations` after adding strings)."""
    missing = [m.id for m in _entries(_read(POT)) if m.id not in italian]
    assert missing == []


def test_translations_keep_the_placeholders(italian: Catalog) -> None:
    wrong = []
    for message in _entries(italian):
        for msgid, msgstr in _forms(message):
            if Counter(PLACEHOLDER.findall(msgid)) != Counter(PLACEHOLDER.findall(msgstr)):
                wrong.append((msgid, msgstr))
            elif "python-format" in message.flags and "%" in PLACEHOLDER.sub("", msgstr):
                wrong.append((msgid, msgstr))  # a lone % breaks the % formatting
    assert wrong == []


def test_values_shown_through_gettext_are_translated(italian: Catalog) -> None:
    """Templates translate stored values, e.g. `_(contact.tier)`; each must be in the
    catalog (listed in app/translations/data_msgids.py so that extraction keeps them)."""
    values = {
        *ROLE_VALUES, *CONSENT_STATUSES, *CONSENT_BASES, *TIERS, *RELATIONSHIP_KINDS,
        *CHANNELS, *DIRECTIONS, *INTERACTION_KINDS, *RUN_STATUSES, *DEFAULT_WEIGHTS,
    }  # fmt: skip
    missing = sorted(v for v in values if v not in italian or not italian[v].string)
    assert missing == []


def test_italian_catalog_compiles(italian: Catalog) -> None:
    buf = io.BytesIO()
    write_mo(buf, italian)
    assert buf.tell() > 0
    buf.seek(0)
    translations = Translations(buf)
    assert translations.gettext("Contacts") == "Contatti"
    assert translations.gettext("opted_out") == "disiscritto"
    assert translations.gettext("Page %(page)s of %(pages)s") % {"page": 2, "pages": 5} == (
        "Pagina 2 di 5"
    )


def _text(resp: object) -> str:
    html = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    return html.replace("\xa0", " ").replace("\u202f", " ")


def test_login_page_speaks_italian(client: FlaskClient) -> None:
    resp = client.get("/login?lang=it")
    assert resp.status_code == 200
    html = _text(resp)
    assert '<html lang="it">' in html
    assert "Accedi" in html


def test_pages_speak_italian_after_signing_in(
    client: FlaskClient, login: Callable[[User], FlaskClient], users: dict[str, User]
) -> None:
    client.get("/login?lang=it")
    login(users["manager"])
    resp = client.get("/contacts?lang=it")
    assert resp.status_code == 200
    html = _text(resp)
    nav = html[html.index('<nav class="mainnav">') : html.index("</nav>")]
    assert ">Contatti</a>" in nav
    assert ">Aziende</a>" in nav
    assert "(manager)" in html and "Esci" in html
    # The choice is kept in the session.
    assert ">Contatti</a>" in _text(client.get("/contacts"))
    # And English is one click away.
    assert ">Contacts</a>" in _text(client.get("/contacts?lang=en"))


def test_account_page_formats_money_and_dates_the_italian_way(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    users: dict[str, User],
    app: Flask,
) -> None:
    manager = users["manager"]
    org = service.create_organization(session, manager, name="Acme", annual_value_cents=123456789)
    session.commit()
    person = service.create_contact(
        session, manager, first_name="Lucia", last_name="Neri", organization_id=org.id
    )
    last = datetime(2025, 3, 7, 14, 5, tzinfo=UTC)
    person.last_interaction_at = last
    session.commit()

    login(manager)
    resp = client.get(f"/accounts/{org.id}?lang=it")
    assert resp.status_code == 200
    html = _text(resp)
    assert "1.234.567,89 €" in html
    assert "Valore annuo" in html
    zone = ZoneInfo(manager.timezone or app.config["DEFAULT_TIMEZONE"])
    expected = format_datetime(last, "short", tzinfo=zone, locale="it").replace("\u202f", " ")
    assert expected.startswith("07/03/25")  # day first, as Italians write it
    assert expected in html


def test_decimals_and_day_names_in_the_readers_format(app: Flask) -> None:
    from flask_babel import force_locale

    from app.i18n import decimal, language_name, weekday_name

    with app.test_request_context():
        with force_locale("it"):
            assert (decimal(0.6931, 3), decimal(-0.25, 1, signed=True)) == ("0,693", "-0,2")
            assert (decimal(0.5, 1, signed=True), decimal(None)) == ("+0,5", "")
            assert (weekday_name(0), weekday_name(6, "wide")) == ("lun", "domenica")
            assert [language_name(c) for c in ("it", "de", "zz", None)] == [
                "italiano", "tedesco", "zz", ""]  # fmt: skip
        with force_locale("en"):
            assert (decimal(1234.5, 2), weekday_name(0)) == ("1,234.50", "Mon")


def test_navigation_marks_the_longest_matching_section_and_hides_by_role(app: Flask) -> None:
    from types import SimpleNamespace

    from app.navigation import nav_links

    marketer = SimpleNamespace(role="marketer")
    admin = SimpleNamespace(role="admin")
    with app.test_request_context():
        links = nav_links(marketer, "/campaigns/calendar")  # type: ignore[arg-type]
        assert [link.endpoint for link in links if link.current] == ["campaigns.calendar_page"]
        assert {"contacts.import_upload", "health.dashboard_page", "admin.job_queues"}.isdisjoint(
            link.endpoint for link in links
        )
        current = [link.endpoint for link in nav_links(admin, "/campaigns/5") if link.current]  # type: ignore[arg-type]
        assert current == ["campaigns.index"]
        assert not any(link.current for link in nav_links(admin, "/login"))  # type: ignore[arg-type]


def test_when_writes_what_flask_babel_writes(app: Flask) -> None:
    """`when` parses each named format once; its text must stay Flask-Babel's, in every
    locale, format and time zone (naive values are UTC, as Flask-Babel takes them)."""
    import flask_babel
    from flask_babel import force_locale

    from app.i18n import when

    moments = [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # an hour before Rome moves to summer time
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 59, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 5),  # naive: UTC
        datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("America/New_York")),
    ]
    for zone in ("Europe/Rome", "UTC", "Asia/Kolkata"):
        app.config["DEFAULT_TIMEZONE"] = zone
        for locale in ("it", "en"):
            with app.test_request_context(), force_locale(locale):
                for fmt in ("short", "medium", "long", "full", "d MMM yyyy HH:mm"):
                    for moment in moments:
                        assert when(moment, fmt) == flask_babel.format_datetime(moment, fmt)
                assert when(None) == ""


def test_template_labels_follow_a_forced_locale(app: Flask) -> None:
    """Templates look their catalogue up once per locale, yet a `force_locale` block (an
    email in the person's language) still renders in that language."""
    from flask import render_template_string
    from flask_babel import force_locale

    with app.test_request_context():
        with force_locale("it"):
            assert render_template_string("{{ _('Contacts') }}") == "Contatti"
        with force_locale("en"):
            assert render_template_string("{{ _('Contacts') }}") == "Contacts"
        with force_locale("it"):
            assert render_template_string("{{ _('Contacts') }}") == "Contatti"
