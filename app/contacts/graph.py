"""The contact graph: read the rows set-based, build a weighted networkx graph.

Reading (needs a Session) and building (pure: ids and edge tuples in, graph out) are
separate steps, so the graph code can be tested and benchmarked without a database.
The graph is derived data, rebuilt for each scoring run, never stored as the truth.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import networkx as nx
import numpy as np
from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.orm import Session, aliased

from app.contacts.models import Contact, Interaction, Relationship, interaction_participants

# How much each kind of declared relationship ties two people (times its strength).
RELATIONSHIP_WEIGHTS = {
    "colleague": 1.0,
    "reports_to": 1.0,
    "referred_by": 0.9,
    "knows": 0.7,
    "follows": 0.3,
}
# Meetings and threads with more people than this are events, not ties between each pair.
MAX_SHARED_PARTICIPANTS = 8
SHARED_INTERACTION_WEIGHT = 0.5


@dataclass
class GraphInput:
    """Plain data read from the database for one run."""

    as_of: datetime
    nodes: list[int]
    organization_of: dict[int, int | None]
    relationship_edges: list[tuple[int, int, float]] = field(default_factory=list)
    shared_edges: list[tuple[int, int, float]] = field(default_factory=list)


def decay(age_days: float, half_life_days: float) -> float:
    """Weight of something `age_days` old when weights halve every `half_life_days`."""
    if age_days <= 0:
        return 1.0
    return math.pow(0.5, age_days / half_life_days)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970 (exact: integer arithmetic on the timedelta)."""
    return (moment - _EPOCH) // _MICROSECOND


