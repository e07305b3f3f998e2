"""One canonical optimum, whichever arcs the tie-break problem starts from: column generation
over the tied arcs (``canonical._by_columns``) against every tied arc at once, and tie-break
sums that tie told apart by the second number."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tpn.matching import MatchOptions, canonical, solve
from tpn.matching.canonical import _mixed, tie_break
from tpn.matching.fixes import TIE
from tpn.matching.native import ACCELERATED
from tpn.models import FocusRequest, MatchProblem, Network, Snapshot, Topic
from tpn.samples import generate

from helpers import inst
from test_separable import gain_only_problems


def answer(result) -> tuple:
    """The pairs and the unmatched requests, explanations included."""
    return result.pairs, result.unmatched


def paired(result) -> list[tuple[str, str, str]]:
    return sorted((p.mentee_id, p.topic_id, p.mentor_id) for p in result.pairs)


def without_places(network, digits: int = 0):
    """No locations or sizes (costs are the gain alone), scores rounded: many ties."""
    snap = network.snapshots[-1]
    return dataclasses.replace(
        network,
        institutions=tuple(dataclasses.replace(i, latitude=None, longitude=None, size=None)
                           for i in network.institutions),
        snapshots=(dataclasses.replace(snap, scores={
            k: round(v, digits) for k, v in snap.scores.items()}),))


def rounds_of_columns(monkeypatch) -> list[int]:
    """Spies on the column generation: one entry per canonical step, its rounds."""
    rounds: list[int] = []
    by_columns, narrowed = canonical._by_columns, canonical._narrowed
    inside = [False]

    def spy_by_columns(*args, **kw):
        rounds.append(0)
        inside[0] = True
        try:
            return by_columns(*args, **kw)
        finally:
            inside[0] = False

    def spy_narrowed(*args, **kw):
        if inside[0]:
            rounds[-1] += 1
        return narrowed(*args, **kw)
    monkeypatch.setattr(canonical, "_by_columns", spy_by_columns)
    monkeypatch.setattr(canonical, "_narrowed", spy_narrowed)
    return rounds


@settings(max_examples=150, deadline=None)
@given(case=gain_only_problems(), k=st.sampled_from([1, 2]))
def test_pruned_or_not_the_same_pairs_on_tied_networks(case, k):
    """Pruned candidates reach the canonical optimum by column generation over the tied
    arcs; unpruned ones hold every tied arc already: the same pairs and unmatched requests."""
    problem, options = case
    whole = solve(problem, dataclasses.replace(options, candidates=0))
    pruned = solve(problem, dataclasses.replace(options, candidates=k))
    assert answer(pruned) == answer(whole)


@pytest.mark.parametrize("seed, same_region", [(3, False), (6, False), (9, True), (13, True)])
def test_column_generation_ends_at_the_optimum_over_every_tied_arc(seed, same_region,
                                                                   monkeypatch):
    """Starting from a few tied arcs per request, the rounds add what the tie-break
    problem's potentials price at 0 or below: the same pairs as starting from every tied
    arc, and as without pruning. Costs are the gain alone, scores whole numbers: many ties.
    The tied arcs come from the compressed network's potentials, or (with the region rule,
    which that network does not model, or without the C core) from the rounds' residual
    distances."""
    network = without_places(generate(300, seed=seed, focus_per_institution=2))
    problem = MatchProblem.from_network(network)
    options = MatchOptions(mentor_capacity=2, top_share=0.3, candidates=2,
                           same_region=same_region)
    rounds = rounds_of_columns(monkeypatch)
    by_rounds = solve(problem, options)
    assert rounds and max(rounds) >= 2, rounds
    monkeypatch.setattr(canonical, "_FIRST_COLUMNS", 1 << 31)
    rounds.clear()
    at_once = solve(problem, options)
    assert rounds and max(rounds) == 1, rounds
    unpruned = solve(problem, dataclasses.replace(options, candidates=0))
    assert answer(by_rounds) == answer(at_once) == answer(unpruned)


@pytest.mark.skipif(not ACCELERATED, reason="the C core pivots the warm rounds")
@pytest.mark.parametrize("seed", [3, 6])
def test_rounds_by_the_warm_simplex_end_where_or_tools_rounds_end(seed, monkeypatch):
    """The column generation's tie-break flows pivoted on from the last round's optimum
    (the C core) or solved afresh by OR-Tools each round: the same pairs and explanations,
    and appending the new arcs to the last round's network (no new node) happens."""
    network = without_places(generate(300, seed=seed, focus_per_institution=2))
    problem = MatchProblem.from_network(network)
    options = MatchOptions(mentor_capacity=2, top_share=0.3, candidates=2)
    appended = []
    warm_append = canonical._Warm.append

    def spy(self, *args):
        appended.append(args[0].size)
        return warm_append(self, *args)
    monkeypatch.setattr(canonical._Warm, "append", spy)
    rounds = rounds_of_columns(monkeypatch)
    warm = solve(problem, options)
    assert rounds and max(rounds) >= 2 and appended and min(appended) > 0, (rounds, appended)
    monkeypatch.setattr(canonical, "ACCELERATED", False)
    assert answer(solve(problem, options)) == answer(warm)


