"""The twinning network as a networkx graph, and the figures a planner reads off it: how
many institutions the round reaches, how the mentoring load spreads, who both mentors and
learns, mutual pairs, groups that learn together, and which regions it links.

Nodes are institutions (with their attributes); each pair is an edge mentor -> mentee
keyed by topic, so one couple can share several topics and the same institution can
mentor on one topic while it learns on another.

>>> from tpn.samples import rwanda
>>> from tpn.models import MatchProblem
>>> from tpn.matching import solve
>>> net = rwanda()
>>> result = solve(MatchProblem.from_network(net))
>>> g = twinning_graph(net.institutions, [(p.mentee_id, p.mentor_id, p.topic_id)
...                                       for p in result.pairs])
>>> m = network_metrics(g, [(u.institution_id, u.topic_id) for u in result.unmatched])
>>> m.matched == len(result.pairs), m.requests == len(result.pairs) + len(result.unmatched)
(True, True)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import networkx as nx

from ..models import Institution


def twinning_graph(institutions: Iterable[Institution],
                   pairs: Iterable[tuple[str, str, str]]) -> nx.MultiDiGraph:
    """The network of a round: ``pairs`` are (mentee, mentor, topic)."""
    graph = nx.MultiDiGraph()
    for inst in sorted(institutions, key=lambda i: i.id):
        graph.add_node(inst.id, name=inst.name, kind=inst.kind, region=inst.region,
                       latitude=inst.latitude, longitude=inst.longitude, size=inst.size)
    for mentee, mentor, topic in sorted(pairs, key=lambda p: (p[1], p[0], p[2])):
        graph.add_edge(mentor, mentee, key=topic, topic=topic)
    return graph


@dataclass(frozen=True)
class NetworkMetrics:
    requests: int
    matched: int
    coverage_by_topic: dict          # topic -> {requests, matched, share}
    coverage_by_kind: dict           # kind -> the same
    institutions: int
    institutions_reached: int        # in at least one pair, as mentor or mentee
    mentors: int
    learners: int
    mentor_and_learner: tuple[str, ...]
    mentor_load: dict                # mentees -> how many mentors have that many
    mutual_pairs: tuple[tuple[str, str], ...]
    components: tuple[int, ...]      # sizes of the groups linked by pairs, largest first
    regions_linked: dict             # "region a / region b" -> pairs between them
    within_region: int               # pairs inside one region
    left_out: tuple[str, ...]        # asked for help and got none


def network_metrics(graph: nx.MultiDiGraph,
                    unmatched: Iterable[tuple[str, str]] = ()) -> NetworkMetrics:
    """The figures of a round's network; ``unmatched`` are the (institution, topic) of the
    requests it did not serve."""
    kind = nx.get_node_attributes(graph, "kind")
    region = nx.get_node_attributes(graph, "region")
    requests = [(v, topic, True) for _u, v, topic in graph.edges(keys=True)] + \
        [(inst, topic, False) for inst, topic in unmatched]

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
    links = Counter()
    within = 0
    for u, v in graph.edges():
        a, b = region.get(u) or "(no region)", region.get(v) or "(no region)"
        if a == b:
            within += 1
        else:
            links[" / ".join(sorted((a, b)))] += 1
    asked = {inst for inst, _t, _ok in requests}
    served = {inst for inst, _t, ok in requests if ok}
    return NetworkMetrics(
        requests=len(requests),
        matched=graph.number_of_edges(),
        coverage_by_topic=coverage(lambda inst, topic: topic),
        coverage_by_kind=coverage(lambda inst, topic: kind.get(inst, "")),
        institutions=graph.number_of_nodes(),
        institutions_reached=active.number_of_nodes(),
        mentors=len(mentors),
        learners=len(learners),
        mentor_and_learner=tuple(sorted(set(mentors) & set(learners))),
        mentor_load=dict(sorted(Counter(graph.out_degree(m) for m in mentors).items())),
        mutual_pairs=tuple(mutual),
        components=tuple(components),
        regions_linked=dict(sorted(links.items(), key=lambda x: (-x[1], x[0]))),
        within_region=within,
        left_out=tuple(sorted(asked - served)),
    )
