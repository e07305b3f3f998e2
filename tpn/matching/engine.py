"""``solve(problem, options)``: the one entry to the matching engine.

Steps: encode the network as arrays, build requests and candidate arcs, check the locks,
run the chosen solver (``SOLVERS``), pick the canonical optimum among equal ones, explain
it. Each step's time is in ``result.timings``.

>>> from tpn.samples import rwanda
>>> result = solve(MatchProblem.from_network(rwanda()))
>>> result.solver, result.optimal, len(result.pairs) + len(result.unmatched) == len(rwanda().focus)
('flow', True, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
from time import perf_counter
from typing import Callable

import numpy as np

from ..i18n import _, english_only, keeps
from ..models import MatchProblem, MatchResult
from ..runtime.gc_pause import gc_paused
from ..scoring import Encoded
from ..runtime.parallel import can_fork, in_second_process
from .canonical import canonical
from .candidates import (Candidates, Rule, RuleContext, build_candidates, cost_range,
                         is_member, preferences, under_milder_rules, with_arcs)
from .certificate import settled, violations
from .cpsat import solve_cpsat
from .encoding import (COST_SCALE, SolverInput, SolverOutput, coverage_penalties,
                       integer_costs, priority_weights)
from .explain import (OTHER_KIND_MAY_HELP, RULE_REASON, another_kind_passes,
                      check_rule_fixes, explain)
from .fixes import NotOptimal, eligible_counts, next_best_arcs, next_places, with_next_best
from .flow import solve_flow
from .locks import apply_locks, capacities, with_lock_arcs, with_lock_requests
from .options import MatchOptions
from . import separable
from .stability import keeping_previous, solve_flow_capped
from .tuning import Tuning
from .warm import WarmRounds

EXPLAINING = _("explaining")


def solve(problem: MatchProblem, options: MatchOptions | None = None,
          progress: Callable[[str, float | None], None] | None = None,
          tuning: Tuning | None = None) -> MatchResult:
    """The optimal matching and its explanations. ``progress(stage, fraction or None)`` is
    called as the work goes on (the CLI draws it on a terminal); ``tuning`` changes how fast
    the answer comes, never the answer."""
    options = options or MatchOptions()
    report = progress or _quiet
    with contextlib.ExitStack() as stack:
        if not keeps():
            # Explanations in plain English unless a caller keeps how they were made, to
            # say them in another language (a stored run): keeping costs time and memory.
            stack.enter_context(english_only())
        run = _prepare(problem, options, tuning or Tuning(), report)
        early = _served_early(run, stack)
        SOLVERS[options.solver](run, report, explain=True)
        start = _Start.of(run)
        # The re-solve with cross_kind that checking the fixes asks for, beside the
        # explanations (unless it started beside the match, or the last round's check
        # already ran it beside them).
        served = run.served if run.explained is not None else \
            early if early is not None else _served_beside(start, stack)
        explained = run.explained
        if explained is None:
            explained = _explain(run, run.cand, run.out, run.inp, report)
            run.lap("explain")
        # The optimum explained is the canonical one, on candidates grown by the arcs it
        # needs.
        run.cand, run.inp, run.out.chosen = explained.cand, explained.inp, explained.chosen
        unmatched = check_rule_fixes(
            problem, options, explained.unmatched, run.cand,
            lambda p, o, asked: served[o].result() if o in served
            else _served(p, o, start, asked))
        run.lap("explain")
    cand, inp, out = run.cand, run.inp, run.out
    return MatchResult(
        pairs=tuple(explained.pairs),
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


def _quiet(stage: str, fraction: float | None = None) -> None:
    return None


@dataclasses.dataclass
class _Run:
    """One match's state: the network as arrays, the candidates and solver input of the
    last round, its optimum, and (when explaining overlapped the last check) its
    explanations."""

    problem: MatchProblem
    options: MatchOptions
    tuning: Tuning
    enc: Encoded
    cand: Candidates
    inp: SolverInput
    out: SolverOutput | None = None
    rejected: list = dataclasses.field(default_factory=list)
    rounds: int = 0
    explained: "_Explained | None" = None
    served: dict = dataclasses.field(default_factory=dict)   # see _served_beside
    timings: dict = dataclasses.field(default_factory=dict)
    clock: float = dataclasses.field(default_factory=perf_counter)

    def lap(self, stage: str) -> None:
        """Add the time since the last lap to ``stage`` (solve and certificate repeat)."""
        now = perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.clock
        self.clock = now

    def relock(self, cand: Candidates) -> None:
        """Grown candidates become the run's, with their locks and solver input."""
        forced, self.rejected = apply_locks(self.enc, cand, self.problem, self.options)
        self.cand, self.inp = cand, solver_input(self.enc, cand, forced, self.options,
                                                 self.tuning)


