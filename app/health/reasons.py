"""Health reasons in words, in the reader's language (reasons are stored as codes + numbers)."""

from __future__ import annotations

from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "healthy": _l("healthy"),
    "cooling": _l("cooling"),
    "at_risk": _l("at risk"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def reason_text(reason: dict[str, Any]) -> str:
    code = reason.get("code")
    # numbers in the reader's format: "3,7×", "da 0,14 a -0,45" in Italian
    r = {
        k: format_decimal(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in reason.items()
    }
    if code == "silent_at_risk":
        return _(
            "Silent for %(days)s days, %(ratio)s× their usual gap of %(gap)s days "
            "(more than 8× means the tie is likely to decay).",
            days=r["days"], ratio=r["ratio"], gap=r["gap"],
        )  # fmt: skip
    if code == "silent_cooling":
        return _(
            "Silent for %(days)s days, %(ratio)s× their usual gap of %(gap)s days "
            "(cooling beyond 3×).",
            days=r["days"], ratio=r["ratio"], gap=r["gap"],
        )  # fmt: skip
    if code == "negative_waiting":
        return _(
            "%(count)s negative message(s) waiting for an answer for more than %(hours)s hours.",
            count=r["count"], hours=r["hours"],
        )  # fmt: skip
    if code == "unanswered":
        return _(
            "%(count)s message(s) waiting for an answer for more than %(hours)s hours.",
            count=r["count"], hours=r["hours"],
        )  # fmt: skip
    if code == "frequency_down":
        return _(
            "Contacts fell from %(before)s to %(now)s in the last %(days)s days.",
            before=r["before"], now=r["now"], days=r["days"],
        )  # fmt: skip
    if code == "no_replies":
        return _(
            "They answered %(got)s of our last %(asked)s messages.",
            got=r["got"], asked=r["asked"],
        )  # fmt: skip
    if code == "slow_answers":
        return _(
            "We take %(hours)s hours to answer them (target %(target)s).",
            hours=r["hours"], target=r["target"],
        )  # fmt: skip
    if code == "sentiment_down":
        return _(
            "Their tone worsened from %(before)s to %(now)s.", before=r["before"], now=r["now"]
        )
    if code == "negative_tone":
        return _("Their recent tone is negative (%(now)s).", now=r["now"])
    if code == "loyalty_inactive":
        return _("Little loyalty programme activity.")
    if code == "little_history":
        return _(
            "Only %(days)s day(s) of contact so far: a usual gap of %(gap)s days is assumed.",
            days=r["days"], gap=r["gap"],
        )  # fmt: skip
    if code == "on_rhythm":
        return _(
            "In touch on their usual rhythm (last contact %(days)s days ago, usual gap "
            "%(gap)s days).",
            days=r["days"], gap=r["gap"],
        )  # fmt: skip
    if code == "strongest_tie_fading":
        return _(
            "Even the strongest relationship is fading (silent %(days)s days, health "
            "%(score)s).",
            days=r["days"], score=r["score"],
        )  # fmt: skip
    if code == "people_at_risk":
        return _("%(count)s of %(of)s people at risk.", count=r["count"], of=r["of"])
    if code == "people_cooling":
        return _("%(count)s of %(of)s people cooling.", count=r["count"], of=r["of"])
    if code == "account_on_rhythm":
        return _("Relationships with its %(of)s people are on rhythm.", of=r["of"])
    return str(code)


def reasons_text(reasons: list[dict[str, Any]], limit: int = 3) -> list[str]:
    return [reason_text(r) for r in (reasons or [])[:limit]]
