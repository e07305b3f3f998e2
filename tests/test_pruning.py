"""Pruned candidates plus the certificate reach exactly the unpruned optimum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tpn.matching import MatchOptions, Tuning, solve
from tpn.models import Institution, Lock, MatchProblem, PreviousPair
from tpn.samples import generate

from helpers import best_choose_too, random_problems
from test_matching_contract import check_invariants


def objectives(problem, options, ks=(0, 1, 2, 5), tuning=Tuning()):
    results = {k: solve(problem, dataclasses.replace(options, candidates=k), tuning=tuning)
               for k in ks}
    return results, {k: r.objective["solver_objective"] for k, r in results.items()}


@settings(max_examples=80)
@given(case=random_problems(max_institutions=9, max_requests=12),
       weight_distance=st.sampled_from([0.2, 0.0, 5.0]),
       weight_size=st.sampled_from([0.3, 0.0, 3.0]),
       banded=st.booleans())
def test_pruned_equals_unpruned_on_random_networks(case, weight_distance, weight_size, banded):
    problem, options = case
    # Large pools so pruning applies; the weights decide the certificate's search space,
    # and ``banded`` whether it searches in bands (else only pools of 2,000 or more do).
    options = dataclasses.replace(options, top_share=1.0, weight_distance=weight_distance,
                                  weight_size=weight_size)
    results, objs = objectives(problem, options,
                               tuning=Tuning(banded_pool=0 if banded else 10**9))
    assert len(set(objs.values())) == 1, objs
    for r in results.values():
        check_invariants(problem, dataclasses.replace(options, candidates=0), r)


def _adversarial(kind: str, seed: int) -> tuple[MatchProblem, MatchOptions]:
    net = generate(400, seed=seed, focus_per_institution=3)
    if kind == "clustered":       # everyone at one point: nearest neighbours say nothing
        net = dataclasses.replace(net, institutions=tuple(
            dataclasses.replace(i, latitude=-1.95, longitude=30.06) for i in net.institutions))
    if kind == "no_coordinates":
        net = dataclasses.replace(net, institutions=tuple(
            dataclasses.replace(i, latitude=None, longitude=None) for i in net.institutions))
    if kind == "two_clusters":    # mentors far from most mentees
        net = dataclasses.replace(net, institutions=tuple(
            dataclasses.replace(i, latitude=-1.0 if n % 7 else 9.0, longitude=30.0)
            for n, i in enumerate(net.institutions)))
    return MatchProblem.from_network(net), MatchOptions(mentor_capacity=1, top_share=0.3)


@pytest.mark.parametrize("banded", [True, False])
@pytest.mark.parametrize("kind", ["clustered", "no_coordinates", "two_clusters", "plain"])
def test_pruned_equals_unpruned_on_adversarial_networks(kind, banded):
    problem, options = _adversarial(kind, seed=11)
    results, objs = objectives(problem, options, ks=(0, 1, 3, 24),
                               tuning=Tuning(banded_pool=0 if banded else 10**9))
    assert len(set(objs.values())) == 1, objs
    # Small K really had to be repaired by the certificate.
    assert results[1].objective["certificate_rounds"] > 1


def test_pruning_keeps_locks_and_previous_pairs():
    net = generate(300, seed=5)
    base = solve(MatchProblem.from_network(net), MatchOptions(candidates=0))
    # Lock the most expensive pairs of an unpruned run and carry all as previous pairs.
    worst = sorted(base.pairs, key=lambda p: -p.cost.total)[:10]
    problem = MatchProblem.from_network(
        net, locks=tuple(Lock(p.mentee_id, p.topic_id, p.mentor_id) for p in worst),
        previous=tuple(PreviousPair(p.mentee_id, p.topic_id, p.mentor_id) for p in base.pairs))
    results, objs = objectives(problem, MatchOptions(), ks=(0, 1, 24))
    assert len(set(objs.values())) == 1, objs
    for r in results.values():
        assert not r.rejected_locks
        assert sum(p.locked for p in r.pairs) == 10


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), cap=st.integers(1, 3), share=st.sampled_from([0.2, 0.5]))
def test_pruned_equals_unpruned_on_generated_networks(seed, cap, share):
    problem = MatchProblem.from_network(generate(150, seed=seed))
    _results, objs = objectives(problem, MatchOptions(mentor_capacity=cap, top_share=share),
                                ks=(0, 2))
    assert len(set(objs.values())) == 1, objs


def test_regression_mentee_without_score_and_clipped_gains():
    """Found by Hypothesis: a mentee without a score may take a mentor below the median
    (negative gain, clipped to 0); the certificate's bound once ignored the clipping and
    missed the cheaper mentor, leaving the pruned optimum 0.0002 points too dear."""
    from tpn.models import FocusRequest, Network, Snapshot, Topic

    inst = lambda i, size=None: Institution(i, i.upper(), "a", size=size)
    net = Network(
        (inst("i0"), inst("i1", 1.0), inst("i2", 1.0), inst("i3", 38.0), inst("i4"), inst("i5"),
         inst("i6", 38.0)),
        (Topic("t0", direction="lower"),),
        (Snapshot("p", {("i1", "t0"): 0.0, ("i2", "t0"): 1.0, ("i3", "t0"): 0.0,
                        ("i5", "t0"): 1.0, ("i6", "t0"): 0.0}),),
        (FocusRequest("i0", "t0", 1),))
    _results, objs = objectives(MatchProblem.from_network(net),
                                MatchOptions(top_share=1.0, mentor_capacity=1), ks=(0, 1, 2, 5))
    assert set(objs.values()) == {10000}, objs


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), cap=st.integers(0, 30))
def test_max_changes_with_pruning_against_cpsat(seed, cap):
    """The flow's Lagrangian bonus for max_changes (searched down to fractions of a cost
    unit, the certificate scaling its costs to match), pruned or not, against CP-SAT's
    exact optimum of the capped problem: every proven bound is at most the optimum, every
    answer at least it, and an answer said to be optimal is it. The cap always holds."""
    from tpn.samples import perturb

    network = perturb(generate(150, seed=seed), seed=seed + 1)
    old, new = network.periods
    first = solve(MatchProblem.from_network(network, old))
    previous = tuple(PreviousPair(p.mentee_id, p.topic_id, p.mentor_id) for p in first.pairs)
    problem = MatchProblem.from_network(network, new, previous=previous)
    options = MatchOptions(weight_continuity=0.0, max_changes=cap)
    exact = solve(problem, dataclasses.replace(options, solver="cpsat"))
    assert exact.optimal
    optimum = exact.objective["solver_objective"]
    results, objs = objectives(problem, options, ks=(0, 2))
    for k, r in results.items():
        ob = r.objective
        assert ob["solver_bound"] <= optimum <= ob["solver_objective"], k
        if r.optimal:
            assert ob["solver_objective"] == optimum, k
        assert ob["stat_previous_keepable"] - ob["previous_kept"] <= cap


def test_pruned_requests_also_get_their_nearest_underused_mentors():
    """After the first pass, a mentor that few requests kept (at most
    ``Tuning.underused_load`` per unit of capacity) is offered to each pruned request among
    whose ``underused_nearest`` nearest such mentors it is, when eligible. Checked against a brute-force nearest search on
    great-circle distances."""
    import numpy as np

    from tpn.matching.candidates import Rule, build_candidates
    from tpn.models import haversine_km
    from tpn.scoring import Encoded

    problem = MatchProblem.from_network(generate(600, seed=4))
    enc = Encoded.build(problem.institutions, problem.topics, problem.snapshot)
    options, k = MatchOptions(), 3
    # Without the pass for lonely mentors (the next test's): this one's arcs only.
    with_pass = build_candidates(enc, problem.requests, options, per_request=k,
                                 tuning=Tuning(lonely_nearest=0))
    nearest, load = Tuning().underused_nearest, Tuning().underused_load
    first_pass = build_candidates(enc, problem.requests, options, per_request=k,
                                  tuning=Tuning(underused_nearest=0, lonely_nearest=0))
    kept = np.bincount(first_pass.arc_mentor, minlength=len(enc.institutions))
    underused = kept <= load * first_pass.rules.capacity
    arcs = set(zip(with_pass.arc_request.tolist(), with_pass.arc_mentor.tolist()))
    first_arcs = set(zip(first_pass.arc_request.tolist(), first_pass.arc_mentor.tolist()))
    insts = problem.institutions
    added = 0
    for r, (i, t) in enumerate(zip(with_pass.req_inst.tolist(), with_pass.req_topic.tolist())):
        pool = with_pass.rules.pool(t, int(enc.kind[i]))
        if pool.size <= 2 * k:
            continue
        near = sorted(pool[underused[pool]].tolist(), key=lambda m: haversine_km(
            insts[i].latitude, insts[i].longitude, insts[m].latitude, insts[m].longitude))
        for m in near[:nearest]:
            if with_pass.rules.pair_rule(i, t, m) == Rule.ELIGIBLE:
                assert (r, m) in arcs, (r, m)
                added += (r, m) not in first_arcs
    # The pass added arcs the first one had not kept, and only those.
    assert added > 0
    assert first_arcs <= arcs and len(arcs) == len(first_arcs) + added


def test_mentors_few_requests_reach_get_their_nearest_requests():
    """After the underused pass, a mentor still kept by fewer than ``Tuning.underused_load``
    requests per unit of capacity sits far from the demand: its ``lonely_nearest`` nearest
    requests of each pruned group get it when eligible, so that the first round can use
    its places. Checked against a brute-force nearest search on great-circle distances;
    the pruned optimum stays the unpruned one."""
    import numpy as np

    from tpn.matching.candidates import Rule, build_candidates
    from tpn.models import haversine_km
    from tpn.scoring import Encoded

    problem = MatchProblem.from_network(generate(600, seed=4))
    enc = Encoded.build(problem.institutions, problem.topics, problem.snapshot)
    options, k, tuning = MatchOptions(), 3, Tuning()
    with_pass = build_candidates(enc, problem.requests, options, per_request=k)
    before = build_candidates(enc, problem.requests, options, per_request=k,
                              tuning=Tuning(lonely_nearest=0))
    kept = np.bincount(before.arc_mentor, minlength=len(enc.institutions))
    lonely = kept < tuning.underused_load * before.rules.capacity
    insts = problem.institutions
    key = before.req_topic * len(enc.kinds) + enc.kind[before.req_inst]
    expected = set(zip(before.arc_request.tolist(), before.arc_mentor.tolist()))
    reached = 0
    for group in np.unique(key):
        rows = np.flatnonzero(key == group)
        t, kind = int(before.req_topic[rows[0]]), int(enc.kind[before.req_inst[rows[0]]])
        pool = before.rules.pool(t, kind)
        if pool.size <= 2 * k:
            continue
        for m in pool[lonely[pool]].tolist():
            near = sorted(rows.tolist(), key=lambda r: haversine_km(
                insts[m].latitude, insts[m].longitude,
                insts[before.req_inst[r]].latitude, insts[before.req_inst[r]].longitude))
            for r in near[:tuning.lonely_nearest]:
                if before.rules.pair_rule(int(before.req_inst[r]), t, m) == Rule.ELIGIBLE:
                    reached += (r, m) not in expected
                    expected.add((r, m))
    assert reached > 0
    got = set(zip(with_pass.arc_request.tolist(), with_pass.arc_mentor.tolist()))
    assert got == expected
    _results, objs = objectives(problem, options, ks=(0, k))
    assert len(set(objs.values())) == 1, objs


def test_pruned_requests_keep_their_cheapest_mentors_by_a_bound_on_the_cost():
    """A pruned request's "nearest" mentors are those with the lowest lower bound on its
    cost — gain, distance and size together — not the nearest by km (in a tight cluster
    those are as good as any). Checked against a brute-force bound over every pair: the
    bound never exceeds an eligible pair's cost (less the mentee's side of the gain), and
    each request keeps the K cheapest eligible of its K best-ranked mentors and its K
    lowest by that bound."""
    from tpn.matching.candidates import EARTH_RADIUS_KM, Rule, build_candidates
    from tpn.scoring import Encoded

    net = generate(600, seed=4)
    # Tight clusters: each region's institutions within a few km of its first one.
    first = {}
    net = dataclasses.replace(net, institutions=tuple(
        dataclasses.replace(i, latitude=first.setdefault(i.region, i.latitude) + 0.01 * (n % 5),
                            longitude=first.setdefault(i.region + "/", i.longitude))
        for n, i in enumerate(net.institutions)))
    problem = MatchProblem.from_network(net)
    enc = Encoded.build(problem.institutions, problem.topics, problem.snapshot)
    options, k = MatchOptions(), 4
    cand = build_candidates(enc, problem.requests, options, per_request=k)
    rules = cand.rules
    lat, lon = np.radians(enc.lat_filled), np.radians(enc.lon_filled)
    unit = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    log_size = np.log(enc.size_filled)
    kept = set(zip(cand.arc_request.tolist(), cand.arc_mentor.tolist()))
    key = cand.req_topic * len(enc.kinds) + enc.kind[cand.req_inst]
    checked = moved = 0
    for group in np.unique(key):
        rows = np.flatnonzero(key == group)
        t, kind = int(cand.req_topic[rows[0]]), int(enc.kind[cand.req_inst[rows[0]]])
        pool = rules.pool(t, kind)
        if pool.size <= 2 * k:
            continue
        mentees = cand.req_inst[rows]
        km_scale = options.weight_distance / 100 * EARTH_RADIUS_KM / np.sqrt(3)
        bound = (options.weight_gain * (100 - enc.mentor_percentile[pool, t]) / 100)[None, :] \
            + km_scale * np.abs(unit[mentees][:, None, :] - unit[pool][None, :, :]).sum(axis=2) \
            + options.weight_size * np.abs(log_size[mentees][:, None] - log_size[pool][None, :])
        code, _dist = rules.evaluate(mentees[:, None], t, pool[None, :])
        eligible = code == Rule.ELIGIBLE
        r_idx, m_idx = np.nonzero(eligible)
        cost = rules.arc_costs(mentees[r_idx], np.full(r_idx.size, t), pool[m_idx])[0]
        mentee_side = options.weight_gain * enc.percentile[mentees[r_idx], t] / 100
        assert (bound[r_idx, m_idx] <= cost - mentee_side + 1e-9).all()
        costs = np.full(bound.shape, np.inf)
        costs[r_idx, m_idx] = cost
        best = np.lexsort((pool, -enc.mentor_percentile[pool, t]))[:k]
        by_bound = np.argsort(bound, axis=1, kind="stable")[:, :k]
        by_km = np.argsort(rules.distance(np.repeat(mentees, pool.size),
                                          np.tile(pool, mentees.size), filled=True)
                           .reshape(mentees.size, pool.size), axis=1, kind="stable")[:, :k]
        for i, r in enumerate(rows.tolist()):
            pick = np.union1d(best, by_bound[i])
            pick = pick[np.isfinite(costs[i, pick])]
            cheapest = pick[np.lexsort((pool[pick], costs[i, pick]))[:k]]
            assert all((r, int(pool[m])) in kept for m in cheapest)
            checked += cheapest.size
            moved += set(by_bound[i].tolist()) != set(by_km[i].tolist())
    assert checked > 1000
    assert moved > len(cand.requests) / 4       # the bound is not the km alone here
    _results, objs = objectives(problem, options, ks=(0, k))
    assert len(set(objs.values())) == 1, objs


@pytest.mark.parametrize("kind", ["clustered", "no_coordinates"])
def test_rounds_that_widen_reach_the_same_answer_in_fewer_rounds(kind):
    """Rounds after widen_after add twice the arcs each: the same pairs and explanations
    as rounds that never widen, in no more rounds."""
    problem, options = _adversarial(kind, seed=11)
    options = dataclasses.replace(options, candidates=1)
    at_once = solve(problem, options, tuning=Tuning(widen_after=0))
    never = solve(problem, options, tuning=Tuning(widen_after=1000))
    assert at_once.pairs == never.pairs and at_once.unmatched == never.unmatched
    assert never.objective["certificate_rounds"] > 2
    assert at_once.objective["certificate_rounds"] < never.objective["certificate_rounds"]


@pytest.mark.parametrize("strict, relaxed, opens", [
    ({}, dict(cross_kind=True), True),
    (dict(max_distance_km=30.0), dict(max_distance_km=400.0), True),
    (dict(min_gap=30.0), dict(min_gap=0.0), True),
    # Every region of this network has eligible mentors: the rule blocks no request.
    (dict(same_region=True), dict(same_region=False), False)])
@pytest.mark.parametrize("locked", [False, True])
def test_a_relaxed_rule_re_solved_from_the_match_serves_what_a_fresh_match_serves(
        strict, relaxed, opens, locked, monkeypatch):
    """Checking a fix that relaxes a rule re-solves from the match's proven optimum (its
    arcs stay eligible at the same cost); the requests served are those of a match of
    the relaxed problem from nothing, pruned to one candidate or not, with a lock or not,
    including requests that had no mentor before."""
    from tpn.matching import engine
    from tpn.matching.candidates import Rule

    net = best_choose_too(generate(300, seed=4))
    problem = MatchProblem.from_network(net)
    if locked:
        request = problem.requests[0]
        mentor = next(i.id for i in net.institutions if i.id != request.institution_id
                      and i.kind != next(j.kind for j in net.institutions
                                         if j.id == request.institution_id))
        problem = dataclasses.replace(problem, locks=(
            Lock(request.institution_id, request.topic_id, mentor),))
    for candidates in (1, 0):
        base = MatchOptions(candidates=candidates, **strict)
        wider = dataclasses.replace(base, **relaxed)
        run = engine._prepare(problem, base, Tuning(), engine._quiet)
        engine.SOLVERS["flow"](run, engine._quiet)
        from_match = engine._served(problem, wider, engine._Start.of(run))
        with monkeypatch.context() as m:
            m.setattr(engine, "_relaxes", lambda old, new: False)
            fresh = engine._served(problem, wider, engine._Start.of(run))
        assert from_match == fresh and len(fresh) > 0
        # Requests the relaxed rule serves that had no mentor at all before.
        newly = {r for r in fresh if run.cand.req_rule[run.cand.request_position(*r)]
                 != Rule.ELIGIBLE}
        assert bool(newly) == opens
        assert engine._relaxes(base, wider) and not engine._relaxes(wider, base)


@pytest.mark.parametrize("relaxed", [dict(cross_kind=True), dict(min_gap=0.0)])
def test_a_cross_kind_re_solve_first_searches_only_the_mentors_the_match_did_not_check(
        relaxed, monkeypatch):
    """The match's last check proved every arc of its own pools; allowing another kind
    only adds mentors to the pools, at the same costs. So the re-solve's first check
    searches those mentors alone, and finds every left-out arc that violates (by brute
    force over every pair). A rule that changes eligibility within the pools (min_gap)
    opens violating arcs to mentors the match's pools held: there, nothing is skipped."""
    from tpn.matching import certificate, engine

    net = best_choose_too(generate(300, seed=4))
    problem = MatchProblem.from_network(net)
    base = MatchOptions(candidates=1, min_gap=30.0)
    run = engine._prepare(problem, base, Tuning(), engine._quiet)
    engine.SOLVERS["flow"](run, engine._quiet)
    first = []

    def spy(cand, inp, potentials, **kw):
        if not first:
            first.append((cand, inp, potentials, kw.get("checked")))
        return certificate.violations(cand, inp, potentials, **kw)

    monkeypatch.setattr(engine, "violations", spy)
    engine._served(problem, dataclasses.replace(base, **relaxed), engine._Start.of(run))
    cand, inp, potentials, checked = first[0]
    negative = {arc for arc, reduced in _left_out_reduced_costs(cand, inp, potentials).items()
                if reduced < 0}
    assert negative
    enc = run.enc
    inside = {(r, m) for r, m in negative
              if m in run.cand.rules.pool(int(cand.req_topic[r]),
                                          int(enc.kind[cand.req_inst[r]])).tolist()}
    if relaxed.get("cross_kind"):
        assert checked is run.cand.rules and not inside
        found = certificate.violations(cand, inp, potentials, checked=checked)
        assert set(zip(*(a.tolist() for a in found))) == negative
    else:
        assert checked is None and inside