def _prepare(problem: MatchProblem, options: MatchOptions, tuning: Tuning, report) -> _Run:
    """Encode the network, build the candidate arcs (pruned for the flow), apply the locks."""
    clock = perf_counter()
    snapshot = problem.snapshot
    if options.ignore_flags and snapshot.flags:
        snapshot = dataclasses.replace(snapshot, flags={})
    enc = Encoded.build(problem.institutions, problem.topics, snapshot)
    encoded = perf_counter()
    requests = with_lock_requests(problem.requests, problem.locks, enc)
    report(_("finding candidate mentors"), None)
    # CP-SAT's extra terms have no flow certificate: it always sees every eligible arc.
    prune = options.candidates if options.solver == "flow" else 0
    cand = build_candidates(enc, requests, options, problem.exclusions, problem.previous,
                            per_request=prune, tuning=tuning)
    if prune:
        cand = with_lock_arcs(enc, cand, problem.locks)
    run = _Run(problem, options, tuning, enc, cand, None,
               timings={"encode": encoded - clock}, clock=encoded)
    run.relock(cand)
    run.lap("candidates")
    return run


# --- the solvers, by name (``MatchOptions.solver``) --------------------------------------


def _solve_cpsat(run: _Run, report, explain: bool = False) -> None:
    """CP-SAT over every eligible arc, warm-started from the flow's optimum."""
    report(_("solving (CP-SAT)"), None)
    inp = run.inp
    inp.hint = solve_flow(inp).chosen
    if run.options.max_changes is not None:
        inp.keep_hint = keeping_previous(inp)
    run.out = solve_cpsat(inp)
    run.rounds = 1
    run.lap("solve")


def _solve_flow(run: _Run, report, explain: bool = False) -> None:
    """The min-cost flow, over pruned candidates proven by the certificate's rounds (the
    first solved over every eligible arc at once where costs are the gain alone)."""
    _Rounds(run, report, explain).run(_separable(run, report))


def _separable(run: _Run, report) -> SolverOutput | None:
    """The optimum of ``separable.separable_optimum``, its arcs added to the run's: None
    where it does not apply, or where its potentials do not prove it over the run's arcs
    (then the rounds solve them)."""
    if not (run.cand.pruned and separable.applies(run.cand, run.inp)):
        return None
    report(_("solving, round {n}", n=1), None)
    seed = separable.separable_optimum(run.cand, run.inp)
    if seed is None:
        return None
    before = run.cand, run.inp, run.rejected
    run.relock(with_arcs(run.cand, seed.requests, seed.mentors, run.cand.rules))
    n = len(run.enc.institutions)
    chosen = np.full(run.inp.n_requests, -1, np.int64)
    chosen[seed.requests] = np.searchsorted(run.cand.arc_request * n + run.cand.arc_mentor,
                                            seed.requests * n + seed.mentors)
    objective = separable.proven(run.inp, chosen, seed.potentials)
    run.lap("solve")
    if objective is None:
        run.cand, run.inp, run.rejected = before
        return None
    return SolverOutput(chosen=chosen, optimal=True, objective=objective, bound=objective,
                        stats={"arcs": int(run.cand.arc_request.size), "separable": 1},
                        potentials=seed.potentials, whole=True)


