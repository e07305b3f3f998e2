"""What only CP-SAT expresses: partner limits, same-mentor and mutual bonuses, load balance."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpn.matching import MatchOptions, solve
from tpn.models import MatchProblem, PreviousPair
from tpn.tabular.results import pair_rows

from helpers import random_problems
from oracle import brute_force


def partners(result):
    out = {}
    for p in result.pairs:
        out.setdefault(p.mentee_id, set()).add(p.mentor_id)
    return out


def test_max_partners_is_kept_and_costs_coverage_only_when_needed(rwanda):
    problem = MatchProblem.from_network(rwanda)
    free = solve(problem, MatchOptions(solver="cpsat"))
    limited = solve(problem, MatchOptions(solver="cpsat", max_partners=1))
    assert limited.optimal
    assert max(len(v) for v in partners(limited).values()) == 1
    assert max(len(v) for v in partners(free).values()) == 2
    assert limited.objective["coverage_weight"] <= free.objective["coverage_weight"]


@settings(max_examples=40)
@given(case=random_problems(max_institutions=6, max_requests=6))
def test_max_partners_optimum_against_brute_force(case):
    """With max_partners a large enough, the CP-SAT optimum equals the unrestricted one."""
    problem, options = case
    options = dataclasses.replace(options, solver="cpsat", max_partners=10)
    result = solve(problem, options)
    cover, _cost = brute_force(problem, dataclasses.replace(options, solver="flow",
                                                            max_partners=None))
    assert result.optimal and result.objective["coverage_weight"] == cover


def with_previous(problem, options, data):
    """The problem with a previous round: the optimum under other cost weights (pairs that
    are still eligible but no longer the cheapest) plus random pairs (some no longer
    possible), at most one per request."""
    other = dataclasses.replace(options, **{w: data.draw(st.sampled_from([0.0, 1.0, 5.0]))
                                            for w in ("weight_gain", "weight_distance",
                                                      "weight_size")})
    earlier = [(p.mentee_id, p.topic_id, p.mentor_id) for p in solve(problem, other).pairs]
    ids = [i.id for i in problem.institutions]
    drawn = data.draw(st.lists(st.tuples(st.sampled_from(problem.requests), st.sampled_from(ids)),
                               max_size=2))
    previous = {(r.institution_id, r.topic_id): PreviousPair(r.institution_id, r.topic_id, m)
                for r, m in drawn}
    previous.update({(i, t): PreviousPair(i, t, m) for i, t, m in earlier})
    return dataclasses.replace(problem, previous=tuple(previous.values()))


@pytest.mark.parametrize("solver", ["flow", "cpsat"])
@settings(max_examples=60, deadline=None)
@given(case=random_problems(max_institutions=6, max_requests=6), data=st.data())
def test_max_changes_optimum_against_brute_force(solver, case, data):
    """Coverage and cost equal an exhaustive search that keeps all but max_changes of the
    previous pairs any matching can keep together. The flow (Lagrangian bonus) may stop
    at a tie it cannot split: then it says so, and its bound and objective enclose the
    optimum."""
    problem, options = case
    problem = with_previous(problem, options, data)
    options = dataclasses.replace(options, solver=solver,
                                  max_changes=data.draw(st.integers(0, 3)),
                                  weight_continuity=data.draw(st.sampled_from([0.0, 0.5])))
    result = solve(problem, options)
    cover, cost = brute_force(problem, options)
    ob = result.objective
    previous = {(p.mentee_id, p.topic_id, p.mentor_id) for p in problem.previous}
    kept = sum((p.mentee_id, p.topic_id, p.mentor_id) in previous for p in result.pairs)
    assert kept == ob["previous_kept"]
    assert kept >= ob.get("stat_previous_kept_at_least", 0)
    if solver == "cpsat":
        assert result.optimal
    if result.optimal:
        assert ob["coverage_weight"] == cover
        assert ob["cost"] == pytest.approx(cost, abs=1e-4 * len(problem.requests) + 1e-9)
    else:
        assert ob["solver_bound"] <= ob["solver_objective"]
        assert (ob["coverage_weight"], -ob["cost"]) <= (cover, -cost + 1e-3)


def test_max_changes_caps_the_changes_of_a_rerun(rwanda):
    """2023's pairs rerun on 2024's scores without the continuity bonus: each cap holds,
    a tighter cap never costs less, no cap at all is the flow's optimum, and the flow's
    Lagrangian answer equals CP-SAT's."""
    first = solve(MatchProblem.from_network(rwanda, "2023"))
    previous = tuple(PreviousPair(p.mentee_id, p.topic_id, p.mentor_id) for p in first.pairs)
    problem = MatchProblem.from_network(rwanda, "2024", previous=previous)
    free = solve(problem, MatchOptions(weight_continuity=0.0))
    keepable = None
    last = None
    for cap in (0, 2, 5, 10, 1000):
        result = solve(problem, MatchOptions(solver="cpsat", weight_continuity=0.0,
                                             max_changes=cap))
        ob = result.objective
        keepable = keepable or ob["stat_previous_keepable"]
        assert result.optimal and ob["stat_previous_keepable"] == keepable
        assert keepable - ob["previous_kept"] <= cap
        order = (-ob["coverage_weight"], ob["cost"])
        if last is not None:
            assert order <= last          # a looser cap is never worse
        last = order
        flow = solve(problem, MatchOptions(weight_continuity=0.0, max_changes=cap))
        assert flow.objective["stat_previous_keepable"] == keepable
        assert keepable - flow.objective["previous_kept"] <= cap
        if flow.optimal:
            assert (flow.objective["coverage_weight"], flow.objective["cost"]) == \
                (ob["coverage_weight"], ob["cost"])
        else:
            assert flow.objective["solver_bound"] <= ob["solver_objective"] <= \
                flow.objective["solver_objective"]
    assert keepable > free.objective["previous_kept"]   # the cap has something to do
    assert (ob["coverage_weight"], ob["cost"]) == (free.objective["coverage_weight"],
                                                   free.objective["cost"])


