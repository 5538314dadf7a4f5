from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, FloatField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

TIER_CHOICES = [
    SelectChoice("one_to_one", _l("one-to-one")),
    SelectChoice("one_to_few", _l("one-to-few")),
    SelectChoice("broadcast", _l("broadcast")),
    SelectChoice("none", _l("none")),
]


class WeightsForm(FlaskForm):
    influence = FloatField(_l("Influence"), validators=[InputRequired(), NumberRange(min=0)])
    bridging = FloatField(_l("Bridging"), validators=[InputRequired(), NumberRange(min=0)])
    engagement = FloatField(_l("Engagement"), validators=[InputRequired(), NumberRange(min=0)])
    account_value = FloatField(
        _l("Account value"), validators=[InputRequired(), NumberRange(min=0)]
    )
    sentiment = FloatField(_l("Sentiment"), validators=[InputRequired(), NumberRange(min=0)])
    engagement_half_life_days = IntegerField(
        _l("Engagement half-life (days)"), validators=[InputRequired(), NumberRange(1, 3650)]
    )
    margin = DecimalField(
        _l("Tier margin (points of potential)"), validators=[InputRequired(), NumberRange(0, 50)]
    )
    one_to_few_share = DecimalField(
        _l("Share of people in one-to-few circles"),
        validators=[InputRequired(), NumberRange(0, 1)],
    )
    circle_min = IntegerField(
        _l("Smallest circle"), validators=[InputRequired(), NumberRange(2, 500)]
    )
    circle_max = IntegerField(
        _l("Largest circle"), validators=[InputRequired(), NumberRange(2, 500)]
    )


class PinForm(FlaskForm):
    tier = SelectField(_l("Tier"), choices=TIER_CHOICES)
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class BacktestForm(FlaskForm):
    class Meta:
        csrf = False  # a read-only GET form

    at = DateField(_l("Score as of"), validators=[InputRequired()])
    horizon = IntegerField(_l("Days after"), default=90, validators=[NumberRange(7, 730)])
    outcome = SelectField(
        _l("Success means"),
        choices=[
            SelectChoice("engaged", _l("bought or came to us")),
            SelectChoice("purchase", _l("bought")),
        ],  # fmt: skip
        default="engaged",
    )
    capacity = IntegerField(_l("Top k (default: one-to-one capacity)"), validators=[Optional()])
