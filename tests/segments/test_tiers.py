"""Tiering as pure functions: capacity, hysteresis, pins, and circles that stay put."""

from __future__ import annotations

import random

import networkx as nx

from app.segments.tiers import Candidate, TierParams, assign_tiers, form_circles

PARAMS = TierParams(circle_min=5, circle_max=12, seed=42)


def _clusters(sizes: list[int], seed: int = 1, jitter: float = 0.0) -> nx.Graph:
    """Dense groups (ids 1000*k + i) with a few weak ties between neighbouring groups;
    `jitter` changes every weight by up to that share, as a night of decay would."""
    rng = random.Random(seed)
    noise = random.Random(seed + 1)
    graph = nx.Graph()
    for k, size in enumerate(sizes):
        ids = [1000 * k + i for i in range(size)]
        graph.add_nodes_from(ids)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if rng.random() < 0.6:
                    graph.add_edge(a, b, weight=1.0 + rng.random())
        if k:
            graph.add_edge(1000 * (k - 1), ids[0], weight=0.1)
    if jitter:
        for _, _, data in graph.edges(data=True):
            data["weight"] *= 1 + noise.uniform(-jitter, jitter)
    return graph


def _band(graph: nx.Graph) -> list[Candidate]:
    return [
        Candidate(
            contact_id=n,
            potential=50.0,
            owner_id=None,
            consent_status="granted",
            city="Milano" if n % 2 else "Torino",
        )  # fmt: skip
        for n in sorted(graph)
    ]


def _previous(plans: list, ids: list[int] | None = None) -> dict[int, set[int]]:
    ids = ids or [100 + i for i in range(len(plans))]
    return {cid: set(plan.members) for cid, plan in zip(ids, plans, strict=True)}


def test_circles_cover_the_band_within_their_bounds() -> None:
    graph = _clusters([10, 8, 30, 6, 3])
    plans = form_circles(_band(graph), graph, PARAMS, {})
    members = [m for plan in plans for m in plan.members]
    assert sorted(members) == sorted(graph)  # everyone once
    assert all(PARAMS.circle_min <= len(plan.members) <= PARAMS.circle_max for plan in plans)
    assert all(plan.name and plan.basis for plan in plans)


def _loose(jitter: float = 0.0) -> nx.Graph:
    """80 people with ties but no clear groups: where Louvain's answer is most fragile."""
    rng, noise = random.Random(3), random.Random(99)
    graph = nx.gnp_random_graph(80, 0.08, seed=3)
    for _, _, data in graph.edges(data=True):
        data["weight"] = (1.0 + rng.random()) * (1 + noise.uniform(-jitter, jitter))
    return graph


def test_circles_stay_put_when_the_weights_wobble() -> None:
    before = form_circles(_band(_loose()), _loose(), PARAMS, {})
    wobbled = _loose(jitter=0.01)  # 1%: a night of decay
    regrouped = form_circles(_band(wobbled), wobbled, PARAMS, {})
    # Louvain alone would reshuffle the circles...
    assert sorted(p.members for p in regrouped) != sorted(p.members for p in before)
    # ...but people still in the band keep their circle
    previous = _previous(before)
    after = form_circles(_band(wobbled), wobbled, PARAMS, previous)
    assert {p.reuse_id: p.members for p in after} == {
        cid: sorted(old) for cid, old in previous.items()
    }
    # unless a manager asks for circles formed afresh
    fresh = TierParams(circle_min=5, circle_max=12, seed=42, keep_circles=False)
    reformed = form_circles(_band(wobbled), wobbled, fresh, previous)
    assert sorted(p.members for p in reformed) == sorted(p.members for p in regrouped)


def test_a_newcomer_joins_the_circle_they_are_tied_to() -> None:
    graph = _clusters([10, 10])
    plans = form_circles(_band(graph), graph, PARAMS, {})
    previous = _previous(plans)
    home = next(cid for cid, old in previous.items() if 1003 in old)
    graph.add_edge(7777, 1003, weight=2.0)
    graph.add_edge(7777, 1004, weight=2.0)
    after = form_circles(_band(graph), graph, PARAMS, previous)
    circle = next(p for p in after if 7777 in p.members)
    assert circle.reuse_id == home
    assert all(len(p.members) <= PARAMS.circle_max for p in after)


