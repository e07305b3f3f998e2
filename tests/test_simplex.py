"""The warm network simplex against OR-Tools' min-cost flow, cold and after added arcs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from ortools.graph.python import min_cost_flow

from tpn.errors import InfeasibleError
from tpn.matching import native
from tpn.matching.flow import residual_distances
from tpn.matching.simplex import PivotLimit, WarmFlow

from helpers import second_processes

# The warm simplex pivots in the C core; without it every round is OR-Tools' (test_native).
pytestmark = pytest.mark.skipif(not native.ACCELERATED, reason="the C core is not built here")


def ortools(supply, tails, heads, caps, costs):
    """(objective, flows) of OR-Tools' optimum: the independent computation."""
    smcf = min_cost_flow.SimpleMinCostFlow()
    handles = smcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    smcf.set_nodes_supplies(np.arange(supply.size, dtype=np.int32), supply)
    assert smcf.solve() == smcf.OPTIMAL
    return smcf.optimal_cost(), smcf.flows(handles)


def assert_proven_optimal(flow: WarmFlow, supply, tails, heads, caps, costs):
    """Feasible, and the potentials prove it: no arc with room has a negative reduced
    cost, no arc with flow a positive one."""
    x = flow.flow
    assert ((0 <= x) & (x <= caps)).all()
    n = supply.size
    assert (np.bincount(tails, x, n) - np.bincount(heads, x, n) == supply).all()
    p = flow.potentials
    reduced = costs + p[tails] - p[heads]
    assert (reduced[x < caps] >= 0).all()
    assert (reduced[x > 0] <= 0).all()


def assert_strongly_feasible_tree(flow: WarmFlow):
    """The basis the next solve starts from: a spanning tree whose arcs have reduced cost
    0 and can each take more flow towards the root, with consistent depths and children."""
    n = flow.n_nodes
    nodes = np.arange(n)
    arc = flow._pred[:n]
    assert (flow._state[arc] == 0).all() and (flow._state == 0).sum() >= n
    reduced = flow._cost[arc] + flow._pi[flow._src[arc]] - flow._pi[flow._dst[arc]]
    assert (reduced == 0).all()
    up = flow._dir[:n] == 1
    assert (up == (flow._src[arc] == nodes)).all()
    assert (flow._dst[arc][up] == flow._parent[:n][up]).all()
    room = np.where(up, flow._flow[arc] < flow._cap[arc], flow._flow[arc] > 0)
    assert room.all()
    assert (flow._depth[:n] == flow._depth[flow._parent[:n]] + 1).all()
    for p in range(n + 1):
        c = flow._child[p]
        while c >= 0:
            assert flow._parent[c] == p
            c = flow._next[c]


@st.composite
def transport_networks(draw):
    """Networks shaped like tpn's: requests -> mentors -> sink, each request also straight
    to the sink at a penalty above any arc's cost; arcs in two batches (the second added
    later, as the certificate does)."""
    n_req = draw(st.integers(1, 12))
    n_men = draw(st.integers(1, 8))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_req - 1), st.integers(0, n_men - 1)),
                          max_size=60, unique=True))
    costs = draw(st.lists(st.integers(-20, 50), min_size=len(pairs), max_size=len(pairs)))
    later = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    capacity = draw(st.lists(st.integers(0, 3), min_size=n_men, max_size=n_men))
    weights = draw(st.lists(st.integers(1, 3), min_size=n_req, max_size=n_req))
    sink = n_req + n_men
    supply = np.zeros(sink + 1, np.int64)
    supply[:n_req], supply[sink] = 1, -n_req
    req = np.array([p[0] for p in pairs], np.int64)
    men = n_req + np.array([p[1] for p in pairs], np.int64)
    structure = (np.r_[np.arange(n_req), n_req + np.arange(n_men)],
                 np.full(n_req + n_men, sink),
                 np.r_[np.ones(n_req, np.int64), capacity],
                 np.r_[1000 * np.array(weights), np.zeros(n_men, np.int64)])
    later = np.array(later, bool)
    costs = np.array(costs, np.int64)
    first = (np.r_[structure[0], req[~later]], np.r_[structure[1], men[~later]],
             np.r_[structure[2], np.ones((~later).sum(), np.int64)],
             np.r_[structure[3], costs[~later]])
    second = (req[later], men[later], np.ones(later.sum(), np.int64), costs[later])
    return supply, first, second


def union(first, second):
    return tuple(np.concatenate([a, b]) for a, b in zip(first, second))


@settings(max_examples=300, deadline=None)
@given(net=transport_networks())
def test_cold_then_warm_reaches_ortools_optimum(net):
    supply, first, second = net
    flow = WarmFlow(supply, cost_bound=3000)
    flow.add_arcs(*first)
    flow.solve()
    assert flow.objective() == ortools(supply, *first)[0]
    assert_proven_optimal(flow, supply, *first)
    flow.add_arcs(*second)
    flow.solve()
    everything = union(first, second)
    assert flow.objective() == ortools(supply, *everything)[0]
    assert_proven_optimal(flow, supply, *everything)


