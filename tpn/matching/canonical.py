"""One optimum among equals, whichever way it was reached.

Several matchings can be optimal: the same coverage and the same cost to 0.0001 points.
Which one a solver returns depends on how it got there — pruned or not, warm rounds in C or
OR-Tools every round, a rerun after an edit. tpn returns the same one every time: among
the optimal flows, the one that keeps the most pairs of the earlier run (the problem's
previous pairs: a draft's own pairs when it is rerun after review edits), then the one with
the smallest tie-break cost, a fixed pseudo-random number per (mentee, topic, mentor) made
from the ids (``tie_break``), never from positions in arrays; then, where tie-break sums
tie too, the smallest sum of a second number mixed from each tie-break (``_mixed``).

The optimal flows are exactly those that complementary slackness allows with any one
optimal set of potentials d: flow 0 on arcs of positive reduced cost ``cost + d[u] -
d[v]``, full capacity on arcs of negative reduced cost, anything on arcs of reduced cost 0
(every optimal flow and every optimal dual satisfy it together). So a second min-cost flow,
over the arcs of reduced cost 0 with the tie-break as cost, and complementary slackness
again with its own potentials, leave a third, with the second number as cost, that picks
the canonical one.

On a pruned network, potentials proving the optimum over every eligible arc come first
(the left-out arcs they price below 0 are added, as the certificate adds arcs). The
left-out arcs they price at 0 can be most of the eligible ones where scores tie (40
million at 30,000 institutions of the Sierra Leone network): the second flow starts from
each request's few of least tie-break and adds the ones its potentials price at 0 or below
until none is (column generation), so the third sees every arc it could use.
"""

from __future__ import annotations

import zlib
from typing import Callable, NamedTuple

import numpy as np
from ortools.graph.python import min_cost_flow