@pytest.mark.skipif(not ACCELERATED, reason="the C core pivots the warm rounds")
def test_warm_rounds_that_pass_their_pivot_limit_go_on_with_or_tools(monkeypatch):
    """A warm round that gives up (only a bug could) leaves the rounds to OR-Tools: the
    same answer, and OR-Tools did solve rounds after it."""
    from tpn.matching.simplex import PivotLimit, WarmFlow

    network = without_places(generate(300, seed=3, focus_per_institution=2))
    problem = MatchProblem.from_network(network)
    options = MatchOptions(mentor_capacity=2, top_share=0.3, candidates=2)
    expected = solve(problem, options)
    calls, cold = [0], [0]
    solve_on = canonical._solve_on

    class SecondGivesUp(WarmFlow):
        def solve(self, *args, **kw):
            calls[0] += 1
            if calls[0] == 2:
                raise PivotLimit("as a bug would")
            return super().solve(*args, **kw)

    def counted(*args):
        cold[0] += 1
        return solve_on(*args)
    monkeypatch.setattr(canonical, "WarmFlow", SecondGivesUp)
    monkeypatch.setattr(canonical, "_solve_on", counted)
    assert answer(solve(problem, options)) == answer(expected)
    assert calls[0] >= 2 and cold[0] >= 2, (calls, cold)   # the round given up, the last


def swapped_tie():
    """Two mentees and two mentor ids whose tie-break sums are equal either way round (the
    CRC is linear: the XOR of a number per request and one per mentor)."""
    mentees = ("e1", "e2")
    for m1, m2 in itertools.combinations([f"m{k:03d}" for k in range(200)], 2):
        one = tie_break(mentees[0], "t0", m1) + tie_break(mentees[1], "t0", m2)
        other = tie_break(mentees[0], "t0", m2) + tie_break(mentees[1], "t0", m1)
        if one == other:
            return mentees, (m1, m2)
    raise AssertionError("no tie among 200 ids")


@pytest.mark.parametrize("candidates, first_columns", [(0, 4), (1, 4), (1, 0)])
def test_tie_break_sums_that_tie_are_told_apart_whatever_the_order(candidates, first_columns,
                                                                    monkeypatch):
    """Both ways of pairing two mentees with two mentors cost the same and have the same
    tie-break sum: the second number decides, so every order of the institutions (every
    order of the arcs the solver sees) gives the same pairs; pruned to one mentor each too,
    where the column generation starts from the tied arcs of least tie-break or none."""
    monkeypatch.setattr(canonical, "_FIRST_COLUMNS", first_columns)
    (e1, e2), (m1, m2) = swapped_tie()
    one = (tie_break(e1, "t0", m1), tie_break(e2, "t0", m2))
    other = (tie_break(e1, "t0", m2), tie_break(e2, "t0", m1))
    assert sum(one) == sum(other)
    expected = [(e1, "t0", m1), (e2, "t0", m2)] \
        if _mixed(np.array(one)).sum() < _mixed(np.array(other)).sum() \
        else [(e1, "t0", m2), (e2, "t0", m1)]
    scores = {(e1, "t0"): 10.0, (e2, "t0"): 10.0, (m1, "t0"): 90.0, (m2, "t0"): 90.0}
    answers = set()
    for order in itertools.permutations([e1, e2, m1, m2]):
        network = Network(tuple(inst(i) for i in order), (Topic("t0"),),
                          (Snapshot("p", scores),),
                          (FocusRequest(e1, "t0", 1), FocusRequest(e2, "t0", 1)))
        result = solve(MatchProblem.from_network(network),
                       MatchOptions(mentor_capacity=1, top_share=0.5,
                                    candidates=candidates))
        answers.add(tuple(paired(result)))
    assert answers == {tuple(expected)}


def kept_only(cand, arcs: np.ndarray):
    """``cand`` with only the given arcs, marked pruned: the others are left out."""
    columns = {name: getattr(cand, name)[arcs]
               for name in ("arc_request", "arc_mentor", "arc_previous", "arc_cost")}
    return dataclasses.replace(
        cand, pruned=True, **columns,
        arc_start=np.searchsorted(columns["arc_request"], np.arange(len(cand.requests) + 1)))


