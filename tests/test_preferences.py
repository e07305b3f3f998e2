"""Preferred mentors: a bonus by rank in the cost, never at the expense of coverage; the
optimum agrees with the oracle, pruned or not; a pair says whom the mentee asked for and,
when it is not its first choice, why."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings

from tpn.matching import MatchOptions, solve
from tpn.models import FocusRequest, Lock, MatchProblem, Topic
from tpn.samples import generate

from helpers import inst, network, problem, random_problems
from oracle import assignment_optimum


@settings(max_examples=40)
@given(case=random_problems(max_institutions=9, max_requests=12))
def test_preferences_never_cost_coverage(case):
    problem_, options = case
    without = dataclasses.replace(problem_, requests=tuple(
        dataclasses.replace(r, preferred=()) for r in problem_.requests))
    strong = dataclasses.replace(options, weight_preference=50.0)
    assert solve(problem_, strong).objective["coverage_weight"] == \
        solve(without, strong).objective["coverage_weight"]


def with_random_preferences(net, seed: int):
    rng = np.random.default_rng(seed)
    ids = [i.id for i in net.institutions]
    focus = tuple(dataclasses.replace(f, preferred=tuple(
        x for x in rng.choice(ids, size=3, replace=False) if x != f.institution_id))
        if rng.random() < 0.3 else f for f in net.focus)
    return dataclasses.replace(net, focus=focus)


@pytest.mark.parametrize("candidates", [0, 4])
def test_the_optimum_with_preferences_equals_the_oracle(candidates):
    """Preferred mentors far down a request's list are kept by the pruning (their bonus is
    not bounded), so the pruned optimum is the assignment optimum."""
    net = generate(150, seed=9, topics=4)
    # Preferences for peers of the same kind: most are eligible somewhere.
    kind = {i.id: i.kind for i in net.institutions}
    rng = np.random.default_rng(3)
    focus = []
    for f in net.focus:
        peers = [i for i in kind if kind[i] == kind[f.institution_id] and i != f.institution_id]
        focus.append(dataclasses.replace(f, preferred=tuple(rng.choice(peers, 3, replace=False)))
                     if rng.random() < 0.5 else f)
    prob = MatchProblem.from_network(dataclasses.replace(net, focus=tuple(focus)))
    options = MatchOptions(candidates=candidates, weight_preference=0.6)
    result = solve(prob, options)
    cover, cost = assignment_optimum(prob, options)
    assert result.objective["coverage_weight"] == cover
    assert result.objective["cost"] == pytest.approx(cost, abs=1e-4 * len(prob.requests))
    assert result.objective["preferred_kept"] > 0


def test_a_pair_says_whom_the_mentee_asked_for_and_why_not_its_first_choice():
    insts = [inst("huye", "district", lat=-2.6, lon=29.7), inst("gisagara", "district",
             lat=-2.6, lon=29.8), inst("nyanza", "district", lat=-2.35, lon=29.75),
             inst("kamonyi", "district", lat=-2.0, lon=29.9, capacity=1),
             inst("ruhango", "district", lat=-2.2, lon=29.8)]
    scores = {("huye", "t"): 10.0, ("gisagara", "t"): 20.0, ("nyanza", "t"): 90.0,
              ("kamonyi", "t"): 95.0, ("ruhango", "t"): 85.0}
    focus = [FocusRequest("huye", "t", 2, ("kamonyi", "ruhango")),
             FocusRequest("gisagara", "t", 1)]
    net = network(insts, [Topic("t")], {}, [])
    net = dataclasses.replace(net, snapshots=(dataclasses.replace(net.snapshots[0],
                                                                  scores=scores),),
                              focus=tuple(focus))
    options = MatchOptions(top_share=0.6, mentor_capacity=1, weight_preference=0.5)
    # Gisagara's partnership with Kamonyi is under way (locked): Kamonyi has no place left.
    result = solve(problem(net, locks=(Lock("gisagara", "t", "kamonyi"),)), options)
    pairs = {p.mentee_id: p for p in result.pairs}
    huye = pairs["huye"]
    assert pairs["gisagara"].mentor_id == "kamonyi"
    assert huye.mentor_id == "ruhango" and huye.preferred == 2 and huye.cost.preference < 0
    assert "HUYE asked for RUHANGO (2nd choice)" in huye.why
    assert "Its 1st choice, KAMONYI, is not the pair: KAMONYI is at capacity (1 of 1), " \
           "serving 1 request(s) of higher priority" in huye.why
    # Without the bonus the nearer Nyanza would be chosen: the preference decided.
    plain = solve(problem(net, locks=(Lock("gisagara", "t", "kamonyi"),)),
                  dataclasses.replace(options, weight_preference=0.0))
    assert {p.mentee_id: p.mentor_id for p in plain.pairs}["huye"] == "nyanza"


def test_a_fix_checked_from_the_match_keeps_the_preferred_pair_the_milder_rule_allows():
    """Checking "turn off same_region" re-solves from the match's arcs; the pair the mentee
    asked for, eligible only then, carries a bonus the certificate's bound does not count,
    so it must be kept from the start (else its violation is missed and the check, or the
    canonical step, goes wrong)."""
    insts = [inst("mentee", "h", region="north")] + [
        inst(f"peer{k}", "h", region="south") for k in range(6)]
    scores = {("mentee", "t"): 10.0, **{(f"peer{k}", "t"): 90.0 - k for k in range(6)}}
    net = dataclasses.replace(network(insts, [Topic("t")], scores, []),
                              focus=(FocusRequest("mentee", "t", 1, ("peer0",)),))
    options = MatchOptions(top_share=1.0, same_region=True, candidates=1)
    result = solve(problem(net), options)
    (unmatched,) = result.unmatched
    assert unmatched.reason == "other_region"
    assert unmatched.fix.startswith("turn off same_region (checked")
    relaxed = solve(problem(net), dataclasses.replace(options, same_region=False))
    assert [(p.mentee_id, p.mentor_id) for p in relaxed.pairs] == [("mentee", "peer0")]
