"""Every unmatched reason on a hand-made network, and each suggested fix checked by applying it."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tpn.matching import MatchOptions, Tuning, explain, solve
from tpn.models import Exclusion, Lock, PreviousPair, Topic

from helpers import inst, network, problem, random_problems

ACC = Topic("acc", "Accreditation", kinds=frozenset({"hospital"}))
CBHI = Topic("cbhi", "CBHI coverage", kinds=frozenset({"district"}))


def hospitals(**overrides):
    """Five hospitals on a line 50 km apart; h4 is best, h0 worst."""
    out = []
    for k in range(5):
        kw = dict(region="north" if k < 3 else "south", lat=-1.0, lon=29.0 + 0.45 * k, size=200)
        kw.update(overrides.get(f"h{k}", {}))
        out.append(inst(f"h{k}", **kw))
    return out


SCORES = {(f"h{k}", "acc"): 50.0 + 10 * k for k in range(5)}


def only_unmatched(result):
    [u] = result.unmatched
    return u


def run(insts, focus, options=MatchOptions(top_share=0.4), scores=SCORES, topics=(ACC, CBHI),
        **kw):
    net = network(insts, topics, scores, focus)
    return solve(problem(net, **kw), options)


def test_topic_not_applicable():
    u = only_unmatched(run(hospitals(), [("h0", "cbhi", 1)]))
    assert u.reason == "topic_not_applicable" and "'hospital'" in u.fix


def test_no_scores():
    scores = {k: v for k, v in SCORES.items()}
    net_topics = (ACC, Topic("ipc", kinds=frozenset({"hospital"})))
    u = only_unmatched(run(hospitals(), [("h0", "ipc", 1)], topics=net_topics, scores=scores))
    assert u.reason == "no_scores"


def test_no_better_peer():
    u = only_unmatched(run(hospitals(), [("h4", "acc", 1)]))
    assert u.reason == "no_better_peer" and "50" not in u.detail and "90" in u.detail


def test_no_capacity():
    insts = hospitals(h3={"capacity": 0}, h4={"capacity": 0})
    u = only_unmatched(run(insts, [("h0", "acc", 1)]))
    assert u.reason == "no_capacity"


def test_below_min_gap_and_its_fix():
    options = MatchOptions(top_share=0.4, min_gap=90)
    u = only_unmatched(run(hospitals(), [("h1", "acc", 1)], options))
    assert u.reason == "below_min_gap"
    suggested = float(re.search(r"min_gap to (\d+)", u.fix).group(1))
    fixed = run(hospitals(), [("h1", "acc", 1)], dataclasses.replace(options, min_gap=suggested))
    assert len(fixed.pairs) == 1


def test_excluded():
    u = only_unmatched(run(hospitals(), [("h0", "acc", 1)],
                           exclusions=(Exclusion("h0", "h3"), Exclusion("h0", "h4", "acc"))))
    assert u.reason == "excluded"


def test_other_region():
    options = MatchOptions(top_share=0.4, same_region=True)
    u = only_unmatched(run(hospitals(), [("h0", "acc", 1)], options))
    assert u.reason == "other_region" and "north" in u.detail


def test_too_far_and_its_fix():
    options = MatchOptions(top_share=0.4, max_distance_km=100)
    u = only_unmatched(run(hospitals(), [("h0", "acc", 1)], options))
    assert u.reason == "too_far" and "nearest 150 km" in u.detail
    suggested = float(re.search(r"max_distance_km to (\d+)", u.fix).group(1))
    fixed = run(hospitals(), [("h0", "acc", 1)],
                dataclasses.replace(options, max_distance_km=suggested))
    assert [p.mentor_id for p in fixed.pairs] == ["h3"]


def test_mentors_full_and_its_fix():
    insts = hospitals(h3={"capacity": 1}, h4={"capacity": 1})
    focus = [("h0", "acc", 1), ("h1", "acc", 1), ("h2", "acc", 2)]
    result = run(insts, focus)
    u = only_unmatched(result)
    assert (u.institution_id, u.reason) == ("h2", "mentors_full")
    assert "(1 of 1)" in u.detail
    name = re.search(r"capacity of (\w+) from 1 to 2", u.fix).group(1)
    caps = {"h3": {"capacity": 1}, "h4": {"capacity": 1}}
    caps[name.lower()] = {"capacity": 2}
    raised = hospitals(**caps)
    assert len(run(raised, focus).pairs) == 3


def test_topic_capacity_fix():
    options = MatchOptions(top_share=0.2, topic_capacity=1)
    result = run(hospitals(), [("h0", "acc", 1), ("h1", "acc", 1)], options)
    u = only_unmatched(result)
    assert "topic_capacity to 2" in u.fix


def test_partner_limit():
    topics = (ACC, Topic("ipc", kinds=frozenset({"hospital"})))
    scores = dict(SCORES)
    scores.update({(f"h{k}", "ipc"): 90.0 - 10 * k for k in range(5)})  # h0 best on ipc
    scores[("h1", "ipc")] = 10.0
    options = MatchOptions(solver="cpsat", top_share=0.2, max_partners=1)
    result = run(hospitals(), [("h1", "acc", 1), ("h1", "ipc", 2)], options, scores=scores,
                 topics=topics)
    u = only_unmatched(result)
    assert u.reason == "partner_limit" and "max_partners to 2" in u.fix
    assert len(run(hospitals(), [("h1", "acc", 1), ("h1", "ipc", 2)],
                   dataclasses.replace(options, max_partners=2), scores=scores,
                   topics=topics).pairs) == 2


def test_alternative_reasons():
    # h4 (best, 150 km from h1) takes the priority-1 request of h0; h1 gets h3.
    insts = hospitals(h4={"capacity": 1})
    result = run(insts, [("h0", "acc", 1), ("h1", "acc", 2)])
    pairs = {p.mentee_id: p for p in result.pairs}
    assert pairs["h0"].mentor_id == "h4" and pairs["h1"].mentor_id == "h3"
    [alt] = pairs["h1"].alternatives
    assert alt.mentor_id == "h4" and alt.reason == "serving_higher_priority"
    [alt] = pairs["h0"].alternatives
    assert alt.mentor_id == "h3" and alt.reason in ("smaller_gain", "further_away")


def test_smaller_gain_and_further_away():
    result = run(hospitals(h3={"lat": -1.0, "lon": 29.0}, h4={"lat": -1.0, "lon": 29.0}),
                 [("h0", "acc", 1)], MatchOptions(top_share=0.4, weight_distance=0))
    [p] = result.pairs
    assert p.mentor_id == "h4" and p.alternatives[0].reason == "smaller_gain"
    result = run(hospitals(h4={"lat": -3.0}), [("h0", "acc", 1)],
                 MatchOptions(top_share=0.4, weight_gain=0.1))
    [p] = result.pairs
    assert p.mentor_id == "h3" and p.alternatives[0].reason == "further_away"


def test_continuity_bonus_keeps_the_previous_pair():
    base = run(hospitals(), [("h0", "acc", 1)])
    assert base.pairs[0].mentor_id == "h4"
    kept = run(hospitals(), [("h0", "acc", 1)], previous=(PreviousPair("h0", "acc", "h3"),))
    assert kept.pairs[0].mentor_id == "h3" and kept.pairs[0].continued
    assert kept.pairs[0].alternatives[0].reason == "not_continuing"


def test_locks_honoured_and_rejected_with_reasons():
    locks = (Lock("h0", "acc", "h3"), Lock("h1", "acc", "h2"), Lock("h2", "acc", "h9"),
             Lock("h0", "acc", "h4"))
    result = run(hospitals(), [("h0", "acc", 1), ("h1", "acc", 1)], locks=locks)
    # The rejected lock h2 -> h9 still declares h2's need on acc: it is served by another.
    assert [(p.mentee_id, p.mentor_id, p.locked) for p in result.pairs] == [
        ("h0", "h3", True), ("h1", "h4", False), ("h2", "h4", False)]
    reasons = {(r.lock.mentee_id, r.lock.mentor_id): r.reason for r in result.rejected_locks}
    assert "not in the top 40%" in reasons[("h1", "h2")]
    assert "unknown" in reasons[("h2", "h9")]
    assert "already locked to h3" in reasons[("h0", "h4")]


def test_lock_over_capacity_is_rejected():
    insts = hospitals(h4={"capacity": 1})
    locks = (Lock("h0", "acc", "h4"), Lock("h1", "acc", "h4"))
    result = run(insts, [("h0", "acc", 1), ("h1", "acc", 1)], locks=locks)
    [rejected] = result.rejected_locks
    assert rejected.lock.mentee_id == "h1" and "capacity 1" in rejected.reason


def test_lock_adds_its_request():
    result = run(hospitals(), [("h1", "acc", 1)], locks=(Lock("h0", "acc", "h3"),))
    assert {(p.mentee_id, p.mentor_id) for p in result.pairs} >= {("h0", "h3")}


def test_mentee_without_score_gets_an_estimated_gain():
    scores = {k: v for k, v in SCORES.items() if k != ("h0", "acc")}
    result = run(hospitals(), [("h0", "acc", 1)], scores=scores)
    [p] = result.pairs
    assert p.gain_estimated and p.mentee_score is None and "estimated" in p.why


def test_lower_is_better_topic():
    topic = Topic("readm", "Readmissions", direction="lower")
    scores = {(f"h{k}", "readm"): 10.0 - k for k in range(5)}   # h4 lowest = best
    result = run(hospitals(), [("h0", "readm", 1)], topics=(topic,), scores=scores)
    assert result.pairs[0].mentor_id == "h4"


def test_target_makes_high_performers():
    topic = Topic("acc", target=70.0)
    result = run(hospitals(h3={"capacity": 0}, h4={"capacity": 0}), [("h0", "acc", 1)],
                 MatchOptions(top_share=0.2), topics=(topic,))
    assert result.pairs[0].mentor_id == "h2"


def test_cross_kind():
    insts = hospitals() + [inst("d0", "district", lat=-1.0, lon=29.0)]
    topic = Topic("acc")
    scores = dict(SCORES)
    scores[("d0", "acc")] = 40.0
    alone = run(insts, [("d0", "acc", 1)], topics=(topic,), scores=scores)
    assert only_unmatched(alone).reason == "no_better_peer"
    crossed = run(insts, [("d0", "acc", 1)], MatchOptions(top_share=0.4, cross_kind=True),
                  topics=(topic,), scores=scores)
    assert crossed.pairs[0].mentor_id in {"h3", "h4"}


@pytest.mark.parametrize("bad", [dict(top_share=0), dict(mentor_capacity=-1),
                                 dict(solver="magic"), dict(max_partners=2),
                                 dict(weight_distance=-1)])
def test_bad_options_fail_loudly(bad):
    with pytest.raises(ValueError):
        MatchOptions(**bad)


@settings(max_examples=200)
@given(arcs_per_request=st.lists(st.lists(st.sampled_from([0.5, 1.0, 1.0, 2.25, 3.0]),
                                          max_size=7), min_size=1, max_size=8),
       chosen_at=st.lists(st.integers(-1, 7), min_size=8, max_size=8),
       count=st.integers(0, 9))
def test_next_best_passes_agree_with_the_full_sort(arcs_per_request, chosen_at, count):
    """The quick way to each request's next-best arcs (a pass per alternative) picks what
    sorting all arcs by request, cost and mentor picks, ties included."""
    sizes = [len(a) for a in arcs_per_request]
    start = np.r_[0, np.cumsum(sizes)]
    cand = SimpleNamespace(
        requests=[None] * len(sizes), arc_start=start,
        arc_cost=np.array([c for a in arcs_per_request for c in a], float),
        arc_request=np.repeat(np.arange(len(sizes)), sizes),
        rules=SimpleNamespace(tuning=Tuning(next_best_passes=9)))    # always the passes
    chosen = np.array([start[r] + k if 0 <= k < sizes[r] else -1
                       for r, k in enumerate(chosen_at[:len(sizes)])], np.int64)
    want = explain._next_best_sorted(cand, chosen, count)
    got = explain._next_best(cand, chosen, count)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    by_request = [[start[r] + k for k in np.argsort(a, kind="stable")
                   if start[r] + k != chosen[r]][:count] for r, a in enumerate(arcs_per_request)]
    assert want[1].tolist() == [a for arcs in by_request for a in arcs]


@settings(max_examples=150, deadline=None)
@given(case=random_problems(max_institutions=9, max_requests=9))
def test_eligible_mentors_counted_by_score_equal_every_pair_checked(case):
    """Where a pair's eligibility depends on the mentee only through its score, unserved
    requests' eligible mentors are counted by a sorted search: the same counts as checking
    every pair of the pool against every rule."""
    from tpn.matching import engine
    from tpn.matching.candidates import Rule
    from tpn.matching.fixes import eligible_counts

    problem, options = case
    run = engine._prepare(problem, dataclasses.replace(options, candidates=0), Tuning(),
                          engine._quiet)
    cand, enc = run.cand, run.enc
    requests = np.arange(len(cand.requests))
    expected = []
    for i, t, rule in zip(cand.req_inst.tolist(), cand.req_topic.tolist(),
                          cand.req_rule.tolist()):
        pool = cand.rules.pool(t, int(enc.kind[i]))
        code, _ = cand.rules.evaluate(np.array([[i]]), t, pool[None, :])
        expected.append(int((code == Rule.ELIGIBLE).sum()) if rule == Rule.ELIGIBLE else 0)
    assert eligible_counts(cand, requests).tolist() == expected


def test_eligible_mentors_are_counted_by_score_on_the_generators_network(monkeypatch):
    """The sorted search is what counts on a network with no distance, region, gap or
    exclusion rule (the default options): every group, and the counts are every pair's."""
    from tpn.matching import engine, fixes
    from tpn.matching.candidates import Rule
    from tpn.models import MatchProblem
    from tpn.samples import generate

    run = engine._prepare(MatchProblem.from_network(generate(300, seed=5)), MatchOptions(),
                          Tuning(), engine._quiet)
    cand = run.cand
    requests = np.arange(len(cand.requests))
    calls, count_better = [], fixes._count_better
    monkeypatch.setattr(fixes, "_count_better", lambda *a: calls.append(a) or count_better(*a))
    sorted_search = fixes.eligible_counts(cand, requests)
    key = cand.req_topic * len(run.enc.kinds) + run.enc.kind[cand.req_inst]
    assert len(calls) == np.unique(key[cand.req_rule == Rule.ELIGIBLE]).size > 0
    monkeypatch.setattr(fixes, "_by_score_alone", lambda rules, topic: False)
    every_pair = fixes.eligible_counts(cand, requests)
    assert len(calls) == np.unique(key[cand.req_rule == Rule.ELIGIBLE]).size
    assert sorted_search.tolist() == every_pair.tolist() and sorted_search.sum() > 0


