"""One optimum among equals, whichever way it was reached.

Several matchings can be optimal: the same coverage and the same cost to 0.0001 points.
Which one a solver returns depends on how it got there — pruned or not, warm rounds in C or
OR-Tools every round, a rerun after an edit. tpn returns the same one every time: among
the optimal flows, the one that keeps the most pairs of the earlier run (the problem's
previous pairs: a draft's own pairs when it is rerun after review edits), then the one with
the smallest tie-break cost, a fixed pseudo-random number per (mentee, topic, mentor) made
from the ids (``tie_break``), never from positions in arrays.

The optimal flows are exactly those that complementary slackness allows with any one
optimal set of potentials d: flow 0 on arcs of positive reduced cost ``cost + d[u] -
d[v]``, full capacity on arcs of negative reduced cost, anything on arcs of reduced cost 0
(every optimal flow and every optimal dual satisfy it together). So a second min-cost flow,
over the arcs of reduced cost 0 with the tie-break as cost, picks the canonical one. On a
pruned network, left-out arcs of reduced cost 0 (or below, for potentials of the kept arcs
only) are added first, as the certificate adds arcs.
"""

from __future__ import annotations

import zlib
from typing import Callable

import numpy as np
from ortools.graph.python import min_cost_flow

from ..errors import TpnBug
from .candidates import Candidates, with_arcs
from .certificate import violations
from .encoding import SolverInput
from .fixes import NotOptimal, remap
from .flow import NodePotentials, flow_network, residual_distances

TIE_BREAK_BITS = 30


def tie_break(*ids: str) -> int:
    """A fixed number in 1 .. 2^30 for a tuple of ids (CRC-32 of the ids: the same on every
    machine and Python).

    >>> tie_break("kibuye", "readmission", "kabgayi")
    45723314
    """
    return zlib.crc32("\x1f".join(ids).encode()) % (1 << TIE_BREAK_BITS) + 1


def canonical(cand: Candidates, inp: SolverInput, chosen: np.ndarray,
              make_input: Callable[[Candidates], SolverInput],
              given_up: Callable[[], None] = lambda: None,
              whole: NodePotentials | None = None
              ) -> tuple[Candidates, SolverInput, np.ndarray]:
    """The canonical optimum of the flow problem ``inp`` (its ``chosen`` is an optimum),
    with the candidates grown by the left-out arcs it may use. ``given_up`` is called
    between steps (it raises to stop the work). ``whole``: potentials proving ``chosen``
    optimal over every eligible arc; the left-out arcs they price at 0 are all it adds."""
    priced = False
    while True:
        given_up()
        net = flow_network(inp)
        if whole is not None:
            d = whole.on(net)
        else:
            try:
                d = residual_distances(net.sink + 1, net.tails, net.heads, net.caps,
                                       net.costs, net.flows(chosen))
            except TpnBug:
                raise NotOptimal("the optimum is not optimal with the arcs added") from None
        if not cand.pruned or priced:
            break
        potentials = whole or NodePotentials(
            request=d[:net.n_requests], slot_keys=net.slots, slot=d[net.slot_base:net.mentor_base],
            mentor_ids=net.mentors, mentor=d[net.mentor_base:net.sink], sink=int(d[net.sink]),
            n_topics=inp.n_topics)
        add_r, add_m = violations(cand, inp, potentials, ties=True)
        priced = whole is not None
        if add_r.size == 0:
            break
        grown = with_arcs(cand, add_r, add_m, cand.rules)
        chosen = remap(cand, grown, chosen)
        cand, inp = grown, make_input(grown)
    reduced = net.costs + d[net.tails] - d[net.heads]
    supplies = np.zeros(net.sink + 1, np.int64)
    supplies[:net.n_requests] = 1
    supplies[net.sink] = -net.n_requests
    fixed = reduced < 0                       # full in every optimum
    free = np.flatnonzero(reduced == 0)
    if cand.arc_previous.any():
        fixed, free = _keeping_most(cand, net, supplies, fixed, free)
    flows = _solve_on(net, supplies, fixed, free, _tie_break_costs(cand, net, free))
    out = np.full(net.n_requests, -1, np.int64)
    used = np.flatnonzero(flows[:net.arcs.size] > 0)
    out[inp.arc_request[net.arcs[used]]] = net.arcs[used]
    return cand, inp, out


