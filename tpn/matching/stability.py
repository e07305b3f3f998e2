"""``max_changes``: a rerun changes at most N of the previous round's pairs that can still be
kept together.

"Can be kept together" is the largest set of previous pairs that fit the capacities and
locks at once (:func:`keeping_previous`); previous pairs outside it are changes no matching
avoids and do not count against the cap. With ``need = keepable - max_changes``, the
capped problem is the usual one (coverage first, then cost) plus one side constraint:
at least ``need`` previous pairs kept.

The flow solver handles that constraint by Lagrangian relaxation: a bonus ``lam`` (integer
cost units) on every previous arc, the smallest for which the flow keeps ``need`` pairs,
found by doubling and bisection (:func:`solve_flow_capped`). When the flow at that bonus
keeps exactly ``need`` pairs it is optimal for the capped problem: any matching y keeping
at least ``need`` pairs has f(y) - lam*kept(y) >= f(x) - lam*need, so f(y) >= f(x). When it
keeps more (ties at the bonus), the result is feasible and the gap to the optimum is at
most ``lam * (kept - need)``, reported as the bound. CP-SAT states the constraint directly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .encoding import INT_LIMIT, SolverInput, SolverOutput
from .flow import solve_flow

_FINEST = 64          # the bonus is searched to 1/64 of a cost unit at the finest


def previous_arcs(inp: SolverInput) -> np.ndarray:
    """Bool per arc: the pair of the previous round."""
    if inp.arc_previous is None:
        return np.zeros(inp.arc_request.size, bool)
    return inp.arc_previous


def keeping_previous(inp: SolverInput) -> np.ndarray:
    """(R,) chosen arcs of a matching that keeps as many of the previous round's pairs as
    capacities and locks allow, and is optimal among those that keep them.

    Two flows: the largest set of previous pairs that fit together (zero costs, one unit
    per pair kept), then the usual optimum with that set locked."""
    previous = previous_arcs(inp)
    locked = inp.forced >= 0
    keep = np.flatnonzero(previous | np.isin(np.arange(previous.size), inp.forced[locked]))
    sub = dataclasses.replace(
        inp, arc_request=inp.arc_request[keep], arc_mentor=inp.arc_mentor[keep],
        arc_topic=inp.arc_topic[keep], arc_mentee=inp.arc_mentee[keep],
        arc_cost=np.zeros(keep.size, np.int64), penalty=np.ones(inp.n_requests, np.int64),
        forced=np.where(locked, np.searchsorted(keep, inp.forced), -1),
        arc_previous=None, hint=None, keep_hint=None)
    picked = solve_flow(sub).chosen
    forced = inp.forced.copy()
    mask = picked >= 0
    forced[mask] = keep[picked[mask]]
    return solve_flow(dataclasses.replace(inp, forced=forced)).chosen


def kept_count(inp: SolverInput, chosen: np.ndarray) -> int:
    arcs = chosen[chosen >= 0]
    return int(previous_arcs(inp)[arcs].sum())


def true_objective(inp: SolverInput, chosen: np.ndarray) -> int:
    """Penalties of the free requests left unmatched plus the chosen arcs' costs."""
    unmatched = int(inp.penalty[(chosen < 0) & (inp.forced < 0)].sum())
    return unmatched + int(inp.arc_cost[chosen[chosen >= 0]].sum())


def solve_flow_capped(inp: SolverInput, potentials: bool = False) -> SolverOutput:
    """The flow's optimum under ``max_changes`` (see the module's docstring)."""
    free = solve_flow(inp, potentials=potentials)
    previous = previous_arcs(inp)
    if not previous.any():
        return free
    keepable = kept_count(inp, keeping_previous(inp))
    need = max(0, keepable - int(inp.options.max_changes))
    stats = {"previous_keepable": keepable, "previous_kept_at_least": need}
    if kept_count(inp, free.chosen) >= need:
        free.stats.update(stats)
        return free

    def at(bonus: int, scale: int = 1) -> SolverOutput:
        """The flow with a bonus of bonus/scale cost units on every previous arc."""
        return solve_flow(dataclasses.replace(
            inp, arc_cost=inp.arc_cost * scale - bonus * previous, penalty=inp.penalty * scale),
            potentials=potentials)

    # Beyond this bonus a kept pair would outweigh two requests' coverage: a cap that
    # needs more is met by the matching that keeps the most pairs, reported as not proven.
    limit = 2 * int(inp.penalty.max(initial=1)) + int(np.abs(inp.arc_cost).max(initial=0))
    low, high = 0, 1
    best = at(high)
    while kept_count(inp, best.chosen) < need and high < limit:
        low, high = high, min(2 * high, limit)
        best = at(high)
    if kept_count(inp, best.chosen) < need:
        chosen = keeping_previous(inp)
        objective = true_objective(inp, chosen)
        return SolverOutput(chosen=chosen, optimal=False, objective=objective,
                            bound=min(objective, free.objective),
                            stats={**stats, "lagrange_bonus": high},
                            potentials=best.potentials)
    # Bisection on the bonus; when the flow at the smallest integer bonus keeps more than
    # needed (several matchings tie there), halve the step by scaling every cost, while
    # the scaled costs stay far from overflowing.
    scale = best_scale = 1
    headroom = INT_LIMIT // max(1, (int(inp.penalty.max(initial=1)) + limit)
                            * (inp.n_requests + inp.arc_request.size + 2))
    while True:
        while high - low > 1:
            mid = (low + high) // 2
            out = at(mid, scale)
            if kept_count(inp, out.chosen) >= need:
                high, best, best_scale = mid, out, scale
            else:
                low = mid
        if kept_count(inp, best.chosen) == need or scale >= _FINEST or 2 * scale > headroom:
            break
        scale, low, high = 2 * scale, 2 * low, 2 * high
    objective = true_objective(inp, best.chosen)
    gap = -(-high * (kept_count(inp, best.chosen) - need) // scale)     # rounded up
    if best.potentials is not None:
        best.potentials.scale = best_scale    # the certificate scales its costs to match
    return SolverOutput(chosen=best.chosen, optimal=gap == 0, objective=objective,
                        bound=objective - gap,
                        stats={**stats, "lagrange_bonus": round(high / scale, 4)},
                        potentials=best.potentials)
