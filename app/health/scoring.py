"""The health maths: pure functions over numpy arrays (no Session, no ORM, no Flask).

Per person, as of a moment T, from the interactions up to T:

- **Recency against their own rhythm.** The usual gap is the median gap between the distinct
  days on which we had contact with them (clamped to 2..90 days; 30 days when there are fewer
  than three contact days). Silence = days since the last contact. Research on real
  communication networks finds that a tie usually decays once contact stops for more than
  about eight times its usual interval (Navarro et al., EPJ Data Science 2017), so:
  silent > 8x the usual gap = **at risk**; silent > 3x = **cooling** (our own, earlier
  warning); up to 1.5x counts as fully on rhythm.
- **Frequency trend**: contacts in the last 90 days against the 90 days before.
- **Reciprocity**: of our personal messages (message, reply, comment, mention) in the last
  180 days, the share they answered (any inbound contact) within 14 days.
- **Our response time**: the median hours we took to answer their messages that needed an
  answer (last 180 days), against the target; open ones past the target count against us.
- **Sentiment trend**: their average tone in the last 90 days against the 90 days before.
- **Loyalty activity** (0..1), only when a loyalty programme provides it (an extension point).

The score (0..100) is a weighted mean of the components that can be measured for the person
(missing ones are left out and the weights renormalised). The status is the worse of what the
rhythm says and what the score says (< 35 at risk, < 60 cooling); a negative message waiting
past the target makes the person at least cooling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DAY = 86400.0
HOUR = 3600.0
HEALTHY, COOLING, AT_RISK = 0, 1, 2
STATUS_NAMES = ("healthy", "cooling", "at_risk")
STATUS_CODES = {name: i for i, name in enumerate(STATUS_NAMES)}
COMPONENTS = ("recency", "frequency", "reciprocity", "response", "sentiment", "loyalty")


@dataclass(frozen=True)
class HealthParams:
    cooling_ratio: float = 3.0
    at_risk_ratio: float = 8.0  # Navarro et al. 2017
    on_rhythm_ratio: float = 1.5
    min_gap_days: float = 2.0
    max_gap_days: float = 90.0
    default_gap_days: float = 30.0
    min_contact_days: int = 3
    period_days: float = 90.0
    reciprocity_days: float = 180.0
    reply_window_days: float = 14.0
    response_target_hours: float = 48.0
    negative_below: float = -0.2
    score_at_risk_below: float = 35.0
    score_cooling_below: float = 60.0
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "recency": 0.40,
            "frequency": 0.15,
            "reciprocity": 0.15,
            "response": 0.15,
            "sentiment": 0.15,
            "loyalty": 0.10,
        }  # fmt: skip
    )


@dataclass
class InteractionArrays:
    """One row per (interaction, participant), sorted by (contact, t). Times are epoch seconds."""

    contact: np.ndarray  # int64
    t: np.ndarray  # float64
    inbound: np.ndarray  # bool
    personal_out: np.ndarray  # bool: an outbound message that invites an answer
    sentiment: np.ndarray  # float64, nan when unknown
    needs_answer: np.ndarray  # bool
    answered: np.ndarray  # float64, nan when not answered

    @classmethod
    def from_columns(
        cls,
        contact: Sequence[int],
        t: Sequence[float],
        inbound: Sequence[bool],
        personal_out: Sequence[bool],
        sentiment: Sequence[float | None],
        needs_answer: Sequence[bool],
        answered: Sequence[float | None],
    ) -> InteractionArrays:
        arrays = cls(
            contact=np.asarray(contact, dtype=np.int64),
            t=np.asarray(t, dtype=np.float64),
            inbound=np.asarray(inbound, dtype=bool),
            personal_out=np.asarray(personal_out, dtype=bool),
            sentiment=np.asarray([np.nan if s is None else s for s in sentiment], dtype=float)
            if not isinstance(sentiment, np.ndarray)
            else sentiment.astype(float),
            needs_answer=np.asarray(needs_answer, dtype=bool),
            answered=np.asarray([np.nan if a is None else a for a in answered], dtype=float)
            if not isinstance(answered, np.ndarray)
            else answered.astype(float),
        )
        return arrays.sorted()

    def sorted(self) -> InteractionArrays:
        order = np.lexsort((self.t, self.contact))
        return InteractionArrays(**{k: v[order] for k, v in vars(self).items()})

    def until(self, as_of: float) -> InteractionArrays:
        keep = self.t <= as_of
        return InteractionArrays(**{k: v[keep] for k, v in vars(self).items()})

    def __len__(self) -> int:
        return int(self.contact.shape[0])


@dataclass
class HealthResult:
    """Arrays aligned on `subject` (contact or organization ids); reasons as plain dicts."""

    subject: np.ndarray
    score: np.ndarray  # int
    status: np.ndarray  # 0 healthy, 1 cooling, 2 at risk
    days_silent: np.ndarray
    usual_gap_days: np.ndarray
    frequency_now: np.ndarray
    frequency_before: np.ndarray
    they_answer: np.ndarray
    response_hours: np.ndarray
    sentiment_now: np.ndarray
    sentiment_before: np.ndarray
    reasons: list[list[dict[str, Any]]]

    def __len__(self) -> int:
        return int(self.subject.shape[0])

    def status_name(self, i: int) -> str:
        return STATUS_NAMES[int(self.status[i])]

    def rows(self) -> list[dict[str, Any]]:
        """Plain dicts (None for unknown numbers), one per subject."""
        out = []
        for i in range(len(self)):
            out.append(
                {
                    "subject": int(self.subject[i]),
                    "score": int(self.score[i]),
                    "status": STATUS_NAMES[int(self.status[i])],
                    "days_silent": _opt(self.days_silent[i]),
                    "usual_gap_days": _opt(self.usual_gap_days[i]),
                    "frequency_now": int(self.frequency_now[i]),
                    "frequency_before": int(self.frequency_before[i]),
                    "they_answer": _opt(self.they_answer[i]),
                    "response_hours": _opt(self.response_hours[i]),
                    "sentiment_now": _opt(self.sentiment_now[i]),
                    "sentiment_before": _opt(self.sentiment_before[i]),
                    "reasons": self.reasons[i],
                }
            )
        return out


def _opt(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 3)


# ------------------------------------------------------------------ group helpers


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For keys sorted ascending: unique keys, the start index and size of each run."""
    if keys.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return keys[:0], empty, empty
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, keys.size])
    return keys[starts], starts, sizes


