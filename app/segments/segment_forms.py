"""The segment rule builder: format only; the whitelist and the value checks live in
app.segments.rules, so the page, the API and the jobs share one set of rules."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.segments.rules import FIELDS, MAX_RULES, NO_VALUE

FIELD_LABELS: dict[str, Any] = {
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "email": _l("Email"),
    "title": _l("Job title"),
    "language": _l("Language"),
    "country": _l("Country"),
    "city": _l("City"),
    "source": _l("Source"),
    "created_at": _l("Created"),
    "owner_id": _l("Owner (number)"),
    "consent_status": _l("Consent status"),
    "consent_basis": _l("Consent basis"),
    "tier": _l("Tier"),
    "circle_id": _l("Circle (number)"),
    "tags": _l("Tag"),
    "last_interaction_at": _l("Last interaction"),
    "account.name": _l("Account name"),
    "account.industry": _l("Account industry"),
    "account.size_band": _l("Account size"),
    "account.city": _l("Account city"),
    "account.key_account": _l("Key account (yes/no)"),
    "account.annual_value": _l("Account annual value (€)"),
    "score.potential": _l("Potential (0–100)"),
    "score.influence": _l("Influence (0–1)"),
    "score.bridging": _l("Bridging (0–1)"),
    "score.engagement": _l("Engagement (0–1)"),
    "score.account_value": _l("Account value score (0–1)"),
    "score.sentiment": _l("Sentiment score (0–1)"),
    "score.rank": _l("Rank"),
}

GROUP_LABELS: dict[str, Any] = {
    "contact": _l("Person"),
    "consent": _l("Consent"),
    "tier": _l("Tier and circle"),
    "tags": _l("Tags"),
    "interaction": _l("Interactions"),
    "account": _l("Account"),
    "score": _l("Score (latest run)"),
}

OPERATOR_LABELS: dict[str, Any] = {
    "eq": _l("is"),
    "ne": _l("is not"),
    "contains": _l("contains"),
    "starts_with": _l("starts with"),
    "in": _l("is one of (comma separated)"),
    "not_in": _l("is none of (comma separated)"),
    "gt": _l("greater than / after"),
    "gte": _l("at least / on or after"),
    "lt": _l("less than / before"),
    "lte": _l("at most / on or before"),
    "is_empty": _l("is empty"),
    "is_not_empty": _l("is not empty"),
    "within_days": _l("within the last N days"),
    "not_within_days": _l("not within the last N days"),
    "has_tag": _l("has tag"),
    "lacks_tag": _l("does not have tag"),
}


def field_choices() -> list[SelectChoice]:
    choices = [SelectChoice("", "—")]
    for spec in FIELDS.values():
        choices.append(
            SelectChoice(
                spec.key,
                FIELD_LABELS.get(spec.key, spec.key),
                render_kw={"data-operators": " ".join(spec.operators)},
                optgroup=str(GROUP_LABELS.get(spec.group, spec.group)),
            )
        )
    return choices


def operator_choices() -> list[SelectChoice]:
    return [SelectChoice(op, label) for op, label in OPERATOR_LABELS.items()]


class RuleForm(Form):
    """One row of the builder (a plain Form: the page's form carries the CSRF token)."""

    field = SelectField(_l("Field"), validate_choice=False, default="")
    operator = SelectField(_l("Operator"), validate_choice=False, default="eq")
    value = StringField(_l("Value"), validators=[Optional(), Length(max=5000)])
    remove = SubmitField(_l("Remove"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field.choices = field_choices()
        self.operator.choices = operator_choices()


class SegmentForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice("rules", _l("Rules (updated live)")),
            SelectChoice("static", _l("Static list (people added by hand)")),
        ],
        default="rules",
    )
    match = SelectField(
        _l("People must match"),
        choices=[
            SelectChoice("all", _l("all the rules")),
            SelectChoice("any", _l("any of the rules")),
        ],
        default="all",
    )
    rules = FieldList(FormField(RuleForm), min_entries=1, max_entries=MAX_RULES)
    add_rule = SubmitField(_l("Add rule"))
    preview = SubmitField(_l("Preview"))
    save = SubmitField(_l("Save"))

    def rule_dicts(self) -> list[dict[str, Any]]:
        """The filled rows as plain rule dicts (rows with no field chosen are skipped)."""
        out = []
        for entry in self.rules.entries:
            data = entry.form.data
            if not data.get("field"):
                continue
            value = None if data["operator"] in NO_VALUE else (data.get("value") or "")
            out.append({"field": data["field"], "operator": data["operator"], "value": value})
        return out


def rule_rows(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored rules as builder rows (lists joined by commas, yes/no for flags)."""
    rows = []
    for rule in rules:
        value = rule.get("value")
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        rows.append(
            {
                "field": rule.get("field", ""),
                "operator": rule.get("operator", rule.get("op", "eq")),
                "value": "" if value is None else str(value),
            }
        )
    return rows


class MemberForm(FlaskForm):
    key = StringField(_l("Email or LinkedIn URL"), validators=[DataRequired(), Length(max=300)])