def _solve_on(net, supplies: np.ndarray, fixed: np.ndarray, free: np.ndarray,
              costs: np.ndarray) -> np.ndarray:
    """Flow on every arc of a min-cost flow over the ``free`` arcs (with ``costs``), the
    ``fixed`` ones full, every other arc empty."""
    supplies = supplies.copy()
    np.subtract.at(supplies, net.tails[fixed], net.caps[fixed])
    np.add.at(supplies, net.heads[fixed], net.caps[fixed])
    solver = min_cost_flow.SimpleMinCostFlow()
    handles = solver.add_arcs_with_capacity_and_unit_cost(
        net.tails[free].astype(np.int32), net.heads[free].astype(np.int32), net.caps[free],
        costs)
    solver.set_nodes_supplies(np.arange(net.sink + 1, dtype=np.int32), supplies)
    if solver.solve() != solver.OPTIMAL:
        raise TpnBug("the optimal matchings could not be told apart")
    flows = np.zeros(net.tails.size, np.int64)
    flows[fixed] = net.caps[fixed]
    flows[free] = solver.flows(handles)
    return flows


def _keeping_most(cand: Candidates, net, supplies: np.ndarray, fixed: np.ndarray,
                  free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fixed`` and ``free`` narrowed to the optimal flows that keep the most pairs of the
    earlier run: a min-cost flow over the free arcs costing 1 for every request arc that is
    not such a pair, then complementary slackness again, as for the first optimum."""
    n_arcs = net.arcs.size
    is_request_arc = free < n_arcs
    kept = np.zeros(free.size, bool)
    kept[is_request_arc] = cand.arc_previous[net.arcs[free[is_request_arc]]]
    unmatched = free >= net.tails.size - net.free.size
    costs = ((is_request_arc & ~kept) | unmatched).astype(np.int64)
    flows = _solve_on(net, supplies, fixed, free, costs)
    d = residual_distances(net.sink + 1, net.tails[free], net.heads[free], net.caps[free],
                           costs, flows[free])
    reduced = costs + d[net.tails[free]] - d[net.heads[free]]
    fixed = fixed.copy()
    fixed[free[reduced < 0]] = True
    return fixed, free[reduced == 0]


def _tie_break_costs(cand: Candidates, net, free: np.ndarray) -> np.ndarray:
    """The tie-break cost of each free arc: request arcs and unmatched arcs by their ids,
    the arcs on to the sink nothing."""
    enc = cand.rules.enc
    n_arcs = net.arcs.size
    unmatched_start = net.tails.size - net.free.size
    out = np.zeros(free.size, np.int64)
    # Unmatched arcs end with "" (no mentor), after the institutions' ids.
    ends = [i.id for i in enc.institutions] + [""]
    request_arc = free < n_arcs
    unmatched_arc = free >= unmatched_start
    arcs = net.arcs[free[request_arc]]
    request = np.concatenate([cand.arc_request[arcs],
                              net.free[free[unmatched_arc] - unmatched_start]])
    end = np.concatenate([cand.arc_mentor[arcs], np.full(unmatched_arc.sum(), len(ends) - 1)])
    used, at = np.unique(request, return_inverse=True)
    starts = [(cand.requests[r].institution_id, cand.requests[r].topic_id)
              for r in used.tolist()]
    costs = tie_breaks(starts, ends, at, end)
    out[request_arc] = costs[:arcs.size]
    out[unmatched_arc] = costs[arcs.size:]
    return out


def tie_breaks(starts: list[tuple[str, ...]], ends: list[str], start: np.ndarray,
               end: np.ndarray) -> np.ndarray:
    """``tie_break(*starts[s], ends[e])`` for each pair (s, e) of the two index arrays, with
    one CRC per start and per end instead of one per pair: the CRC-32 of a text joined
    from two is that of the first shifted by the second's length (the same shift for every
    second text of that length), XOR that of the second.

    >>> tie_breaks([("kibuye", "readmission")], ["kabgayi", ""], np.array([0, 0]),
    ...            np.array([0, 1])).tolist()
    [45723314, 787829504]
    >>> tie_break("kibuye", "readmission", "")
    787829504
    """
    start, end = np.asarray(start, np.int64), np.asarray(end, np.int64)
    heads = ["\x1f".join(s).encode() + b"\x1f" for s in starts]
    tails = [e.encode() for e in ends]
    tail_crc = np.fromiter(map(zlib.crc32, tails), np.int64, len(tails))
    length = np.fromiter(map(len, tails), np.int64, len(tails))[end]
    out = np.empty(start.size, np.int64)
    for n in np.unique(length).tolist():
        zeros = bytes(n)
        at = np.flatnonzero(length == n)
        used, inverse = np.unique(start[at], return_inverse=True)
        shifted = np.fromiter((zlib.crc32(heads[s] + zeros) ^ zlib.crc32(zeros)
                               for s in used.tolist()), np.int64, used.size)
        out[at] = shifted[inverse] ^ tail_crc[end[at]]
    return out % (1 << TIE_BREAK_BITS) + 1