from ..errors import TpnBug
from .candidates import Candidates, with_arcs
from .certificate import tight_arcs, violations
from .encoding import SolverInput
from .fixes import NotOptimal, remap
from .flow import NodePotentials, flow_network, residual_distances
from .native import ACCELERATED
from .simplex import PivotLimit, WarmFlow

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
    optimal over every eligible arc; the left-out arcs it adds are then among those they
    price at 0."""
    ties = None
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
        if not cand.pruned:
            break
        potentials = whole or NodePotentials(
            request=d[:net.n_requests], slot_keys=net.slots, slot=d[net.slot_base:net.mentor_base],
            mentor_ids=net.mentors, mentor=d[net.mentor_base:net.sink], sink=int(d[net.sink]),
            n_topics=inp.n_topics)
        if whole is None:
            # Potentials proving the optimum over every eligible arc first: with any such
            # potentials, the optimal flows are the same.
            add_r, add_m = violations(cand, inp, potentials)
            if add_r.size:
                grown = with_arcs(cand, add_r, add_m, cand.rules)
                chosen = remap(cand, grown, chosen)
                cand, inp = grown, make_input(grown)
                continue
        ties = tight_arcs(cand, inp, potentials)[:2]
        break
    if ties is not None and ties[0].size:
        if not cand.arc_previous.any():
            return _by_columns(cand, potentials, *ties, make_input, given_up)
        # Keeping the earlier run's pairs comes first, a flow of its own over every tied
        # arc: all are added (the columns cover the tie-break's flow alone).
        grown = with_arcs(cand, *ties, cand.rules)
        chosen = remap(cand, grown, chosen)
        cand, inp = grown, make_input(grown)
        net = flow_network(inp)
        d = potentials.on(net)
    reduced = net.costs + d[net.tails] - d[net.heads]
    supplies = _supplies(net)
    fixed = reduced < 0                       # full in every optimum
    free = np.flatnonzero(reduced == 0)
    if cand.arc_previous.any():
        fixed, free = _keeping_most(cand, net, supplies, fixed, free)
    costs = _tie_break_costs(cand, net, free)
    fixed, free, costs, _flows, _pi = _narrowed(net, supplies, fixed, free, costs)
    return cand, inp, _chosen(net, inp, _solve_on(net, supplies, fixed, free, _mixed(costs)))


# Tied arcs each request starts with: its few of least tie-break, on average.
_FIRST_COLUMNS = 4


def _by_columns(cand: Candidates, potentials: NodePotentials, tie_r: np.ndarray,
                tie_m: np.ndarray, make_input: Callable[[Candidates], SolverInput],
                given_up: Callable[[], None]) -> tuple[Candidates, SolverInput, np.ndarray]:
    """The canonical optimum over the kept arcs and the left-out tied ones (``tie_r``,
    ``tie_m``), without adding every tied arc: each request starts with its few tied arcs
    of least tie-break, and the arcs that the tie-break problem's own potentials price at 0
    or below are added until none is (column generation). Its last potentials then hold on
    every tied arc, so its optimum and its ties are those over all of them.

    The candidates and their network are rebuilt only when an arc enters a node the network
    lacks; otherwise a round appends the new arcs to the network's (tied: reduced cost 0,
    so free, with their tie-break as cost)."""
    enc = cand.rules.enc
    tie = tie_breaks([(r.institution_id, r.topic_id) for r in cand.requests],
                     [i.id for i in enc.institutions], tie_r, tie_m)
    count = np.bincount(tie_r, minlength=len(cand.requests))
    inside = tie <= (_FIRST_COLUMNS << TIE_BREAK_BITS) // np.maximum(count[tie_r], 1)
    starts = tie_r.astype(np.int32)
    net = None
    while True:
        given_up()
        if net is None:
            grown = with_arcs(cand, tie_r[inside], tie_m[inside], cand.rules)
            inp = make_input(grown)
            net = flow_network(inp)
            d = potentials.on(net)
            reduced = net.costs + d[net.tails] - d[net.heads]
            supplies = _supplies(net)
            base_free = np.flatnonzero(reduced == 0)
            base_costs = _tie_break_costs(grown, net, base_free)
            head = net.entered(tie_m, tie_r, cand.req_topic, inp.n_topics)
            # A tied arc's own node: its slot where the topic capacity binds.
            slot_wanted = inp.topic_capacity[tie_m] < inp.mentor_capacity[tie_m]
            has_node = (head >= 0) & ~(slot_wanted & (head >= net.mentor_base))
            # Priced against its node, or the sink for a mentor without one (32-bit
            # indices: the pricing reads tens of millions of them every round).
            ends = np.where(head >= 0, head, net.sink).astype(np.int32)
            extra = np.zeros(0, np.int64)        # tied arcs appended since, in that order
            solver = _Warm(net, supplies, reduced < 0, base_free, base_costs, tie)
        arcs = _Arcs(np.r_[net.tails, tie_r[extra]], np.r_[net.heads, head[extra]],
                     np.r_[net.caps, np.ones(extra.size, np.int64)], net.sink)
        free = np.r_[base_free, net.tails.size + np.arange(extra.size)]
        fixed, free, costs, flows, pi = _narrowed(
            arcs, supplies, np.r_[reduced < 0, np.zeros(extra.size, bool)], free,
            np.r_[base_costs, tie[extra]], solver)
        price = pi[starts]
        price -= pi[ends]
        price += tie
        added = np.flatnonzero((price <= 0) & ~inside)
        if added.size == 0:
            flows = _solve_on(arcs, supplies, fixed, free, _mixed(costs))
            return _final(cand, grown, inp, net, flows, tie_r[extra], tie_m[extra], make_input)
        inside[added] = True
        if has_node[added].all():
            solver.append(tie_r[added], head[added], tie[added])
            extra = np.r_[extra, added]
        else:
            net = None


class _Warm:
    """The tie-break flows of ``_by_columns``' rounds by tpn's network simplex, each round
    from the last one's optimum (its arcs and more): called as ``_solve_on`` is, over the
    network's free arcs then the tied arcs appended (``append``), in that order. Without
    the C core, or once the pivots pass their limit, ``_solve_on`` it is."""

    def __init__(self, net, supplies, fixed, free, costs, tie):
        self._flow = None
        if ACCELERATED:
            self._flow = WarmFlow(_left_by(net, supplies, fixed), cost_bound=int(
                max(np.abs(costs).max(initial=1), tie.max(initial=1))))
            self._flow.add_arcs(net.tails[free], net.heads[free], net.caps[free], costs)

    def append(self, tails: np.ndarray, heads: np.ndarray, tie: np.ndarray) -> None:
        if self._flow is not None:
            self._flow.add_arcs(tails, heads, np.ones(tails.size, np.int64), tie)

    def __call__(self, net, supplies, fixed, free, costs) -> np.ndarray:
        if self._flow is None:
            return _solve_on(net, supplies, fixed, free, costs)
        if free.size != self._flow.flow.size:
            raise TpnBug("the warm tie-break flow lost track of its arcs")
        try:
            self._flow.solve()
        except PivotLimit:      # only a bug could get here: OR-Tools from now on
            self._flow = None
            return _solve_on(net, supplies, fixed, free, costs)
        flows = np.zeros(net.tails.size, np.int64)
        flows[fixed] = net.caps[fixed]
        flows[free] = self._flow.flow
        return flows


class _Arcs(NamedTuple):
    """A flow network's arcs, with tied arcs appended (``_by_columns``)."""

    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    sink: int