SOLVERS: dict[str, Callable[..., None]] = {"flow": _solve_flow, "cpsat": _solve_cpsat}


class _Rounds:
    """The certificate's rounds over pruned candidates::

        solve ──► check ──► no arc violates: the optimum is the full problem's
          ▲         │
          └─ grow ◄─┘ arcs to add (from here warm, when the round added few)

    ``solve`` is OR-Tools' (capped by max_changes when set) until a round adds few arcs;
    then, with the C core, the rounds pivot on from the last optimum (``WarmRounds``).
    ``check`` may run beside the explanations in a second worker (``_check_while_explaining``).
    """

    def __init__(self, run: _Run, report, explain: bool):
        self.run_, self.report, self.explain = run, report, explain
        self.warm: WarmRounds | None = None
        self.checked: RuleContext | None = None     # for the next check (violations)
        self.added = 0
        self.wasted = 0         # explanations thrown away (Tuning.overlap_wasted)
        run.timings.setdefault("solve", 0.0)
        run.timings.setdefault("certificate", 0.0)

    def run(self, solved: SolverOutput | None = None) -> None:
        """The rounds until the check finds nothing; ``solved``: the optimum over the run's
        arcs already (the first round is not solved again)."""
        while True:
            if solved is None:
                self.solve()
            else:
                self.run_.out, solved = solved, None
                self.run_.rounds += 1
            if not self.run_.cand.pruned:
                return
            add_r, add_m = self.check()
            if add_r.size == 0:
                return
            self.grow(add_r, add_m)

    def solve(self) -> None:
        run = self.run_
        self.report(_("solving, round {n}", n=run.rounds + 1), None)
        if self.warm is not None:
            run.out = self.warm.solve(run.inp)
            if self.warm.gave_up:       # a later round may go warm from OR-Tools' optimum
                self.warm = None
        elif run.options.max_changes is None:
            run.out = solve_flow(run.inp, potentials=run.cand.pruned)
        else:
            run.out = solve_flow_capped(run.inp, potentials=run.cand.pruned)
        run.rounds += 1
        run.lap("solve")

    def check(self) -> tuple[np.ndarray, np.ndarray]:
        run, tuning = self.run_, self.run_.tuning
        self.report(_("checking optimality, round {n}", n=run.rounds), None)
        widen = min(2 ** max(0, run.rounds - tuning.widen_after), tuning.widen_max)
        prune, margin = run.options.candidates * widen, tuning.margin * COST_SCALE * widen
        n_arcs = run.cand.arc_request.size
        if self.explain and self.wasted < tuning.overlap_wasted and self.warm is not None \
                and can_fork() and self.added <= tuning.overlap_share * n_arcs \
                and n_arcs >= tuning.overlap_arcs:
            cand, out, inp = run.cand, run.out, run.inp
            wider, then = _served_step(_Start.of(run))
            add, run.explained, seconds, served = _check_while_explaining(
                cand, inp, out, prune, margin,
                lambda stop: _explain(run, cand, out, inp, self.report, stop), then)
            run.served = {wider: _Answer(served)} if served is not None else {}
            self.wasted += run.explained is None and add[0].size > 0
            # The time the two steps overlap counts as the certificate's.
            run.timings["certificate"] += seconds
            run.clock += seconds
            run.lap("explain")
            return add
        add = violations(run.cand, run.inp, run.out.potentials, per_request=prune, margin=margin,
                         checked=self.checked)
        self.checked = None
        run.lap("certificate")
        return add

    def grow(self, add_r: np.ndarray, add_m: np.ndarray) -> None:
        run, tuning = self.run_, self.run_.tuning
        n_arcs = run.cand.arc_request.size
        share = tuning.warm_share_beside if WarmRounds.races(n_arcs + add_r.size, tuning) \
            else tuning.warm_share
        if self.warm is None and run.options.max_changes is None and WarmRounds.applies(run.inp) \
                and (add_r.size <= share * n_arcs or n_arcs < tuning.warm_arcs):
            self.warm = WarmRounds(run.inp, run.out, tuning)
        run.relock(with_arcs(run.cand, add_r, add_m, run.cand.rules))
        self.added = run.cand.arc_request.size - n_arcs
        run.lap("certificate")


