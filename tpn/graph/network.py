"""The twinning network as a networkx graph, and the figures a planner reads off it.

Nodes are institutions (with their attributes); each pair is an edge mentor -> mentee
keyed by topic, so one couple can share several topics and the same institution can
mentor on one topic while it learns on another.

>>> from tpn.samples import rwanda
>>> from tpn.models import MatchProblem
>>> from tpn.matching import solve
>>> net = rwanda()
>>> result = solve(MatchProblem.from_network(net))
>>> g = twinning_graph(net.institutions, result)
>>> g.number_of_edges() == len(result.pairs)
True
>>> m = network_metrics(g, result)
>>> m["requests"] == len(result.pairs) + len(result.unmatched)
True
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import networkx as nx

from ..models import Institution, MatchResult


def twinning_graph(institutions: Iterable[Institution], result: MatchResult) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for inst in sorted(institutions, key=lambda i: i.id):
        graph.add_node(inst.id, name=inst.name, kind=inst.kind, region=inst.region,
                       latitude=inst.latitude, longitude=inst.longitude, size=inst.size)
    for p in sorted(result.pairs, key=lambda p: (p.mentor_id, p.mentee_id, p.topic_id)):
        graph.add_edge(p.mentor_id, p.mentee_id, key=p.topic_id, topic=p.topic_id,
                       priority=p.priority, gain=p.gain, distance_km=p.distance_km,
                       cost=p.cost.total, locked=p.locked)
    return graph


def network_metrics(graph: nx.MultiDiGraph, result: MatchResult) -> dict:
    """Coverage per topic and kind, mentor loads, who both mentors and learns, mutual
    pairs, connected groups, and who was left out."""
    kind = nx.get_node_attributes(graph, "kind")
    requests = [(p.mentee_id, p.topic_id, True) for p in result.pairs] + \
               [(u.institution_id, u.topic_id, False) for u in result.unmatched]

    def coverage(key) -> dict:
        total, served = Counter(), Counter()
        for inst, topic, ok in requests:
            k = key(inst, topic)
            total[k] += 1
            served[k] += ok
        return {k: {"requests": total[k], "matched": served[k],
                    "share": round(served[k] / total[k], 4)} for k in sorted(total)}

    mentors = sorted(n for n in graph if graph.out_degree(n) > 0)
    learners = sorted(n for n in graph if graph.in_degree(n) > 0)
    couples = {(u, v) for u, v in graph.edges()}
    mutual = sorted({tuple(sorted((u, v))) for u, v in couples if (v, u) in couples})
    active = graph.subgraph(n for n in graph if graph.degree(n) > 0)
    components = sorted((len(c) for c in nx.weakly_connected_components(active)), reverse=True)
    asked = {inst for inst, _t, _ok in requests}
    served = {inst for inst, _t, ok in requests if ok}
    return {
        "requests": len(requests),
        "matched": len(result.pairs),
        "coverage_by_topic": coverage(lambda inst, topic: topic),
        "coverage_by_kind": coverage(lambda inst, topic: kind.get(inst, "")),
        "mentor_load": dict(sorted(Counter(graph.out_degree(m) for m in mentors).items())),
        "mentors": len(mentors),
        "learners": len(learners),
        "mentor_and_learner": sorted(set(mentors) & set(learners)),
        "mutual_pairs": [list(p) for p in mutual],
        "components": components,
        "left_out": sorted(asked - served),
    }
