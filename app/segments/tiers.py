"""Tiering: pure functions from scores, owners and the previous state to new tiers and circles.

- one-to-one: per owner, the best people up to the owner's capacity;
- one-to-few: the next band (a share of the remaining people), grouped into circles of a
  bounded size from network communities (Louvain with a fixed seed, so runs repeat);
- broadcast: everyone else who gave consent;
- none: opted out, erased, or no consent and below the bands.

Hysteresis: whoever is in a tier now gets `margin` extra points when competing to stay,
so people do not flap between tiers when their score wobbles. Pins always win (except
over an opt-out: an opted-out person gets no messages, whatever the pin says).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from app.segments.scoring import Adjacency

ONE_TO_ONE = "one_to_one"
ONE_TO_FEW = "one_to_few"
BROADCAST = "broadcast"
NONE = "none"


@dataclass
class Candidate:
    contact_id: int
    potential: float
    owner_id: int | None
    consent_status: str
    organization: str | None = None
    industry: str | None = None
    city: str | None = None
    current_tier: str = NONE
    current_circle_id: int | None = None
    pinned_tier: str | None = None


@dataclass
class TierParams:
    margin: float = 5.0
    one_to_few_share: float = 0.15
    circle_min: int = 5
    circle_max: int = 25
    seed: int = 42
    keep_circles: bool = True  # False: form every circle afresh (a manager asked)


@dataclass
class CirclePlan:
    members: list[int]
    name: str
    basis: str
    owner_id: int | None
    reuse_id: int | None = None


@dataclass
class TierPlan:
    tiers: dict[int, str] = field(default_factory=dict)
    circles: list[CirclePlan] = field(default_factory=list)

    def circle_of(self) -> dict[int, int]:
        """contact id -> index of its circle in `circles`."""
        return {m: i for i, c in enumerate(self.circles) for m in c.members}


def _messageable(c: Candidate) -> bool:
    return c.consent_status != "opted_out"


def assign_tiers(
    candidates: Sequence[Candidate],
    capacities: Mapping[int, int],
    graph: nx.Graph | Adjacency,
    params: TierParams,
    previous_circles: Mapping[int, set[int]] | None = None,
) -> TierPlan:
    plan = TierPlan()
    remaining: list[Candidate] = []
    for c in candidates:
        if not _messageable(c):
            plan.tiers[c.contact_id] = NONE
        elif c.pinned_tier:
            plan.tiers[c.contact_id] = c.pinned_tier
        else:
            remaining.append(c)

    def effective(c: Candidate, tier: str) -> float:
        return c.potential + (params.margin if c.current_tier == tier else 0.0)

    # one-to-one, per owner, within capacity (pins use up capacity too)
    pinned_per_owner = Counter(
        c.owner_id for c in candidates if plan.tiers.get(c.contact_id) == ONE_TO_ONE
    )
    by_owner: dict[int, list[Candidate]] = defaultdict(list)
    for c in remaining:
        if c.owner_id is not None:
            by_owner[c.owner_id].append(c)
    chosen: set[int] = set()
    for owner_id, people in by_owner.items():
        room = max(capacities.get(owner_id, 0) - pinned_per_owner.get(owner_id, 0), 0)
        people.sort(key=lambda c: (-effective(c, ONE_TO_ONE), c.contact_id))
        for c in people[:room]:
            plan.tiers[c.contact_id] = ONE_TO_ONE
            chosen.add(c.contact_id)
    remaining = [c for c in remaining if c.contact_id not in chosen]

    # one-to-few: the next band
    remaining.sort(key=lambda c: (-effective(c, ONE_TO_FEW), c.contact_id))
    band_size = round(len(remaining) * params.one_to_few_share)
    band = remaining[:band_size]
    for c in band:
        plan.tiers[c.contact_id] = ONE_TO_FEW
    for c in remaining[band_size:]:
        plan.tiers[c.contact_id] = BROADCAST if c.consent_status == "granted" else NONE

    few = [c for c in candidates if plan.tiers.get(c.contact_id) == ONE_TO_FEW]
    plan.circles = form_circles(few, graph, params, previous_circles or {})
    return plan


def form_circles(
    members: Sequence[Candidate],
    graph: nx.Graph | Adjacency,
    params: TierParams,
    previous: Mapping[int, set[int]],
) -> list[CirclePlan]:
    """Group the one-to-few band into circles of circle_min..circle_max people.

    Circles are kept from run to run: whoever is still in the band stays in their circle
    (Louvain is chaotic, and the tiny changes of tie weights from one night to the next
    would otherwise reshuffle most circles). Newcomers join the circle they are most tied
    to while it has room; the rest, and the members of circles that fell below circle_min,
    are grouped afresh. When fewer than half of the band keep a circle (the first run, or
    a band that changed a lot), or when `params.keep_circles` is off (a manager asked),
    every circle is formed afresh.

    Louvain runs on the band's own subgraph only (not on everyone: that would not fit
    the budget at 100k people), large communities are split again, and people left in
    communities too small to be a circle are grouped by what they share (organisation,
    industry, city).
    """
    if not members:
        return []
    info = {c.contact_id: c for c in members}
    previous = dict(sorted(previous.items()))  # the same order whatever the rows' order
    kept = _kept_circles(info, previous, params) if params.keep_circles else []
    if sum(len(plan.members) for plan in kept) * 2 < len(info):
        kept = []
    placed = {m for plan in kept for m in plan.members}
    # the band's own ties: a networkx graph (or view) of the band only, never of everyone
    band = graph.subgraph([m for m in info if m in graph])
    newcomers = _join_kept([m for m in info if m not in placed], kept, band, params)
    for plan in kept:  # a kept circle keeps its name; its basis says what members share now
        plan.basis = _plan_circle(plan.members, info).basis
    plans = _new_circles(newcomers, info, band, params, taken_names=[p.name for p in kept])
    kept_ids = {plan.reuse_id for plan in kept}
    _reuse_previous(plans, {cid: old for cid, old in previous.items() if cid not in kept_ids})
    return kept + plans


def _kept_circles(
    info: Mapping[int, Candidate], previous: Mapping[int, set[int]], params: TierParams
) -> list[CirclePlan]:
    """The previous circles, with the members still in the band (big enough ones only)."""
    kept = []
    for circle_id, old in previous.items():
        stay = sorted(m for m in old if m in info)
        if len(stay) >= params.circle_min:
            plan = _plan_circle(stay[: params.circle_max], info)
            plan.reuse_id = circle_id
            kept.append(plan)
    return kept


def _join_kept(
    newcomers: list[int], kept: list[CirclePlan], graph: nx.Graph, params: TierParams
) -> list[int]:
    """Each newcomer joins the kept circle they are most tied to, while it has room.
    Returns the newcomers left over."""
    if not kept:
        return newcomers
    circle_of = {m: i for i, plan in enumerate(kept) for m in plan.members}
    left = []
    for m in sorted(newcomers):
        ties: Counter[int] = Counter()
        for other, data in graph[m].items() if m in graph else ():
            i = circle_of.get(other)
            if i is not None and len(kept[i].members) < params.circle_max:
                ties[i] += data.get("weight", 1.0)
        if not ties:
            left.append(m)
            continue
        best = max(ties, key=lambda i: (ties[i], -i))
        kept[best].members.append(m)
        circle_of[m] = best
    for plan in kept:
        plan.members.sort()
    return left


def _new_circles(
    people: list[int],
    info: Mapping[int, Candidate],
    graph: nx.Graph,
    params: TierParams,
    taken_names: Sequence[str] = (),
) -> list[CirclePlan]:
    """Circles formed afresh: Louvain communities, split when too large, small leftovers
    grouped by what they share."""
    if not people:
        return []
    sub = graph.subgraph([m for m in people if m in graph])
    groups: list[list[int]] = []
    leftovers: list[int] = [m for m in people if m not in graph]
    for community in _communities(sub, params.seed):
        for group in _split(sub, sorted(community), params):
            if len(group) >= params.circle_min:
                groups.append(group)
            else:
                leftovers.extend(group)
    groups.extend(_group_leftovers(leftovers, info, params))
    plans = [_plan_circle(g, info) for g in groups]
    seen: Counter[str] = Counter(taken_names)
    for plan in plans:  # several circles may share a theme: number them
        seen[plan.name] += 1
        if seen[plan.name] > 1:
            plan.name = f"{plan.name} {seen[plan.name]}"
    return plans


def _communities(graph: nx.Graph, seed: int) -> list[set[int]]:
    if graph.number_of_nodes() == 0:
        return []
    if graph.number_of_edges() == 0:
        return [{n} for n in graph.nodes]
    return nx.community.louvain_communities(graph, weight="weight", seed=seed)


def _split(graph: nx.Graph, group: list[int], params: TierParams) -> list[list[int]]:
    if len(group) <= params.circle_max:
        return [group]
    sub = graph.subgraph(group)
    parts = (
        nx.community.louvain_communities(sub, weight="weight", resolution=2.0, seed=params.seed)
        if sub.number_of_edges()
        else []
    )
    if len(parts) <= 1:
        # no finer structure: cut into even chunks, strongest-tied people together
        ordered = sorted(group, key=lambda n: (-sub.degree(n, weight="weight"), n))
        chunks = -(-len(ordered) // params.circle_max)
        return [ordered[i::chunks] for i in range(chunks)]
    out: list[list[int]] = []
    for part in parts:
        out.extend(_split(graph, sorted(part), params))
    return out


def _group_leftovers(
    leftovers: list[int], info: Mapping[int, Candidate], params: TierParams
) -> list[list[int]]:
    buckets: dict[str, list[int]] = defaultdict(list)
    for m in sorted(leftovers):
        c = info[m]
        buckets[c.industry or c.city or c.organization or "—"].append(m)
    groups: list[list[int]] = []
    spill: list[int] = []
    for key in sorted(buckets):
        bucket = buckets[key]
        if len(bucket) < params.circle_min:
            spill.extend(bucket)
            continue
        chunks = -(-len(bucket) // params.circle_max)
        groups.extend(bucket[i::chunks] for i in range(chunks))
    if spill:
        if len(spill) >= params.circle_min or not groups:
            chunks = -(-len(spill) // params.circle_max)
            groups.extend(spill[i::chunks] for i in range(chunks))
        else:
            # too few to stand alone: join the smallest circle with room
            room = sorted((g for g in groups if len(g) + len(spill) <= params.circle_max), key=len)
            if room:
                room[0].extend(spill)
            else:
                groups.append(spill)
    return groups


def _plan_circle(members: list[int], info: Mapping[int, Candidate]) -> CirclePlan:
    """Name the circle after what most of its members share."""
    size = len(members)
    name, basis = "", ""
    for label, attr in (("organisation", "organization"), ("industry", "industry"),
                        ("city", "city")):  # fmt: skip
        counts = Counter(getattr(info[m], attr) for m in members if getattr(info[m], attr))
        if counts:
            value, count = counts.most_common(1)[0]
            if count * 2 >= size:
                name, basis = value, f"{label}: {value} ({count}/{size})"
                break
    if not name:
        industries = Counter(str(info[m].industry) for m in members if info[m].industry)
        cities = Counter(str(info[m].city) for m in members if info[m].city)
        parts = [v for v, _ in industries.most_common(1)] + [v for v, _ in cities.most_common(1)]
        name = " · ".join(parts) or "Circle"
        basis = "mixed: " + name
    owners = Counter(info[m].owner_id for m in members if info[m].owner_id is not None)
    owner_id = owners.most_common(1)[0][0] if owners else None
    return CirclePlan(members=sorted(members), name=name, basis=basis, owner_id=owner_id)


def _reuse_previous(plans: list[CirclePlan], previous: Mapping[int, set[int]]) -> None:
    """Keep a circle's identity (and its name, owner, history) when most members stay.

    Only previous circles sharing a member can score above zero, so they are found through
    a member -> circle index (not by comparing every pair); ties still go to the circle
    that comes first in `previous`."""
    position = {circle_id: i for i, circle_id in enumerate(previous)}
    circles_of: dict[int, list[int]] = defaultdict(list)
    for circle_id, old in previous.items():
        for member in old:
            circles_of[member].append(circle_id)
    taken: set[int] = set()
    for plan in sorted(plans, key=lambda p: -len(p.members)):
        members = set(plan.members)
        shared: Counter[int] = Counter()
        for member in members:
            shared.update(circles_of.get(member, ()))
        best, best_score = None, 0.0
        for circle_id in sorted(shared, key=position.__getitem__):
            if circle_id in taken:
                continue
            old = previous[circle_id]
            score = shared[circle_id] / (len(members) + len(old) - shared[circle_id])
            if score > best_score:
                best, best_score = circle_id, score
        if best is not None and best_score >= 0.5:
            plan.reuse_id = best
            taken.add(best)
