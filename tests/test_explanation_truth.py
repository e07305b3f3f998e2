"""Every claim an explanation makes, checked against the independent oracle: eligible
counts, the next-best mentors, and every "what would fix it" — applied, the request is
served (in every optimum, when the fix says the extra place serves it). And pruning never
changes what is said."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import example, given, settings

from tpn.matching import MatchOptions, solve
from tpn.models import Exclusion, FocusRequest, Lock, MatchProblem, Network, Snapshot, Topic
from tpn.samples import generate

from helpers import inst, random_problems
from oracle import next_best, optimal_matchings, oracle_arcs, served_in_every_optimum

CAPACITY = re.compile(r"^raise the capacity of (.+?) from (\d+) to (\d+): the extra place "
                      r"would serve this request")
GOES_TO = re.compile(r"one more place at (.+?) would go to (.+?) on (.+?) \(priority \d+\) "
                     r"instead")
LOCK = re.compile(r"lock it to (.+?) \(a review edit\)")
RAISE = re.compile(r"capacity of (.+?) from (\d+) to (\d+)")


def with_capacity(problem: MatchProblem, options: MatchOptions, inst_id: str,
                  capacity: int) -> MatchProblem:
    """The problem with one institution's capacity set (its default made explicit)."""
    return dataclasses.replace(problem, institutions=tuple(
        dataclasses.replace(i, capacity=capacity) if i.id == inst_id else i
        for i in problem.institutions))


def applied(problem: MatchProblem, options: MatchOptions, fix: str, key,
            names: dict[str, str]) -> tuple[MatchProblem, MatchOptions]:
    """The problem and options with every change the fix names."""
    for name, _old, new in RAISE.findall(fix):
        problem = with_capacity(problem, options, names[name], int(new))
    if m := re.search(r"give (.+?) a capacity of 1", fix):
        problem = with_capacity(problem, options, names[m.group(1)], 1)
    if m := re.search(r"raise max_distance_km to ([\d.]+)", fix):
        options = dataclasses.replace(options, max_distance_km=float(m.group(1)))
    if m := re.search(r"lower min_gap to ([\d.]+)", fix):
        options = dataclasses.replace(options, min_gap=float(m.group(1)))
    if "turn off same_region" in fix:
        options = dataclasses.replace(options, same_region=False)
    if "allow cross_kind" in fix:
        options = dataclasses.replace(options, cross_kind=True)
    if m := re.search(r"raise topic_capacity to (\d+)", fix):
        options = dataclasses.replace(options, topic_capacity=int(m.group(1)))
    if m := re.search(r"remove the exclusion of (.+?) for it", fix):
        mentor = names[m.group(1)]
        problem = dataclasses.replace(problem, exclusions=tuple(
            e for e in problem.exclusions
            if not (e.mentee_id == key[0] and e.mentor_id == mentor
                    and e.topic_id in (None, key[1]))))
    if m := LOCK.search(fix):
        problem = dataclasses.replace(problem, locks=problem.locks + (
            Lock(key[0], key[1], names[m.group(1)]),))
    return problem, options


def check_every_claim(problem: MatchProblem, options: MatchOptions) -> None:
    result = solve(problem, options)
    arcs = oracle_arcs(problem, options)
    names = {i.name: i.id for i in problem.institutions}
    for p in result.pairs:
        truth = next_best(problem, options, (p.mentee_id, p.topic_id), p.mentor_id,
                          options.alternatives)
        assert [a.cost for a in p.alternatives] == pytest.approx([c for _m, c in truth],
                                                                 abs=1e-4)
        for a in p.alternatives:
            assert arcs[(p.mentee_id, p.topic_id)][a.mentor_id] == pytest.approx(a.cost, abs=1e-4)
    served = {(p.mentee_id, p.topic_id) for p in result.pairs}
    for u in result.unmatched:
        key = (u.institution_id, u.topic_id)
        assert u.eligible_mentors == len(arcs.get(key, {})), u
        if u.reason == "mentors_full":
            assert f"all {u.eligible_mentors} eligible mentor(s)" in u.detail
        if m := CAPACITY.match(u.fix):
            changed = with_capacity(problem, options, names[m.group(1)], int(m.group(3)))
            assert served_in_every_optimum(changed, options, key), u.fix
            continue
        if m := GOES_TO.search(u.fix):
            changed = with_capacity(problem, options, names[m.group(1)],
                                    int(RAISE.search(u.fix).group(3)))
            topic = next(t.id for t in problem.topics if t.label == m.group(3))
            assert served_in_every_optimum(changed, options, (names[m.group(2)], topic)), u.fix
        if "(checked" in u.fix:
            changed, relaxed = applied(problem, options, u.fix.split(" (checked")[0], key, names)
            again = solve(changed, relaxed)
            assert key in {(p.mentee_id, p.topic_id) for p in again.pairs}, u.fix
        elif LOCK.search(u.fix):
            changed, relaxed = applied(problem, options, u.fix, key, names)
            again = solve(changed, relaxed)
            mentor = names[LOCK.search(u.fix).group(1)]
            assert (key[0], key[1], mentor) in {(p.mentee_id, p.topic_id, p.mentor_id)
                                                for p in again.pairs}, u.fix
            if "the other pairs can stay as they are" in u.fix:
                # The old optimum, with the locked pair, is an optimum of the changed problem.
                optimum = optimal_matchings(changed, relaxed)[0]
                weight = {(r.institution_id, r.topic_id): r.priority
                          for r in problem.requests}
                assert sum(v is not None for v in optimum.values()) == len(served) + 1
                assert sorted(weight[k] for k, v in optimum.items() if v is not None) == \
                    sorted([weight[k] for k in served] + [weight[key]])