def test_the_certificate_tells_kept_arcs_from_left_out_ones_by_mark_and_by_search():
    """Whether a pair is a kept arc: dense pairs are marked in rows x pool tables (a few
    rows at a time or all at once, pairs in any order), sparse ones searched among the
    sorted arc keys; every way gives np.isin's answer, and exactly the kept arcs are not
    left out."""
    from tpn.matching import engine
    from tpn.matching.certificate import _LeftOut

    problem = MatchProblem.from_network(generate(120, seed=5))
    cand = engine._prepare(problem, MatchOptions(candidates=2), Tuning(), engine._quiet).cand
    enc = cand.rules.enc
    n = len(enc.institutions)
    kept = cand.arc_request * n + cand.arc_mentor
    key = cand.req_topic * len(enc.kinds) + enc.kind[cand.req_inst]
    rng = np.random.default_rng(0)
    not_left_out = 0
    for k in np.unique(key).tolist():
        rows = np.flatnonzero(key == k)
        pool = cand.rules.pool(int(cand.req_topic[rows[0]]), int(enc.kind[cand.req_inst[rows[0]]]))
        r_idx, m_idx = (a.ravel() for a in np.meshgrid(np.arange(rows.size),
                                                       np.arange(pool.size), indexing="ij"))
        shuffled = rng.permutation(r_idx.size)
        sparse = np.sort(shuffled[:max(1, r_idx.size // 200)])
        for pick in (np.arange(r_idx.size), shuffled, sparse):
            truth = ~np.isin(rows[r_idx[pick]] * n + pool[m_idx[pick]], kept)
            for cells in (10**9, 3 * pool.size):
                left_out = _LeftOut(cand, rows, pool, kept, cells)(r_idx[pick], m_idx[pick])
                assert (left_out == truth).all()
        not_left_out += int((~_LeftOut(cand, rows, pool, kept, 10**9)(r_idx, m_idx)).sum())
    assert 0 < not_left_out == kept.size


def _left_out_reduced_costs(cand, inp, potentials):
    """{(request, mentor): reduced cost} of every eligible arc the candidates left out, by
    scanning every (request, mentor) pair: the certificate's search without its bound."""
    from tpn.matching.candidates import Rule
    from tpn.matching.encoding import integer_costs

    rules, enc = cand.rules, cand.rules.enc
    kept = set(zip(cand.arc_request.tolist(), cand.arc_mentor.tolist()))
    out = {}
    for r in range(len(cand.requests)):
        if inp.forced[r] >= 0 or cand.req_rule[r] != Rule.ELIGIBLE:
            continue
        i, t = int(cand.req_inst[r]), int(cand.req_topic[r])
        pool = rules.pool(t, int(enc.kind[i]))
        pool = pool[rules.capacity[pool] > 0]
        code, _ = rules.evaluate(np.full(pool.size, i), t, pool)
        for m in pool[code == Rule.ELIGIBLE].tolist():
            if (r, m) in kept:
                continue
            cost = int(integer_costs(rules.arc_costs(np.array([i]), np.array([t]),
                                                     np.array([m]))[0])[0])
            out[(r, m)] = (cost * potentials.scale + int(potentials.request[r])
                           - int(potentials.target(np.array([m]), t)[0]))
    return out


def _without_some_scores(network):
    """Every 7th institution's scores dropped: its requests count as the median."""
    unscored = {i.id for i in network.institutions[::7]}
    snap = network.snapshots[-1]
    scores = {key: v for key, v in snap.scores.items() if key[0] not in unscored}
    return dataclasses.replace(network, snapshots=(dataclasses.replace(snap, scores=scores),))


@pytest.mark.parametrize("weights, unscored, seed", [
    (dict(), False, 6), (dict(weight_distance=0.0, weight_size=0.0), False, 6),
    (dict(), True, 6), (dict(weight_distance=0.0, weight_size=0.0), True, 6),
    # Gains clipped at 0, across kinds and for mentees without a score: on these networks
    # some such pairs violate (the search's second pass finds them).
    (dict(cross_kind=True), False, 22), (dict(cross_kind=True), True, 18),
    (dict(cross_kind=True, weight_distance=0.0), True, 18)])
@pytest.mark.parametrize("nearest_first", [False, True])
def test_the_certificate_finds_every_left_out_arc_a_scan_of_every_pair_finds(
        weights, unscored, seed, nearest_first, monkeypatch):
    """Against a scan of every pair: the violations of a first round's prices, those within
    a margin of violating (only while some violate, and no further than the deepest
    violation), and the ties; after the last round, none. With ``nearest_first``, every
    request's ball, however small, is first shrunk to the cap's worth of violations among
    its nearest pairs (``Tuning.wide_ball``); without, none is: the same arcs."""
    from tpn.matching import certificate, engine
    from tpn.matching.certificate import tight_arcs, violations
    from tpn.matching.flow import solve_flow

    network = generate(300, seed=seed)
    problem = MatchProblem.from_network(_without_some_scores(network) if unscored else network)
    options = MatchOptions(candidates=1, **weights)
    # Without the lonely mentors' pass, the first round's prices are further off: its
    # violations deeper than the margin, which this test needs.
    tuning = Tuning(wide_ball=0, wide_radius=float("inf"), lonely_nearest=0) if nearest_first \
        else Tuning(wide_ball=10 ** 9, lonely_nearest=0)
    shrunk = []
    kth_found = certificate._kth_found
    monkeypatch.setattr(certificate, "_kth_found", lambda *a: shrunk.append(
        kth_found(*a)) or shrunk[-1])
    run = engine._prepare(problem, options, tuning, engine._quiet)
    out = solve_flow(run.inp, potentials=True)
    scan = _left_out_reduced_costs(run.cand, run.inp, out.potentials)

    def found(**kw):
        req, mentor = violations(run.cand, run.inp, out.potentials, **kw)
        return set(zip(req.tolist(), mentor.tolist()))

    negative = {a for a, rc in scan.items() if rc < 0}
    assert negative and found() == negative
    margin, depth = 3000, -min(scan.values())
    assert depth > margin
    assert found(margin=margin) == {a for a, rc in scan.items() if rc < margin} > negative
    # No further from violating than the deepest violation is below 0.
    within = {a for a, rc in scan.items() if rc < depth}
    assert found(margin=2 * depth) == within and len(within) < sum(
        rc < 2 * depth for rc in scan.values())
    req, mentor, reduced = tight_arcs(run.cand, run.inp, out.potentials)
    assert dict(zip(zip(req.tolist(), mentor.tolist()), reduced.tolist())) == {
        a: rc for a, rc in scan.items() if rc <= 0}
    # With a cap per request: each request's most negative first (then by mentor), of the
    # same arcs; a request with as many violations as the cap keeps only violations. Then
    # of those at least half a coverage penalty deep (a place that could serve one more
    # request), each mentor's cap most negative (then by request).
    half_penalty = run.inp.penalty.min() / 2

    def per_mentor(kept, cap):
        deep = {}
        for r, m in kept:
            if scan[r, m] < -half_penalty:
                deep.setdefault(m, []).append((scan[r, m], r))
        return kept - {(r, m) for m, arcs in deep.items() for _, r in sorted(arcs)[cap:]}

    cap, by_request = 2, {}
    for (r, m), rc in scan.items():
        if rc < min(margin, depth):
            by_request.setdefault(r, []).append((rc, m))
    per_request = {(r, m) for r, arcs in by_request.items() for _, m in sorted(arcs)[:cap]}
    assert found(margin=margin, per_request=cap) == per_mentor(per_request, cap)
    violating = [sum(rc < 0 for rc, _ in arcs) for arcs in by_request.values()]
    assert max(violating) >= cap and any(
        n < cap and len(arcs) > n for n, arcs in zip(violating, by_request.values()))
    most_negative = {}
    for (r, m), rc in scan.items():
        if rc < 0:
            most_negative[r] = min(most_negative.get(r, (rc, m)), (rc, m))
    per_request = {(r, m) for r, (_, m) in most_negative.items()}
    assert found(per_request=1) == per_mentor(per_request, 1)
    # A place that more requests reach than the cap: the rule is at work here.
    assert per_mentor(per_request, 1) != per_request
    # The balls were shrunk (the cap's worth found among the nearest pairs) only if asked.
    assert any(k is not None and np.isfinite(k).any() for k in shrunk) == nearest_first

    engine.SOLVERS["flow"](run, engine._quiet)
    scan = _left_out_reduced_costs(run.cand, run.inp, run.out.potentials)
    assert min(scan.values()) >= 0 and any(rc < margin for rc in scan.values())
    assert violations(run.cand, run.inp, run.out.potentials, margin=margin)[0].size == 0


def test_without_locations_pruned_requests_get_mentors_spread_over_the_pool():
    """With every institution at one point (no coordinates), "nearest" says nothing: the
    underused mentors each pruned request gets are spread over the pool from a place of its
    own, not the same few for every request (then the certificate adds nearly every arc)."""
    from tpn.matching.candidates import build_candidates
    from tpn.scoring import Encoded

    problem, options = _adversarial("no_coordinates", seed=11)
    enc = Encoded.build(problem.institutions, problem.topics, problem.snapshot)
    k, nearest = 3, Tuning().underused_nearest
    cand = build_candidates(enc, problem.requests, options, per_request=k)
    assert cand.pruned and cand.rules.one_place
    key = cand.req_topic * len(enc.kinds) + enc.kind[cand.req_inst]
    spread = 0
    for group in np.unique(key):
        rows = np.flatnonzero(key == group)
        mentors = cand.arc_mentor[np.isin(cand.arc_request, rows)]
        pool = cand.rules.pool(int(cand.req_topic[rows[0]]), int(enc.kind[cand.req_inst[rows[0]]]))
        # The same k best-ranked, k "nearest" and underused mentors for all would be at most
        # 2k + nearest mentors in all.
        spread += np.unique(mentors).size > 2 * k + nearest
        assert np.isin(mentors, pool).all()
    assert spread >= 2
    result = solve(problem, dataclasses.replace(options, candidates=k))
    assert result.objective["solver_objective"] == solve(
        problem, dataclasses.replace(options, candidates=0)).objective["solver_objective"]
