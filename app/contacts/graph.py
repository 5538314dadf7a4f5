"""The contact graph: read the rows set-based, build a weighted networkx graph.

Reading (needs a Session) and building (pure: ids and edge tuples in, graph out) are
separate steps, so the graph code can be tested and benchmarked without a database.
The graph is derived data, rebuilt for each scoring run, never stored as the truth.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import networkx as nx
from sqlalchemy import and_, func, select
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


def read_graph_input(
    session: Session, as_of: datetime, *, half_life_days: float = 180.0
) -> GraphInput:
    """Read people and ties as they stood at `as_of` (later rows are ignored)."""
    people = session.execute(
        select(Contact.id, Contact.organization_id)
        .where(
            Contact.erased_at.is_(None),
            Contact.merged_into_id.is_(None),
            Contact.created_at <= as_of,
        )
        .order_by(Contact.id)
    ).all()
    nodes = [row[0] for row in people]
    organization_of = {row[0]: row[1] for row in people}

    rel_rows = session.execute(
        select(
            Relationship.from_contact_id,
            Relationship.to_contact_id,
            Relationship.kind,
            Relationship.strength,
        ).where(
            (Relationship.since.is_(None)) | (Relationship.since <= as_of),
            Relationship.created_at <= as_of,
        )
    ).all()
    relationship_edges = [
        (a, b, RELATIONSHIP_WEIGHTS.get(kind, 0.5) * float(strength))
        for a, b, kind, strength in rel_rows
    ]
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
    rows = session.execute(
        select(ip_a.c.contact_id, ip_b.c.contact_id, Interaction.occurred_at)
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
        )
    )
    pairs: dict[tuple[int, int], float] = defaultdict(float)
    for a, b, occurred_at in rows:
        age = (as_of - occurred_at).total_seconds() / 86400
        pairs[(a, b)] += SHARED_INTERACTION_WEIGHT * decay(age, half_life_days)
    for (a, b), weight in pairs.items():
        yield a, b, min(weight, 3.0)


def build_graph(nodes: Iterable[int], edges: Iterable[tuple[int, int, float]]) -> nx.Graph:
    """An undirected weighted graph; parallel ties between two people add up.

    Edges naming people not in `nodes` (erased, merged, created later) are dropped.
    """
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    weights: dict[tuple[int, int], float] = defaultdict(float)
    for a, b, w in edges:
        if a == b or w <= 0 or a not in graph or b not in graph:
            continue
        key = (a, b) if a < b else (b, a)
        weights[key] += w
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in weights.items())
    return graph


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