# --- explaining the canonical optimum -----------------------------------------------------


class _Superseded(Exception):
    """The certificate found arcs to add: the optimum being explained is not the last."""


@dataclasses.dataclass(frozen=True)
class _Explained:
    pairs: list
    unmatched: list
    cand: Candidates          # grown by the arcs the canonical optimum and explanations use
    inp: SolverInput
    chosen: np.ndarray        # the canonical optimum, in cand's arcs


def _explain(run: _Run, cand: Candidates, out: SolverOutput, inp: SolverInput, report,
             superseded=None) -> _Explained:
    """The canonical optimum among those equal to ``out`` (``canonical.canonical``), its
    pairs and unmatched requests explained; given up with _Superseded as soon as
    ``superseded()`` is true."""
    enc, options = run.enc, run.options

    def given_up() -> None:
        if superseded is not None and superseded():
            raise _Superseded

    def progress(fraction: float) -> None:
        given_up()
        report(EXPLAINING, 0.9 * fraction)

    first = inp

    def make_input(grown: Candidates) -> SolverInput:
        return _input_with_locks(enc, grown, first, options, run.tuning)

    beside = len(cand.requests) >= run.tuning.second_process_explain
    report(EXPLAINING, 0.0)
    with gc_paused(), contextlib.ExitStack() as stack:
        chosen, places, counting, next_best = out.chosen, None, None, None
        try:
            if _has_canonical(options):
                cand, now_inp, chosen = canonical(cand, inp, chosen, make_input, given_up,
                                                  out.potentials if out.whole else None)
                if beside:
                    counting = _counting(stack, cand, chosen)
                unserved = (chosen < 0) & (cand.req_rule == Rule.ELIGIBLE)
                if unserved.any():
                    # The next-best mentors beside the next places: these most often add no
                    # arc, and when they do, the next-best ones are found again after them.
                    found = stack.enter_context(in_second_process(
                        lambda c=cand, ch=chosen: next_best_arcs(c, ch, options.alternatives))
                    ) if beside else None
                    before = cand
                    # Whom one more place at each mentor would serve: only checked fixes
                    # are said.
                    places, cand, chosen = next_places(cand, now_inp, chosen, make_input,
                                                       given_up)
                    next_best = found.result() if found is not None and cand is before \
                        else None
                inp = make_input(cand)
        except NotOptimal:
            # Arcs left out make this optimum a round's, not the last: the check beside it
            # will say so (without one, that is a bug).
            if superseded is None:
                raise
            raise _Superseded from None
        if beside and counting is None:       # no canonical step (CP-SAT, max_changes)
            counting = _counting(stack, cand, chosen)
        grown, chosen, forced = with_next_best(cand, chosen, inp.forced, options.alternatives,
                                               next_best)
        if grown is not cand:
            cand, inp = grown, solver_input(enc, grown, forced, options, run.tuning)
        counts = counting.result() if counting is not None else None
        pairs, unmatched = explain(enc, cand, chosen, inp, options, progress, places, counts,
                                   beside)
    report(EXPLAINING, 1.0)
    return _Explained(pairs, unmatched, cand, inp, chosen)


def _counting(stack: contextlib.ExitStack, cand: Candidates, chosen: np.ndarray):
    """How many mentors each unserved request has under every rule
    (``fixes.eligible_counts``, by request index, -1 for a served one), started in a
    second process: the steps until the explanations only add arcs, and change neither
    the requests nor the rules."""
    def count() -> np.ndarray:
        unserved = np.flatnonzero(chosen < 0)
        out = np.full(chosen.size, -1, np.int64)
        out[unserved] = eligible_counts(cand, unserved)
        return out

    return stack.enter_context(in_second_process(count))