def test_mentors_counted_beforehand_are_used_and_must_be_for_these_unserved_requests():
    """Counts made earlier (beside other steps) give the same explanations as counting
    again; counts made for another set of unserved requests are a bug, said, never
    printed as a count."""
    from tpn.errors import TpnBug
    from tpn.matching import engine
    from tpn.matching.explain import _Loads, explain_unmatched
    from tpn.matching.fixes import eligible_counts
    from tpn.models import MatchProblem
    from tpn.samples import generate

    run = engine._prepare(MatchProblem.from_network(generate(300, seed=5)), MatchOptions(),
                          Tuning(), engine._quiet)
    engine.SOLVERS["flow"](run, engine._quiet)
    chosen = run.out.chosen
    unserved = np.flatnonzero(chosen < 0)
    assert unserved.size > 0
    loads = _Loads(run.enc, run.cand, chosen, run.inp)
    counts = np.full(chosen.size, -1, np.int64)
    counts[unserved] = eligible_counts(run.cand, unserved)
    fresh = explain_unmatched(run.enc, run.cand, chosen, run.options, loads)
    assert explain_unmatched(run.enc, run.cand, chosen, run.options, loads,
                             counts=counts) == fresh
    assert [u.eligible_mentors for u in fresh] == counts[unserved].tolist()
    counts[unserved[0]] = -1
    with pytest.raises(TpnBug):
        explain_unmatched(run.enc, run.cand, chosen, run.options, loads, counts=counts)