def pinned(institutions, scores: dict, focus: list[tuple[str, int]], **options):
    """A small case on one topic t0, in the shape ``random_problems`` draws."""
    net = Network(tuple(institutions), (Topic("t0"),),
                  (Snapshot("p", {(i, "t0"): v for i, v in scores.items()}),),
                  tuple(FocusRequest(i, "t0", priority) for i, priority in focus))
    return MatchProblem.from_network(net), MatchOptions(**options)


# Cases the search found wrong before, kept so that they are run every time.
TOPIC_FULL = pinned([inst("i0"), inst("i1"), inst("i2")], {"i0": 20.0},
                    [("i1", 1), ("i2", 2)], mentor_capacity=1, topic_capacity=1, top_share=0.5)
TOO_FAR = pinned([inst("i0", lat=0, lon=29), inst("i1", lat=0, lon=29.5),
                  inst("i2", lat=2.5, lon=29)], {"i0": 2.0, "i1": 10.0, "i2": 20.0},
                 [("i0", 1)], max_distance_km=150.0, mentor_capacity=1, top_share=0.5)
PLACE_GOES_ELSEWHERE = pinned([inst(f"i{k}") for k in range(4)],
                              {"i0": 2.0, "i1": 3.0, "i2": 4.0, "i3": 20.0},
                              [("i0", 1), ("i1", 2), ("i2", 3)], mentor_capacity=1,
                              top_share=0.25)
OTHER_REGION = pinned([inst("i0", region="north"), inst("i1", region="south")],
                      {"i0": 2.0, "i1": 20.0}, [("i0", 1)], same_region=True, top_share=0.5)
TIED = pinned([inst("i0"), inst("i1"), inst("i2")], {"i0": 5.0, "i1": 5.0, "i2": 20.0},
              [("i0", 1), ("i1", 1)], mentor_capacity=1, top_share=0.34)


@settings(max_examples=150, deadline=None)
@given(case=random_problems(max_institutions=7, max_requests=6))
@example(case=TOPIC_FULL)
@example(case=TOO_FAR)
@example(case=PLACE_GOES_ELSEWHERE)
@example(case=OTHER_REGION)
@example(case=TIED)
def test_every_claim_on_random_networks_is_true(case):
    problem, options = case
    check_every_claim(problem, dataclasses.replace(options, solver="flow", ignore_flags=False))


def settled_requests(problem: MatchProblem, options: MatchOptions) -> list[tuple[tuple, bool]]:
    """The requests ``certificate.settled`` says every optimum serves or none does, each
    with whether the engine's optimum serves it (on pruned candidates: the proof counts)."""
    from tpn.matching import Tuning, engine
    from tpn.matching.certificate import settled

    # Without the passes that add each pruned request's nearest underused mentors, small
    # pools are pruned too.
    run = engine._prepare(problem, options, Tuning(underused_nearest=0, lonely_nearest=0),
                          engine._quiet)
    engine.SOLVERS["flow"](run, engine._quiet)
    assert run.cand.pruned or run.out.potentials is None
    chosen = run.out.chosen
    return [((q.institution_id, q.topic_id), bool(chosen[r] >= 0))
            for r, q in enumerate(run.cand.requests)
            if settled(run.cand, run.inp, chosen, run.out.potentials, np.array([r]))]


@settings(max_examples=150, deadline=None)
@given(case=random_problems(max_institutions=7, max_requests=6))
@example(case=TIED)
@example(case=PLACE_GOES_ELSEWHERE)
def test_a_request_the_proof_settles_is_served_in_every_optimum_or_in_none(case):
    """A re-solve that checks a fix skips the canonical step when the requests it was
    asked about are settled: served in every optimum or in none, by the potentials that
    prove the optimum (``certificate.settled``). The oracle's every optimal matching
    agrees."""
    problem, options = case
    # Large pools and one candidate each: pruned, so the proof is the certificate's.
    options = dataclasses.replace(options, solver="flow", candidates=1, max_changes=None,
                                  top_share=1.0)
    optima = optimal_matchings(problem, options)
    for key, served in settled_requests(problem, options):
        assert all((matching.get(key) is not None) == served for matching in optima), key


