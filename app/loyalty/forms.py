"""Loyalty forms: format checks only; the services keep the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.contacts.models import INTERACTION_KINDS


def eligibility_choices() -> list[SelectChoice]:
    return [
        SelectChoice("consent", _l("anyone with consent")),
        SelectChoice("segment", _l("people in a segment")),
        SelectChoice("tier", _l("people in a relationship tier")),
    ]


def enrolment_choices() -> list[SelectChoice]:
    return [
        SelectChoice("manual", _l("by hand")),
        SelectChoice("segment", _l("by segment")),
        SelectChoice("automatic", _l("automatic")),
    ]


class ProgrammeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    eligibility = SelectField(_l("Who can join"), choices=eligibility_choices())
    eligibility_segment_id = SelectField(_l("Segment"), choices=[], validate_choice=False)
    eligibility_tier = SelectField(
        _l("Relationship tier"),
        choices=[
            SelectChoice("", "—"),
            SelectChoice("one_to_one", _l("one-to-one")),
            SelectChoice("one_to_few", _l("one-to-few")),
            SelectChoice("broadcast", _l("broadcast")),
        ],
        validate_choice=False,
    )
    enrolment = SelectField(_l("Enrolment"), choices=enrolment_choices())
    expiry_days = IntegerField(
        _l("Points expire after (days, empty: never)"),
        validators=[Optional(), NumberRange(1, 36500)],
    )
    tier_window_days = IntegerField(
        _l("Tier window (days)"), default=365, validators=[InputRequired(), NumberRange(1, 3650)]
    )
    tier_grace_days = IntegerField(
        _l("Grace before a downgrade (days)"),
        default=30,
        validators=[InputRequired(), NumberRange(0, 3650)],
    )
    daily_cap = IntegerField(_l("Daily cap (points)"), validators=[Optional(), NumberRange(1)])
    monthly_cap = IntegerField(_l("Monthly cap (points)"), validators=[Optional(), NumberRange(1)])
    referral_bonus_points = IntegerField(
        _l("Referral bonus (points)"), default=0, validators=[InputRequired(), NumberRange(0)]
    )
    cents_per_100_points = IntegerField(
        _l("Value of 100 points (cents)"),
        default=100,
        validators=[InputRequired(), NumberRange(0, 10**6)],
    )
    ends_on = DateField(_l("Ends on"), validators=[Optional()])


class TierForm(FlaskForm):
    name = StringField(_l("Tier name"), validators=[DataRequired(), Length(max=100)])
    threshold_points = IntegerField(
        _l("Points in the window"), validators=[InputRequired(), NumberRange(0, 10**9)]
    )


class RuleForm(FlaskForm):
    kind = SelectField(
        _l("Earn for"),
        choices=[
            SelectChoice("purchase", _l("purchase value")),
            SelectChoice("interaction", _l("an interaction")),
        ],
    )
    interaction_kind = SelectField(
        _l("Interaction kind"),
        choices=[SelectChoice("", "—")]
        + [SelectChoice(k, k) for k in INTERACTION_KINDS if k != "purchase"],
        validate_choice=False,
    )
    points = IntegerField(_l("Points"), validators=[InputRequired(), NumberRange(1, 10**6)])
    per_cents = IntegerField(
        _l("Per (cents of value)"), default=100, validators=[InputRequired(), NumberRange(1)]
    )


class MultiplierForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    percent = IntegerField(
        _l("Percent (200 = double)"), validators=[InputRequired(), NumberRange(1, 10000)]
    )
    tier_id = SelectField(_l("Only for tier"), choices=[], validate_choice=False)
    starts_on = DateField(_l("From"), validators=[Optional()])
    ends_on = DateField(_l("Until (excluded)"), validators=[Optional()])


class RewardForm(FlaskForm):
    name = StringField(_l("Reward"), validators=[DataRequired(), Length(max=200)])
    points_cost = IntegerField(
        _l("Cost (points)"), validators=[InputRequired(), NumberRange(1, 10**9)]
    )
    stock = IntegerField(_l("Stock (empty: unlimited)"), validators=[Optional(), NumberRange(0)])
    min_tier_id = SelectField(_l("From tier"), choices=[], validate_choice=False)


class EnrolForm(FlaskForm):
    contact = StringField(
        _l("Person (email, LinkedIn URL or contact id)"),
        validators=[DataRequired(), Length(max=300)],
    )


class EnrolSegmentForm(FlaskForm):
    segment_id = SelectField(_l("Segment"), choices=[], validate_choice=False)


class AdjustForm(FlaskForm):
    points = IntegerField(
        _l("Points (negative to remove)"),
        validators=[InputRequired(), NumberRange(-(10**9), 10**9)],
    )
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class RedeemForm(FlaskForm):
    reward_id = SelectField(_l("Reward"), choices=[], validate_choice=False)


class ConfirmForm(FlaskForm):
    """A bare POST with its CSRF token (cancel, remove, run now)."""
