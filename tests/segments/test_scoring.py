"""The graph and scoring maths, on hand-made graphs (no database)."""

from __future__ import annotations

import networkx as nx
import pytest

from app.contacts.graph import build_graph, decay
from app.errors import Invalid
from app.segments.scoring import (
    DEFAULT_WEIGHTS,
    PersonFacts,
    bridging,
    check_weights,
    percentile_scores,
    score_people,
)


def test_build_graph_adds_parallel_ties_and_drops_unknown_people() -> None:
    g = build_graph([1, 2, 3], [(1, 2, 0.5), (2, 1, 0.25), (1, 1, 9.0), (1, 99, 1.0), (2, 3, 0)])
    assert sorted(g.edges(data="weight")) == [(1, 2, 0.75)]
    assert set(g.nodes) == {1, 2, 3}  # isolated people stay, with no ties


def test_decay_halves_every_half_life() -> None:
    assert decay(0, 90) == 1.0
    assert decay(90, 90) == pytest.approx(0.5)
    assert decay(180, 90) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "weights",
    [{"influence": -1, "engagement": 2}, dict.fromkeys(DEFAULT_WEIGHTS, 0), {"charm": 1.0},
     {"influence": "lots"}, {"influence": float("nan")}],
)  # fmt: skip
def test_bad_weights_are_refused(weights: dict) -> None:
    with pytest.raises(Invalid):
        check_weights(weights)


def test_percentile_keeps_zero_at_zero() -> None:
    assert list(percentile_scores([0, 10, 20, 0, 40])) == [
        0,
        pytest.approx(1 / 3),
        pytest.approx(2 / 3),
        0,
        1.0,
    ]


def test_hub_has_more_influence_and_the_bridge_bridges() -> None:
    # two cliques joined through person 100; person 1 is the hub of the first clique
    edges = [(a, b, 1.0) for a in range(1, 7) for b in range(a + 1, 7)]
    edges += [(a, b, 1.0) for a in range(11, 17) for b in range(a + 1, 17)]
    edges += [(1, x, 1.0) for x in range(20, 30)]  # hub's extra followers
    edges += [(100, 3, 1.0), (100, 13, 1.0)]
    nodes = [*range(1, 7), *range(11, 17), *range(20, 30), 100, 200]
    g = build_graph(nodes, edges)
    people, stats = score_people(g, {}, {"influence": 1.0, "bridging": 1.0})
    by_id = {p.contact_id: p for p in people}
    assert by_id[1].components["influence"] == 1.0
    # 100 and the two clique members it touches carry every path between the cliques
    assert by_id[100].components["bridging"] > by_id[2].components["bridging"]
    assert by_id[3].components["bridging"] > by_id[2].components["bridging"]
    assert by_id[200].potential == 0  # isolated, no facts: nothing to go on
    assert stats["isolated"] == 1 and stats["bridging_method"] == "betweenness"
    assert [p.rank for p in people] == list(range(1, len(nodes) + 1))


def test_weights_steer_the_ranking_and_sentiment_defaults_to_neutral() -> None:
    g = build_graph([1, 2], [])
    facts = {1: PersonFacts(engagement_raw=5.0), 2: PersonFacts(account_value_raw=9.0)}
    engaged_first, _ = score_people(g, facts, {"engagement": 1.0, "account_value": 0.1})
    value_first, _ = score_people(g, facts, {"engagement": 0.1, "account_value": 1.0})
    assert engaged_first[0].contact_id == 1 and value_first[0].contact_id == 2
    only_sentiment, _ = score_people(g, facts, {"sentiment": 1.0})
    assert [p.potential for p in only_sentiment] == [50.0, 50.0]


def test_empty_graph_scores_nobody() -> None:
    people, stats = score_people(nx.Graph(), {}, DEFAULT_WEIGHTS)
    assert people == [] and stats["people"] == 0


def test_large_graph_bridging_uses_organisation_diversity() -> None:
    g = build_graph(range(1, 7), [(1, 2, 1.0), (1, 3, 1.0), (4, 5, 1.0), (4, 6, 1.0)])
    orgs = {1: 10, 2: 20, 3: 30, 4: 40, 5: 40, 6: 40}
    scores, method = bridging(g, orgs, exact_below=2, sample_below=3)
    assert method == "organisation diversity of ties"
    assert scores[1] > scores[4]  # 1 reaches two other organisations, 4 only its own
