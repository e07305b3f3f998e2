"""The CP-SAT solver, for rules a flow cannot express.

Same arcs, costs, penalties and capacities as the flow solver, plus:

- ``max_partners``: at most this many distinct mentors per mentee;
- ``weight_same_mentor``: a bonus per extra topic a mentee learns from a mentor it already
  has (one trip serves several topics);
- ``weight_mutual``: a bonus when A mentors B on one topic and B mentors A on another;
- ``balance_load``: among the optimal matchings, the one with the smallest maximum
  mentor load (an exact tie-break: the main objective is multiplied by max capacity + 1).

Deterministic mode: one search worker (with full LP linearisation), a fixed ``seed``, and a limit in *deterministic*
time (``time_limit``), so the same input gives the same answer on any machine whatever
its load. The flow solution is given as a hint (warm start). When the limit stops the
search early the result says so and reports the proven bound and the gap.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from ortools.sat.python import cp_model

from ..errors import TpnBug
from .encoding import COST_SCALE, SolverInput, SolverOutput
from .stability import previous_arcs


def solve_cpsat(inp: SolverInput) -> SolverOutput:
    opt = inp.options
    model = cp_model.CpModel()
    arcs = np.flatnonzero(inp.allowed_arcs())
    x = {int(a): model.new_bool_var(f"x{a}") for a in arcs}
    cost = _Terms()       # cost in integer units, bonuses negative
    cover = _Terms()      # priority weight served (locked requests are always served)
    weight = inp.penalty // max(1, int(inp.penalty.min(initial=1)))

    by_request: dict[int, list[int]] = defaultdict(list)
    by_mentor: dict[int, list[int]] = defaultdict(list)
    by_slot: dict[tuple[int, int], list[int]] = defaultdict(list)
    by_couple: dict[tuple[int, int], list[int]] = defaultdict(list)
    for a in arcs.tolist():
        r, m = int(inp.arc_request[a]), int(inp.arc_mentor[a])
        by_request[r].append(a)
        by_mentor[m].append(a)
        by_slot[(m, int(inp.arc_topic[a]))].append(a)
        by_couple[(int(inp.arc_mentee[a]), m)].append(a)
        cost.add(x[a], int(inp.arc_cost[a]))
        if inp.forced[r] < 0:
            cover.add(x[a], int(weight[r]))

    for r, group in by_request.items():
        if inp.forced[r] >= 0:
            model.add(x[int(inp.forced[r])] == 1)
        else:
            model.add(sum(x[a] for a in group) <= 1)
    for m, group in by_mentor.items():
        model.add(sum(x[a] for a in group) <= int(inp.mentor_capacity[m]))
    for (m, _t), group in by_slot.items():
        if inp.topic_capacity[m] < inp.mentor_capacity[m] and len(group) > inp.topic_capacity[m]:
            model.add(sum(x[a] for a in group) <= int(inp.topic_capacity[m]))

    hint_x = _feasible_hint(inp, arcs, inp.hint)
    keep_stats = {}
    if opt.max_changes is not None:
        hint_x, keep_stats = _limit_changes(model, x, inp, arcs, hint_x)
    couples = _couple_vars(model, x, by_couple) if _needs_couples(opt) else {}
    if opt.max_partners is not None:
        partners: dict[int, list] = defaultdict(list)
        for (mentee, _m), y in couples.items():
            partners[mentee].append(y)
        for ys in partners.values():
            if len(ys) > opt.max_partners:
                model.add(sum(ys) <= opt.max_partners)
    same = int(round(opt.weight_same_mentor * COST_SCALE))
    if same:
        for key, y in couples.items():
            for a in by_couple[key]:
                cost.add(x[a], -same)
            cost.add(y, same)
    mutual_vars = []
    mutual = int(round(opt.weight_mutual * COST_SCALE))
    if mutual:
        for (i, m), y in couples.items():
            if i < m and (m, i) in couples:
                z = model.new_bool_var(f"mutual{i}_{m}")
                model.add_implication(z, y)
                model.add_implication(z, couples[(m, i)])
                cost.add(z, -mutual)
                mutual_vars.append((z, (i, m), (m, i)))
    top_load = None
    scale = 1
    if opt.balance_load and by_mentor:
        load_max = int(inp.mentor_capacity[list(by_mentor)].max())
        top_load = model.new_int_var(0, load_max, "max_load")
        for group in by_mentor.values():
            model.add(sum(x[a] for a in group) <= top_load)
        scale = load_max + 1

    # The current best solution, as values of every variable: first the warm start (the
    # flow's optimum, made to respect max_partners), then whatever each phase finds.
    def complete(xv: dict[int, int]) -> dict[int, int]:
        values = {x[a].index: xv[a] for a in x}
        served = {key: int(any(xv[a] for a in group)) for key, group in by_couple.items()}
        for key, y in couples.items():
            values[y.index] = served[key]
        for z, k1, k2 in mutual_vars:
            values[z.index] = served[k1] & served[k2]
        if top_load is not None:
            values[top_load.index] = max(sum(xv[a] for a in g) for g in by_mentor.values())
        return values

    current = complete(hint_x)
    tracked = [*x.values(), *couples.values(), *(z for z, _a, _b in mutual_vars)]
    if top_load is not None:
        tracked.append(top_load)

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    # Full linearisation gives the LP the couple and mutual constraints: on the sample it
    # proves optimality in milliseconds where the default level times out.
    solver.parameters.linearization_level = 2
    solver.parameters.random_seed = int(opt.seed)
    budget = float(opt.time_limit)
    statuses = []

    def run(share: float, better) -> tuple[bool, float]:
        """Solve with the current objective from the current solution: (proven optimal,
        proven bound). With no solution found CP-SAT's bound means nothing: nan."""
        nonlocal budget, current
        model.clear_hints()
        seen = set()
        for v in tracked:
            if v.index not in seen:     # a one-arc couple is that arc's own variable
                seen.add(v.index)
                model.add_hint(v, current[v.index])
        solver.parameters.max_deterministic_time = max(budget * share, 0.01)
        status = solver.solve(model)
        budget -= solver.deterministic_time
        statuses.append(solver.status_name(status))
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            # CP-SAT may stop on a solution worse than the warm start: keep the better one.
            found = {v.index: int(solver.value(v)) for v in tracked}
            if status == cp_model.OPTIMAL or better(found, current):
                current = found
        elif status != cp_model.UNKNOWN:
            raise TpnBug(f"CP-SAT ended with {solver.status_name(status)}")
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        return status == cp_model.OPTIMAL, (solver.best_objective_bound if found else np.nan)

    # Phase 1, coverage. Only max_partners and max_changes can lower it below the flow's.
    coverage_proven = True
    cover_bound = np.nan
    if opt.max_partners is not None or opt.max_changes is not None:
        model.maximize(cover.expression())
        coverage_proven, cover_bound = run(
            0.5, lambda new, old: cover.value(new) > cover.value(old))
    best_cover = cover.value(current)
    model.add(cover.expression() >= best_cover)

    # Phase 2, cost (and, as an exact tie-break, the largest mentor load).
    if top_load is not None:
        model.minimize(cost.expression() * scale + top_load)
    else:
        model.minimize(cost.expression())

    def phase_two(values):
        return cost.value(values) * scale + (values[top_load.index] if top_load is not None else 0)

    cost_proven, bound_value = run(1.0, lambda new, old: phase_two(new) < phase_two(old))

    chosen = np.full(inp.n_requests, -1, np.int64)
    for a in arcs.tolist():
        if current[x[a].index]:
            chosen[int(inp.arc_request[a])] = a
    # Report in the flow's units: unmatched penalties plus cost (bonuses included).
    unmatched = int(inp.penalty[(chosen < 0) & (inp.forced < 0)].sum())
    objective = unmatched + cost.value(current)
    optimal = coverage_proven and cost_proven
    if coverage_proven:
        # The cost phase's proven bound; when it proved none, the most negative cost.
        lowest = (int(np.floor(bound_value)) // scale if np.isfinite(bound_value)
                  else cost.lowest())
        bound = objective if cost_proven else min(objective, unmatched + lowest)
    else:
        # Only a bound on coverage is proven: no matching leaves less weight unserved than
        # that bound allows, nor costs less than every negative term at once.
        big = int(inp.penalty.max(initial=0)) // max(1, int(weight.max(initial=1)))
        free_weight = int(weight[inp.forced < 0].sum())
        most = int(np.floor(cover_bound)) if np.isfinite(cover_bound) else free_weight
        bound = min(objective, big * max(0, free_weight - most) + cost.lowest())
    stats = {"arcs": int(arcs.size), "status": " then ".join(statuses),
             "deterministic_time": round(float(opt.time_limit) - budget, 3), **keep_stats}
    return SolverOutput(chosen=chosen, optimal=optimal, objective=objective, bound=bound,
                        stats=stats)