def _check_while_explaining(cand, inp, out, prune, margin, explain_now, then=None):
    """The certificate's check of ``out`` in a second process while this one explains it.

    A round solved warm is usually the last, so its check most often finds nothing and
    the explanations are ready when it ends. When the check finds arcs to add, explaining
    stops at its next progress step and the rounds go on. When it finds none, the second
    process goes on with ``then()`` (the re-solve checking the fixes needs). Returns
    ((requests, mentors) to add, the explanations or None, the check's seconds, what
    ``then()`` returned or None)."""
    def check():
        start = perf_counter()
        add = violations(cand, inp, out.potentials, per_request=prune, margin=margin)
        seconds = perf_counter() - start
        return add, seconds, (then() if then is not None and add[0].size == 0 else None)

    with in_second_process(check) as job:
        def superseded() -> bool:
            return job.done() and job.result()[0][0].size > 0
        try:
            explained = explain_now(superseded)
        except _Superseded:
            explained = None
        add, seconds, served = job.result()
    return add, (explained if add[0].size == 0 else None), seconds, served


def _has_canonical(options: MatchOptions) -> bool:
    """The tie-break among optima applies to the flow's objective (max_changes adds a bonus
    found by search, CP-SAT its own terms: both are deterministic as they are)."""
    return options.solver == "flow" and options.max_changes is None


@dataclasses.dataclass(frozen=True)
class _Start:
    """A match's proven optimum (before explaining grows its candidates): where a re-solve
    with a relaxed rule starts."""

    problem: MatchProblem
    options: MatchOptions
    tuning: Tuning
    cand: Candidates
    inp: SolverInput
    out: SolverOutput | None        # None: the candidates only, before the match is solved

    @classmethod
    def of(cls, run: _Run) -> "_Start":
        # A copy of the output: explaining sets the run's chosen arcs to the canonical ones.
        return cls(run.problem, run.options, run.tuning, run.cand, run.inp,
                   dataclasses.replace(run.out))


class _Answer:
    """A value already there, read like a second process's (``Job.result()``)."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value


def _served_step(start: _Start) -> tuple[MatchOptions | None, Callable[[], set] | None]:
    """The re-solve checking the fixes will ask for first, as (its options, the step that
    runs it): the match with cross_kind, when requests are among the best of their kind or
    their kind has no scores, and a mentor of another kind could take one of them; else
    (None, None)."""
    if start.options.cross_kind:
        return None, None
    cand = start.cand
    stopped = [x for x in np.unique(cand.req_rule).tolist()
               if RULE_REASON[Rule(x)] in OTHER_KIND_MAY_HELP]
    rows = np.flatnonzero(np.isin(cand.req_rule, stopped))
    if not another_kind_passes(cand, rows, first=True).any():
        return None, None
    wider = dataclasses.replace(start.options, cross_kind=True)

    def step() -> set[tuple[str, str]]:
        asked = rows[another_kind_passes(cand, rows)]
        return _served(start.problem, wider, start, {
            (cand.requests[r].institution_id, cand.requests[r].topic_id)
            for r in asked.tolist()})
    return wider, step


def _served_beside(start: _Start, stack: contextlib.ExitStack) -> dict:
    """The cross_kind re-solve started in a second process (with two workers; else it
    runs when first asked for): {its options: its job}."""
    wider, step = _served_step(start)
    if step is None:
        return {}
    return {wider: stack.enter_context(in_second_process(step))}


def _served_early(run: _Run, stack: contextlib.ExitStack) -> dict | None:
    """The cross_kind re-solve started in a second process before the match is solved,
    where both solve over every eligible arc at once (``separable``): that re-solve then
    needs the candidates alone, and takes longer than the match (pools of every kind).
    None where it needs the match's optimum (``_served_beside`` starts it then)."""
    if not (run.options.solver == "flow" and run.cand.pruned
            and separable.applies(run.cand, run.inp)):
        return None
    return _served_beside(_Start(run.problem, run.options, run.tuning, run.cand, run.inp,
                                 None), stack)