def epoch_column(session: Session, column: Any) -> tuple[Any, bool]:
    """A select-able for `column` as epoch seconds, and whether the database computes it.

    PostgreSQL: `date_part('epoch', ...)`, a double (its seconds / 1e6, correctly rounded),
    from which `ages_in_days` recovers the exact microseconds (the error is below 0.3 us
    for any date before 2040), with no datetime object per row. Elsewhere: the column
    itself, converted in Python with `epoch_us`."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_part("epoch", column), True
    return column, False


def fetch_all(session: Session, statement: Any) -> list[Any]:
    """All rows of a Core select, as tuples, in the session's transaction.

    On PostgreSQL they come straight from the driver's cursor: at a million rows,
    SQLAlchemy's per-row result processing costs several times the fetch itself. So the
    columns selected there must need no result processing (numbers and text, e.g. times
    as `epoch_column`); elsewhere the usual result rows are returned.
    """
    result = session.connection().execute(statement)
    if session.get_bind().dialect.name != "postgresql":
        return list(result.all())
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def ages_in_days(as_of: datetime, moments: Sequence[Any], in_db: bool) -> np.ndarray:
    """(as_of - moment) in days for each moment, computed as timedelta.total_seconds() / 86400
    would be (exact microseconds, then the same two divisions)."""
    if in_db:
        micros = np.rint(np.asarray(moments, dtype=float) * 1e6).astype(np.int64)
    else:
        micros = np.fromiter(map(epoch_us, moments), dtype=np.int64, count=len(moments))
    return (epoch_us(as_of) - micros).astype(float) / 1e6 / 86400


def read_graph_input(
    session: Session, as_of: datetime, *, half_life_days: float = 180.0
) -> GraphInput:
    """Read people and ties as they stood at `as_of` (later rows are ignored)."""
    people = fetch_all(
        session,
        select(Contact.id, Contact.organization_id)
        .where(
            Contact.erased_at.is_(None),
            Contact.merged_into_id.is_(None),
            Contact.created_at <= as_of,
        )
        .order_by(Contact.id),
    )
    nodes = [row[0] for row in people]
    organization_of = dict(people)

    # weight = kind weight x strength, multiplied by the database (the same IEEE double
    # product as in Python), so the rows arrive as the (a, b, weight) tuples themselves
    tie_weight = case(RELATIONSHIP_WEIGHTS, value=Relationship.kind, else_=0.5) * cast(
        Relationship.strength, Float
    )
    rel_rows = fetch_all(
        session,
        select(Relationship.from_contact_id, Relationship.to_contact_id, tie_weight).where(
            (Relationship.since.is_(None)) | (Relationship.since <= as_of),
            Relationship.created_at <= as_of,
        ),
    )
    relationship_edges = (
        [(a, b, float(w)) for a, b, w in rel_rows]
        if rel_rows and (type(rel_rows[0]) is not tuple or type(rel_rows[0][2]) is not float)
        else rel_rows
    )
    return GraphInput(
        as_of=as_of,
        nodes=nodes,
        organization_of=organization_of,
        relationship_edges=relationship_edges,
        shared_edges=list(_shared_interaction_edges(session, as_of, half_life_days)),
    )


def _shared_interaction_edges(
    session: Session, as_of: datetime, half_life_days: float
) -> Iterable[tuple[int, int, float]]:
    """Two people in the same meeting or thread are tied, more so when it is recent."""
    ip_a = aliased(interaction_participants)
    ip_b = aliased(interaction_participants)
    small = (
        select(interaction_participants.c.interaction_id)
        .group_by(interaction_participants.c.interaction_id)
        .having(func.count().between(2, MAX_SHARED_PARTICIPANTS))
    )
    moment, in_db = epoch_column(session, Interaction.occurred_at)
    rows = fetch_all(
        session,
        select(ip_a.c.contact_id, ip_b.c.contact_id, moment)
        .select_from(ip_a)
        .join(
            ip_b,
            and_(
                ip_a.c.interaction_id == ip_b.c.interaction_id,
                ip_a.c.contact_id < ip_b.c.contact_id,
            ),
        )
        .join(Interaction, Interaction.id == ip_a.c.interaction_id)
        .where(
            Interaction.occurred_at <= as_of,
            Interaction.occurred_at > as_of - timedelta(days=4 * half_life_days),
            ip_a.c.interaction_id.in_(small),
        ),
    )
    if not rows:
        return []
    first_ids, second_ids, moments = zip(*rows, strict=True)
    ages = ages_in_days(as_of, moments, in_db)
    weights = np.array(
        [SHARED_INTERACTION_WEIGHT * decay(age, half_life_days) for age in ages.tolist()]
    )
    # add up per pair, in row order, and keep the pairs in order of first appearance
    a = np.array(first_ids, dtype=np.int64)
    b = np.array(second_ids, dtype=np.int64)
    pair_of, firsts = _group_pairs(a, b)
    totals = np.minimum(np.bincount(pair_of, weights=weights), 3.0)
    return zip(a[firsts].tolist(), b[firsts].tolist(), totals.tolist(), strict=True)


def _group_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct (a, b) pairs in order of first appearance: the pair number of
    each row, and the row where each pair first appears."""
    top = int(max(a.max(initial=0), b.max(initial=0))) + 1
    if a.min(initial=0) >= 0 and b.min(initial=0) >= 0 and top < 2**31:
        order = np.argsort(a * top + b, kind="stable")  # within a pair, rows keep their order
    else:
        order = np.lexsort((b, a))
    sa, sb = a[order], b[order]
    starts = np.flatnonzero(np.r_[True, (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])])
    firsts_sorted = order[starts]  # the first row of each pair (by pair value)
    by_first = np.argsort(firsts_sorted, kind="stable")
    number = np.empty(len(starts), dtype=np.int64)
    number[by_first] = np.arange(len(starts))
    pair_of = np.empty(len(a), dtype=np.int64)
    pair_of[order] = number[np.cumsum(np.r_[True, (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])]) - 1]
    return pair_of, firsts_sorted[by_first]


def build_graph(nodes: Iterable[int], edges: Iterable[tuple[int, int, float]]) -> nx.Graph:
    """An undirected weighted graph; parallel ties between two people add up.

    Edges naming people not in `nodes` (erased, merged, created later) are dropped.
    Integer ids take a vectorised path (the same sums, in the same order, so the same
    graph to the last bit and the same neighbour order); anything else the plain loop.
    """
    nodes = nodes if isinstance(nodes, list) else list(nodes)
    edges = edges if isinstance(edges, list) else list(edges)
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    try:
        ties = _sum_ties_vectorised(nodes, edges)
    except (TypeError, ValueError, OverflowError):
        ties = None
    if ties is None:
        weights: dict[tuple[int, int], float] = defaultdict(float)
        for a, b, w in edges:
            if a == b or w <= 0 or a not in graph or b not in graph:
                continue
            key = (a, b) if a < b else (b, a)
            weights[key] += w
        ties = ((a, b, w) for (a, b), w in weights.items())
        graph.add_weighted_edges_from(ties)
        return graph
    # A new graph, filled straight into networkx's own adjacency (the dict of dicts that
    # add_edges_from fills, one data dict shared by both directions): half the time of
    # add_weighted_edges_from at a million ties, which re-checks every node.
    adj = graph._adj
    for a, b, w in ties:
        data = {"weight": w}
        adj[a][b] = data
        adj[b][a] = data
    graph.__networkx_cache__.clear()
    return graph