def test_a_request_left_out_by_max_changes_says_so(rwanda):
    first = solve(MatchProblem.from_network(rwanda, "2023"))
    previous = tuple(PreviousPair(p.mentee_id, p.topic_id, p.mentor_id) for p in first.pairs)
    problem = MatchProblem.from_network(rwanda, "2024", previous=previous)
    free = solve(problem, MatchOptions(weight_continuity=0.0))
    capped = solve(problem, MatchOptions(solver="cpsat", weight_continuity=0.0, max_changes=0))
    served = {(p.mentee_id, p.topic_id) for p in free.pairs}
    lost = [u for u in capped.unmatched if (u.institution_id, u.topic_id) in served]
    assert lost and all("max_changes=0" in u.detail for u in lost)
    # Raising the cap is said only where a re-solve with it serves the request.
    assert any(u.fix.startswith("raise max_changes to 1 (checked") for u in lost)
    held = [a for p in capped.pairs for a in p.alternatives if a.reason == "keeps_previous"]
    assert all("max_changes=0" in a.detail for a in held)


def test_same_mentor_bonus_groups_topics(rwanda):
    problem = MatchProblem.from_network(rwanda)
    base = solve(problem, MatchOptions(solver="cpsat"))
    grouped = solve(problem, MatchOptions(solver="cpsat", weight_same_mentor=2.0))
    repeat = lambda r: sum(n - 1 for n in Counter((p.mentee_id, p.mentor_id)
                                                   for p in r.pairs).values())
    assert grouped.optimal
    assert grouped.objective["coverage_weight"] == base.objective["coverage_weight"]
    assert repeat(grouped) > repeat(base)


def test_mutual_bonus_makes_mutual_pairs(rwanda):
    problem = MatchProblem.from_network(rwanda)
    mutual = lambda r: sum(1 for p in r.pairs for q in r.pairs
                           if p.mentor_id == q.mentee_id and p.mentee_id == q.mentor_id)
    base = solve(problem, MatchOptions(solver="cpsat"))
    bonus = solve(problem, MatchOptions(solver="cpsat", weight_mutual=2.0))
    assert bonus.optimal and mutual(bonus) > mutual(base)


def test_balance_load_is_an_exact_tie_break(rwanda):
    problem = MatchProblem.from_network(rwanda)
    options = MatchOptions(solver="cpsat", mentor_capacity=4)
    base = solve(problem, options)
    balanced = solve(problem, dataclasses.replace(options, balance_load=True))
    top = lambda r: max(Counter(p.mentor_id for p in r.pairs).values())
    assert balanced.objective["coverage_weight"] == base.objective["coverage_weight"]
    assert balanced.objective["cost"] == base.objective["cost"]
    assert top(balanced) <= top(base)


def test_cpsat_is_deterministic(rwanda):
    problem = MatchProblem.from_network(rwanda)
    options = MatchOptions(solver="cpsat", max_partners=1, weight_mutual=0.5, seed=7)
    first, second = solve(problem, options), solve(problem, options)
    assert pair_rows(first, rwanda) == pair_rows(second, rwanda)


def test_time_limit_reports_bound_and_gap():
    from tpn.samples import generate

    net = generate(300, seed=3)
    result = solve(MatchProblem.from_network(net),
                   MatchOptions(solver="cpsat", max_partners=1, weight_mutual=1.0,
                                time_limit=0.05))
    obj = result.objective
    assert obj["solver_bound"] <= obj["solver_objective"]
    assert result.optimal == (obj["gap"] == 0)
    assert "stat_deterministic_time" in obj


def test_regression_never_worse_than_the_warm_start():
    """CP-SAT once returned a FEASIBLE solution worse than its hint, and tpn took it."""
    from tpn.samples import generate

    problem = MatchProblem.from_network(generate(300, seed=3))
    options = MatchOptions(solver="cpsat", max_partners=1, weight_mutual=1.0)
    warm = solve(problem, dataclasses.replace(options, time_limit=0.01))
    longer = solve(problem, dataclasses.replace(options, time_limit=3))
    assert longer.objective["solver_objective"] <= warm.objective["solver_objective"]
    assert longer.objective["solver_bound"] <= longer.objective["solver_objective"]