def _limit_changes(model, x, inp: SolverInput, arcs: np.ndarray,
                   hint_x: dict[int, int]) -> tuple[dict[int, int], dict]:
    """max_changes: keep all but max_changes of the previous pairs that can be kept together.

    "Can be kept together" is what :func:`tpn.matching.stability.keeping_previous` keeps
    (trimmed to max_partners like every warm start): previous pairs it cannot keep are
    changes no matching avoids (capacity lowered, two locks on one mentor) and are not
    counted against the cap. Returns the warm start to use (feasible under the cap) and
    figures for the result."""
    previous = arcs[previous_arcs(inp)[arcs]].tolist()
    keep_x = _feasible_hint(inp, arcs, inp.keep_hint)
    keepable = sum(keep_x[a] for a in previous)
    need = max(0, keepable - int(inp.options.max_changes))
    if need:
        model.add(sum(x[a] for a in previous) >= need)
    if sum(hint_x[a] for a in previous) < need:
        hint_x = keep_x
    return hint_x, {"previous_keepable": keepable, "previous_kept_at_least": need}


def _feasible_hint(inp: SolverInput, arcs: np.ndarray,
                   start: np.ndarray | None) -> dict[int, int]:
    """``start`` (a flow solution), keeping for each mentee only its first max_partners
    mentors: locked pairs first, then pairs of the previous round, then the most important
    requests. Dropping pairs never breaks a capacity, so the result is feasible and CP-SAT
    always has an answer to improve on."""
    chosen = {a: 0 for a in arcs.tolist()}
    if start is None:
        return chosen
    limit = inp.options.max_partners
    previous = inp.arc_previous
    kept: dict[int, set[int]] = defaultdict(set)
    order = sorted((inp.forced[r] < 0, previous is None or not previous[a],
                    int(inp.penalty[r]) * -1, int(inp.arc_cost[a]), r, a)
                   for r, a in enumerate(start.tolist()) if a >= 0 and a in chosen)
    for *_key, r, a in order:
        mentee, mentor = int(inp.arc_mentee[a]), int(inp.arc_mentor[a])
        if (limit is None or mentor in kept[mentee] or len(kept[mentee]) < limit
                or inp.forced[r] >= 0):
            kept[mentee].add(mentor)
            chosen[a] = 1
    return chosen