def _sum_ties_vectorised(
    nodes: list[int], edges: list[tuple[int, int, float]]
) -> Iterable[tuple[int, int, float]] | None:
    summed = summed_ties(nodes, edges)
    if summed is None:
        return None
    lo, hi, totals = summed
    return zip(lo.tolist(), hi.tolist(), totals.tolist(), strict=True)


def summed_ties(
    nodes: Sequence[int], edges: Sequence[tuple[int, int, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The ties as arrays (lo, hi, weight), lo < hi: parallel ties added up, self ties,
    zero weights and unknown people dropped, in order of first appearance (the order
    `build_graph` adds them). None when the ids are not integers."""
    if not edges:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    if not all(type(n) is int for n in nodes[:1000]):
        return None
    flat = np.fromiter(chain.from_iterable(edges), dtype=float, count=3 * len(edges))
    ids, w = flat.reshape(-1, 3)[:, :2], flat[2::3]
    if not (np.abs(ids) < 2**53).all() or not (ids == np.floor(ids)).all():
        return None
    a, b = ids[:, 0].astype(np.int64), ids[:, 1].astype(np.int64)
    known = np.array(nodes, dtype=np.int64)
    keep = (a != b) & (w > 0) & np.isin(a, known) & np.isin(b, known)
    a, b, w = a[keep], b[keep], w[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    if not len(lo):
        return lo, hi, w
    pair_of, firsts = _group_pairs(lo, hi)
    totals = np.bincount(pair_of, weights=w)
    return lo[firsts], hi[firsts], totals


def graph_from_input(data: GraphInput) -> nx.Graph:
    return build_graph(data.nodes, [*data.relationship_edges, *data.shared_edges])


def ego_network(graph: nx.Graph, center: int, *, radius: int = 1, limit: int = 40) -> nx.Graph:
    """The person, their strongest ties (up to `limit`) and the ties among those."""
    if center not in graph:
        return nx.Graph()
    neighbours = sorted(
        graph[center].items(), key=lambda item: item[1].get("weight", 1.0), reverse=True
    )[:limit]
    keep = {center, *(n for n, _ in neighbours)}
    if radius > 1:
        for n, _ in neighbours[: limit // 4]:
            keep.update(list(graph[n])[:3])
    return graph.subgraph(keep).copy()


def read_ego_graph(
    session: Session, contact_id: int, *, as_of: datetime, limit: int = 40
) -> nx.Graph:
    """A person's neighbourhood straight from the rows (no full graph needed for one page)."""
    rel = Relationship
    rows = session.execute(
        select(rel.from_contact_id, rel.to_contact_id, rel.kind, rel.strength).where(
            (rel.from_contact_id == contact_id) | (rel.to_contact_id == contact_id)
        )
    ).all()
    edges = [(a, b, RELATIONSHIP_WEIGHTS.get(k, 0.5) * float(s)) for a, b, k, s in rows]
    ip_a = aliased(interaction_participants)
    ip_b = aliased(interaction_participants)
    shared = session.execute(
        select(ip_b.c.contact_id, Interaction.occurred_at)
        .select_from(ip_a)
        .join(
            ip_b,
            and_(ip_a.c.interaction_id == ip_b.c.interaction_id, ip_b.c.contact_id != contact_id),
        )  # fmt: skip
        .join(Interaction, Interaction.id == ip_a.c.interaction_id)
        .where(ip_a.c.contact_id == contact_id, Interaction.occurred_at <= as_of)
        .limit(2000)
    ).all()
    for other, occurred_at in shared:
        age = (as_of - occurred_at).total_seconds() / 86400
        edges.append((contact_id, other, SHARED_INTERACTION_WEIGHT * decay(age, 180.0)))
    people = {contact_id} | {a for a, _, _ in edges} | {b for _, b, _ in edges}
    alive = set(
        session.scalars(
            select(Contact.id).where(
                Contact.id.in_(people),
                Contact.erased_at.is_(None),
                Contact.merged_into_id.is_(None),
            )
        )
    )
    ego = ego_network(build_graph(alive, edges), contact_id, limit=limit)
    others = [n for n in ego.nodes if n != contact_id]
    if others:
        among = session.execute(
            select(rel.from_contact_id, rel.to_contact_id, rel.kind, rel.strength).where(
                rel.from_contact_id.in_(others), rel.to_contact_id.in_(others)
            )
        ).all()
        for a, b, k, s in among:
            w = RELATIONSHIP_WEIGHTS.get(k, 0.5) * float(s)
            if ego.has_edge(a, b):
                ego[a][b]["weight"] += w
            else:
                ego.add_edge(a, b, weight=w)
    return ego