def _served(problem: MatchProblem, options: MatchOptions, start: _Start,
            asked: set[tuple[str, str]] | None = None) -> set[tuple[str, str]]:
    """(institution, topic) of the requests that tpn's match of ``problem`` with
    ``options`` serves (of those ``asked``, when given). When ``options`` only relax
    ``start``'s rules, its rounds start from ``start``'s optimum: every arc of it is still
    eligible, at the same cost. The canonical step is skipped when the asked requests are
    served in every optimum or in none (``certificate.settled``)."""
    run = _lean_start(problem, options, start)
    if run is None:
        run = _prepare(problem, options, start.tuning, _quiet)
        if options.solver == "flow" and _relaxes(start.options, options):
            # start's arcs with the run's own, solved afresh.
            run.relock(with_arcs(run.cand, start.cand.arc_request, start.cand.arc_mentor,
                                 run.cand.rules))
        SOLVERS[options.solver](run, _quiet)
    cand, chosen = run.cand, run.out.chosen
    rows = None if asked is None else np.array(
        sorted(cand.request_position(*key) for key in asked), np.int64)
    if _has_canonical(options) and (
            rows is None or not settled(cand, run.inp, chosen, run.out.potentials, rows)):
        cand, _inp, chosen = canonical(
            cand, run.inp, chosen,
            lambda c: _input_with_locks(run.enc, c, run.inp, options, run.tuning),
            whole=run.out.potentials if run.out.whole else None)
    served = np.flatnonzero(chosen >= 0) if rows is None else rows[chosen[rows] >= 0]
    return {(cand.requests[r].institution_id, cand.requests[r].topic_id)
            for r in served.tolist()}


# The rules a fix relaxes, and whether a value is at least as mild as another.
_MILDER = {
    "cross_kind": lambda old, new: new or not old,
    "same_region": lambda old, new: old or not new,
    "min_gap": lambda old, new: new <= old,
    "max_distance_km": lambda old, new: new is None or (old is not None and new >= old),
}


def _relaxes(old: MatchOptions, new: MatchOptions) -> bool:
    """Whether ``new`` differs from ``old`` only by milder eligibility rules (the same arcs
    and more, at the same costs).

    >>> _relaxes(MatchOptions(), MatchOptions(cross_kind=True, min_gap=0.0))
    True
    >>> _relaxes(MatchOptions(), MatchOptions(max_distance_km=50.0))
    False
    """
    for field in dataclasses.fields(MatchOptions):
        a, b = getattr(old, field.name), getattr(new, field.name)
        if a != b and not (field.name in _MILDER and _MILDER[field.name](a, b)):
            return False
    return True


def _lean_start(problem: MatchProblem, options: MatchOptions, start: _Start) -> _Run | None:
    """The run of ``options`` started from ``start``'s optimum, when they only relax its
    rules and it was pruned, without locks: its arcs are the first round's (its optimum is
    theirs under milder rules too), the check adds only the arcs the milder rules make
    worth taking, and the rounds pivot on from there (``WarmRounds``, with the C core).
    Where costs are the gain alone, the seed over every eligible arc instead, which needs
    only ``start``'s candidates (its ``out`` may be None then). None otherwise (and when a
    pair with a bonus would be left out)."""
    if not (options.solver == "flow" and _relaxes(start.options, options) and start.cand.pruned
            and not problem.locks
            and (start.out is None or start.out.potentials is not None)
            and options.ignore_flags == start.options.ignore_flags):
        return None
    clock = perf_counter()
    enc = start.cand.rules.enc           # the same network and flags: the same arrays
    rules = RuleContext(enc, options, problem.exclusions, problem.previous, start.tuning,
                        preferences(enc, start.cand.requests))
    if _bonus_left_out(rules, start.cand):
        return None
    run = _Run(problem, options, start.tuning, enc, under_milder_rules(start.cand, rules), None,
               timings={"encode": 0.0}, clock=clock)
    run.relock(run.cand)
    run.lap("candidates")
    rounds = _Rounds(run, _quiet, explain=False)
    seeded = _separable(run, _quiet)
    if seeded is not None:
        rounds.run(seeded)
        return run
    if start.out is None:           # no optimum to start the rounds from
        return None
    if options == dataclasses.replace(start.options, cross_kind=True):
        # Only the pools grow: start's last check proved every arc of its own pools.
        rounds.checked = start.cand.rules
    if options.max_changes is None and WarmRounds.applies(run.inp):
        rounds.warm = WarmRounds(run.inp, start.out, run.tuning)
    rounds.run(solved=start.out)
    return run


