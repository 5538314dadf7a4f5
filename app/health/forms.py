"""Forms of the inbox (format only; the services keep the rules)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateTimeLocalField, FloatField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.contacts.models import CHANNELS

CHANNEL_CHOICES = [SelectChoice(c, c) for c in CHANNELS]
KIND_CHOICES = [
    SelectChoice("comment", _l("comment")),
    SelectChoice("mention", _l("mention")),
    SelectChoice("message", _l("message")),
]


class AnswerForm(FlaskForm):
    note = StringField(_l("What we answered (optional)"), validators=[Optional(), Length(max=2000)])


class DismissForm(FlaskForm):
    reason = StringField(
        _l("Why it needs no answer"), validators=[DataRequired(), Length(min=3, max=500)]
    )


class MatchForm(FlaskForm):
    person = StringField(
        _l("Person (email, LinkedIn URL or X handle)"),
        validators=[DataRequired(), Length(max=300)],
    )


class LogMessageForm(FlaskForm):
    person = StringField(
        _l("Person (email, LinkedIn URL or X handle)"),
        validators=[DataRequired(), Length(max=300)],
    )
    channel = SelectField(_l("Channel"), choices=CHANNEL_CHOICES, default="email")
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES, default="message")
    occurred_at = DateTimeLocalField(
        _l("When (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    sentiment = FloatField(
        _l("Sentiment (-1 to 1)"), validators=[Optional(), NumberRange(min=-1, max=1)]
    )
    text = TextAreaField(_l("What they wrote"), validators=[Optional(), Length(max=20_000)])


class ImportCommentsForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
