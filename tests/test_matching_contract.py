"""The contract every solver must keep, checked over random networks and the sample.

New solvers registered in ``tpn.matching.SOLVERS`` get these tests for free.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from tpn.matching import SOLVERS, MatchOptions, solve
from tpn.models import FocusRequest, Lock, MatchProblem
from tpn.tabular.results import pair_rows, unmatched_rows

from helpers import random_problems
from oracle import assignment_optimum, brute_force, oracle_arcs, weights

SOLVER_NAMES = sorted(SOLVERS)


def with_solver(options: MatchOptions, solver: str) -> MatchOptions:
    return dataclasses.replace(options, solver=solver)


def check_invariants(problem: MatchProblem, options: MatchOptions, result) -> None:
    arcs = oracle_arcs(problem, options)
    insts = {i.id: i for i in problem.institutions}
    requests = {(r.institution_id, r.topic_id) for r in problem.requests}
    served = Counter((p.mentee_id, p.topic_id) for p in result.pairs)
    # At most one mentor per request, and every request is either served or explained.
    assert max(served.values(), default=0) <= 1
    assert set(served) | {(u.institution_id, u.topic_id) for u in result.unmatched} >= requests
    assert not set(served) & {(u.institution_id, u.topic_id) for u in result.unmatched}
    load, load_topic = Counter(), Counter()
    locked = {(lk.mentee_id, lk.topic_id, lk.mentor_id) for lk in problem.locks}
    for p in result.pairs:
        assert p.mentee_id != p.mentor_id
        # Eligible by the independent reading of the rules (locks must be eligible too).
        assert p.mentor_id in arcs[(p.mentee_id, p.topic_id)]
        assert p.locked == ((p.mentee_id, p.topic_id, p.mentor_id) in locked)
        load[p.mentor_id] += 1
        load_topic[(p.mentor_id, p.topic_id)] += 1
    for m, n in load.items():
        cap = options.mentor_capacity if insts[m].capacity is None else insts[m].capacity
        assert n <= cap
    for (m, _t), n in load_topic.items():
        if options.topic_capacity is not None:
            assert n <= options.topic_capacity
    # Every lock is either honoured or reported with a reason.
    rejected = {(r.lock.mentee_id, r.lock.topic_id, r.lock.mentor_id) for r in result.rejected_locks}
    made = {(p.mentee_id, p.topic_id, p.mentor_id) for p in result.pairs}
    for lk in locked:
        assert (lk in made) != (lk in rejected)
    for r in result.rejected_locks:
        assert r.reason
    for u in result.unmatched:
        assert u.reason and u.detail and u.fix


@pytest.mark.parametrize("solver", SOLVER_NAMES)
@settings(max_examples=60)
@given(case=random_problems())
def test_contract_and_optimum_on_random_networks(solver, case):
    problem, options = case
    options = with_solver(options, solver)
    result = solve(problem, options)
    check_invariants(problem, options, result)
    assert result.optimal
    cover, cost = brute_force(problem, options)
    assert result.objective["coverage_weight"] == cover
    # Costs are optimised at a resolution of 0.0001 points per pair.
    assert result.objective["cost"] == pytest.approx(cost, abs=1e-4 * len(problem.requests) + 1e-9)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
@settings(max_examples=25)
@given(case=random_problems(max_institutions=7), data=st.data())
def test_locks_are_kept_or_explained(solver, case, data):
    problem, options = case
    arcs = oracle_arcs(problem, options)
    candidates = sorted((i, t, m) for (i, t), ms in arcs.items() for m in ms)
    everyone = sorted(x.id for x in problem.institutions)
    # Some eligible locks, and some arbitrary ones that may break rules or capacities.
    locks = data.draw(st.lists(st.sampled_from(candidates), max_size=3)) if candidates else []
    locks += data.draw(st.lists(st.tuples(st.sampled_from(everyone),
                                          st.sampled_from(sorted(t.id for t in problem.topics)),
                                          st.sampled_from(everyone)), max_size=2))
    problem = dataclasses.replace(problem, locks=tuple(Lock(*lk) for lk in locks))
    # A lock may add its request; the oracle must see it too.
    have = {(r.institution_id, r.topic_id) for r in problem.requests}
    extra = tuple(FocusRequest(i, t, 1) for i, t, _m in locks if (i, t) not in have)
    problem_with_requests = dataclasses.replace(problem, requests=problem.requests + tuple(dict.fromkeys(extra)))
    options = with_solver(options, solver)
    result = solve(problem, options)
    check_invariants(problem_with_requests, options, result)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_sample_network_is_deterministic_and_order_free(solver, rwanda):
    options = MatchOptions(solver=solver)
    problem = MatchProblem.from_network(rwanda)
    first = solve(problem, options)
    again = solve(problem, options)
    shuffled_net = dataclasses.replace(
        rwanda,
        institutions=tuple(random.Random(1).sample(rwanda.institutions, len(rwanda.institutions))),
        topics=tuple(reversed(rwanda.topics)),
        focus=tuple(random.Random(2).sample(rwanda.focus, len(rwanda.focus))),
    )
    shuffled = solve(MatchProblem.from_network(shuffled_net), options)
    rows = [pair_rows(r, rwanda) + unmatched_rows(r, rwanda) for r in (first, again, shuffled)]
    assert rows[0] == rows[1] == rows[2]
    check_invariants(problem, options, first)


def test_solvers_agree_on_the_sample(rwanda):
    problem = MatchProblem.from_network(rwanda)
    flow = solve(problem, MatchOptions(solver="flow"))
    cpsat = solve(problem, MatchOptions(solver="cpsat"))
    assert cpsat.optimal and flow.optimal
    assert flow.objective["coverage_weight"] == cpsat.objective["coverage_weight"]
    assert flow.objective["cost"] == pytest.approx(cpsat.objective["cost"], abs=1e-9)


@settings(max_examples=40)
@given(case=random_problems(max_institutions=12, max_requests=24))
def test_optimum_equals_scipy_assignment(case):
    problem, options = case
    options = dataclasses.replace(options, topic_capacity=None)
    result = solve(problem, options)
    cover, cost = assignment_optimum(problem, options)
    assert result.objective["coverage_weight"] == cover
    assert result.objective["cost"] == pytest.approx(cost, abs=1e-4 * len(problem.requests) + 1e-9)


@settings(max_examples=40)
@given(case=random_problems(max_institutions=12, max_requests=24))
def test_coverage_is_a_maximum_flow(case):
    """With equal priorities, coverage equals an independent networkx maximum flow."""
    problem, options = case
    options = dataclasses.replace(options, topic_capacity=None)
    problem = dataclasses.replace(problem, requests=tuple(
        FocusRequest(r.institution_id, r.topic_id, 1) for r in problem.requests))
    arcs = oracle_arcs(problem, options)
    g = nx.DiGraph()
    for (i, t), mentors in arcs.items():
        g.add_edge("source", ("request", i, t), capacity=1)
        for m in mentors:
            g.add_edge(("request", i, t), ("mentor", m), capacity=1)
    for inst in problem.institutions:
        cap = options.mentor_capacity if inst.capacity is None else inst.capacity
        g.add_edge(("mentor", inst.id), "sink", capacity=cap)
    flow_value = nx.maximum_flow_value(g, "source", "sink") if "source" in g else 0
    assert len(solve(problem, options).pairs) == flow_value
    assert sum(weights(problem).values()) >= flow_value


def test_every_solver_a_user_can_name_is_in_the_registry():
    from tpn.matching.options import SOLVER_NAMES

    assert set(SOLVERS) == set(SOLVER_NAMES)
