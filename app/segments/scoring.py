"""Potential scoring: pure functions over a graph and per-person facts, no database.

Each component is normalised to 0..1 and kept, the potential (0..100) is their weighted
mean. Influence, bridging, engagement and account value are normalised by percentile
(robust to a few huge values, and it is what "top 5%" means to a salesperson);
sentiment keeps its own scale (0 = all negative, 0.5 = neutral or unknown, 1 = all positive).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
from scipy.stats import rankdata

from app.errors import Invalid

COMPONENTS = ("influence", "bridging", "engagement", "account_value", "sentiment")
# Chosen with the backtest on the demo data (engagement predicts best on its own; the
# network and account value add to it); a manager can change them in the UI.
DEFAULT_WEIGHTS: dict[str, float] = {
    "influence": 0.20,
    "bridging": 0.10,
    "engagement": 0.45,
    "account_value": 0.15,
    "sentiment": 0.10,
}


def check_weights(weights: Mapping[str, Any]) -> dict[str, float]:
    """Weights must be known, finite, non-negative numbers with a positive sum."""
    unknown = set(weights) - set(COMPONENTS)
    if unknown:
        raise Invalid(f"Unknown score components: {', '.join(sorted(unknown))}.")
    clean: dict[str, float] = {}
    for name in COMPONENTS:
        raw = weights.get(name, 0.0)
        try:
            value = float(raw)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"The weight of {name} must be a number.", field=name) from exc
        if not math.isfinite(value) or value < 0:
            raise Invalid(f"The weight of {name} cannot be negative.", field=name)
        clean[name] = value
    if sum(clean.values()) <= 0:
        raise Invalid("At least one weight must be above zero.")
    return clean


@dataclass
class PersonFacts:
    """What the database says about one person, already aggregated."""

    engagement_raw: float = 0.0
    engagement_recent: float = 0.0  # last 90 days (decayed counts)
    engagement_before: float = 0.0  # the 90 days before
    account_value_raw: float = 0.0
    sentiment_mean: float | None = None
    organization_id: int | None = None
    key_account: bool = False


@dataclass
class ScoredPerson:
    contact_id: int
    potential: float
    components: dict[str, float]
    rank: int = 0
    degree: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def percentile_scores(values: Sequence[float]) -> np.ndarray:
    """Map values to 0..1 by rank; zero (no signal at all) stays zero."""
    arr = np.asarray(values, dtype=float)
    out = np.zeros(len(arr))
    positive = arr > 0
    if positive.any():
        ranks = rankdata(arr[positive], method="average")
        out[positive] = ranks / positive.sum()
    return out


def influence(graph: nx.Graph) -> dict[int, float]:
    """Weighted PageRank; isolated people get the teleport share only."""
    if graph.number_of_nodes() == 0:
        return {}
    if graph.number_of_edges() == 0:
        return dict.fromkeys(graph.nodes, 0.0)
    ranks = nx.pagerank(graph, alpha=0.85, weight="weight", tol=1e-06, max_iter=200)
    for node, degree in graph.degree():
        if degree == 0:
            ranks[node] = 0.0  # only the random-jump share: no influence through anyone
    return ranks


def bridging(
    graph: nx.Graph,
    organization_of: Mapping[int, int | None],
    *,
    samples: int = 64,
    exact_below: int = 400,
    sample_below: int = 20_000,
    seed: int = 42,
) -> tuple[dict[int, float], str]:
    """Who connects otherwise separate groups.

    Betweenness centrality, exact on small graphs and sampled (`samples` sources) on
    mid-sized ones. Past `sample_below` people even sampled betweenness does not fit a
    nightly budget on one machine, so the measure becomes the diversity of the
    organisations a person's ties reach (Gini-Simpson index over tie weights, times the
    log of their degree): linear in the number of ties. Returns (scores, method).
    """
    n = graph.number_of_nodes()
    if n == 0 or graph.number_of_edges() == 0:
        return dict.fromkeys(graph.nodes, 0.0), "none"
    if n <= exact_below:
        return nx.betweenness_centrality(graph, normalized=True), "betweenness"
    if n <= sample_below:
        k = min(samples, n)
        return (
            nx.betweenness_centrality(graph, k=k, normalized=True, seed=seed),
            f"betweenness (sampled, {k} sources)",
        )
    scores: dict[int, float] = {}
    for node in graph.nodes:
        totals: Counter[int | None] = Counter()
        for neighbour, attrs in graph[node].items():
            totals[organization_of.get(neighbour) or -neighbour] += attrs.get("weight", 1.0)
        total = sum(totals.values())
        if total <= 0:
            scores[node] = 0.0
            continue
        diversity = 1.0 - sum((w / total) ** 2 for w in totals.values())
        scores[node] = diversity * math.log1p(len(totals))
    return scores, "organisation diversity of ties"


def score_people(
    graph: nx.Graph,
    facts: Mapping[int, PersonFacts],
    weights: Mapping[str, float],
    *,
    organization_of: Mapping[int, int | None] | None = None,
    key_account_orgs: set[int] | None = None,
    bridging_samples: int = 64,
    seed: int = 42,
) -> tuple[list[ScoredPerson], dict[str, Any]]:
    """Score everyone in the graph. Returns the people ranked best first, and run stats."""
    weights = check_weights(weights)
    organization_of = organization_of or {}
    key_account_orgs = key_account_orgs or set()
    nodes = list(graph.nodes)
    if not nodes:
        return [], {"people": 0, "ties": 0, "bridging_method": "none"}

    pagerank = influence(graph)
    bridge, bridge_method = bridging(graph, organization_of, samples=bridging_samples, seed=seed)
    empty = PersonFacts()
    person_facts = [facts.get(n, empty) for n in nodes]
    comp = {
        "influence": percentile_scores([pagerank.get(n, 0.0) for n in nodes]),
        "bridging": percentile_scores([bridge.get(n, 0.0) for n in nodes]),
        "engagement": percentile_scores([f.engagement_raw for f in person_facts]),
        "account_value": percentile_scores([f.account_value_raw for f in person_facts]),
        "sentiment": np.array(
            [0.5 if f.sentiment_mean is None else (f.sentiment_mean + 1) / 2 for f in person_facts]
        ),
    }
    total_weight = sum(weights.values())
    potential = sum(comp[name] * weights[name] for name in COMPONENTS) * (100 / total_weight)

    order = np.lexsort((np.asarray(nodes), -potential))  # best first, ties by id
    people: list[ScoredPerson] = []
    for rank, idx in enumerate(order, start=1):
        node = nodes[idx]
        f = person_facts[idx]
        people.append(
            ScoredPerson(
                contact_id=node,
                potential=round(float(potential[idx]), 3),
                components={name: round(float(comp[name][idx]), 4) for name in COMPONENTS},
                rank=rank,
                degree=graph.degree(node),
                details=_details(graph, node, f, pagerank, organization_of, key_account_orgs),
            )
        )
    stats = {
        "people": len(nodes),
        "ties": graph.number_of_edges(),
        "bridging_method": bridge_method,
        "isolated": sum(1 for n in nodes if graph.degree(n) == 0),
    }
    return people, stats


def _details(
    graph: nx.Graph,
    node: int,
    f: PersonFacts,
    pagerank: Mapping[int, float],
    organization_of: Mapping[int, int | None],
    key_account_orgs: set[int],
) -> dict[str, Any]:
    """The facts behind the words on the contact page."""
    neighbours = graph[node]
    key_accounts_known = {
        organization_of.get(n)
        for n in neighbours
        if organization_of.get(n) in key_account_orgs
        and organization_of.get(n) != f.organization_id
    }
    contributors = sorted(
        neighbours,
        key=lambda n: neighbours[n].get("weight", 1.0) * pagerank.get(n, 0.0),
        reverse=True,
    )[:5]
    change = None
    if f.engagement_before > 0:
        change = round((f.engagement_recent - f.engagement_before) / f.engagement_before, 3)
    return {
        "engagement_new": f.engagement_before == 0 and f.engagement_recent > 0,
        "key_accounts_known": len(key_accounts_known),
        "engagement_change": change,
        "top_contributors": contributors,
        "sentiment_mean": None if f.sentiment_mean is None else round(f.sentiment_mean, 3),
    }