class _Terms:
    """Objective coefficients keyed by variable index (variables are not hashable keys)."""

    def __init__(self):
        self._vars: dict[int, object] = {}
        self._coef: dict[int, int] = {}

    def add(self, var, coef: int) -> None:
        self._vars[var.index] = var
        self._coef[var.index] = self._coef.get(var.index, 0) + coef

    def lowest(self) -> int:
        """A lower bound on the expression over 0/1 variables."""
        return sum(min(0, c) for c in self._coef.values())

    def value(self, values: dict[int, int]) -> int:
        return sum(c * values[i] for i, c in self._coef.items())

    def expression(self):
        return cp_model.LinearExpr.weighted_sum(list(self._vars.values()),
                                                [self._coef[i] for i in self._vars])


def _needs_couples(opt) -> bool:
    return opt.max_partners is not None or opt.weight_same_mentor > 0 or opt.weight_mutual > 0


def _couple_vars(model, x, by_couple):
    """y per (mentee, mentor): 1 exactly when the mentor serves at least one of the
    mentee's requests."""
    couples = {}
    for (i, m), group in sorted(by_couple.items()):
        if len(group) == 1:
            couples[(i, m)] = x[group[0]]
            continue
        y = model.new_bool_var(f"y{i}_{m}")
        for a in group:
            model.add_implication(x[a], y)
        model.add(sum(x[a] for a in group) >= y)
        couples[(i, m)] = y
    return couples
