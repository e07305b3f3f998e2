"""What only CP-SAT expresses: partner limits, same-mentor and mutual bonuses, load balance."""

from __future__ import annotations

import dataclasses
from collections import Counter

from hypothesis import given, settings

from tpn.matching import MatchOptions, solve
from tpn.models import MatchProblem
from tpn.results import pair_rows

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