@pytest.mark.parametrize("kinds", ["two", "one"])
def test_cross_kind_is_re_solved_for_only_the_requests_another_kind_could_take(
        monkeypatch, kinds):
    """A request among the best of its kind is told "allow cross_kind (checked …)" only
    when a re-solve with cross_kind serves it. A request no mentor of another kind could
    take (it is the best of every kind, or there is no other kind) keeps its fix without
    one, and when no such request could be taken, no re-solve runs: the fixes are those
    that re-solving for every such request gives."""
    from tpn.matching import engine
    from tpn.matching.candidates import build_candidates
    from tpn.models import MatchProblem
    from tpn.samples import generate
    from tpn.scoring import Encoded
    from helpers import best_choose_too

    net = generate(300, seed=2)
    if kinds == "one":
        net = dataclasses.replace(net, institutions=tuple(
            dataclasses.replace(i, kind="hospital") for i in net.institutions))
    problem = MatchProblem.from_network(best_choose_too(net))
    re_solves, started = [], []
    real_served, real_beside = engine._served, engine._served_beside

    def spy(p, o, start, asked=None):
        re_solves.append(o.cross_kind)
        return real_served(p, o, start, asked)

    def spy_beside(start, stack):
        jobs = real_beside(start, stack)
        started.extend(o.cross_kind for o in jobs)
        return jobs

    monkeypatch.setattr(engine, "_served", spy)
    monkeypatch.setattr(engine, "_served_beside", spy_beside)
    asked = solve(problem, MatchOptions())
    best = [u for u in asked.unmatched if u.reason == "no_better_peer"]
    checked = [u for u in best if "allow cross_kind (checked" in u.fix]
    assert best
    real_passes = explain.another_kind_passes
    monkeypatch.setattr(explain, "another_kind_passes",
                        lambda cand, rows, first=False: np.ones(rows.size, bool))
    monkeypatch.setattr(engine, "another_kind_passes", explain.another_kind_passes)
    every = solve(problem, MatchOptions())
    assert every.unmatched == asked.unmatched and every.pairs == asked.pairs
    if kinds == "one":
        # Only the forced one was started, and ran.
        assert started == [True] and re_solves == [True] and not checked
    else:
        assert started == [True, True] and re_solves == [True, True] and checked
        enc = Encoded.build(problem.institutions, problem.topics, problem.snapshot)
        cand = build_candidates(enc, problem.requests, MatchOptions())
        rows = np.array([cand.request_position(u.institution_id, u.topic_id) for u in best])
        passes = real_passes(cand, rows)
        assert passes.any() and not passes.all()     # both kinds of request are here