def _group_median(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of `values` per group index (0..n_groups-1); nan for empty groups."""
    out = np.full(n_groups, np.nan)
    if values.size == 0:
        return out
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    ids, starts, sizes = _groups(g)
    low = v[starts + (sizes - 1) // 2]
    high = v[starts + sizes // 2]
    out[ids] = (low + high) / 2
    return out


def _group_mean(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    counts = np.bincount(group, minlength=n_groups).astype(float)
    sums = np.bincount(group, weights=values, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


# ------------------------------------------------------------------ people


def compute_contact_health(
    data: InteractionArrays,
    as_of: float,
    params: HealthParams | None = None,
    loyalty: Mapping[int, float] | None = None,
) -> HealthResult:
    """Health of every person with at least one contact up to `as_of` (epoch seconds).

    `data` must be sorted by (contact, t) (as `InteractionArrays.from_columns` returns it).
    `loyalty` maps contact id -> loyalty activity 0..1 when a programme provides it.
    """
    p = params or HealthParams()
    d = data.until(as_of)
    people, starts, sizes = _groups(d.contact)
    n = people.size
    if n == 0:
        return _empty_result()
    gidx = np.repeat(np.arange(n), sizes)

    # Recency against the person's own rhythm: gaps between distinct contact days.
    day = np.floor(d.t / DAY)
    first_of_day = np.r_[True, (d.contact[1:] != d.contact[:-1]) | (day[1:] != day[:-1])]
    dgroup, dday = gidx[first_of_day], day[first_of_day]
    same = dgroup[1:] == dgroup[:-1]
    gaps, gap_group = np.diff(dday)[same], dgroup[1:][same]
    contact_days = np.bincount(dgroup, minlength=n)
    median_gap = _group_median(gap_group, gaps, n)
    usual_gap = np.where(
        contact_days >= p.min_contact_days,
        np.clip(median_gap, p.min_gap_days, p.max_gap_days),
        p.default_gap_days,
    )
    last_t = d.t[starts + sizes - 1]
    days_silent = np.maximum(as_of - last_t, 0) / DAY
    ratio = days_silent / usual_gap
    recency = np.where(
        ratio <= p.on_rhythm_ratio,
        1.0,
        np.clip((p.at_risk_ratio - ratio) / (p.at_risk_ratio - p.on_rhythm_ratio), 0, 1),
    )

    # Frequency trend.
    period = p.period_days * DAY
    now_mask = d.t > as_of - period
    before_mask = (d.t > as_of - 2 * period) & ~now_mask
    freq_now = np.bincount(gidx[now_mask], minlength=n)
    freq_before = np.bincount(gidx[before_mask], minlength=n)
    frequency = np.minimum(1.0, (freq_now + 0.5) / (freq_before + 0.5))

    # Reciprocity: does an inbound contact follow our personal message within the window?
    window = p.reply_window_days * DAY
    base = float(d.t.min()) if d.t.size else 0.0
    key = (gidx.astype(np.int64) << 32) + (d.t - base).astype(np.int64)
    in_keys = key[d.inbound]  # sorted, as the data are
    out_sel = d.personal_out & ~d.inbound & (d.t > as_of - p.reciprocity_days * DAY)
    out_keys, out_group, out_t = key[out_sel], gidx[out_sel], d.t[out_sel]
    pos = np.searchsorted(in_keys, out_keys, side="right")
    found = pos < in_keys.size
    nxt = in_keys[np.minimum(pos, max(in_keys.size - 1, 0))] if in_keys.size else out_keys
    same_person = found & ((nxt >> 32) == out_group)
    answered_in_time = same_person & ((nxt - out_keys) <= window)
    # A message still inside its reply window and not yet answered is not held against them.
    counted = answered_in_time | (out_t <= as_of - window)
    asked = np.bincount(out_group[counted], minlength=n)
    got = np.bincount(out_group[counted & answered_in_time], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        they_answer = np.where(asked >= 2, got / np.maximum(asked, 1), np.nan)

    # Our response time to what needed an answer.
    target = p.response_target_hours
    need = d.needs_answer & d.inbound & (d.t > as_of - p.reciprocity_days * DAY)
    done = need & ~np.isnan(d.answered) & (d.answered <= as_of)
    hours = (d.answered[done] - d.t[done]) / HOUR
    response_hours = _group_median(gidx[done], np.maximum(hours, 0), n)
    open_items = need & ~done
    overdue = open_items & ((as_of - d.t) / HOUR > target)
    overdue_count = np.bincount(gidx[overdue], minlength=n)
    neg = np.nan_to_num(d.sentiment, nan=0.0) < p.negative_below
    negative_overdue = np.bincount(gidx[overdue & neg], minlength=n)
    needed = np.bincount(gidx[need], minlength=n)
    response = np.where(
        np.isnan(response_hours),
        1.0,
        np.clip(1 - (response_hours - target) / (3 * target), 0, 1),
    )
    response = np.clip(response - 0.3 * overdue_count, 0, 1)
    response = np.where(needed > 0, response, np.nan)

    # Sentiment trend.
    has_s = ~np.isnan(d.sentiment)
    s_now_mask = has_s & now_mask
    s_before_mask = has_s & before_mask
    sentiment_now = _group_mean(gidx[s_now_mask], d.sentiment[s_now_mask], n)
    sentiment_before = _group_mean(gidx[s_before_mask], d.sentiment[s_before_mask], n)
    drop = np.nan_to_num(sentiment_before - sentiment_now, nan=0.0)
    sentiment = np.clip((sentiment_now + 1) / 2 - 0.5 * np.maximum(drop, 0), 0, 1)

    loyalty_arr = np.full(n, np.nan)
    if loyalty:
        for i, cid in enumerate(people.tolist()):
            value = loyalty.get(cid)
            if value is not None:
                loyalty_arr[i] = min(max(float(value), 0.0), 1.0)

    comps = {
        "recency": recency, "frequency": frequency, "reciprocity": they_answer,
        "response": response, "sentiment": sentiment, "loyalty": loyalty_arr,
    }  # fmt: skip
    num = np.zeros(n)
    den = np.zeros(n)
    for name, values in comps.items():
        w = float(p.weights.get(name, 0.0))
        ok = ~np.isnan(values)
        num += np.where(ok, values * w, 0.0)
        den += np.where(ok, w, 0.0)
    score = np.rint(100 * num / np.maximum(den, 1e-9)).astype(np.int64)
    score = np.clip(score, 0, 100)

    status = np.where(
        ratio > p.at_risk_ratio, AT_RISK, np.where(ratio > p.cooling_ratio, COOLING, HEALTHY)
    )
    by_score = np.where(
        score < p.score_at_risk_below,
        AT_RISK,
        np.where(score < p.score_cooling_below, COOLING, HEALTHY),
    )
    status = np.maximum(status, by_score)
    status = np.where(negative_overdue > 0, np.maximum(status, COOLING), status)

    reasons = _contact_reasons(
        p, n, ratio, days_silent, usual_gap, contact_days, freq_now, freq_before, asked, got,
        response_hours, overdue_count, negative_overdue, sentiment_now, sentiment_before,
        loyalty_arr,
    )  # fmt: skip
    return HealthResult(
        subject=people, score=score, status=status.astype(np.int64), days_silent=days_silent,
        usual_gap_days=usual_gap, frequency_now=freq_now, frequency_before=freq_before,
        they_answer=they_answer, response_hours=response_hours, sentiment_now=sentiment_now,
        sentiment_before=sentiment_before, reasons=reasons,
    )  # fmt: skip


def _contact_reasons(
    p: HealthParams,
    n: int,
    ratio: np.ndarray,
    days_silent: np.ndarray,
    usual_gap: np.ndarray,
    contact_days: np.ndarray,
    freq_now: np.ndarray,
    freq_before: np.ndarray,
    asked: np.ndarray,
    got: np.ndarray,
    response_hours: np.ndarray,
    overdue: np.ndarray,
    negative_overdue: np.ndarray,
    s_now: np.ndarray,
    s_before: np.ndarray,
    loyalty: np.ndarray,
) -> list[list[dict[str, Any]]]:
    """Reasons as codes with their numbers, worst first (the words are added when shown)."""
    # Plain Python lists: element access on numpy arrays is slow in a loop.
    ratio_l, silent_l, gap_l = ratio.tolist(), days_silent.tolist(), usual_gap.tolist()
    cdays, fnow, fbefore = contact_days.tolist(), freq_now.tolist(), freq_before.tolist()
    asked_l, got_l, rh = asked.tolist(), got.tolist(), response_hours.tolist()
    over_l, negover_l = overdue.tolist(), negative_overdue.tolist()
    sn, sb, loy = s_now.tolist(), s_before.tolist(), loyalty.tolist()
    target = p.response_target_hours
    out: list[list[dict[str, Any]]] = []
    for i in range(n):
        items: list[tuple[int, dict[str, Any]]] = []
        r = ratio_l[i]
        silent, gap = round(silent_l[i]), round(gap_l[i], 1)
        if r > p.at_risk_ratio:
            items.append((100, {"code": "silent_at_risk", "days": silent, "gap": gap,
                                "ratio": round(r, 1)}))  # fmt: skip
        elif r > p.cooling_ratio:
            items.append((80, {"code": "silent_cooling", "days": silent, "gap": gap,
                               "ratio": round(r, 1)}))  # fmt: skip
        if negover_l[i]:
            items.append((95, {"code": "negative_waiting", "count": negover_l[i],
                               "hours": round(target)}))  # fmt: skip
        elif over_l[i]:
            items.append((70, {"code": "unanswered", "count": over_l[i],
                               "hours": round(target)}))  # fmt: skip
        if fbefore[i] >= 3 and fnow[i] * 2 <= fbefore[i]:
            items.append((60, {"code": "frequency_down", "now": fnow[i], "before": fbefore[i],
                               "days": round(p.period_days)}))  # fmt: skip
        if asked_l[i] >= 2 and got_l[i] * 3 < asked_l[i]:
            items.append((55, {"code": "no_replies", "got": got_l[i], "asked": asked_l[i]}))
        if rh[i] == rh[i] and rh[i] > target:
            items.append((50, {"code": "slow_answers", "hours": round(rh[i]),
                               "target": round(target)}))  # fmt: skip
        if sn[i] == sn[i] and sb[i] == sb[i] and sb[i] - sn[i] >= 0.25:
            items.append((65, {"code": "sentiment_down", "now": round(sn[i], 2),
                               "before": round(sb[i], 2)}))  # fmt: skip
        elif sn[i] == sn[i] and sn[i] < p.negative_below:
            items.append((62, {"code": "negative_tone", "now": round(sn[i], 2)}))
        if loy[i] == loy[i] and loy[i] < 0.2:
            items.append((40, {"code": "loyalty_inactive"}))
        if cdays[i] < p.min_contact_days:
            items.append((10, {"code": "little_history", "days": cdays[i],
                               "gap": round(p.default_gap_days)}))  # fmt: skip
        if not items:
            items.append((0, {"code": "on_rhythm", "days": silent, "gap": gap}))
        items.sort(key=lambda item: -item[0])
        out.append([reason for _, reason in items])
    return out


def _empty_result() -> HealthResult:
    z = np.zeros(0)
    zi = np.zeros(0, dtype=np.int64)
    return HealthResult(zi, zi, zi, z, z, zi, zi, z, z, z, z, [])


# ------------------------------------------------------------------ accounts


def compute_account_health(
    people: HealthResult, organization_of: Mapping[int, int | None]
) -> HealthResult:
    """An account's health from its people's: 0.6 x the strongest tie + 0.4 x the mean.

    At risk when even its healthiest person is at risk, or more than half of its people are;
    cooling when its healthiest person is cooling, a quarter of its people are at risk, or
    40% are cooling or at risk; never better than its score says (< 35 at risk, < 60 cooling).
    """
    orgs = np.array(
        [organization_of.get(int(c)) or 0 for c in people.subject.tolist()], dtype=np.int64
    )
    keep = orgs > 0
    if not keep.any():
        return _empty_result()
    order = np.lexsort((-people.score[keep], orgs[keep]))
    org_sorted = orgs[keep][order]
    scores = people.score[keep][order].astype(float)
    status = people.status[keep][order]
    silent = people.days_silent[keep][order]
    ids, starts, sizes = _groups(org_sorted)
    n = ids.size
    gidx = np.repeat(np.arange(n), sizes)
    best = scores[starts]
    mean = np.bincount(gidx, weights=scores, minlength=n) / sizes
    score = np.clip(np.rint(0.6 * best + 0.4 * mean), 0, 100).astype(np.int64)
    at_risk = np.bincount(gidx, weights=(status == AT_RISK), minlength=n).astype(int)
    cooling = np.bincount(gidx, weights=(status == COOLING), minlength=n).astype(int)
    best_status = np.minimum.reduceat(status, starts)
    share_at_risk = at_risk / sizes
    share_fading = (at_risk + cooling) / sizes
    by_score = np.where(score < 35, AT_RISK, np.where(score < 60, COOLING, HEALTHY))
    by_share = np.where(
        (best_status == AT_RISK) | (share_at_risk > 0.5),
        AT_RISK,
        np.where(
            (best_status == COOLING) | (share_at_risk >= 0.25) | (share_fading >= 0.4),
            COOLING,
            HEALTHY,
        ),
    )
    org_status = np.maximum(by_score, by_share)
    reasons: list[list[dict[str, Any]]] = []
    for i in range(n):
        items: list[dict[str, Any]] = []
        if org_status[i] != HEALTHY and best_status[i] != HEALTHY:
            items.append({"code": "strongest_tie_fading", "days": round(float(silent[starts[i]])),
                          "score": int(best[i])})  # fmt: skip
        if at_risk[i]:
            items.append({"code": "people_at_risk", "count": int(at_risk[i]),
                          "of": int(sizes[i])})  # fmt: skip
        if cooling[i]:
            items.append({"code": "people_cooling", "count": int(cooling[i]),
                          "of": int(sizes[i])})  # fmt: skip
        if not items:
            items.append({"code": "account_on_rhythm", "of": int(sizes[i])})
        reasons.append(items)
    nan = np.full(n, np.nan)
    zeros = np.zeros(n, dtype=np.int64)
    return HealthResult(
        subject=ids, score=score, status=org_status.astype(np.int64),
        days_silent=silent[starts], usual_gap_days=nan.copy(), frequency_now=zeros,
        frequency_before=zeros.copy(), they_answer=nan.copy(), response_hours=nan.copy(),
        sentiment_now=nan.copy(), sentiment_before=nan.copy(), reasons=reasons,
    )  # fmt: skip
