"""The default solver: OR-Tools min-cost flow.

Network (one unit of flow per request)::

    request ──(cap 1, arc cost)──► (mentor, topic) ──(cap topic capacity)──► mentor ──(cap capacity)──► sink
       └──────────────(cap 1, unmatched penalty)───────────────────────────────────────────────────────► sink

The (mentor, topic) layer makes per-topic and total capacities both exact. Every
request's unmatched penalty is larger than the whole range of matching costs
(see :func:`tpn.matching.encoding.coverage_penalties`), so the minimum-cost flow first
serves the largest total priority weight, then has the lowest cost among such matchings.
Min-cost flow has integral optimal solutions, so this is an exact, polynomial solve.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import min_cost_flow

from ..errors import InfeasibleError
from .encoding import SolverInput, SolverOutput


def solve_flow(inp: SolverInput) -> SolverOutput:
    n_req = inp.n_requests
    keep = inp.allowed_arcs()
    arcs = np.flatnonzero(keep)
    a_req, a_men, a_top = inp.arc_request[arcs], inp.arc_mentor[arcs], inp.arc_topic[arcs]

    slot_key = a_men * inp.n_topics + a_top
    slots, slot_of_arc = np.unique(slot_key, return_inverse=True)
    mentors, mentor_of_slot = np.unique(slots // inp.n_topics, return_inverse=True)
    n_slots, n_mentors = slots.size, mentors.size
    slot_base, mentor_base = n_req, n_req + n_slots
    sink = n_req + n_slots + n_mentors

    free = np.flatnonzero(inp.forced < 0)
    tails = np.concatenate([a_req, slot_base + np.arange(n_slots),
                            mentor_base + np.arange(n_mentors), free])
    heads = np.concatenate([slot_base + slot_of_arc, mentor_base + mentor_of_slot,
                            np.full(n_mentors, sink), np.full(free.size, sink)])
    caps = np.concatenate([np.ones(arcs.size, np.int64),
                           inp.topic_capacity[mentors[mentor_of_slot]],
                           inp.mentor_capacity[mentors],
                           np.ones(free.size, np.int64)])
    costs = np.concatenate([inp.arc_cost[arcs], np.zeros(n_slots + n_mentors, np.int64),
                            inp.penalty[free]])

    smcf = min_cost_flow.SimpleMinCostFlow()
    handles = smcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    supplies = np.zeros(sink + 1, np.int64)
    supplies[:n_req] = 1
    supplies[sink] = -n_req
    smcf.set_nodes_supplies(np.arange(sink + 1, dtype=np.int32), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        # Cannot happen with valid input (every free request may stay unmatched and locks
        # were checked against capacities), so this is a bug or an overflow, not user error.
        raise InfeasibleError(f"min-cost flow ended with status {status!r}")
    flows = smcf.flows(handles[: arcs.size])
    chosen = np.full(n_req, -1, np.int64)
    used = arcs[flows > 0]
    chosen[inp.arc_request[used]] = used
    return SolverOutput(chosen=chosen, optimal=True, objective=int(smcf.optimal_cost()),
                        bound=int(smcf.optimal_cost()), stats={"arcs": int(arcs.size),
                                                               "nodes": int(sink + 1)})
