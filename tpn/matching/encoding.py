"""The one place where cost points become integers and coverage becomes lexicographically first.

OR-Tools solvers take integer costs. A cost in points (see ``tpn.matching.candidates``)
is multiplied by ``COST_SCALE`` and rounded: the resolution is 0.0001 cost points, far
below any difference a person would act on.

Priorities become weights: ``weight = 1 + max_priority - priority`` over the run's
requests (with priorities 1..3: 3, 2, 1). Leaving a request unmatched costs
``weight * BIG`` where ``BIG`` exceeds the spread between the cheapest and the dearest
possible matching, so no saving in cost can ever buy a loss of coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InfeasibleError
from ..i18n import _
from .tuning import Tuning

COST_SCALE = 10_000
# OR-Tools' cost scaling multiplies costs by the number of nodes; stay far below int64.
INT_LIMIT = 2 ** 62


def integer_costs(points: np.ndarray) -> np.ndarray:
    """Cost points to integer cost units.

    >>> integer_costs(np.array([0.25, -1.0, 0.00004])).tolist()
    [2500, -10000, 0]
    """
    return np.rint(np.asarray(points, dtype=float) * COST_SCALE).astype(np.int64)


def priority_weights(priorities: np.ndarray) -> np.ndarray:
    """Priority 1 weighs most.

    >>> priority_weights(np.array([1, 2, 3, 1])).tolist()
    [3, 2, 1, 3]
    """
    if priorities.size == 0:
        return priorities.astype(np.int64)
    return (1 + priorities.max() - priorities).astype(np.int64)


def coverage_penalties(weights: np.ndarray, lowest: int, highest: int, extra_range: int = 0,
                       n_nodes: int = 1) -> np.ndarray:
    """Unmatched penalty per request: weight * BIG, BIG > any difference in matching cost.

    ``lowest`` and ``highest`` bound any single arc's integer cost; they come from the
    options and the network, not from the arcs kept, so pruning cannot change them.
    """
    n = weights.size
    spread = max(0, highest) - min(0, lowest)
    big = n * spread + extra_range + 1
    worst = big * int(weights.max(initial=0)) * (max(n, 1) + max(n_nodes, 1))
    if worst >= INT_LIMIT:
        raise InfeasibleError(
            _("the problem is too large for exact integer costs: lower the cost "
              "weights or split the network by kind")
        )
    return weights * big


@dataclass
class SolverInput:
    """What every solver gets: arcs with integer costs, penalties, capacities, locks."""

    n_requests: int
    n_topics: int
    arc_request: np.ndarray
    arc_mentor: np.ndarray
    arc_topic: np.ndarray
    arc_mentee: np.ndarray
    arc_cost: np.ndarray          # int64
    penalty: np.ndarray           # (R,) int64
    forced: np.ndarray            # (R,) arc index of a lock, -1 when free
    mentor_capacity: np.ndarray   # (n,) int64
    topic_capacity: np.ndarray    # (n,) int64
    options: object
    arc_previous: np.ndarray | None = None  # bool: the pair of the previous round
    hint: np.ndarray | None = None  # (R,) chosen arc from another solver, for warm starts
    keep_hint: np.ndarray | None = None  # (R,) as hint, keeping most previous pairs
    tuning: Tuning = field(default_factory=Tuning)   # how fast, never what

    def allowed_arcs(self) -> np.ndarray:
        """Bool mask: a locked request keeps only its lock's arc."""
        forced_of_arc = self.forced[self.arc_request]
        return (forced_of_arc < 0) | (forced_of_arc == np.arange(self.arc_request.size))


@dataclass
class SolverOutput:
    chosen: np.ndarray            # (R,) arc index, -1 when unmatched
    optimal: bool
    objective: int                # in the solver's integer units
    bound: int
    stats: dict = field(default_factory=dict)
    potentials: object = None      # flow only: NodePotentials of the optimum
    whole: bool = False            # the potentials price every eligible arc, kept or not
