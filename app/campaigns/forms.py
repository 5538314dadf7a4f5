"""Forms check format only; what a campaign may be is the services' business."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.campaigns.models import POST_LABELS, SOCIAL_NETWORKS
from app.i18n import value_choices

KIND_CHOICES = [
    SelectChoice("tailored", _l("Tailored (one-to-one, approved one by one)")),
    SelectChoice("circle", _l("Circle (one-to-few)")),
    SelectChoice("promotion", _l("Promotion (broadcast)")),
    SelectChoice("reserved_drop", _l("Reserved-information drop")),
]
AUDIENCE_CHOICES = [
    SelectChoice("tier", _l("A tier")),
    SelectChoice("circle", _l("A circle")),
    SelectChoice("segment", _l("A segment")),
    SelectChoice("contacts", _l("Hand-picked people")),
]
TIER_CHOICES = [
    SelectChoice("", "—"),
    SelectChoice("one_to_one", _l("one-to-one")),
    SelectChoice("one_to_few", _l("one-to-few")),
    SelectChoice("broadcast", _l("broadcast")),
]
CHANNEL_CHOICES = [SelectChoice("email", _l("Email")), SelectChoice("webhook", _l("Webhook"))]
LANGUAGE_CHOICES = [SelectChoice("en", "English"), SelectChoice("it", "Italiano")]
SCHEDULE_CHOICES = [
    SelectChoice("now", _l("When launched")),
    SelectChoice("at", _l("At a time")),
    SelectChoice("slot", _l("At the next time of a calendar slot")),
]

WEEKDAYS = [
    SelectChoice(0, _l("Monday")),
    SelectChoice(1, _l("Tuesday")),
    SelectChoice(2, _l("Wednesday")),
    SelectChoice(3, _l("Thursday")),
    SelectChoice(4, _l("Friday")),
    SelectChoice(5, _l("Saturday")),
    SelectChoice(6, _l("Sunday")),
]


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)
    audience_kind = SelectField(_l("Audience"), choices=AUDIENCE_CHOICES)
    audience_tier = SelectField(_l("Tier"), choices=TIER_CHOICES, default="")
    audience_circle_id = SelectField(_l("Circle"), coerce=int, validate_choice=False, default=0)
    audience_segment_id = SelectField(_l("Segment"), coerce=int, validate_choice=False, default=0)
    audience_contact_ids = StringField(
        _l("People (ids, comma separated)"), validators=[Optional(), Length(max=20000)]
    )
    channel = SelectField(_l("Channel"), choices=CHANNEL_CHOICES)
    webhook_url = StringField(_l("Webhook address"), validators=[Optional(), Length(max=500)])
    language = SelectField(_l("Default language"), choices=LANGUAGE_CHOICES)
    subject = StringField(_l("Subject"), validators=[Length(max=300)])
    body = TextAreaField(_l("Message"), validators=[Length(max=50000)])
    subject_it = StringField(_l("Subject (Italian variant)"), validators=[Length(max=300)])
    body_it = TextAreaField(_l("Message (Italian variant)"), validators=[Length(max=50000)])
    subject_en = StringField(_l("Subject (English variant)"), validators=[Length(max=300)])
    body_en = TextAreaField(_l("Message (English variant)"), validators=[Length(max=50000)])
    promo_prefix = StringField(
        _l("Promo code prefix (empty: no codes)"), validators=[Optional(), Length(max=20)]
    )
    schedule_kind = SelectField(_l("Send"), choices=SCHEDULE_CHOICES)
    scheduled_at = DateTimeLocalField(_l("At (your time)"), validators=[Optional()])
    slot_id = SelectField(_l("Calendar slot"), coerce=int, validate_choice=False, default=0)

    def contact_ids(self) -> list[int]:
        raw = (self.audience_contact_ids.data or "").replace(";", ",").replace(" ", ",")
        return sorted({int(p) for p in raw.split(",") if p.strip().isdigit()})


class DropForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    content = TextAreaField(_l("Content"), validators=[Length(max=100000)])
    expires_at = DateTimeLocalField(_l("Expires (your time)"), validators=[DataRequired()])


class ApproveForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300)])
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=50000)])


class PostForm(FlaskForm):
    network = SelectField(_l("Network"), choices=value_choices(SOCIAL_NETWORKS))
    label = SelectField(_l("Label"), choices=value_choices(POST_LABELS))
    body = TextAreaField(_l("Post"), validators=[DataRequired(), Length(max=70000)])
    scheduled_at = DateTimeLocalField(_l("At (your time)"), validators=[DataRequired()])


class SlotForm(FlaskForm):
    network = SelectField(_l("Network"), choices=value_choices(SOCIAL_NETWORKS))
    weekday = SelectField(_l("Every"), choices=WEEKDAYS, coerce=int)
    at_time = TimeField(_l("At"), validators=[DataRequired()])
    label = SelectField(_l("Label"), choices=[SelectChoice("", "—"), *value_choices(POST_LABELS)])


class PreviewForm(FlaskForm):
    class Meta:
        csrf = False

    contact_id = SelectField(_l("Preview for"), coerce=int, validate_choice=False)
