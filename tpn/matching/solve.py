"""``solve(problem, options)``: the one entry to the matching engine.

Steps: encode the network as arrays, build requests and candidate arcs, check the locks,
run the chosen solver, explain the result. Each step's time is in ``result.timings``.

>>> from tpn.samples import rwanda
>>> result = solve(MatchProblem.from_network(rwanda()))
>>> result.solver, result.optimal, len(result.pairs) + len(result.unmatched) == len(rwanda().focus)
('flow', True, True)
"""

from __future__ import annotations

import dataclasses
from time import perf_counter
from typing import Callable

import numpy as np

from ..gc_pause import gc_paused
from ..models import FocusRequest, MatchProblem, MatchResult, RejectedLock
from ..scoring import Encoded
from ..second_core import can_fork, in_second_process
from .candidates import Candidates, Rule, build_candidates, cost_range, with_arcs
from .certificate import violations
from .cpsat import solve_cpsat
from .encoding import (COST_SCALE, SolverInput, SolverOutput, coverage_penalties,
                       integer_costs, priority_weights)
from .explain import RULE_REASON, check_rule_fixes, explain
from .canonical import canonical
from .fixes import NotOptimal, next_places, with_next_best
from .flow import solve_flow
from .options import MatchOptions
from .stability import keeping_previous, solve_flow_capped
from .warm import WarmRounds

# Once some arc violates the certificate, arcs within this many cost units of violating
# are added too: the next round's prices move, and these are the arcs it would find next
# (at 30,000 institutions with K = 10: 3 rounds, against 4 with 0.05 and 5 with none;
# 0.2 also takes 3, with 30 % more arcs).
MARGIN = 0.1 * COST_SCALE

# Rounds are solved from the last optimum (warm.WarmRounds) once a round adds at most this
# share of the arcs: then the optimum moves little and the simplex pivots only there. A
# round that adds more moves it far, which OR-Tools' cost scaling does faster (100,000
# institutions: a round adding 47 % took 174 s warm against 21 s, one adding 14 % 5 s
# against 24 s; at 30,000 one adding 36 % took about as long either way).
WARM_SHARE = 0.25
# Below this many arcs even a round that moves the optimum far is quicker warm (2,000
# institutions: 0.02 s against 0.08 s for a second round adding 28 %).
WARM_ARCS = 100_000
# A warm round's check runs in a second process while this one explains the optimum (see
# _check_while_explaining) when the round added at most this share of the arcs, so that
# the check most likely finds nothing (30,000 institutions: the third round adds 6.8 %,
# 100,000: 14 %, both the last; 2,000: 28 % and then 3.5 %, the last) ...
OVERLAP_SHARE = 0.2
# ... and the network has this many arcs: at 2,000 institutions (72,000 arcs) the check
# takes 0.05 s, and 16 runs each way showed no gain.
OVERLAP_ARCS = 100_000

SOLVERS: dict[str, Callable[[SolverInput], SolverOutput]] = {
    "flow": solve_flow,
    "cpsat": solve_cpsat,
}


def solve(problem: MatchProblem, options: MatchOptions | None = None,
          progress: Callable[[str, float | None], None] | None = None) -> MatchResult:
    """The optimal matching and its explanations. ``progress(stage, fraction or None)`` is
    called as the work goes on (the CLI draws it on a terminal)."""
    options = options or MatchOptions()
    report = progress or (lambda stage, fraction=None: None)
    run = _optimise(problem, options, report, explain=True)
    explained = run.explained
    if explained is None:
        explained = _explain(run.enc, run.cand, run.out, run.inp, options, report)
        run.lap("explain")
    pairs, unmatched = explained.pairs, explained.unmatched
    # The optimum explained is the canonical one, on candidates grown by the arcs it needs.
    run.cand, run.inp, run.out.chosen = explained.cand, explained.inp, explained.chosen
    unmatched = check_rule_fixes(problem, options, unmatched, run.cand, _served)
    run.lap("explain")
    cand, inp, out = run.cand, run.inp, run.out
    return MatchResult(
        pairs=tuple(pairs),
        unmatched=tuple(unmatched),
        rejected_locks=tuple(run.rejected),
        solver=options.solver,
        optimal=out.optimal,
        objective={**_objective(cand, inp, out), "certificate_rounds": run.rounds,
                   "arcs": int(cand.arc_request.size),
                   "flagged_scores": int(run.enc.flagged.sum()),
                   "previous_pairs": len(set(problem.previous))},
        timings=run.timings,
        options=options.as_dict(),
    )


