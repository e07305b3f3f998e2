"""The optimum over every eligible arc where costs are the gain alone (``separable.py``),
against OR-Tools over every eligible arc listed pair by pair."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tpn.matching import MatchOptions, Tuning, engine, separable, solve
from tpn.matching.candidates import Rule
from tpn.matching.native import ACCELERATED
from tpn.models import FocusRequest, Institution, MatchProblem, Network, Snapshot, Topic
from tpn.samples import generate

from helpers import second_processes

pytestmark = pytest.mark.skipif(not ACCELERATED, reason="the compressed network needs the C core")


@st.composite
def gain_only_problems(draw):
    """Networks without locations or sizes: every cost is the gain alone. Scores are small
    integers (ties, so percentiles that are exact halves), some requests have none."""
    n = draw(st.integers(2, 24))
    kinds = draw(st.sampled_from([("a",), ("a", "b"), ("a", "b", "c")]))
    institutions = tuple(Institution(f"i{k:02d}", f"I{k}", draw(st.sampled_from(kinds)),
                                     capacity=draw(st.sampled_from([None, None, 0, 1, 3])))
                         for k in range(n))
    topics = tuple(Topic(f"t{j}", direction=draw(st.sampled_from(["higher", "lower"])))
                   for j in range(draw(st.integers(1, 3))))
    scores = {(i.id, t.id): float(draw(st.integers(0, 12)))
              for i in institutions for t in topics if draw(st.integers(0, 6)) > 0}
    pairs = [(i.id, t.id) for i in institutions for t in topics]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1, max_size=20))
    focus = tuple(FocusRequest(i, t, draw(st.integers(1, 3))) for i, t in chosen)
    options = MatchOptions(top_share=draw(st.sampled_from([0.3, 0.5, 1.0])),
                           mentor_capacity=draw(st.integers(1, 3)),
                           topic_capacity=draw(st.sampled_from([None, None, 1])),
                           cross_kind=draw(st.booleans()),
                           weight_gain=draw(st.sampled_from([1.0, 1.0, 0.37])))
    net = Network(institutions, topics, (Snapshot("p", scores),), focus)
    return MatchProblem.from_network(net), options


def prepared(problem, options, tuning=Tuning()):
    run = engine._prepare(problem, options, tuning, engine._quiet)
    return run.cand, run.inp


def check_seed(problem, options, direct: int = Tuning().separable_direct):
    """The seed's pairs are eligible, its potentials prove it optimal over every eligible
    pair, and its objective is OR-Tools' over every eligible pair. Returns the network.
    ``direct``: blocks of fewer than 2 ** direct mentors get an arc per pair."""
    cand, inp = prepared(problem, options, Tuning(separable_direct=direct))
    assert separable.applies(cand, inp)
    net = separable._Compressed(cand, inp)
    if not net.build():         # only when no request has a mentor
        assert not (cand.req_rule == Rule.ELIGIBLE).any()
        return net
    seed = net.solve()
    full, full_inp = prepared(problem, dataclasses.replace(options, candidates=0))
    n = len(full.rules.enc.institutions)
    keys = full.arc_request * n + full.arc_mentor
    wanted = seed.requests * n + seed.mentors
    at = np.searchsorted(keys, wanted)
    assert (keys[np.minimum(at, keys.size - 1)] == wanted).all(), "a pair is not eligible"
    chosen = np.full(len(full.requests), -1, np.int64)
    chosen[seed.requests] = at
    best = solve(problem, dataclasses.replace(options, candidates=0)).objective
    assert separable.proven(full_inp, chosen, seed.potentials) == best["solver_objective"]
    return net


@settings(max_examples=150, deadline=None)
@given(gain_only_problems(), st.sampled_from([0, 1, 3]))
def test_the_compressed_network_gives_the_optimum_over_every_eligible_pair(case, direct):
    check_seed(*case, direct=direct)


def _halves(cross_kind: bool) -> tuple[MatchProblem, MatchOptions]:
    """16 and 8 institutions of two kinds: percentiles in 32nds and 16ths, so that many
    pairs' two shares sum to exact halves (their costs then round half to even)."""
    rng = np.random.default_rng(7)
    kinds = ["a"] * 16 + ["b"] * 8
    institutions = tuple(Institution(f"i{k:02d}", f"I{k}", kind) for k, kind in
                         enumerate(kinds))
    topics = (Topic("t0"), Topic("t1", direction="lower"))
    scores = {(i.id, t.id): float(v) for i in institutions for t in topics
              for v in [rng.permutation(100)[0] + 0.5 * (i.kind == "b")]}
    focus = tuple(FocusRequest(i.id, t.id, 1 + k % 3) for k, i in enumerate(institutions)
                  for t in topics if (k + len(t.id)) % 2)
    net = Network(institutions, topics, (Snapshot("p", scores),), focus)
    return MatchProblem.from_network(net), MatchOptions(top_share=0.5, cross_kind=cross_kind)


@pytest.mark.parametrize("direct", [0, 3])
@pytest.mark.parametrize("cross_kind", [False, True])
def test_pairs_whose_shares_sum_to_a_half_get_arcs_at_their_true_cost(cross_kind, direct):
    net = check_seed(*_halves(cross_kind), direct=direct)
    assert sum(pair[0].size for pair in net.halves) > 0


def test_gains_below_0_across_kinds_cost_the_gain_weight():
    problem, options = _halves(cross_kind=True)
    net = check_seed(problem, options, direct=0)
    assert sum(requests.size for requests, _node, cost in net.entries
               if requests.size and (cost == net._no_gain).all()) > 0