@pytest.mark.parametrize("swap", [False, True])
def test_column_generation_finds_the_tied_arcs_the_second_number_prefers(swap, monkeypatch):
    """Only one of the two optimal pairings kept, the other's arcs left out and none of
    them in the first columns: the rounds must add the arcs that the tie-break problem
    prices at exactly 0, or the second number never sees them."""
    from tpn.matching import Tuning, engine
    from tpn.matching.flow import solve_flow

    monkeypatch.setattr(canonical, "_FIRST_COLUMNS", 0)
    (e1, e2), (m1, m2) = swapped_tie()
    scores = {(e1, "t0"): 10.0, (e2, "t0"): 10.0, (m1, "t0"): 90.0, (m2, "t0"): 90.0}
    network = Network(tuple(inst(i) for i in (e1, e2, m1, m2)), (Topic("t0"),),
                      (Snapshot("p", scores),),
                      (FocusRequest(e1, "t0", 1), FocusRequest(e2, "t0", 1)))
    options = MatchOptions(mentor_capacity=1, top_share=0.5, candidates=0)
    problem = MatchProblem.from_network(network)
    run = engine._prepare(problem, options, Tuning(), engine._quiet)
    cand = run.cand
    assert cand.arc_request.size == 4 and not cand.pruned
    chosen = solve_flow(run.inp).chosen
    if swap:        # the other optimum: each request's other arc
        chosen = np.array([cand.arc_start[r] + 1 - (chosen[r] - cand.arc_start[r])
                           for r in range(2)])
    pruned = kept_only(cand, np.sort(chosen))

    def make_input(c):
        return engine.solver_input(run.enc, c, run.inp.forced, options, run.tuning)

    rounds = rounds_of_columns(monkeypatch)
    grown, _inp, out = canonical.canonical(pruned, make_input(pruned), np.arange(2),
                                           make_input)
    assert rounds and rounds[0] >= 2
    got = sorted((grown.requests[r].institution_id,
                  run.enc.institutions[grown.arc_mentor[a]].id) for r, a in enumerate(out))
    assert got == [(e, m) for e, _t, m in paired(solve(problem, options))]


def next_places_of(monkeypatch, problem, options) -> dict:
    """Whom one more place at each institution would serve, as the explanations saw it:
    {institution: (mentee, topic), NOBODY or TIE}."""
    from tpn.matching import engine, fixes

    seen = []

    def spy(cand, *args, **kw):
        places, grown, chosen = fixes.next_places(cand, *args, **kw)
        ids = [i.id for i in grown.rules.enc.institutions]
        seen.append({ids[i]: (w if w < 0 else (grown.requests[w].institution_id,
                                               grown.requests[w].topic_id))
                     for i, w in enumerate(places.winner.tolist())})
        return places, grown, chosen
    monkeypatch.setattr(engine, "next_places", spy)
    solve(problem, options)
    monkeypatch.undo()
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("seed, capacity, share, same_region",
                         [(4, 1, 0.2, False), (5, 2, 0.1, False), (9, 1, 0.2, True),
                          (10, 2, 0.1, True)])
def test_next_places_on_pruned_candidates_are_those_on_every_arc(seed, capacity, share,
                                                                 same_region, monkeypatch):
    """Whom each extra place would serve (or that several would be served) is the same
    on pruned candidates as with every eligible arc, on networks full of ties."""
    network = without_places(generate(300, seed=seed, focus_per_institution=2))
    problem = MatchProblem.from_network(network)
    options = MatchOptions(mentor_capacity=capacity, top_share=share, same_region=same_region)
    pruned = next_places_of(monkeypatch, problem, dataclasses.replace(options, candidates=2))
    whole = next_places_of(monkeypatch, problem, dataclasses.replace(options, candidates=0))
    assert pruned == whole
    assert {w for w in whole.values() if not isinstance(w, int)} and TIE in whole.values()


def test_a_left_out_tied_arc_that_brings_a_second_first_arc_is_added(monkeypatch):
    """One mentor, full, and two unserved mentees of the same score: one more place would
    serve either, so it is a tie. With one of the two arcs left out, its reduced cost is 0
    (not below): the search must add it all the same, or it names the other mentee."""
    from tpn.matching import Tuning, engine
    from tpn.matching.fixes import next_places
    from tpn.matching.flow import solve_flow

    scores = {("e1", "t0"): 10.0, ("e2", "t0"): 10.0, ("e3", "t0"): 10.0, ("m", "t0"): 90.0}
    network = Network(tuple(inst(i) for i in ("e1", "e2", "e3", "m")), (Topic("t0"),),
                      (Snapshot("p", scores),),
                      tuple(FocusRequest(e, "t0", 1) for e in ("e1", "e2", "e3")))
    options = MatchOptions(mentor_capacity=1, top_share=0.25, candidates=0)
    run = engine._prepare(MatchProblem.from_network(network), options, Tuning(), engine._quiet)
    cand = run.cand
    assert cand.arc_request.size == 3
    chosen = solve_flow(run.inp).chosen
    unserved = np.flatnonzero(chosen < 0)
    assert unserved.size == 2

    def make_input(c):
        return engine.solver_input(run.enc, c, run.inp.forced, options, run.tuning)

    mentor = [i.id for i in run.enc.institutions].index("m")
    whole, _grown, _chosen = next_places(cand, run.inp, chosen, make_input)
    assert whole.winner[mentor] == TIE
    for dropped in unserved.tolist():
        keep = np.sort(np.setdiff1d(np.arange(3), cand.arc_start[dropped]))
        pruned = kept_only(cand, keep)
        places, grown, _chosen = next_places(
            pruned, make_input(pruned), np.where(chosen >= 0, np.searchsorted(keep, chosen), -1),
            make_input)
        assert places.winner[mentor] == TIE and grown.arc_request.size == 3
