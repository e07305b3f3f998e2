"""The flow solver on hand-built inputs: small coverage penalties speed it up, but the answer
must stay the lexicographic optimum (most priority weight served, then least cost), checked
against networkx's network simplex with the full penalties. And the node potentials the
certificate relies on: shortest distances in the residual graph, checked against networkx's
Bellman-Ford, and a negative cycle reported, not looped on. Parts of the network that meet
only at the sink are solved apart: the same optimum."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
from hypothesis import given, settings, strategies as st

from tpn.matching import Tuning
from tpn.matching.encoding import SolverInput
from tpn.errors import TpnBug
from tpn.matching.flow import residual_distances, solve_flow

BIG = 10 ** 9


def flow_input(n_requests, arcs, weights, capacity, topic_capacity=None, n_topics=1):
    """arcs: (request, mentor, topic, cost) tuples; weights: priority weight per request."""
    arcs = sorted(arcs)
    col = list(zip(*arcs)) if arcs else [(), (), (), ()]
    capacity = np.asarray(capacity, np.int64)
    return SolverInput(
        n_requests=n_requests, n_topics=n_topics,
        arc_request=np.array(col[0], np.int64), arc_mentor=np.array(col[1], np.int64),
        arc_topic=np.array(col[2], np.int64), arc_mentee=np.array(col[0], np.int64),
        arc_cost=np.array(col[3], np.int64),
        penalty=np.asarray(weights, np.int64) * BIG,
        forced=np.full(n_requests, -1, np.int64),
        mentor_capacity=capacity,
        topic_capacity=capacity if topic_capacity is None
        else np.minimum(capacity, np.asarray(topic_capacity, np.int64)),
        options=None,
    )


def networkx_optimum(inp: SolverInput) -> int:
    g = nx.DiGraph()
    g.add_node("sink", demand=inp.n_requests)
    for r in range(inp.n_requests):
        g.add_node(("r", r), demand=-1)
        g.add_edge(("r", r), "sink", capacity=1, weight=int(inp.penalty[r]))
    for a in range(inp.arc_request.size):
        m, t = int(inp.arc_mentor[a]), int(inp.arc_topic[a])
        g.add_edge(("r", int(inp.arc_request[a])), ("s", m, t), capacity=1,
                   weight=int(inp.arc_cost[a]))
        g.add_edge(("s", m, t), ("m", m), capacity=int(inp.topic_capacity[m]), weight=0)
        g.add_edge(("m", m), "sink", capacity=int(inp.mentor_capacity[m]), weight=0)
    return nx.min_cost_flow_cost(g)


def test_a_long_chain_to_spare_capacity_is_followed():
    # Serving request 0 needs every other request to move one mentor along, each move
    # costing 100: more than the small penalty (4 x 100 + 1) but less than the full one.
    n = 6
    arcs = [(0, 0, 0, 100)]
    arcs += [(r, r - 1, 0, 0) for r in range(1, n)] + [(r, r, 0, 100) for r in range(1, n)]
    inp = flow_input(n, arcs, [1] * n, [1] * n)
    out = solve_flow(inp)
    assert (out.chosen >= 0).all()
    assert out.stats["small_penalties"] == 0      # the quick answer was rejected
    assert out.objective == networkx_optimum(inp) == n * 100


def test_a_chain_to_a_request_of_lower_weight_is_followed():
    # Request 0 can only be served if the last request (the only one of weight 1) gives
    # way, and the six moves in between cost more than the small penalties' difference.
    n = 7
    arcs = [(0, 0, 0, 100)] + [(r, r - 1, 0, 0) for r in range(1, n)]
    arcs += [(r, r, 0, 100) for r in range(1, n - 1)]
    inp = flow_input(n, arcs, [2] * (n - 1) + [1], [1] * (n - 1))
    out = solve_flow(inp)
    assert out.chosen[0] >= 0 and out.chosen[n - 1] < 0
    assert out.stats["small_penalties"] == 0
    assert out.objective == networkx_optimum(inp) == BIG + (n - 1) * 100


def test_small_penalties_are_kept_when_they_serve_the_most():
    arcs = [(0, 0, 0, 5), (1, 0, 0, 3), (1, 1, 0, 9), (2, 1, 0, 1)]
    inp = flow_input(3, arcs, [1, 2, 1], [1, 1])
    out = solve_flow(inp)
    assert out.stats["small_penalties"] == 1
    assert out.objective == networkx_optimum(inp)


@st.composite
def flow_inputs(draw):
    n_req = draw(st.integers(1, 7))
    n_men = draw(st.integers(1, 4))
    n_topics = draw(st.integers(1, 2))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_req - 1), st.integers(0, n_men - 1)),
                          max_size=20, unique=True))
    topic = [draw(st.integers(0, n_topics - 1)) for _ in range(n_req)]
    # Costs span a wide range so that chains often outweigh the small penalties.
    arcs = [(r, m, topic[r], draw(st.sampled_from([-50, 0, 1, 7, 100, 400])))
            for r, m in pairs]
    weights = draw(st.lists(st.integers(1, 3), min_size=n_req, max_size=n_req))
    capacity = draw(st.lists(st.integers(0, 2), min_size=n_men, max_size=n_men))
    topic_capacity = draw(st.none() | st.lists(st.integers(0, 2), min_size=n_men,
                                                max_size=n_men))
    return flow_input(n_req, arcs, weights, capacity, topic_capacity, n_topics)


@settings(max_examples=300, deadline=None)
@given(flow_inputs())
def test_the_flow_reaches_the_exact_optimum(inp):
    out = solve_flow(inp, potentials=True)
    assert out.objective == networkx_optimum(inp)
    chosen = out.chosen[out.chosen >= 0]
    load = np.bincount(inp.arc_mentor[chosen], minlength=inp.mentor_capacity.size)
    assert (load <= inp.mentor_capacity).all()
    unserved = int(inp.penalty[out.chosen < 0].sum())
    assert unserved + int(inp.arc_cost[chosen].sum()) == out.objective


@settings(max_examples=300, deadline=None)
@given(flow_inputs(), st.sampled_from([1, 2, 3]))
def test_parts_solved_apart_reach_the_same_optimum(inp, part_nodes):
    # Real parts are large (kinds); small thresholds make these small inputs split too,
    # into parts solved alone and a rest solved together.
    out = solve_flow(dataclasses.replace(inp, tuning=Tuning(part_nodes=part_nodes)),
                     potentials=True)
    assert out.objective == networkx_optimum(inp)
    chosen = out.chosen[out.chosen >= 0]
    load = np.bincount(inp.arc_mentor[chosen], minlength=inp.mentor_capacity.size)
    assert (load <= inp.mentor_capacity).all()
    assert (inp.arc_request[chosen] == np.flatnonzero(out.chosen >= 0)).all()


def test_two_kinds_are_two_parts_and_each_gets_its_optimum():
    # Requests 0-2 can only reach mentors 0-1, requests 3-4 only mentor 2 (as two kinds
    # would); the small request 5 has no arc at all.
    arcs = [(0, 0, 0, 5), (0, 1, 0, 9), (1, 0, 0, 4), (2, 1, 0, 1), (2, 0, 0, 2),
            (3, 2, 0, 3), (4, 2, 0, 8)]
    inp = flow_input(6, arcs, [1, 1, 1, 1, 1, 1], [1, 1, 1])
    out = solve_flow(dataclasses.replace(inp, tuning=Tuning(part_nodes=2)))
    assert out.stats["parts"] == 3      # two components of 4 and 3 nodes, then the rest
    # Mentors 0-1 serve requests 1 and 2 (4 + 1), mentor 2 request 3; 0, 4 and 5 wait.
    assert out.objective == networkx_optimum(inp) == 4 + 1 + 3 + 3 * BIG
    assert solve_flow(inp).stats["parts"] == 1      # all small: solved together


@st.composite
def residual_graphs(draw):
    """Arcs (tail, head, capacity, cost, flow) whose residual graph has no negative cycle:
    costs come from node prices, with a reduced cost >= 0 where the arc has room left and
    <= 0 where it carries flow (so 0 when both)."""
    n = draw(st.integers(1, 8))
    price = draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n))
    rows = []
    for _ in range(draw(st.integers(0, 20))):
        u, v = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        cap = draw(st.integers(1, 3))
        flow = draw(st.sampled_from([0, cap, min(1, cap - 1)]))
        reduced = 0 if 0 < flow < cap else draw(st.integers(0, 40)) * (1 if flow == 0 else -1)
        rows.append((u, v, cap, reduced + price[v] - price[u], flow))
    return n, rows


@settings(max_examples=200, deadline=None)
@given(graph=residual_graphs())
def test_residual_distances_are_the_shortest_paths_from_a_virtual_root(graph):
    n, rows = graph
    tails, heads, caps, costs, flows = (np.array([r[k] for r in rows], np.int64)
                                        for k in range(5))
    got = residual_distances(n, tails, heads, caps, costs, flows)
    g = nx.DiGraph()
    g.add_weighted_edges_from(("root", x, 0) for x in range(n))
    for u, v, cap, cost, flow in rows:
        for a, b, w in ([(u, v, cost)] if flow < cap else []) + ([(v, u, -cost)] if flow else []):
            if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
                g.add_edge(a, b, weight=w)
    want = nx.single_source_bellman_ford_path_length(g, "root")
    assert got.tolist() == [want[x] for x in range(n)]
    # And they are potentials: no residual arc has a negative reduced cost.
    for u, v, cap, cost, flow in rows:
        assert flow == cap or cost + got[u] - got[v] >= 0
        assert flow == 0 or -cost + got[v] - got[u] >= 0


def test_a_negative_cycle_in_the_residual_graph_is_reported():
    # 0 -> 1 costs 1 with room; 1 -> 0 costs -3 with room: the cycle costs -2.
    with np.testing.assert_raises(TpnBug):
        residual_distances(2, np.array([0, 1]), np.array([1, 0]), np.array([1, 1]),
                           np.array([1, -3]), np.array([0, 0]))


@settings(max_examples=200)
@given(starts=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=6)), min_size=1,
                       max_size=5),
       ends=st.lists(st.text(max_size=9), min_size=1, max_size=6), data=st.data())
def test_tie_breaks_of_many_pairs_are_each_pairs_own(starts, ends, data):
    """The tie-break of every (start, end) pair at once, with a CRC per start and per end,
    equals the CRC of each pair's joined ids: any texts, lengths and characters, empty
    ends (unmatched arcs) included."""
    from tpn.matching.canonical import tie_break, tie_breaks

    pairs = data.draw(st.lists(st.tuples(st.integers(0, len(starts) - 1),
                                         st.integers(0, len(ends) - 1)), max_size=30))
    start = np.array([s for s, _ in pairs], np.int64)
    end = np.array([e for _, e in pairs], np.int64)
    assert tie_breaks(starts, ends, start, end).tolist() == [
        tie_break(*starts[s], ends[e]) for s, e in pairs]
