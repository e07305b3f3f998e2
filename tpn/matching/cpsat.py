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

from ..errors import InfeasibleError
from .encoding import COST_SCALE, SolverInput, SolverOutput


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

    hint = {a: bool(inp.hint is not None and inp.hint[int(inp.arc_request[a])] == a)
            for a in x}
    couples = _couple_vars(model, x, by_couple, hint) if _needs_couples(opt) else {}
    if opt.max_partners is not None:
        partners: dict[int, list] = defaultdict(list)
        for (mentee, _m), (y, _h) in couples.items():
            partners[mentee].append(y)
        for ys in partners.values():
            if len(ys) > opt.max_partners:
                model.add(sum(ys) <= opt.max_partners)
    same = int(round(opt.weight_same_mentor * COST_SCALE))
    if same:
        for key, (y, _h) in couples.items():
            for a in by_couple[key]:
                cost.add(x[a], -same)
            cost.add(y, same)
    extra_hints = [(y, h) for (y, h) in couples.values()]
    mutual = int(round(opt.weight_mutual * COST_SCALE))
    if mutual:
        for (i, m), (y, h) in couples.items():
            if i < m and (m, i) in couples:
                y2, h2 = couples[(m, i)]
                z = model.new_bool_var(f"mutual{i}_{m}")
                model.add_implication(z, y)
                model.add_implication(z, y2)
                cost.add(z, -mutual)
                extra_hints.append((z, h and h2))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    # Full linearisation gives the LP the couple and mutual constraints: on the sample it
    # proves optimality in milliseconds where the default level times out.
    solver.parameters.linearization_level = 2
    solver.parameters.random_seed = int(opt.seed)
    budget = float(opt.time_limit)
    stats: dict[str, object] = {"arcs": int(arcs.size)}

    # Phase 1, coverage. Only max_partners can lower it below the flow's optimum (the hint).
    covered_hint = sum(int(weight[r]) for r in range(inp.n_requests)
                       if inp.forced[r] < 0 and inp.hint is not None and inp.hint[r] >= 0)
    coverage_proven = True
    if opt.max_partners is not None:
        model.maximize(cover.expression())
        _set_hints(model, x, hint, extra_hints)
        solver.parameters.max_deterministic_time = budget / 2
        status = solver.solve(model)
        _check(status, solver, opt)
        best_cover = int(round(solver.objective_value))
        coverage_proven = status == cp_model.OPTIMAL
        budget -= solver.deterministic_time
        hint = {a: solver.boolean_value(v) for a, v in x.items()}
        extra_hints = [(v, solver.boolean_value(v)) for v, _ in extra_hints]
    else:
        best_cover = covered_hint
    model.add(cover.expression() >= best_cover)

    # Phase 2, cost (and, as an exact tie-break, the largest mentor load).
    load_max = int(inp.mentor_capacity[list(by_mentor)].max()) if by_mentor else 0
    scale = 1
    if opt.balance_load and by_mentor:
        top_load = model.new_int_var(0, load_max, "max_load")
        for group in by_mentor.values():
            model.add(sum(x[a] for a in group) <= top_load)
        scale = load_max + 1
        model.minimize(cost.expression() * scale + top_load)
        loads = [sum(hint[a] for a in group) for group in by_mentor.values()]
        extra_hints.append((top_load, max(loads, default=0)))
    else:
        model.minimize(cost.expression())
    _set_hints(model, x, hint, extra_hints)
    solver.parameters.max_deterministic_time = max(budget, 0.1)
    status = solver.solve(model)
    _check(status, solver, opt)

    chosen = np.full(inp.n_requests, -1, np.int64)
    for a in arcs.tolist():
        if solver.boolean_value(x[a]):
            chosen[int(inp.arc_request[a])] = a
    # Report in the flow's units: unmatched penalties plus cost.
    unmatched = int(inp.penalty[(chosen < 0) & (inp.forced < 0)].sum())
    objective = unmatched + int(round(solver.objective_value)) // scale
    bound = unmatched + int(np.floor(solver.best_objective_bound)) // scale
    stats.update(status=solver.status_name(status),
                 deterministic_time=round(float(opt.time_limit) - budget
                                          + solver.deterministic_time, 3))
    return SolverOutput(chosen=chosen, optimal=status == cp_model.OPTIMAL and coverage_proven,
                        objective=objective, bound=bound if coverage_proven else objective,
                        stats=stats)


def _check(status, solver, opt) -> None:
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise InfeasibleError(
            f"CP-SAT found no matching within time_limit={opt.time_limit} "
            f"({solver.status_name(status)}): raise time_limit or relax max_partners"
        )


def _set_hints(model, x, hint, extra) -> None:
    model.clear_hints()
    for a, v in x.items():
        model.add_hint(v, hint[a])
    done = {v.index for v in x.values()}
    for v, h in extra:
        if v.index not in done:     # a couple with one arc is that arc's own variable
            done.add(v.index)
            model.add_hint(v, h)


class _Terms:
    """Objective coefficients keyed by variable index (variables are not hashable keys)."""

    def __init__(self):
        self._vars: dict[int, object] = {}
        self._coef: dict[int, int] = {}

    def add(self, var, coef: int) -> None:
        self._vars[var.index] = var
        self._coef[var.index] = self._coef.get(var.index, 0) + coef

    def expression(self):
        return cp_model.LinearExpr.weighted_sum(list(self._vars.values()),
                                                [self._coef[i] for i in self._vars])


def _needs_couples(opt) -> bool:
    return opt.max_partners is not None or opt.weight_same_mentor > 0 or opt.weight_mutual > 0


def _couple_vars(model, x, by_couple, hint):
    """(y, hinted value) per (mentee, mentor): y = 1 exactly when the mentor serves at least
    one of the mentee's requests."""
    couples = {}
    for (i, m), group in sorted(by_couple.items()):
        hinted = any(hint[a] for a in group)
        if len(group) == 1:
            couples[(i, m)] = (x[group[0]], hinted)
            continue
        y = model.new_bool_var(f"y{i}_{m}")
        for a in group:
            model.add_implication(x[a], y)
        model.add(sum(x[a] for a in group) >= y)
        couples[(i, m)] = (y, hinted)
    return couples