def test_a_kept_circle_describes_the_members_it_has_after_newcomers_join() -> None:
    graph = _clusters([5])  # a circle of five: three in fashion, two in wine
    industry = {0: "moda", 1: "moda", 2: "moda", 3: "vino", 4: "vino"}
    for i in range(4):  # four wine people join, tied to the circle
        graph.add_edge(9000 + i, i % 5, weight=2.0)
        industry[9000 + i] = "vino"
    band = [
        Candidate(contact_id=n, potential=50.0, owner_id=None, consent_status="granted",
                  industry=industry[n])
        for n in sorted(graph)
    ]  # fmt: skip
    after = form_circles(band, graph, PARAMS, {100: {0, 1, 2, 3, 4}})
    (kept,) = after
    assert kept.reuse_id == 100 and len(kept.members) == 9
    assert kept.name == "moda"  # named when it was formed
    assert kept.basis == "industry: vino (6/9)"  # but it says what its members share now


def test_full_circles_send_newcomers_to_new_circles() -> None:
    graph = _clusters([12])  # one circle, already full
    previous = {100: set(graph)}
    for i in range(6):  # six newcomers, tied to it and to each other
        graph.add_edge(9000 + i, i, weight=1.0)
        graph.add_edge(9000 + i, 9000 + (i + 1) % 6, weight=1.0)
    after = form_circles(_band(graph), graph, PARAMS, previous)
    kept = next(p for p in after if p.reuse_id == 100)
    assert kept.members == sorted(n for n in graph if n < 9000)
    assert sorted(m for p in after if p.reuse_id is None for m in p.members) == list(
        range(9000, 9006)
    )


def test_a_circle_that_shrinks_below_the_minimum_is_regrouped() -> None:
    graph = _clusters([10, 10, 10])
    plans = form_circles(_band(graph), graph, PARAMS, {})
    previous = _previous(plans)
    shrinking = next(cid for cid, old in previous.items() if 2000 in old)
    gone = sorted(previous[shrinking])[: len(previous[shrinking]) - 2]  # two stay
    band = [c for c in _band(graph) if c.contact_id not in gone]
    after = form_circles(band, graph, PARAMS, previous)
    assert shrinking not in {p.reuse_id for p in after}
    assert sorted(m for p in after for m in p.members) == sorted(c.contact_id for c in band)


def test_a_band_that_changed_a_lot_is_regrouped_from_scratch() -> None:
    graph = _clusters([10, 10, 10, 10])
    previous = {100: {0, 1, 2, 3, 4}}  # only 5 of 40 would keep a circle
    after = form_circles(_band(graph), graph, PARAMS, previous)
    assert len(after) >= 4
    # formed afresh, and still known by its old name when most of it is the old circle
    first = next(p for p in after if 0 in p.members)
    assert first.members == list(range(10)) and first.reuse_id == 100
    assert all(p.reuse_id is None for p in after if p is not first)


def test_tiers_respect_capacity_hysteresis_pins_and_consent() -> None:
    graph = nx.path_graph(range(1, 21))
    people = [
        Candidate(contact_id=i, potential=100 - i, owner_id=7, consent_status="granted")
        for i in range(1, 21)
    ]
    people[4].current_tier = "one_to_one"  # #5 is one-to-one now, 2 points behind #3
    people[1].consent_status = "opted_out"  # #2 gets nothing, whatever the score
    people[19].pinned_tier = "one_to_one"  # the worst, pinned by a salesperson
    people[18].consent_status = "unknown"  # below the bands without consent: none
    plan = assign_tiers(people, {7: 3}, graph, TierParams(margin=5.0, one_to_few_share=0.25))
    tiers = plan.tiers
    assert tiers[2] == "none" and tiers[20] == "one_to_one"
    # capacity 3, one seat taken by the pin: #1 and #5 (kept by the margin), not #3
    assert sorted(c for c, t in tiers.items() if t == "one_to_one") == [1, 5, 20]
    assert tiers[3] == "one_to_few"
    assert tiers[19] == "none" and tiers[18] == "broadcast"
