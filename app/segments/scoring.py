"""Potential scoring: pure functions over a graph and per-person facts, no database.

Each component is normalised to 0..1 and kept, the potential (0..100) is their weighted
mean. Influence, bridging, engagement and account value are normalised by percentile
(robust to a few huge values, and it is what "top 5%" means to a salesperson);
sentiment keeps its own scale (0 = all negative, 0.5 = neutral or unknown, 1 = all positive).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Any, TypeAlias

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from app.contacts.graph import GraphInput, build_graph, summed_ties
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


@dataclass
class Adjacency:
    """The graph as arrays (CSR), in the graph's node and neighbour order.

    Read once from the graph's adjacency and shared by PageRank, bridging and the
    per-person details, so the graph is walked in Python once, not once per measure.
    """

    nodes: list[int]
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, graph: nx.Graph) -> Adjacency:
        nodes = list(graph)
        index = {node: i for i, node in enumerate(nodes)}
        counts = np.fromiter(
            (len(nbrs) for _, nbrs in graph.adjacency()), dtype=np.int64, count=len(nodes)
        )
        indptr = np.zeros(len(nodes) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        indices = np.fromiter(
            chain.from_iterable(map(index.__getitem__, nbrs) for _, nbrs in graph.adjacency()),
            dtype=np.int64, count=nnz,
        )  # fmt: skip
        weights = np.fromiter(
            (d.get("weight", 1) for _, nbrs in graph.adjacency() for d in nbrs.values()),
            dtype=float, count=nnz,
        )  # fmt: skip
        return cls(nodes, indptr, indices, weights)

    @classmethod
    def from_input(cls, data: GraphInput) -> Adjacency:
        """Straight from the rows read for a run, without a networkx graph of everyone
        (which costs seconds and most of the run's memory at a million ties). The same
        arrays, in the same order, as `Adjacency.of(graph_from_input(data))`."""
        nodes = data.nodes if isinstance(data.nodes, list) else list(data.nodes)
        edges = [*data.relationship_edges, *data.shared_edges]
        try:
            summed = summed_ties(nodes, edges)
        except (TypeError, ValueError, OverflowError):
            summed = None
        if summed is None:
            return cls.of(build_graph(nodes, edges))
        lo, hi, w = summed
        return cls.from_ties(nodes, lo, hi, w)

    @classmethod
    def from_ties(
        cls, nodes: list[int], lo: np.ndarray, hi: np.ndarray, w: np.ndarray
    ) -> Adjacency:
        """CSR arrays of undirected ties given in order: each person's neighbours in the
        order of their ties (as networkx keeps them when the ties are added in order)."""
        n, m = len(nodes), len(lo)
        ids = np.asarray(nodes, dtype=np.int64)
        by_id = np.argsort(ids, kind="stable")
        lo_i = by_id[np.searchsorted(ids, lo, sorter=by_id)]
        hi_i = by_id[np.searchsorted(ids, hi, sorter=by_id)]
        src = np.concatenate([lo_i, hi_i])
        dst = np.concatenate([hi_i, lo_i])
        order = np.lexsort((np.tile(np.arange(m), 2), src))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        weights = np.concatenate([w, w])[order].astype(float)
        return cls(nodes, indptr, dst[order], weights)

    @cached_property
    def index(self) -> dict[int, int]:
        return {node: i for i, node in enumerate(self.nodes)}

    def __contains__(self, node: object) -> bool:
        return node in self.index

    @property
    def ties(self) -> int:
        """Undirected ties (no self ties: the graph never has any)."""
        return int(self.indptr[-1]) // 2

    def degrees(self) -> list[int]:
        return np.diff(self.indptr).tolist()

    def subgraph(self, nodes: Iterable[int]) -> nx.Graph:
        """These people and the ties among them as a networkx graph, with the node and
        neighbour order of networkx's own subgraph view (so Louvain sees the same graph)."""
        keep = np.zeros(len(self.nodes), dtype=bool)
        index = self.index
        keep[[index[node] for node in nodes if node in index]] = True
        return self._networkx(keep)

    def to_networkx(self) -> nx.Graph:
        return self._networkx(np.ones(len(self.nodes), dtype=bool))

    def _networkx(self, keep: np.ndarray) -> nx.Graph:
        graph = nx.Graph()
        rows = np.flatnonzero(keep).tolist()
        graph.add_nodes_from(self.nodes[i] for i in rows)
        adj, nodes = graph._adj, self.nodes
        pending: dict[tuple[int, int], dict[str, float]] = {}
        for i in rows:
            start, end = int(self.indptr[i]), int(self.indptr[i + 1])
            neighbours = self.indices[start:end]
            inside = keep[neighbours]
            row = adj[nodes[i]]
            for j, weight in zip(
                neighbours[inside].tolist(), self.weights[start:end][inside].tolist(), strict=True
            ):
                key = (i, j) if i < j else (j, i)
                data = pending.pop(key, None)  # the other direction: share its data dict
                if data is None:
                    data = pending[key] = {"weight": weight}
                row[nodes[j]] = data
        graph.__networkx_cache__.clear()
        return graph

    @property
    def rows(self) -> np.ndarray:
        """The row (person index) of each stored tie."""
        return np.repeat(np.arange(len(self.nodes)), np.diff(self.indptr))

    def matrix(self) -> sp.csr_array:
        n = len(self.nodes)
        return sp.csr_array(
            (self.weights.copy(), self.indices.copy(), self.indptr.copy()), shape=(n, n)
        )


def _pagerank(adj: Adjacency, alpha: float, max_iter: int, tol: float) -> np.ndarray:
    """networkx's `pagerank` (its scipy power iteration, step for step) on the CSR arrays,
    without converting the graph again."""
    n = len(adj.nodes)
    A = adj.matrix()
    A.sort_indices()  # as networkx's conversion leaves it, so the sums run in its order
    S = A.sum(axis=1)
    S[S != 0] = 1.0 / S[S != 0]
    Q = sp.dia_array((S.T, 0), shape=A.shape).tocsr()
    A = Q @ A
    x = np.repeat(1.0 / n, n)
    p = np.repeat(1.0 / n, n)
    dangling_weights = p
    is_dangling = np.where(S == 0)[0]
    for _ in range(max_iter):
        xlast = x
        x = alpha * (x @ A + sum(x[is_dangling]) * dangling_weights) + (1 - alpha) * p
        err = np.absolute(x - xlast).sum()
        if err < n * tol:
            return x
    raise nx.PowerIterationFailedConvergence(max_iter)


Graph: TypeAlias = nx.Graph | Adjacency  # the scoring functions take either


def _arrays(graph: Graph, adjacency: Adjacency | None = None) -> Adjacency:
    if adjacency is not None:
        return adjacency
    return graph if isinstance(graph, Adjacency) else Adjacency.of(graph)


def influence(graph: Graph, adjacency: Adjacency | None = None) -> dict[int, float]:
    """Weighted PageRank; isolated people get the teleport share only."""
    adj = _arrays(graph, adjacency)
    if not adj.nodes:
        return {}
    if adj.ties == 0:
        return dict.fromkeys(adj.nodes, 0.0)
    x = _pagerank(adj, alpha=0.85, max_iter=200, tol=1e-06)
    x[np.diff(adj.indptr) == 0] = 0.0  # only the random-jump share: no influence through anyone
    return dict(zip(adj.nodes, x.tolist(), strict=True))


def bridging(
    graph: Graph,
    organization_of: Mapping[int, int | None],
    *,
    samples: int = 64,
    exact_below: int = 400,
    sample_below: int = 20_000,
    seed: int = 42,
    adjacency: Adjacency | None = None,
) -> tuple[dict[int, float], str]:
    """Who connects otherwise separate groups.

    Betweenness centrality, exact on small graphs and sampled (`samples` sources) on
    mid-sized ones. Past `sample_below` people even sampled betweenness does not fit a
    nightly budget on one machine, so the measure becomes the diversity of the
    organisations a person's ties reach (Gini-Simpson index over tie weights, times the
    log of their degree): linear in the number of ties. Returns (scores, method).
    """
    adj = _arrays(graph, adjacency)
    n = len(adj.nodes)
    if n == 0 or adj.ties == 0:
        return dict.fromkeys(adj.nodes, 0.0), "none"
    if n <= sample_below:
        nx_graph = graph if isinstance(graph, nx.Graph) else adj.to_networkx()
        if n <= exact_below:
            return nx.betweenness_centrality(nx_graph, normalized=True), "betweenness"
        k = min(samples, n)
        return (
            nx.betweenness_centrality(nx_graph, k=k, normalized=True, seed=seed),
            f"betweenness (sampled, {k} sources)",
        )
    return _org_diversity(adj, organization_of), "organisation diversity of ties"


def _org_diversity(adj: Adjacency, organization_of: Mapping[int, int | None]) -> dict[int, float]:
    """Per person: Gini-Simpson index of tie weight over the organisations their ties reach
    (a tie to someone without an organisation is its own group), times log(1 + groups).

    Vectorised, but every sum runs in the same order as a loop over the neighbours would
    (np.bincount adds sequentially), so the scores are the same to the last bit."""
    n = len(adj.nodes)
    org = np.fromiter(
        (organization_of.get(node) or -node for node in adj.nodes), dtype=np.int64, count=n
    )
    rows = adj.rows
    if not len(rows):
        return dict.fromkeys(adj.nodes, 0.0)
    groups = org[adj.indices]
    # number the (person, organisation) pairs in order of first appearance
    codes, group_code = np.unique(groups, return_inverse=True)
    _, first, inverse = np.unique(
        rows * len(codes) + group_code.ravel(), return_index=True, return_inverse=True
    )
    inverse = inverse.ravel()
    by_first = np.argsort(first, kind="stable")
    pair_id = np.empty_like(by_first)
    pair_id[by_first] = np.arange(len(by_first))
    per_pair = np.bincount(pair_id[inverse], weights=adj.weights, minlength=len(first))
    pair_row = rows[np.sort(first)]
    total = np.bincount(pair_row, weights=per_pair, minlength=n)
    count = np.bincount(pair_row, minlength=n)
    safe = np.where(total > 0, total, 1.0)
    share = per_pair / safe[pair_row]
    share_sq = np.bincount(pair_row, weights=share * share, minlength=n)
    log_count = np.array([math.log1p(k) for k in range(int(count.max()) + 1)])[count]
    scores = np.where(total > 0, (1.0 - share_sq) * log_count, 0.0)
    return dict(zip(adj.nodes, scores.tolist(), strict=True))


def score_people(
    graph: Graph,
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
    adj = _arrays(graph)
    nodes = adj.nodes
    if not nodes:
        return [], {"people": 0, "ties": 0, "bridging_method": "none"}

    pagerank = influence(adj)
    bridge, bridge_method = bridging(
        graph, organization_of, samples=bridging_samples, seed=seed, adjacency=adj
    )
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
    weighted: np.ndarray = sum(comp[name] * weights[name] for name in COMPONENTS)  # type: ignore[assignment]
    potential = weighted * (100 / total_weight)

    order = np.lexsort((np.asarray(nodes), -potential))  # best first, ties by id
    known, contributors = _network_details(
        adj, person_facts, pagerank, organization_of, key_account_orgs
    )
    degrees = dict(zip(nodes, adj.degrees(), strict=True))
    # Python's round (correctly rounded), not np.round (scaled, may differ in the last digit)
    rounded = {name: [round(v, 4) for v in comp[name].tolist()] for name in COMPONENTS}
    potentials = [round(v, 3) for v in potential.tolist()]
    people: list[ScoredPerson] = []
    for rank, idx in enumerate(order.tolist(), start=1):
        node = nodes[idx]
        people.append(
            ScoredPerson(
                contact_id=node,
                potential=potentials[idx],
                components={name: rounded[name][idx] for name in COMPONENTS},
                rank=rank,
                degree=degrees[node],
                details=_facts_details(person_facts[idx], known[idx], contributors[idx]),
            )
        )
    stats = {
        "people": len(nodes),
        "ties": graph.number_of_edges() if isinstance(graph, nx.Graph) else adj.ties,
        "bridging_method": bridge_method,
        "isolated": sum(1 for d in degrees.values() if d == 0),
    }
    return people, stats


def _network_details(
    adj: Adjacency,
    person_facts: Sequence[PersonFacts],
    pagerank: Mapping[int, float],
    organization_of: Mapping[int, int | None],
    key_account_orgs: set[int],
) -> tuple[list[int], list[list[int]]]:
    """Per person (in node order): how many key accounts other than their own their ties
    reach, and the up to 5 people who contribute most (tie weight x their PageRank; ties
    keep the neighbour order, as a stable sort would)."""
    n = len(adj.nodes)
    rows = adj.rows
    position = np.arange(len(rows))
    # key accounts known: distinct key-account organisations of the neighbours, not their own
    org = np.fromiter(
        (organization_of.get(node) or 0 for node in adj.nodes), dtype=np.int64, count=n
    )
    own_org = np.fromiter((f.organization_id or 0 for f in person_facts), dtype=np.int64, count=n)
    is_key = np.zeros(n, dtype=bool)
    if key_account_orgs:
        is_key = np.isin(org, np.fromiter(key_account_orgs, dtype=np.int64))
    nbr_org = org[adj.indices]
    hit = is_key[adj.indices] & (nbr_org != own_org[rows])
    pairs = np.unique(rows[hit] * (int(org.max(initial=0)) + 1) + nbr_org[hit])
    known = np.bincount(pairs // (int(org.max(initial=0)) + 1), minlength=n).tolist()
    # top contributors
    pr = np.fromiter((pagerank.get(node, 0.0) for node in adj.nodes), dtype=float, count=n)
    strength = adj.weights * pr[adj.indices]
    # within each row: strongest first, ties in neighbour order (lexsort is stable)
    order = np.lexsort((-strength, rows))
    rank_in_row = position - adj.indptr[rows]  # after sorting, rows stay grouped in place
    top = order[rank_in_row < 5]
    node_ids = np.asarray(adj.nodes, dtype=object) if n else np.zeros(0, dtype=object)
    top_nodes = node_ids[adj.indices[top]].tolist()
    cut = np.minimum(np.diff(adj.indptr), 5)
    contributors: list[list[int]] = []
    start = 0
    for size in cut.tolist():
        contributors.append(top_nodes[start : start + size])
        start += size
    return known, contributors


def _facts_details(f: PersonFacts, known: int, contributors: list[int]) -> dict[str, Any]:
    """The facts behind the words on the contact page."""
    change = None
    if f.engagement_before > 0:
        change = round((f.engagement_recent - f.engagement_before) / f.engagement_before, 3)
    return {
        "engagement_new": f.engagement_before == 0 and f.engagement_recent > 0,
        "key_accounts_known": known,
        "engagement_change": change,
        "top_contributors": contributors,
        "sentiment_mean": None if f.sentiment_mean is None else round(f.sentiment_mean, 3),
    }