@dataclasses.dataclass
class _Run:
    """One optimisation: the encoded network, the final candidates and solver input, the
    optimum, and (when explaining overlapped the last check) its explanations."""

    enc: Encoded
    cand: Candidates
    inp: SolverInput
    out: SolverOutput
    rejected: list
    rounds: int
    explained: "_Explained | None"
    timings: dict
    clock: float

    def lap(self, stage: str) -> None:
        """Add the time since the last lap to ``stage`` (solve and certificate repeat)."""
        now = perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.clock
        self.clock = now



def _served(problem: MatchProblem, options: MatchOptions) -> set[tuple[str, str]]:
    """(institution, topic) of the requests that tpn's match of ``problem`` serves."""
    run = _optimise(problem, options, lambda *a, **k: None)
    cand, chosen = run.cand, run.out.chosen
    if _has_canonical(options):
        cand, _inp, chosen = canonical(
            cand, run.inp, chosen, lambda c: _input_with_locks(run.enc, c, run.inp, options))
    return {(cand.requests[r].institution_id, cand.requests[r].topic_id)
            for r in np.flatnonzero(chosen >= 0).tolist()}


def _has_canonical(options: MatchOptions) -> bool:
    """The tie-break among optima applies to the flow's objective (max_changes adds a bonus
    found by search, CP-SAT its own terms: both are deterministic as they are)."""
    return options.solver == "flow" and options.max_changes is None


def _optimise(problem: MatchProblem, options: MatchOptions, report,
              explain: bool = False) -> _Run:
    """The optimum (every certificate round); with ``explain``, explanations are made
    beside the last check when that pays (``_check_while_explaining``)."""
    run = _Run(None, None, None, None, [], 0, None, {}, perf_counter())
    lap = run.lap
    snapshot = problem.snapshot
    if options.ignore_flags and snapshot.flags:
        snapshot = dataclasses.replace(snapshot, flags={})
    enc = run.enc = Encoded.build(problem.institutions, problem.topics, snapshot)
    lap("encode")
    requests = _with_lock_requests(problem.requests, problem.locks, enc)
    report("finding candidate mentors", None)
    # CP-SAT's extra terms have no flow certificate: it always sees every eligible arc.
    prune = options.candidates if options.solver == "flow" else 0
    cand = build_candidates(enc, requests, options, problem.exclusions, problem.previous,
                            per_request=prune)
    if prune:
        cand = _with_lock_arcs(enc, cand, problem.locks)
    lap("candidates")
    forced, rejected = _apply_locks(enc, cand, problem, options)
    inp = solver_input(enc, cand, forced, options)
    timings = run.timings
    if options.solver == "cpsat":
        report("solving (CP-SAT)", None)
        inp.hint = solve_flow(inp).chosen
        if options.max_changes is not None:
            inp.keep_hint = keeping_previous(inp)
        out = solve_cpsat(inp)
        lap("solve")
    else:
        timings["solve"] = timings["certificate"] = 0.0
        warm, added = None, 0
        while True:
            report(f"solving, round {run.rounds + 1}", None)
            if warm is not None:
                out = warm.solve(inp)
            elif options.max_changes is None:
                out = solve_flow(inp, potentials=cand.pruned)
            else:
                out = solve_flow_capped(inp, potentials=cand.pruned)
            run.rounds += 1
            lap("solve")
            if not cand.pruned:
                break
            report(f"checking optimality, round {run.rounds}", None)
            if explain and warm is not None and added <= OVERLAP_SHARE * cand.arc_request.size \
                    and cand.arc_request.size >= OVERLAP_ARCS and can_fork():
                (add_r, add_m), run.explained, check_s = _check_while_explaining(
                    cand, inp, out, prune,
                    lambda stop, c=cand, o=out, i=inp: _explain(enc, c, o, i, options, report,
                                                                stop))
                # The time the two steps overlap counts as the certificate's.
                timings["certificate"] += check_s
                run.clock += check_s
                lap("explain")
            else:
                add_r, add_m = violations(cand, inp, out.potentials, per_request=prune,
                                          margin=MARGIN)
                lap("certificate")
            if add_r.size == 0:
                break
            n_arcs = cand.arc_request.size
            if warm is None and options.max_changes is None and WarmRounds.applies(inp) \
                    and (add_r.size <= WARM_SHARE * n_arcs or n_arcs < WARM_ARCS):
                warm = WarmRounds(inp, out)
            cand = with_arcs(cand, add_r, add_m, cand.rules)
            added = cand.arc_request.size - n_arcs
            forced, rejected = _apply_locks(enc, cand, problem, options)
            inp = solver_input(enc, cand, forced, options)
            lap("certificate")
    run.cand, run.inp, run.out, run.rejected = cand, inp, out, rejected
    return run