@settings(max_examples=300, deadline=None)
@given(net=transport_networks())
def test_warm_from_an_ortools_optimum(net):
    """Started on OR-Tools' optimum and its Bellman-Ford potentials, as the certificate's
    second round is; then arcs are added."""
    supply, first, second = net
    objective, x = ortools(supply, *first)
    d = residual_distances(supply.size, *first, x)
    flow = WarmFlow.from_optimum(supply, *first, x, d, top=supply.size - 1, cost_bound=3000)
    assert_strongly_feasible_tree(flow)
    flow.solve()
    assert flow.objective() == objective
    assert flow.pivots == 0            # it was already optimal
    flow.add_arcs(*second)
    flow.solve()
    everything = union(first, second)
    assert flow.objective() == ortools(supply, *everything)[0]
    assert_proven_optimal(flow, supply, *everything)
    assert_strongly_feasible_tree(flow)


@st.composite
def general_networks(draw):
    """Any directed network with a feasible supply: a route 0 -> 1 -> ... -> n-1 of
    ample capacity carries it, other arcs (negative costs, parallel arcs) compete."""
    n = draw(st.integers(2, 8))
    route = (np.arange(n - 1), np.arange(1, n), np.full(n - 1, 100), np.full(n - 1, 30))
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                                    st.integers(0, 5), st.integers(-10, 40)), max_size=30))
    extra = [e for e in extra if e[0] != e[1]]
    arcs = tuple(np.r_[r, np.array([e[i] for e in extra], np.int64)]
                 for i, r in enumerate(route))
    amounts = draw(st.lists(st.integers(0, 5), min_size=n - 1, max_size=n - 1))
    supply = np.r_[amounts, -sum(amounts)].astype(np.int64)
    return supply, tuple(a.astype(np.int64) for a in arcs)


@settings(max_examples=300, deadline=None)
@given(net=general_networks(), split=st.integers(0, 40))
def test_any_network_and_any_split_of_its_arcs(net, split):
    """Cycles of negative cost, parallel and opposite arcs: the optimum is still OR-Tools'
    (the route's arcs come first, so every batch is feasible)."""
    supply, arcs = net
    cut = min(len(supply) - 1 + split, arcs[0].size)
    flow = WarmFlow(supply, cost_bound=100)
    flow.add_arcs(*(a[:cut] for a in arcs))
    flow.solve()
    assert flow.objective() == ortools(supply, *(a[:cut] for a in arcs))[0]
    assert_strongly_feasible_tree(flow)
    flow.add_arcs(*(a[cut:] for a in arcs))
    flow.solve()
    assert flow.objective() == ortools(supply, *arcs)[0]
    assert_proven_optimal(flow, supply, *arcs)
    assert_strongly_feasible_tree(flow)


def test_supplies_that_cannot_be_met():
    flow = WarmFlow(np.array([2, -2]), cost_bound=10)
    flow.add_arcs(np.array([0]), np.array([1]), np.array([1]), np.array([3]))
    with pytest.raises(InfeasibleError):
        flow.solve()


def test_arcs_dearer_than_the_bound_are_refused():
    flow = WarmFlow(np.array([1, -1]), cost_bound=10)
    with pytest.raises(ValueError, match="cost bound"):
        flow.add_arcs(np.array([0]), np.array([1]), np.array([1]), np.array([11]))


def test_from_optimum_refuses_a_flow_it_cannot_stand_on():
    supply = np.array([1, 0, -1])
    arcs = (np.array([0, 1]), np.array([1, 2]), np.array([2, 2]), np.array([1, 1]))
    # Both arcs strictly between their bounds, but potentials that make neither tight:
    # no tree through them proves the optimum.
    with pytest.raises(ValueError, match="starting tree"):
        WarmFlow.from_optimum(supply, *arcs, np.array([1, 1]), np.zeros(3, np.int64),
                              top=2, cost_bound=10)
    with pytest.raises(ValueError, match="supplies"):
        WarmFlow.from_optimum(supply, *arcs, np.array([1, 0]), np.zeros(3, np.int64),
                              top=2, cost_bound=10)
    # With potentials that do, it stands on that flow.
    flow = WarmFlow.from_optimum(supply, *arcs, np.array([1, 1]), np.array([-2, -1, 0]),
                                 top=2, cost_bound=10)
    flow.solve()
    assert flow.pivots == 0 and flow.objective() == 2


def test_pivot_limit():
    supply = np.array([1, 1, -2])
    arcs = (np.array([0, 1]), np.array([2, 2]), np.array([1, 1]), np.array([1, 1]))
    flow = WarmFlow(supply, cost_bound=10)
    flow.add_arcs(*arcs)
    with pytest.raises(PivotLimit):
        flow.solve(max_pivots=1)
    flow.solve()
    assert flow.objective() == 2