def _final(cand: Candidates, built: Candidates, inp: SolverInput, net, flows: np.ndarray,
           extra_r: np.ndarray, extra_m: np.ndarray, make_input: Callable
           ) -> tuple[Candidates, SolverInput, np.ndarray]:
    """The candidates ``built`` with the ``extra`` tied arcs, their input, and each
    request's arc carrying ``flows`` (over ``net``'s arcs, then the extra ones)."""
    if extra_r.size == 0:
        return built, inp, _chosen(net, inp, flows)
    grown = with_arcs(built, extra_r, extra_m, cand.rules)
    n = max(1, len(cand.rules.enc.institutions))
    used = net.arcs[np.flatnonzero(flows[:net.arcs.size] > 0)]
    taken = flows[net.tails.size:] > 0
    requests = np.r_[inp.arc_request[used], extra_r[taken]]
    mentors = np.r_[inp.arc_mentor[used], extra_m[taken]]
    chosen = np.full(len(cand.requests), -1, np.int64)
    chosen[requests] = np.searchsorted(grown.arc_request * n + grown.arc_mentor,
                                       requests * n + mentors)
    return grown, make_input(grown), chosen


def _supplies(net) -> np.ndarray:
    supplies = np.zeros(net.sink + 1, np.int64)
    supplies[:net.n_requests] = 1
    supplies[net.sink] = -net.n_requests
    return supplies


def _chosen(net, inp: SolverInput, flows: np.ndarray) -> np.ndarray:
    out = np.full(net.n_requests, -1, np.int64)
    used = np.flatnonzero(flows[:net.arcs.size] > 0)
    out[inp.arc_request[net.arcs[used]]] = net.arcs[used]
    return out


def _solve_on(net, supplies: np.ndarray, fixed: np.ndarray, free: np.ndarray,
              costs: np.ndarray) -> np.ndarray:
    """Flow on every arc of a min-cost flow over the ``free`` arcs (with ``costs``), the
    ``fixed`` ones full, every other arc empty."""
    supplies = _left_by(net, supplies, fixed)
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


def _left_by(net, supplies: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The supplies the other arcs must carry once the ``fixed`` arcs are full."""
    supplies = supplies.copy()
    np.subtract.at(supplies, net.tails[fixed], net.caps[fixed])
    np.add.at(supplies, net.heads[fixed], net.caps[fixed])
    return supplies


def _narrowed(net, supplies: np.ndarray, fixed: np.ndarray, free: np.ndarray,
              costs: np.ndarray, solve=None):
    """A min-cost flow over the ``free`` arcs with ``costs``, and complementary slackness
    again with its potentials: (``fixed`` and ``free`` narrowed to the flows of least
    cost, the costs of those still free, the flow, the potentials over ``net``'s nodes)."""
    flows = (solve or _solve_on)(net, supplies, fixed, free, costs)
    d = residual_distances(net.sink + 1, net.tails[free], net.heads[free], net.caps[free],
                           costs, flows[free])
    reduced = costs + d[net.tails[free]] - d[net.heads[free]]
    fixed = fixed.copy()
    fixed[free[reduced < 0]] = True
    tight = reduced == 0
    return fixed, free[tight], costs[tight], flows, d


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
    fixed, free, _costs, _flows, _d = _narrowed(net, supplies, fixed, free, costs)
    return fixed, free


def _mixed(tie_breaks: np.ndarray) -> np.ndarray:
    """A second number per arc where tie-break sums tie, made from its tie-break by a
    multiply-xorshift mix (a tie-break is the XOR of a number of the request and one of
    the mentor, so swapping two pairs' mentors keeps the sum whenever the requests'
    numbers and the mentors' differ in no common bit: about once in 5,600 swaps); 0 stays
    0.

    >>> _mixed(np.array([0, 1, 2, 3])).tolist()
    [0, 717576008, 361475728, 188408121]
    """
    x = tie_breaks.astype(np.uint64)
    for multiplier in (0x7FEB352D, 0x846CA68B):
        x ^= x >> np.uint64(16)
        x = (x * np.uint64(multiplier)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    out = (x % np.uint64(1 << TIE_BREAK_BITS)).astype(np.int64) + 1
    return np.where(tie_breaks == 0, 0, out)


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
    lengths, length_of = np.unique(np.fromiter(map(len, tails), np.int64, len(tails)),
                                   return_inverse=True)
    # One row of shifted CRCs per length of a second text that some pair uses.
    shifted = np.zeros((lengths.size, len(heads)), np.int64)
    used = np.bincount(length_of[end], minlength=lengths.size) > 0
    for row in np.flatnonzero(used).tolist():
        zeros = bytes(int(lengths[row]))
        crc_zeros = zlib.crc32(zeros)
        shifted[row] = np.fromiter((zlib.crc32(h + zeros) ^ crc_zeros for h in heads),
                                   np.int64, len(heads))
    out = shifted[length_of[end], start] ^ tail_crc[end]
    return out % (1 << TIE_BREAK_BITS) + 1