class _Superseded(Exception):
    """The certificate found arcs to add: the optimum being explained is not the last."""


@dataclasses.dataclass(frozen=True)
class _Explained:
    pairs: list
    unmatched: list
    cand: Candidates          # grown by the arcs the canonical optimum and explanations use
    inp: SolverInput
    chosen: np.ndarray        # the canonical optimum, in cand's arcs


def _explain(enc, cand, out, inp, options, report, superseded=None) -> _Explained:
    """The canonical optimum among those equal to ``out`` (``canonical.canonical``), its
    pairs and unmatched requests explained; given up with _Superseded as soon as
    ``superseded()`` is true."""
    def progress(fraction: float) -> None:
        if superseded is not None and superseded():
            raise _Superseded
        report("explaining", 0.9 * fraction)

    report("explaining", 0.0)
    with gc_paused():
        chosen, places = out.chosen, None
        first = inp
        try:
            if _has_canonical(options):
                cand, inp, chosen = canonical(
                    cand, inp, chosen, lambda c: _input_with_locks(enc, c, first, options))
            unserved = np.flatnonzero((chosen < 0) & (cand.req_rule == Rule.ELIGIBLE))
            if unserved.size and _has_canonical(options):
                # Whom one more place at each mentor would serve: only checked fixes are said.
                places, cand, chosen = next_places(
                    cand, inp, chosen, lambda c: _input_with_locks(enc, c, first, options))
                inp = _input_with_locks(enc, cand, first, options)
        except NotOptimal:
            # Arcs left out make this optimum a round's, not the last: the check beside it
            # will say so (without one, that is a bug).
            if superseded is None:
                raise
            raise _Superseded from None
        grown, chosen, forced = with_next_best(cand, chosen, inp.forced, options.alternatives)
        if grown is not cand:
            cand, inp = grown, solver_input(enc, grown, forced, options)
        pairs, unmatched = explain(enc, cand, chosen, inp, options, progress, places)
    report("explaining", 1.0)
    return _Explained(pairs, unmatched, cand, inp, chosen)


def _input_with_locks(enc, cand, old_inp, options) -> SolverInput:
    """The solver input of grown candidates, with the same locks (arc indices follow)."""
    forced = np.full(len(cand.requests), -1, np.int64)
    locked = np.flatnonzero(old_inp.forced >= 0)
    if locked.size:
        n = len(enc.institutions)
        key = cand.arc_request * n + cand.arc_mentor
        forced[locked] = np.searchsorted(key, locked * n + old_inp.arc_mentor[old_inp.forced[locked]])
    return solver_input(enc, cand, forced, options)


def _check_while_explaining(cand, inp, out, prune, explain_now):
    """The certificate's check of ``out`` in a second process while this one explains it.

    A round solved warm is usually the last, so its check most often finds nothing and
    the explanations are ready when it ends (at 30,000 institutions the check takes
    about 1 s and explaining 3 s; at 100,000, 4-5 s and 7-9 s). When the check finds arcs
    to add, explaining stops at its next progress step and the rounds go on. Returns
    ((requests, mentors) to add, the explanations or None, the check's seconds)."""
    def check():
        start = perf_counter()
        add = violations(cand, inp, out.potentials, per_request=prune, margin=MARGIN)
        return add, perf_counter() - start

    with in_second_process(check) as job:
        def superseded() -> bool:
            return job.done() and job.result()[0][0].size > 0
        try:
            explained = explain_now(superseded)
        except _Superseded:
            explained = None
        add, seconds = job.result()
    return add, (explained if add[0].size == 0 else None), seconds