def _no_geometry(n: int, seed: int, **kw) -> MatchProblem:
    net = generate(n, seed=seed, **kw)
    return MatchProblem.from_network(dataclasses.replace(net, institutions=tuple(
        dataclasses.replace(i, latitude=None, longitude=None, size=None)
        for i in net.institutions)))


@pytest.mark.parametrize("capacity", [1, 2])
def test_a_match_without_geometry_is_solved_at_once_and_says_what_the_rounds_say(
        capacity, monkeypatch):
    problem = _no_geometry(600, seed=5, focus_per_institution=2)
    options = MatchOptions(mentor_capacity=capacity)
    seeded = solve(problem, options)
    assert seeded.objective["stat_separable"] == 1
    assert seeded.objective["certificate_rounds"] == 1
    monkeypatch.setattr(separable, "separable_optimum", lambda cand, inp: None)
    rounds = solve(problem, options)
    assert "stat_separable" not in rounds.objective
    assert rounds.objective["certificate_rounds"] > 1
    assert seeded.objective["solver_objective"] == rounds.objective["solver_objective"]
    assert seeded.pairs == rounds.pairs
    assert seeded.unmatched == rounds.unmatched


def test_a_seed_its_potentials_do_not_prove_leaves_the_rounds_to_solve(monkeypatch):
    problem = _no_geometry(300, seed=6, focus_per_institution=2)
    options = MatchOptions(mentor_capacity=1)
    expected = solve(problem, options)
    real = separable.separable_optimum

    def off_by_one(cand, inp):
        seed = real(cand, inp)
        seed.potentials.request[0] -= 1        # no longer a proof
        return seed

    monkeypatch.setattr(separable, "separable_optimum", off_by_one)
    result = solve(problem, options)
    assert "stat_separable" not in result.objective
    assert result.pairs == expected.pairs and result.unmatched == expected.unmatched


@pytest.mark.skipif(not ACCELERATED, reason="the seed needs the C core")
def test_a_seed_whose_simplex_passes_its_pivot_limit_leaves_the_rounds_to_solve(monkeypatch):
    """Only a bug could make the simplex pass its limit: the rounds then solve, with the
    same answer, instead of the run failing."""
    from tpn.matching.simplex import PivotLimit, WarmFlow

    problem = _no_geometry(300, seed=6, focus_per_institution=2)
    options = MatchOptions(mentor_capacity=1)
    expected = solve(problem, options)
    assert expected.objective["stat_separable"] == 1

    class GivesUp(WarmFlow):
        def solve(self, *args, **kw):
            raise PivotLimit("as a bug would")
    monkeypatch.setattr(separable, "WarmFlow", GivesUp)
    result = solve(problem, options)
    assert "stat_separable" not in result.objective
    assert result.pairs == expected.pairs and result.unmatched == expected.unmatched


def test_with_two_workers_the_parts_solved_beside_give_the_same_match(monkeypatch):
    from tpn.matching import flow
    from tpn.runtime import parallel

    problem = _no_geometry(400, seed=8, focus_per_institution=2)
    options = MatchOptions(mentor_capacity=1, cross_kind=False)
    alone = solve(problem, options)
    jobs = second_processes(monkeypatch, flow)
    with parallel.workers(2):
        beside = solve(problem, options, tuning=Tuning(second_process_arcs=0, part_nodes=1))
    assert beside.objective["stat_separable"] == 1
    assert jobs and all(job._process is not None for job in jobs)
    assert beside.pairs == alone.pairs and beside.unmatched == alone.unmatched


def _with_the_best_of_each_kind(problem: MatchProblem) -> MatchProblem:
    """Each kind's best institution on every topic asks for help on it too: only a mentor
    of another kind could give it (a fix checked by the cross_kind re-solve)."""
    scores = problem.snapshot.scores
    asked = {(f.institution_id, f.topic_id) for f in problem.requests}
    extra = []
    for t in problem.topics:
        for kind in sorted({i.kind for i in problem.institutions}):
            best = max((i for i in problem.institutions
                        if i.kind == kind and (i.id, t.id) in scores),
                       key=lambda i: (scores[(i.id, t.id)], i.id))
            if (best.id, t.id) not in asked:
                extra.append(FocusRequest(best.id, t.id, 1))
    return dataclasses.replace(problem, requests=problem.requests + tuple(extra))


def test_the_cross_kind_re_solve_starts_beside_the_match_and_says_the_same(monkeypatch):
    """Where the match is solved at once, the cross_kind re-solve that checking the fixes
    asks for needs only the candidates: it starts in a second process before the match is
    solved, and the fixes said are those of the re-solve started after it."""
    from tpn.runtime import parallel

    problem = _with_the_best_of_each_kind(_no_geometry(400, seed=8, focus_per_institution=1))
    options = MatchOptions(mentor_capacity=2)
    starts = []
    served_step = engine._served_step
    monkeypatch.setattr(engine, "_served_step", lambda start: starts.append(
        start.out is None) or served_step(start))
    jobs = second_processes(monkeypatch, engine)
    with parallel.workers(2):
        early = solve(problem, options)
    assert starts == [True] and jobs and jobs[0]._process is not None
    # Some of the best of their kind could learn from another kind: the re-solve says so.
    assert any("cross_kind (checked" in u.fix for u in early.unmatched)
    monkeypatch.setattr(engine, "_served_early", lambda run, stack: None)
    starts.clear()
    with parallel.workers(2):
        later = solve(problem, options)
    assert starts == [False]
    assert early.pairs == later.pairs and early.unmatched == later.unmatched
