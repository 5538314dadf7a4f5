"""The run's graph as arrays: the same graph, in the same order, as networkx builds it."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import networkx as nx
import numpy as np
import pytest

from app.contacts.graph import GraphInput, graph_from_input
from app.segments.scoring import Adjacency, bridging, influence, score_people
from app.segments.tiers import TierParams, form_circles
from tests.segments.test_tiers import _band


def _input(seed: int = 7, people: int = 300, ties: int = 2500) -> GraphInput:
    rng = random.Random(seed)
    nodes = sorted(rng.sample(range(1, 10_000), people))
    rel = [(rng.choice(nodes), rng.choice(nodes), rng.choice([0.3, 0.7, 1.0])) for _ in range(ties)]
    rel += [(nodes[0], nodes[0], 1.0), (nodes[1], 99_999, 1.0), (nodes[2], nodes[3], 0.0)]
    shared = [(rng.choice(nodes), rng.choice(nodes), rng.random()) for _ in range(ties // 5)]
    orgs = {n: rng.choice([None, 1, 2, 3, 4]) for n in nodes}
    return GraphInput(datetime.now(UTC), nodes, orgs, rel, shared)


@pytest.mark.parametrize("shuffled", [False, True])
def test_arrays_from_the_rows_equal_the_arrays_of_the_networkx_graph(shuffled: bool) -> None:
    data = _input()
    if shuffled:  # people in any order: the arrays follow it, as networkx does
        random.Random(3).shuffle(data.nodes)
    direct, via_networkx = Adjacency.from_input(data), Adjacency.of(graph_from_input(data))
    assert direct.nodes == via_networkx.nodes
    assert np.array_equal(direct.indptr, via_networkx.indptr)
    assert np.array_equal(direct.indices, via_networkx.indices)
    assert np.array_equal(direct.weights, via_networkx.weights)  # the same sums, bit for bit
    graph = graph_from_input(data)
    assert direct.ties == graph.number_of_edges()
    assert direct.degrees() == [d for _, d in graph.degree()]


def test_scores_from_arrays_equal_scores_from_networkx() -> None:
    data = _input()
    graph = graph_from_input(data)
    arrays = Adjacency.from_input(data)
    assert influence(arrays) == influence(graph)
    assert bridging(arrays, data.organization_of, sample_below=10) == bridging(
        graph, data.organization_of, sample_below=10
    )
    assert bridging(arrays, data.organization_of) == bridging(graph, data.organization_of)
    weights = {"influence": 1.0, "bridging": 1.0}
    assert score_people(arrays, {}, weights, organization_of=data.organization_of) == (
        score_people(graph, {}, weights, organization_of=data.organization_of)
    )


def test_a_subgraph_holds_the_people_and_the_ties_among_them() -> None:
    data = _input()
    graph = graph_from_input(data)
    arrays = Adjacency.from_input(data)
    some = data.nodes[::3] + [123_456]  # someone unknown is ignored
    ours = arrays.subgraph(some)
    assert nx.utils.graphs_equal(ours, graph.subgraph(some))
    assert list(ours.nodes) == data.nodes[::3]  # in the people's order
    u, v = next(iter(ours.edges))
    assert ours[u][v] is ours[v][u]  # one data dict per tie, as networkx keeps it
    assert nx.utils.graphs_equal(arrays.to_networkx(), graph)
    # circles formed on the arrays follow the same rules
    band = _band(graph.subgraph(data.nodes[:120]))
    params = TierParams(circle_min=5, circle_max=12)
    plans = form_circles(band, arrays, params, {})
    assert sorted(m for p in plans for m in p.members) == sorted(c.contact_id for c in band)
    assert all(5 <= len(p.members) <= 12 for p in plans)
    assert plans == form_circles(band, arrays, params, {})  # repeatable


def test_arrays_of_nobody_and_of_isolated_people() -> None:
    empty = Adjacency.from_input(GraphInput(datetime.now(UTC), [], {}))
    assert empty.nodes == [] and empty.ties == 0 and influence(empty) == {}
    alone = Adjacency.from_input(GraphInput(datetime.now(UTC), [5, 9], {5: None, 9: None}))
    assert alone.degrees() == [0, 0] and influence(alone) == {5: 0.0, 9: 0.0}
    assert score_people(alone, {}, {"influence": 1.0})[1]["ties"] == 0