def test_rounds_fall_back_on_ortools_at_the_pivot_limit(monkeypatch):
    """Should the simplex ever stall, the certificate's rounds still end at the optimum."""
    from tpn.matching import MatchOptions, simplex, solve
    from tpn.models import MatchProblem
    from tpn.samples import generate

    problem = MatchProblem.from_network(generate(300, seed=3))
    options = MatchOptions(candidates=1)
    warm = solve(problem, options)
    assert warm.objective["certificate_rounds"] > 1
    assert "stat_pivots" in warm.objective            # the last round was the simplex's

    def stall(self, max_pivots=None):
        raise PivotLimit("stalled")

    monkeypatch.setattr(simplex.WarmFlow, "solve", stall)
    fallen_back = solve(problem, options)
    assert "stat_pivots" not in fallen_back.objective
    unpruned = solve(problem, MatchOptions(candidates=0))
    assert fallen_back.objective["solver_objective"] == \
        warm.objective["solver_objective"] == unpruned.objective["solver_objective"]


def test_warm_rounds_hold_each_candidate_arc_once(monkeypatch):
    """Each warm round adds exactly the arcs its candidates have and the flow lacks."""
    from tpn.matching import MatchOptions, solve, warm
    from tpn.models import MatchProblem
    from tpn.samples import generate

    held = []
    real_solve = warm.WarmRounds.solve

    def spy(self, inp):
        out = real_solve(self, inp)
        held.append((np.sort(self._arc_keys), self._keys(inp)))
        return out

    monkeypatch.setattr(warm.WarmRounds, "solve", spy)
    result = solve(MatchProblem.from_network(generate(300, seed=3)), MatchOptions(candidates=1))
    assert len(held) >= 2                 # two warm rounds at least: the second adds to one
    for arcs_in_flow, candidates in held:
        assert np.array_equal(arcs_in_flow, candidates)
    assert result.objective["certificate_rounds"] == len(held) + 1


def test_a_warm_round_past_its_pivots_is_solved_by_ortools_with_the_same_answer(monkeypatch):
    """Tuning.warm_pivots: past it, the round goes to OR-Tools, and the next round may go
    warm again from that optimum; only the speed changes."""
    from tpn.matching import MatchOptions, Tuning, solve, warm
    from tpn.models import MatchProblem
    from tpn.samples import generate

    problem = MatchProblem.from_network(generate(300, seed=3))
    options = MatchOptions(candidates=1)
    warm_answer = solve(problem, options)
    gave_up = []
    real_solve = warm.WarmRounds.solve

    def spy(self, inp):
        out = real_solve(self, inp)
        gave_up.append(self.gave_up)
        return out

    monkeypatch.setattr(warm.WarmRounds, "solve", spy)
    cold = solve(problem, options, tuning=Tuning(warm_pivots=0, warm_arcs=0, warm_share=1.0))
    assert len(gave_up) >= 2 and all(gave_up)
    assert "stat_pivots" in warm_answer.objective and "stat_pivots" not in cold.objective
    assert cold.objective["certificate_rounds"] == warm_answer.objective["certificate_rounds"]
    assert cold.pairs == warm_answer.pairs and cold.unmatched == warm_answer.unmatched


@pytest.mark.parametrize("gives_up", [True, False])
def test_with_two_workers_ortools_solves_a_warm_round_beside_its_pivots(gives_up, monkeypatch):
    """Tuning.cold_beside_arcs: OR-Tools starts in a second process with each warm round;
    its optimum is the round's only when the pivots give up (which depends on the pivots,
    never on which finishes first), and the pairs and explanations are those of one
    worker."""
    from tpn.matching import MatchOptions, Tuning, solve, warm
    from tpn.models import MatchProblem
    from tpn.runtime import parallel
    from tpn.samples import generate

    problem = MatchProblem.from_network(generate(300, seed=3))
    options = MatchOptions(candidates=1)
    limits = dict(warm_pivots=0, warm_pivots_beside=0, warm_arcs=0, warm_share=1.0) \
        if gives_up else {}
    alone = solve(problem, options, tuning=Tuning(**limits))
    jobs = second_processes(monkeypatch, warm)
    with parallel.workers(2):
        beside = solve(problem, options, tuning=Tuning(cold_beside_arcs=0, **limits))
    assert jobs and all(job._process is not None for job in jobs)
    # Asked for only when the pivots gave up (else stopped, its answer never read).
    assert all((job._value is not None) == gives_up for job in jobs)
    assert ("stat_pivots" in beside.objective) != gives_up
    for key in ("certificate_rounds", "arcs", "solver_objective"):
        assert beside.objective[key] == alone.objective[key]
    assert beside.pairs == alone.pairs and beside.unmatched == alone.unmatched