def _bonus_left_out(rules: RuleContext, start: Candidates) -> bool:
    """Whether a pair with a bonus (the previous round's, a preferred one) is eligible
    under ``rules`` but not among ``start``'s arcs, as when a milder rule makes it so: the
    certificate's bound counts no bonus, so such pairs are never left out."""
    mentors = rules.previous_mentor(start.req_inst, start.req_topic)[:, None]
    if rules.preferred.size:
        mentors = np.column_stack([mentors, rules.preferred_mentors(start.req_inst,
                                                                    start.req_topic)])
    applies = (start.req_rule != Rule.TOPIC_NOT_APPLICABLE)[:, None]
    req, col = np.nonzero((mentors >= 0) & applies)
    mentor = mentors[req, col]
    n = max(1, len(rules.enc.institutions))
    kept = start.arc_request * n + start.arc_mentor
    for t in np.unique(start.req_topic[req]).tolist():
        at = start.req_topic[req] == t
        code, _dist = rules.evaluate(start.req_inst[req[at]], t, mentor[at])
        eligible = code == Rule.ELIGIBLE
        if not is_member(req[at][eligible] * n + mentor[at][eligible], kept).all():
            return True
    return False


# --- the solvers' input -------------------------------------------------------------------


def solver_input(enc: Encoded, cand: Candidates, forced: np.ndarray,
                 options: MatchOptions, tuning: Tuning | None = None) -> SolverInput:
    """The solvers' common input: integer costs, coverage penalties, capacities."""
    n_req = len(cand.requests)
    cost = integer_costs(cand.arc_cost)
    bonus = integer_costs(np.array([options.weight_same_mentor + options.weight_mutual]))[0]
    lowest, highest = integer_costs(np.array(cost_range(enc, options)))
    penalty = coverage_penalties(priority_weights(cand.req_priority), int(lowest), int(highest),
                                 extra_range=int(n_req * bonus),
                                 n_nodes=n_req + cand.arc_request.size + len(enc.institutions) + 1)
    capacity, topic_cap = capacities(enc, options)
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
        tuning=tuning or Tuning(),
    )


def _input_with_locks(enc, cand, old_inp, options, tuning) -> SolverInput:
    """The solver input of grown candidates, with the same locks (arc indices follow)."""
    forced = np.full(len(cand.requests), -1, np.int64)
    locked = np.flatnonzero(old_inp.forced >= 0)
    if locked.size:
        n = len(enc.institutions)
        key = cand.arc_request * n + cand.arc_mentor
        forced[locked] = np.searchsorted(key, locked * n
                                         + old_inp.arc_mentor[old_inp.forced[locked]])
    return solver_input(enc, cand, forced, options, tuning)


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
        "cost_preference": round(float(figures["arc_cost_preference"].sum()), 4),
        "previous_kept": int(cand.arc_previous[arcs].sum()),
        "preferred_kept": int((figures["arc_preferred"] > 0).sum()),
        "solver_objective": int(out.objective),
        "solver_bound": int(out.bound),
        "gap": round(abs(out.objective - out.bound) / max(1, abs(out.objective)), 6),
        "cost_scale": COST_SCALE,
    }
    obj.update({f"stat_{k}": v for k, v in out.stats.items() if isinstance(v, (int, float))})
    return obj