def test_tied_requests_are_not_settled_and_the_others_are():
    """Four requests that tie for three places are each served in some optimum only: none
    is settled. With scores that break the tie, the cheaper three are served in every
    optimum, and settled (the fourth is served in none: the proof may or may not show it,
    and the canonical step runs when it does not)."""
    insts = [inst(f"i{k}") for k in range(8)]
    mentors = {"i4": 5.0, "i5": 10.0, "i6": 15.0, "i7": 20.0}
    focus = [(f"i{k}", 1) for k in range(4)]
    ties = pinned(insts, {**{f"i{k}": 2.0 for k in range(4)}, **mentors}, focus,
                  mentor_capacity=1, top_share=0.375, candidates=1)
    no_tie = pinned(insts, {**{f"i{k}": 1.0 + k for k in range(4)}, **mentors}, focus,
                    mentor_capacity=1, top_share=0.375, candidates=1)

    def served_sets(case):
        return {frozenset(k for k, m in matching.items() if m is not None)
                for matching in optimal_matchings(*case)}

    assert len(served_sets(ties)) == 4 and len(served_sets(no_tie)) == 1
    assert settled_requests(*ties) == []
    settled = dict(settled_requests(*no_tie))
    assert [settled.get((f"i{k}", "t0")) for k in range(3)] == [True, True, True]
    assert settled.get(("i3", "t0")) in (None, False)


@pytest.mark.parametrize("case, reason, fix", [
    (TOPIC_FULL, "mentors_full", "raise topic_capacity to 2"),
    (TOO_FAR, "too_far", "raise max_distance_km to 278 (checked"),
    (PLACE_GOES_ELSEWHERE, "mentors_full", "one more place at I3 would go to I1"),
    (OTHER_REGION, "other_region", "turn off same_region (checked"),
    (TIED, "mentors_full", "raise the capacity of I2 from 1 to 2: the extra place"),
])
def test_each_pinned_case_still_reaches_its_kind_of_fix(case, reason, fix):
    problem, options = case
    result = solve(problem, dataclasses.replace(options, solver="flow"))
    assert any(u.reason == reason and u.fix.startswith(fix) for u in result.unmatched), \
        [(u.reason, u.fix) for u in result.unmatched]


@settings(max_examples=40, deadline=None)
@given(case=random_problems(max_institutions=7, max_requests=6))
@example(case=TOPIC_FULL)
@example(case=PLACE_GOES_ELSEWHERE)
def test_every_claim_is_true_with_exclusions_and_tight_capacity(case):
    problem, options = case
    insts = [i.id for i in problem.institutions]
    excluded = tuple(Exclusion(r.institution_id, m) for r in problem.requests[:2]
                     for m in insts[:2] if m != r.institution_id)
    check_every_claim(dataclasses.replace(problem, exclusions=excluded),
                      dataclasses.replace(options, solver="flow", mentor_capacity=1))


@pytest.mark.parametrize("seed", [2, 3])
def test_pruning_changes_no_count_next_best_mentor_or_fix(seed):
    net = generate(1500, seed=seed)
    problem = MatchProblem.from_network(net)
    pruned, full = solve(problem), solve(problem, MatchOptions(candidates=0))
    assert pruned.objective["cost"] == full.objective["cost"]
    pairs = {(p.mentee_id, p.topic_id): p for p in full.pairs}
    same_solution = {(p.mentee_id, p.topic_id, p.mentor_id) for p in pruned.pairs} == \
        {(p.mentee_id, p.topic_id, p.mentor_id) for p in full.pairs}
    for p in pruned.pairs:
        q = pairs.get((p.mentee_id, p.topic_id))
        if q is None or q.mentor_id != p.mentor_id:
            continue
        assert [a.mentor_id for a in p.alternatives] == [a.mentor_id for a in q.alternatives]
        if same_solution:
            assert p == q
    unserved = {(u.institution_id, u.topic_id): u for u in full.unmatched}
    for u in pruned.unmatched:
        v = unserved.get((u.institution_id, u.topic_id))
        if v is not None:
            assert u.eligible_mentors == v.eligible_mentors
            if same_solution:
                assert u == v


def test_on_a_generated_network_every_capacity_fix_serves_its_request():
    """The issue's case: most unserved requests compete with cheaper ones of the same
    priority; a "raise the capacity" line is said only where the place goes to them."""
    net = generate(600, seed=5)
    problem = MatchProblem.from_network(net)
    result = solve(problem)
    names = {i.name: i.id for i in net.institutions}
    fixes = [u for u in result.unmatched if CAPACITY.match(u.fix)]
    locks = [u for u in result.unmatched if u.fix and LOCK.search(u.fix)]
    assert fixes and locks and len(fixes) + len(locks) == len(result.unmatched)
    for u in fixes[:8] + locks[:8]:
        key = (u.institution_id, u.topic_id)
        changed, _ = applied(problem, MatchOptions(), u.fix, key, names)
        again = solve(changed)
        assert key in {(p.mentee_id, p.topic_id) for p in again.pairs}, u.fix
        # Nobody served before loses out: one more request served, the same priorities.
        assert len(again.pairs) == len(result.pairs) + 1
