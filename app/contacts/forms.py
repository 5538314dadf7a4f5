"""Forms check format only; uniqueness and access are the services' business."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from app.contacts.models import (
    CHANNELS,
    CONSENT_BASES,
    CONSENT_STATUSES,
    DIRECTIONS,
    INTERACTION_KINDS,
    RELATIONSHIP_KINDS,
    SIZE_BANDS,
)
from app.i18n import value_choices

LANGUAGES = [
    SelectChoice(value, label)
    for value, label in (("", "—"), ("it", "Italiano"), ("en", "English"), ("de", "Deutsch"),
                         ("fr", "Français"), ("es", "Español"))
]  # fmt: skip


class ContactForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[Length(max=100)])
    email = StringField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])
    title = StringField(_l("Job title"), validators=[Optional(), Length(max=200)])
    organization_id = SelectField(_l("Account"), coerce=int, validate_choice=False, default=0)
    owner_id = SelectField(_l("Owner"), coerce=int, validate_choice=False, default=0)
    language = SelectField(_l("Language"), choices=LANGUAGES, default="")
    country = StringField(_l("Country (2 letters)"), validators=[Optional(), Length(min=2, max=2)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    linkedin_url = StringField(_l("LinkedIn URL"), validators=[Optional(), Length(max=300)])
    x_handle = StringField(_l("X handle"), validators=[Optional(), Length(max=60)])
    facebook = StringField(_l("Facebook"), validators=[Optional(), Length(max=300)])
    tags = StringField(_l("Tags (comma separated)"), validators=[Optional(), Length(max=500)])
    notes = TextAreaField(_l("Private notes"), validators=[Optional(), Length(max=10000)])

    def validate(self, extra_validators=None) -> bool:  # type: ignore[no-untyped-def]
        ok = super().validate(extra_validators)
        if ok and not (self.first_name.data or self.last_name.data or self.email.data):
            self.first_name.errors = [_l("Give a name or an email.")]
            return False
        return ok


class ConsentForm(FlaskForm):
    status = SelectField(_l("Consent"), choices=value_choices(CONSENT_STATUSES))
    basis = SelectField(_l("Legal basis"), choices=value_choices(CONSENT_BASES))
    note = StringField(_l("Note (how it was given or withdrawn)"), validators=[Length(max=500)])


class RelationshipForm(FlaskForm):
    other = StringField(
        _l("Other person (email or LinkedIn URL)"), validators=[DataRequired(), Length(max=300)]
    )
    kind = SelectField(_l("Kind"), choices=value_choices(RELATIONSHIP_KINDS))
    strength = FloatField(_l("Strength (0–1)"), default=0.5, validators=[NumberRange(0, 1)])


class InteractionForm(FlaskForm):
    others = StringField(
        _l("Other participants (emails or LinkedIn URLs, comma separated)"),
        validators=[Optional(), Length(max=2000)],
    )
    channel = SelectField(_l("Channel"), choices=value_choices(CHANNELS), default="meeting")
    direction = SelectField(_l("Direction"), choices=value_choices(DIRECTIONS), default="outbound")
    kind = SelectField(_l("Kind"), choices=value_choices(INTERACTION_KINDS), default="meeting")
    occurred_at = DateTimeLocalField(
        _l("When"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()]
    )
    sentiment = FloatField(
        _l("Sentiment (−1 negative … 1 positive)"), validators=[Optional(), NumberRange(-1, 1)]
    )
    value = DecimalField(_l("Value (€)"), places=2, validators=[Optional(), NumberRange(min=0)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=5000)])
    needs_answer = BooleanField(_l("Waits for our answer"))


class MergeForm(FlaskForm):
    other = StringField(
        _l("Duplicate to fold into this person (email, LinkedIn URL or contact number)"),
        validators=[DataRequired(), Length(max=300)],
    )
    confirm = BooleanField(_l("I checked: these are the same person"), validators=[DataRequired()])


class EraseForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class OrganizationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    domain = StringField(_l("Web domain"), validators=[Optional(), Length(max=200)])
    industry = StringField(_l("Industry"), validators=[Optional(), Length(max=100)])
    size_band = SelectField(
        _l("Size"),
        choices=[SelectChoice("", "—")] + [SelectChoice(s) for s in SIZE_BANDS],
        default="",
    )
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    country = StringField(_l("Country (2 letters)"), validators=[Optional(), Length(min=2, max=2)])
    annual_value = IntegerField(
        _l("Annual value (€)"), default=0, validators=[Optional(), NumberRange(min=0)]
    )
    key_account = BooleanField(_l("Key account"))
    owner_id = SelectField(_l("Owner"), coerce=int, validate_choice=False, default=0)
