"""Forms of the import pages: the upload, and the column mapping of a generic CSV."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Regexp

from app.contacts.importers import CONTACT_IMPORT_FIELDS

KIND_CHOICES = [
    SelectChoice("contacts", _l("People (CSV, LinkedIn, vCard, HubSpot, Mautic)")),
    SelectChoice("relationships", _l("Relationships (CSV: from, to, kind, strength, since)")),
    SelectChoice(
        "interactions", _l("Interactions (CSV: participants, channel, direction, kind, date)")
    ),
]

FIELD_LABELS = {
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "full_name": _l("Full name (split into first and last)"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "title": _l("Job title"),
    "organization": _l("Account (company name)"),
    "organization_domain": _l("Account domain"),
    "language": _l("Language"),
    "country": _l("Country"),
    "city": _l("City"),
    "linkedin_url": _l("LinkedIn URL"),
    "x_handle": _l("X handle"),
    "facebook": _l("Facebook"),
    "notes": _l("Notes"),
    "tags": _l("Tags"),
    "consent_status": _l("Consent"),
    "consent_basis": _l("Consent basis"),
    "unsubscribed": _l("Unsubscribed (yes/no)"),
}


class ImportUploadForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired()])
    kind = SelectField(_l("What the file holds"), choices=KIND_CHOICES, default="contacts")


class MappingFormBase(FlaskForm):
    token = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])


def mapping_form(headers: Sequence[str], suggested: Mapping[str, str]) -> MappingFormBase:
    """One select per column of the file (`col_0`, `col_1`, ...), suggestion preselected."""
    choices = [SelectChoice("", _l("(ignore this column)"))] + [
        SelectChoice(name, FIELD_LABELS.get(name, name)) for name in CONTACT_IMPORT_FIELDS
    ]

    class MappingForm(MappingFormBase):
        pass

    for index, header in enumerate(headers):
        setattr(
            MappingForm,
            f"col_{index}",
            SelectField(
                header or _l("Column %(n)s", n=index + 1),
                choices=choices,
                default=suggested.get(header, ""),
            ),
        )
    return MappingForm()


def chosen_mapping(form: MappingFormBase, headers: Sequence[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        value = getattr(form, f"col_{index}").data
        if value and header:
            mapping[header] = value
    return mapping