def solver_input(enc: Encoded, cand: Candidates, forced: np.ndarray,
                 options: MatchOptions) -> SolverInput:
    """The solvers' common input: integer costs, coverage penalties, capacities."""
    n_req = len(cand.requests)
    cost = integer_costs(cand.arc_cost)
    bonus = integer_costs(np.array([options.weight_same_mentor + options.weight_mutual]))[0]
    lowest, highest = integer_costs(np.array(cost_range(enc, options)))
    penalty = coverage_penalties(priority_weights(cand.req_priority), int(lowest), int(highest),
                                 extra_range=int(n_req * bonus),
                                 n_nodes=n_req + cand.arc_request.size + len(enc.institutions) + 1)
    capacity, topic_cap = _capacities(enc, options)
    return SolverInput(
        n_requests=n_req,
        n_topics=max(1, len(enc.topics)),
        arc_request=cand.arc_request,
        arc_mentor=cand.arc_mentor,
        arc_topic=cand.req_topic[cand.arc_request],
        arc_mentee=cand.req_inst[cand.arc_request],
        arc_cost=cost,
        penalty=penalty,
        forced=forced,
        mentor_capacity=capacity,
        topic_capacity=topic_cap,
        options=options,
        arc_previous=cand.arc_previous,
    )


def _capacities(enc: Encoded, options: MatchOptions) -> tuple[np.ndarray, np.ndarray]:
    """(n,) total and per-topic capacity of each institution."""
    capacity = enc.resolved_capacity(options.mentor_capacity)
    if options.topic_capacity is None:
        return capacity, capacity
    return capacity, np.minimum(capacity, options.topic_capacity)


def _with_lock_requests(requests, locks, enc) -> list[FocusRequest]:
    """A lock implies its request: add it (priority 1) when the focus set lacks it."""
    have = {(r.institution_id, r.topic_id) for r in requests}
    extra = []
    for lock in locks:
        key = (lock.mentee_id, lock.topic_id)
        if key not in have and lock.mentee_id in enc.inst_index and lock.topic_id in enc.topic_index:
            have.add(key)
            extra.append(FocusRequest(lock.mentee_id, lock.topic_id, 1))
    return list(requests) + extra


def _with_lock_arcs(enc, cand, locks) -> Candidates:
    """Pruning must not drop an eligible lock: its arc is always kept."""
    req, men = [], []
    for lock in locks:
        if {lock.mentee_id, lock.mentor_id} <= enc.inst_index.keys() and \
                lock.topic_id in enc.topic_index:
            m, t = enc.inst_index[lock.mentor_id], enc.topic_index[lock.topic_id]
            r = cand.request_position(lock.mentee_id, lock.topic_id)
            if cand.rules.pair_rule(int(cand.req_inst[r]), t, m) == Rule.ELIGIBLE:
                req.append(r)
                men.append(m)
    if not req:
        return cand
    return with_arcs(cand, np.array(req, np.int64), np.array(men, np.int64), cand.rules)


