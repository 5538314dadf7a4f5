"""The health maths on plain arrays: rhythm-relative recency, trends, reciprocity, answers."""

from __future__ import annotations

import numpy as np

from app.health.scoring import (
    AT_RISK,
    COOLING,
    DAY,
    HEALTHY,
    HOUR,
    HealthParams,
    InteractionArrays,
    compute_account_health,
    compute_contact_health,
)

NOW = 2_000_000_000.0


def arrays(rows: list[tuple]) -> InteractionArrays:
    """rows: (contact, days_ago, inbound, personal_out, sentiment, needs_answer, answered_h)"""
    cols = list(zip(*rows, strict=True))
    answered = [
        None if h is None else NOW - d * DAY + h * HOUR
        for d, h in zip(cols[1], cols[6], strict=True)
    ]
    return InteractionArrays.from_columns(
        cols[0], [NOW - d * DAY for d in cols[1]], cols[2], cols[3], list(cols[4]), cols[5],
        answered,
    )  # fmt: skip


def regular(contact: int, every: float, last: float, count: int = 12) -> list[tuple]:
    return [
        (contact, last + k * every, k % 2 == 0, k % 2 == 1, None, False, None) for k in range(count)
    ]


def by_id(result, contact: int) -> int:
    return int(np.flatnonzero(result.subject == contact)[0])


def test_silence_is_measured_against_each_persons_own_rhythm() -> None:
    # Same 60 days of silence: at risk for a weekly contact, fine for a monthly one.
    data = arrays(regular(1, 7, 60) + regular(2, 30, 60) + regular(3, 7, 3) + regular(4, 7, 25))
    result = compute_contact_health(data, NOW)
    weekly, monthly = by_id(result, 1), by_id(result, 2)
    assert result.status[weekly] == AT_RISK
    assert result.reasons[weekly][0]["code"] == "silent_at_risk"
    assert result.reasons[weekly][0]["gap"] == 7.0
    assert result.status[monthly] == HEALTHY
    assert result.status[by_id(result, 3)] == HEALTHY
    # 25 days for a weekly contact: more than 3x, not yet 8x: cooling.
    cooling = by_id(result, 4)
    assert result.status[cooling] == COOLING
    assert result.reasons[cooling][0]["code"] == "silent_cooling"
    assert result.score[by_id(result, 3)] > result.score[cooling] > result.score[weekly]


def test_thresholds_follow_the_parameters_and_little_history_uses_a_default_gap() -> None:
    data = arrays([(7, 100, True, False, None, False, None)])
    result = compute_contact_health(data, NOW)
    assert result.usual_gap_days[0] == 30.0
    assert {r["code"] for r in result.reasons[0]} >= {"little_history"}
    # 100 days / 30 = 3.3x: cooling by default, healthy when cooling starts at 4x.
    assert result.status[0] == COOLING
    relaxed = compute_contact_health(
        data, NOW, HealthParams(cooling_ratio=4.0, score_cooling_below=0, score_at_risk_below=0)
    )
    assert relaxed.status[0] == HEALTHY


def test_frequency_down_and_no_replies_are_reasons() -> None:
    rows = [(1, 100 + k * 4, True, False, None, False, None) for k in range(20)]
    # They used to write; lately only our messages, never answered.
    rows += [(1, d, False, True, None, False, None) for d in (20, 40, 60)]
    result = compute_contact_health(arrays(rows), NOW)
    codes = [r["code"] for r in result.reasons[0]]
    assert "frequency_down" in codes
    assert "no_replies" in codes
    assert result.they_answer[0] == 0.0


def test_a_negative_message_waiting_past_the_target_makes_a_person_at_least_cooling() -> None:
    rows = regular(1, 5, 1)
    rows.append((1, 3, True, False, -0.8, True, None))  # 72 h, unanswered
    result = compute_contact_health(arrays(rows), NOW)
    assert result.status[0] >= COOLING
    assert result.reasons[0][0]["code"] == "negative_waiting"


def test_an_answer_given_after_the_moment_measured_does_not_count_yet() -> None:
    rows = regular(1, 5, 1) + [(1, 10, True, False, -0.9, True, 24 * 5)]  # answered 5 days later
    data = arrays(rows)
    then = compute_contact_health(data, NOW - 7 * DAY)  # three days after the message
    assert "negative_waiting" in [r["code"] for r in then.reasons[0]]
    later = compute_contact_health(data, NOW)
    assert "negative_waiting" not in [r["code"] for r in later.reasons[0]]
    assert later.response_hours[0] == 120.0
    assert "slow_answers" in [r["code"] for r in later.reasons[0]]


def test_sentiment_trend_and_the_loyalty_extension_point() -> None:
    rows = [(1, 100 + k * 5, True, False, 0.6, False, None) for k in range(10)]
    rows += [(1, 5 + k * 8, True, False, -0.5, False, None) for k in range(10)]
    data = arrays(rows)
    result = compute_contact_health(data, NOW)
    assert "sentiment_down" in [r["code"] for r in result.reasons[0]]
    with_loyalty = compute_contact_health(data, NOW, loyalty={1: 0.0})
    assert "loyalty_inactive" in [r["code"] for r in with_loyalty.reasons[0]]
    assert with_loyalty.score[0] < result.score[0]


def test_people_never_in_touch_before_the_moment_have_no_health() -> None:
    result = compute_contact_health(arrays(regular(1, 7, 3)), NOW - 1000 * DAY)
    assert len(result) == 0


def test_account_health_from_its_people() -> None:
    data = arrays(regular(1, 7, 2) + regular(2, 7, 90) + regular(3, 7, 90) + regular(4, 7, 90))
    people = compute_contact_health(data, NOW)
    accounts = compute_account_health(people, {1: 10, 2: 10, 3: 20, 4: 20})
    healthy_one = int(np.flatnonzero(accounts.subject == 10)[0])
    all_silent = int(np.flatnonzero(accounts.subject == 20)[0])
    assert accounts.status[all_silent] == AT_RISK
    assert accounts.reasons[all_silent][0]["code"] == "strongest_tie_fading"
    assert {"code": "people_at_risk", "count": 2, "of": 2} in accounts.reasons[all_silent]
    # One live relationship out of two (the other at risk): cooling, not healthy.
    assert accounts.status[healthy_one] == COOLING
