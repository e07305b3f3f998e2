"""The optimum over every eligible arc without listing them, where a cost is the gain alone.

Without locations and sizes (a DHIS2 export without geometry), an arc's cost is the gain
term alone: in integer units, ``rint(A_r + B_m)`` with ``A_r = 100 * weight_gain * p_r``
for the mentee's percentile and ``B_m = 100 * weight_gain * (100 - p_m)`` for the mentor's.
Nearly every pair of a served request and a mentor in use then costs the same to a unit,
so the certificate's rounds take in most of those pairs (the square of the network's
size) before their prices settle.

Split each share into a whole part and a fraction, ``A_r = X_r + a_r`` and ``B_m = Y_m +
b_m``: the cost is ``X_r + Y_m + rint(a_r + b_m)``, and for each request the last term is
one value for the mentors whose ``b_m`` is below a threshold of the request's and one more
above it. A request's eligible mentors are those of its group (topic and kind) with a
better score: a suffix of the group's pool sorted by score. Both are ranges, so a segment
tree over the pool, each node's mentors sorted by ``b``, with a chain down the lower
fractions and one up the higher, lets each request reach every eligible mentor at its cost
through O(log pool) arcs of its own (the smallest blocks, ``Tuning.separable_direct``, by
an arc per pair instead)::

    request ──(X_r + low)────► low chain of a node ──► ... ──(Y_m)──► mentor (or its slot)
       └─────(X_r + low + 1)─► high chain of a node ─► ... ──(Y_m)──┘

A pair whose ``a_r + b_m`` is a half (to rounding in floating point: the costs are computed
pair by pair, and percentiles of small kinds are often exact halves) goes to the high
chain and also gets an arc of its own at its true cost. A gain below 0 (across kinds, or
for a mentee without a score) counts as 0, so such a pair costs the gain weight ``W`` and
no more: a request with such a mentor also reaches every mentor of its suffix at ``W``
along one more chain, and the cheaper of its two ways is its cost.

One min-cost flow over that network is the optimum, and its potentials price every
eligible arc at once. The caller checks both against the true costs (``proven``, then the
certificate): any disagreement and the rounds take over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InfeasibleError
from .candidates import Candidates, Rule
from .encoding import COST_SCALE, SolverInput, integer_costs
from .flow import (NodePotentials, _min_cost_flow, _parts, _serves_most, flow_network,
                   residual_distances)
from .native import ACCELERATED
from .simplex import PivotLimit, WarmFlow

# How near a half a pair's two fractions may sum before its cost is computed on its own:
# far above the error of a cost in floating point (about 1e-12 of 10^6 units).
_NEAR_HALF = 1e-6


@dataclass(frozen=True)
class Seed:
    """An optimum of the compressed network: each served request's mentor, and node
    potentials that price every eligible arc."""

    requests: np.ndarray
    mentors: np.ndarray
    potentials: NodePotentials


def applies(cand: Candidates, inp: SolverInput) -> bool:
    """Whether every arc's cost is the gain alone and eligibility is a better score in the
    mentee's pool (no distance or size in any cost, no bonus, exclusion, lock, region,
    distance or gap rule, no external partner), and the C core is there (its simplex and
    distances follow the chains; NumPy's rounds of Bellman-Ford would not).

    >>> from dataclasses import replace
    >>> from tpn.matching import MatchOptions, Tuning
    >>> from tpn.matching.engine import _prepare, _quiet
    >>> from tpn.models import MatchProblem
    >>> from tpn.samples import rwanda
    >>> def prepared(network):
    ...     run = _prepare(MatchProblem.from_network(network), MatchOptions(), Tuning(), _quiet)
    ...     return run.cand, run.inp
    >>> applies(*prepared(rwanda()))          # its hospitals have locations and sizes
    False
    >>> bare = replace(rwanda(), institutions=tuple(
    ...     replace(i, latitude=None, longitude=None, size=None) for i in rwanda().institutions))
    >>> applies(*prepared(bare)) == ACCELERATED
    True
    """
    rules = cand.rules
    enc, opt = rules.enc, rules.options
    no_distance = rules.one_place or opt.weight_distance == 0
    log_size = rules.log_size[~np.isnan(rules.log_size)]
    no_size = opt.weight_size == 0 or log_size.size == 0 or bool(np.ptp(log_size) == 0)
    return bool(ACCELERATED and no_distance and no_size and len(cand.requests) > 0
                and opt.solver == "flow" and opt.max_changes is None and opt.min_gap == 0
                and opt.max_distance_km is None and not opt.same_region
                and opt.weight_gain > 0 and rules.previous.size == 0
                and rules.preferred.size == 0 and rules.excluded.size == 0
                and not enc.offered.any() and (inp.forced < 0).all())


def separable_optimum(cand: Candidates, inp: SolverInput) -> Seed | None:
    """The optimum of ``inp`` over every eligible arc of ``cand``'s rules, when ``applies``;
    else None."""
    if not applies(cand, inp):
        return None
    net = _Compressed(cand, inp)
    if not net.build():
        return None
    try:
        return net.solve()
    # Costs too large for the simplex's exact integers, or pivots past their limit (only a
    # bug could get there): the rounds take over.
    except (InfeasibleError, PivotLimit):
        return None


class _Compressed:
    """The compressed network of one solver input (see the module's drawing). Nodes:
    requests, then the chains, then the (mentor, topic) slots, the mentors and the sink."""

    def __init__(self, cand: Candidates, inp: SolverInput):
        self.cand, self.inp, self.rules = cand, inp, cand.rules
        weight = self.rules.options.weight_gain
        self._no_gain = int(integer_costs(np.array([weight * (100.0 - 0.0) / 100.0]))[0])
        self.entries: list[tuple[np.ndarray, ...]] = []   # (request, chain node, cost)
        self.links: list[tuple[np.ndarray, ...]] = []     # (chain node, chain node)
        self.leaves: list[tuple[np.ndarray, ...]] = []    # (chain node, mentor, topic, cost)
        self.direct: list[tuple[np.ndarray, ...]] = []    # (request, mentor, cost) of
        self.halves: list[tuple[np.ndarray, ...]] = []    # small blocks, sums near a half
        self.n_chain = 0

    def build(self) -> bool:
        """Every group's part of the network; False when no request has a mentor, or
        when a group disagrees with the rules (the rounds handle those)."""
        cand, enc = self.cand, self.rules.enc
        cross = self.rules.options.cross_kind
        eligible = cand.req_rule == Rule.ELIGIBLE
        if not eligible.any():
            return False
        kind = np.zeros(cand.req_inst.size, np.int64) if cross else enc.kind[cand.req_inst]
        key = cand.req_topic * max(1, len(enc.kinds)) + kind
        for k in np.unique(key[eligible]).tolist():
            rows = np.flatnonzero((key == k) & eligible)
            if not self._group(rows, int(cand.req_topic[rows[0]]),
                               None if cross else int(kind[rows[0]])):
                return False
        return True

    def _pool(self, t: int, kind: int | None) -> np.ndarray:
        """The group's mentors that pass every rule about a mentor alone, by oriented
        score (then percentile and index)."""
        rules = self.rules
        enc = rules.enc
        pool = rules.pool(t, kind)
        ok = ~np.isnan(enc.oriented[pool, t]) & enc.applies[t, enc.kind[pool]] \
            & (rules.capacity[pool] > 0) & ~enc.flagged[pool, t]
        pool = pool[ok]
        return pool[np.lexsort((pool, enc.percentile[pool, t], enc.oriented[pool, t]))]

    def _group(self, rows: np.ndarray, t: int, kind: int | None) -> bool:
        enc = self.rules.enc
        pool = self._pool(t, kind)
        size = pool.size
        if size == 0:
            return False
        o_m, p_m = enc.oriented[pool, t], enc.percentile[pool, t]
        inst = self.cand.req_inst[rows]
        o_r = enc.oriented[inst, t]
        unknown = np.isnan(o_r)
        p_r = np.where(unknown, 50.0, enc.percentile[inst, t])
        # The first eligible position: a better score (any, for a mentee without one).
        first = np.where(unknown, 0, np.searchsorted(o_m, np.where(unknown, 0.0, o_r), "right"))
        if (first >= size).any():
            return False
        # A gain below 0 counts as 0 (a mentor of another kind ranking lower in its own,
        # or one below the median for a mentee without a score): the pair costs the gain
        # weight, never more. A request with such a mentor also reaches every mentor of
        # its suffix at that cost, along a chain up the pool: the cheaper way is the cost.
        lowest_after = np.minimum.accumulate(p_m[::-1])[::-1]
        clipped = lowest_after[first] < p_r
        if clipped.any():
            nodes = self.n_chain + np.arange(size)
            self.n_chain += size
            self.links.append((nodes[:-1], nodes[1:]))
            self.leaves.append((nodes, pool, np.full(size, t), np.zeros(size, np.int64)))
            self.entries.append((rows[clipped], nodes[first[clipped]],
                                 np.full(int(clipped.sum()), self._no_gain)))
        scale = COST_SCALE / 100.0 * self.rules.options.weight_gain
        share_r, share_m = scale * p_r, scale * (100.0 - p_m)
        whole_r, whole_m = np.floor(share_r), np.floor(share_m)
        a_r, b_m = share_r - whole_r, share_m - whole_m
        low = (a_r >= 0.5 - _NEAR_HALF).astype(np.int64)
        # Mentors with b_m from here on cost one unit more (a sum near a half included).
        threshold = np.where(low == 1, 1.5 - a_r, 0.5 - a_r) - _NEAR_HALF
        base = whole_r.astype(np.int64) + low
        self._near_half(rows, pool, first, threshold, b_m)
        levels = max(1, int(size - 1).bit_length())
        # A request's suffix is a union of blocks, one per set bit of its length.
        remaining = (1 << levels) - first
        for level in range(levels + 1):
            start = first + (remaining & ((1 << level) - 1))
            at = np.flatnonzero(((remaining >> level) & 1 == 1) & (start < size))
            if level < self.inp.tuning.separable_direct:
                # Blocks this small: an arc per pair costs fewer nodes than chains.
                width = np.minimum(1 << level, size - start[at])
                which = np.repeat(at, width)
                position = _spans(start[at], width)
                cost = base[which] + whole_m[position].astype(np.int64) \
                    + (b_m[position] >= threshold[which])
                self.direct.append((rows[which], pool[position], cost))
                continue
            block = np.arange(size) >> level
            order = np.lexsort((b_m, block))          # positions, by block then fraction
            offset = np.searchsorted(block[order], np.arange(int(block[-1]) + 2))
            low_nodes = self.n_chain + np.arange(size)
            high_nodes = low_nodes + size
            self.n_chain += 2 * size
            same = np.flatnonzero(block[order][1:] == block[order][:-1])
            self.links.append((low_nodes[same + 1], low_nodes[same]))    # down the fractions
            self.links.append((high_nodes[same], high_nodes[same + 1]))   # up
            cost = whole_m[order].astype(np.int64)
            self.leaves.append((np.r_[low_nodes, high_nodes], np.r_[pool[order], pool[order]],
                                np.full(2 * size, t), np.r_[cost, cost]))
            if at.size == 0:
                continue
            blk = start[at] >> level
            keys = block[order] * 2.0 + b_m[order]
            below = np.searchsorted(keys, blk * 2.0 + threshold[at]) - offset[blk]
            count = offset[blk + 1] - offset[blk]
            lo, hi = below > 0, below < count
            self.entries.append((rows[at[lo]], low_nodes[offset[blk[lo]] + below[lo] - 1],
                                 base[at[lo]]))
            self.entries.append((rows[at[hi]], high_nodes[offset[blk[hi]] + below[hi]],
                                 base[at[hi]] + 1))
        return True

    def _near_half(self, rows, pool, first, threshold, b_m) -> None:
        """The eligible pairs whose fractions sum to about a half: each gets an arc of its
        own at its true cost (the chains price them a unit high, never low)."""
        order = np.argsort(b_m, kind="stable")
        b_sorted = b_m[order]
        for shift in (0.0, -1.0):       # a threshold near 1 also meets fractions near 0
            lo = np.searchsorted(b_sorted, threshold + shift)
            hi = np.searchsorted(b_sorted, threshold + shift + 2 * _NEAR_HALF)
            count = hi - lo
            if not count.any():
                continue
            which = np.repeat(np.arange(rows.size), count)
            at = order[_spans(lo, count)]
            keep = at >= first[which]
            requests, mentors = rows[which[keep]], pool[at[keep]]
            cost, _previous = self.rules.arc_costs(self.cand.req_inst[requests],
                                                   self.cand.req_topic[requests], mentors)
            self.halves.append((requests, mentors, integer_costs(cost)))

    def solve(self) -> Seed | None:
        cand, inp = self.cand, self.inp
        n_req = inp.n_requests
        leaf_node, leaf_mentor, leaf_topic, leaf_cost = _joined(self.leaves, 4)
        e_req, e_node, e_cost = _joined(self.entries, 3)
        l_tail, l_head = _joined(self.links, 2)
        p_req, p_mentor, p_cost = _joined(self.direct + self.halves, 3)
        p_topic = cand.req_topic[p_req]

        mentor_of_target = np.r_[leaf_mentor, p_mentor]
        topic_of_target = np.r_[leaf_topic, p_topic]
        binding = inp.topic_capacity[mentor_of_target] < inp.mentor_capacity[mentor_of_target]
        slot_key = mentor_of_target * inp.n_topics + topic_of_target
        slots = np.unique(slot_key[binding])
        mentors = np.unique(mentor_of_target)
        chain_base = n_req
        slot_base = chain_base + self.n_chain
        mentor_base = slot_base + slots.size
        sink = mentor_base + mentors.size
        target = mentor_base + np.searchsorted(mentors, mentor_of_target)
        target[binding] = slot_base + np.searchsorted(slots, slot_key[binding])
        slot_mentor = slots // inp.n_topics
        every = n_req                      # no inner arc carries more than every request
        tails = np.concatenate([e_req, p_req, chain_base + l_tail, chain_base + leaf_node,
                                slot_base + np.arange(slots.size),
                                mentor_base + np.arange(mentors.size), np.arange(n_req)])
        heads = np.concatenate([chain_base + e_node, target[leaf_node.size:],
                                chain_base + l_head, target[:leaf_node.size],
                                mentor_base + np.searchsorted(mentors, slot_mentor),
                                np.full(mentors.size + n_req, sink)])
        caps = np.concatenate([np.ones(e_req.size + p_req.size, np.int64),
                               np.full(l_tail.size + leaf_node.size, every),
                               inp.topic_capacity[slot_mentor], inp.mentor_capacity[mentors],
                               np.ones(n_req, np.int64)])
        costs = np.concatenate([e_cost, p_cost, np.zeros(l_tail.size, np.int64), leaf_cost,
                                np.zeros(slots.size + mentors.size, np.int64), inp.penalty])
        supplies = np.zeros(sink + 1, np.int64)
        supplies[:n_req] = 1
        supplies[sink] = -n_req
        flows = _flows(tails, heads, caps, costs, supplies, (n_req, slot_base, mentor_base, sink),
                       inp.tuning)
        d = residual_distances(sink + 1, tails, heads, caps, costs, flows)
        potentials = NodePotentials(
            request=d[:n_req], slot_keys=slots, slot=d[slot_base:mentor_base],
            mentor_ids=mentors, mentor=d[mentor_base:sink], sink=int(d[sink]),
            n_topics=inp.n_topics)
        n_e, n_p, n_l = e_req.size, p_req.size, l_tail.size
        entered = np.flatnonzero(flows[:n_e] > 0)
        paired = np.flatnonzero(flows[n_e:n_e + n_p] > 0)
        exits = np.repeat(np.arange(leaf_node.size),
                          flows[n_e + n_p + n_l:n_e + n_p + n_l + leaf_node.size])
        requests, chosen = self._followed(e_req[entered], e_node[entered], leaf_node[exits],
                                          leaf_mentor[exits], l_tail, l_head)
        requests = np.r_[requests, p_req[paired]]
        chosen = np.r_[chosen, p_mentor[paired]]
        order = np.argsort(requests)
        return Seed(requests[order], chosen[order], potentials)

    def _followed(self, requests, entry, exit_node, exit_mentor, l_tail, l_head):
        """(request, mentor) of each unit through the chains: in a chain, the k-th unit in
        (by position) leaves by the k-th exit. The flow on each chain arc, never below 0,
        is the units in on one side of it less those out there: so the k-th exit is never
        past the k-th entry, whichever way the chain runs."""
        linked = np.zeros(self.n_chain, bool)
        linked[np.maximum(l_tail, l_head)] = True      # each node but a chain's first
        chain = np.maximum.accumulate(np.where(linked, 0, np.arange(self.n_chain)))
        into = np.lexsort((entry, chain[entry]))
        out = np.lexsort((exit_node, chain[exit_node]))
        return requests[into], exit_mentor[out]


def _spans(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``start[i], start[i] + 1, ... start[i] + count[i] - 1`` for each i, one after another.

    >>> _spans(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    return np.repeat(start - np.cumsum(count) + count, count) + np.arange(int(count.sum()))


def _joined(parts: list[tuple[np.ndarray, ...]], width: int) -> tuple[np.ndarray, ...]:
    """Each column of ``parts`` concatenated (empty int64 arrays when there are none)."""
    if not parts:
        return (np.zeros(0, np.int64),) * width
    return tuple(np.concatenate(column).astype(np.int64) for column in zip(*parts))


def _flows(tails, heads, caps, costs, supplies, layout, tuning) -> np.ndarray:
    """An optimum by tpn's network simplex (OR-Tools' cost scaling crawls along the chains'
    zero-cost arcs), part by part as ``flow.solve_flow`` solves (the kinds meet only at the
    sink), with small coverage penalties first: kept when it serves the most weight."""
    n_req, sink = layout[0], layout[3]
    parts = _parts(tails, heads, sink, tuning.part_nodes)

    def solved(costs):
        return _min_cost_flow(tails, heads, caps, costs, supplies, parts,
                              tuning.second_process_arcs, _simplex)

    free = np.arange(n_req)
    penalty = costs[costs.size - n_req:]
    unit = int(np.gcd.reduce(penalty)) if penalty.size else 0
    # A path is an entry and a leaf, or a pair's own arc.
    step = 8 * int(np.abs(costs[:costs.size - n_req]).max(initial=0)) + 1
    if 0 < step < unit:
        small = costs.copy()
        small[costs.size - n_req:] = penalty // unit * step
        flows = solved(small)
        if _serves_most(layout, tails, heads, caps, flows, free, penalty):
            return flows
    return solved(costs)


def _simplex(tails, heads, caps, costs, supplies) -> np.ndarray:
    flow = WarmFlow(supplies, cost_bound=int(np.abs(costs).max(initial=1)))
    flow.add_arcs(tails, heads, caps, costs)
    flow.solve()
    return flow.flow


def proven(inp: SolverInput, chosen: np.ndarray, potentials: NodePotentials) -> int | None:
    """The objective of ``chosen`` when ``potentials`` prove it optimal over ``inp``'s arcs
    (every residual arc's reduced cost at least 0); else None."""
    net = flow_network(inp)
    d = potentials.on(net)
    flows = net.flows(chosen)
    reduced = net.costs + d[net.tails] - d[net.heads]
    if (reduced[flows < net.caps] < 0).any() or (reduced[flows > 0] > 0).any():
        return None
    return int(flows @ net.costs)