def _apply_locks(enc: Encoded, cand: Candidates, problem: MatchProblem,
                 options: MatchOptions) -> tuple[np.ndarray, list[RejectedLock]]:
    """The arc each locked request must take; locks that cannot hold, with the reason."""
    forced = np.full(len(cand.requests), -1, np.int64)
    rejected: list[RejectedLock] = []
    capacity, topic_cap = _capacities(enc, options)
    used: dict[int, int] = {}
    used_topic: dict[tuple[int, int], int] = {}
    start = cand.arc_start
    for lock in sorted(set(problem.locks), key=lambda k: (k.mentee_id, k.topic_id, k.mentor_id)):
        unknown = [x for x in (lock.mentee_id, lock.mentor_id) if x not in enc.inst_index]
        if unknown or lock.topic_id not in enc.topic_index:
            what = ", ".join(repr(u) for u in unknown) or repr(lock.topic_id)
            rejected.append(RejectedLock(lock, f"unknown institution or topic {what}"))
            continue
        r = cand.request_position(lock.mentee_id, lock.topic_id)
        m, t = enc.inst_index[lock.mentor_id], enc.topic_index[lock.topic_id]
        if forced[r] >= 0:
            other = enc.institutions[cand.arc_mentor[forced[r]]].id
            rejected.append(RejectedLock(lock, f"the request is already locked to {other}"))
            continue
        arcs = np.arange(start[r], start[r + 1])
        hit = arcs[cand.arc_mentor[arcs] == m]
        if hit.size == 0:
            rule = cand.rules.pair_rule(int(cand.req_inst[r]), t, m)
            rejected.append(RejectedLock(lock, _lock_rule_text(rule, options,
                                                               enc.flags.get((m, t)))))
            continue
        if used.get(m, 0) >= capacity[m]:
            rejected.append(RejectedLock(
                lock, f"{lock.mentor_id} has capacity {capacity[m]}, taken by earlier locks"))
            continue
        if used_topic.get((m, t), 0) >= topic_cap[m]:
            rejected.append(RejectedLock(
                lock, f"{lock.mentor_id} has topic capacity {topic_cap[m]} on "
                      f"{lock.topic_id}, taken by earlier locks"))
            continue
        used[m] = used.get(m, 0) + 1
        used_topic[(m, t)] = used_topic.get((m, t), 0) + 1
        forced[r] = hit[0]
    return forced, rejected


def _lock_rule_text(rule: Rule, options: MatchOptions, flag=None) -> str:
    if rule == Rule.MENTOR_FLAGGED:
        return (f"breaks a rule (flagged_score): the mentor's score {flag.reason}: not "
                "considered as a mentor on this topic until someone checks and accepts it")
    reason = RULE_REASON[rule]
    texts = {
        Rule.SELF: "an institution cannot mentor itself",
        Rule.OTHER_KIND: "mentor and mentee are of different kinds (cross_kind is off)",
        Rule.MENTOR_TOPIC_NOT_APPLICABLE: "the topic does not apply to the mentor's kind",
        Rule.MENTOR_NO_SCORE: "the mentor has no score on the topic",
        Rule.NOT_HIGH_PERFORMER: f"the mentor is not in the top {options.top_share:.0%} of "
                                 "its kind on the topic",
        Rule.NOT_BETTER: "the mentor does not score better than the mentee",
        Rule.NO_CAPACITY: "the mentor's capacity is 0",
        Rule.BELOW_MIN_GAP: f"the gain is below min_gap={options.min_gap:g} percentile points",
        Rule.EXCLUDED: "the pair is on the exclusion list",
        Rule.OTHER_REGION: "the two are in different regions (same_region is on)",
        Rule.TOO_FAR: f"the two are further apart than max_distance_km={options.max_distance_km:g}"
        if options.max_distance_km is not None else "too far",
        Rule.TOPIC_NOT_APPLICABLE: "the topic does not apply to the mentee's kind",
    }
    return f"breaks a rule ({reason}): {texts.get(rule, reason)}"


def _objective(cand: Candidates, inp: SolverInput, out: SolverOutput) -> dict[str, float]:
    chosen = out.chosen
    arcs = chosen[chosen >= 0]
    figures = cand.figures(arcs)
    weights = priority_weights(cand.req_priority)
    matched = chosen >= 0
    obj = {
        "requests": int(len(cand.requests)),
        "matched": int(matched.sum()),
        "coverage_weight": int(weights[matched].sum()),
        "coverage_weight_possible": int(weights.sum()),
        "cost": round(float(cand.arc_cost[arcs].sum()), 4),
        "cost_gain": round(float(figures["arc_cost_gain"].sum()), 4),
        "cost_distance": round(float(figures["arc_cost_distance"].sum()), 4),
        "cost_size": round(float(figures["arc_cost_size"].sum()), 4),
        "cost_continuity": round(float(figures["arc_cost_continuity"].sum()), 4),
        "previous_kept": int(cand.arc_previous[arcs].sum()),
        "solver_objective": int(out.objective),
        "solver_bound": int(out.bound),
        "gap": round(abs(out.objective - out.bound) / max(1, abs(out.objective)), 6),
        "cost_scale": COST_SCALE,
    }
    obj.update({f"stat_{k}": v for k, v in out.stats.items() if isinstance(v, (int, float))})
    return obj


__all__ = ["solve", "solver_input", "SOLVERS"]
