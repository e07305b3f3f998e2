"""The default solver: OR-Tools min-cost flow.

Network (one unit of flow per request)::

    request ──(cap 1, arc cost)──► (mentor, topic) ──(cap topic capacity)──► mentor ──(cap capacity)──► sink
       └──────────────(cap 1, unmatched penalty)───────────────────────────────────────────────────────► sink

The (mentor, topic) layer makes per-topic and total capacities both exact; it is built
only for mentors whose topic capacity is below their total (otherwise it could never bind,
and requests point straight at the mentor). Every
request's unmatched penalty is larger than the whole range of matching costs
(see :func:`tpn.matching.encoding.coverage_penalties`), so the minimum-cost flow first
serves the largest total priority weight, then has the lowest cost among such matchings.
Min-cost flow has integral optimal solutions, so this is an exact, polynomial solve.

Penalties that large slow OR-Tools' cost scaling (about 1.6x at 10,000 institutions), so
the flow is first solved with small ones (the same weights, each above any one arc's
cost), and that answer is kept when a breadth-first search proves it serves the most
weight (:func:`_serves_most`); otherwise the flow is solved again with the full penalties.

Parts of the network that meet only at the sink — the kinds, when cross_kind is off — are
solved one at a time (:func:`_parts`): the same optimum, sooner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from ..errors import TpnBug
from ..runtime.parallel import in_second_process
from .native import shortest_distances
from .encoding import SolverInput, SolverOutput



@dataclass(frozen=True)
class FlowNetwork:
    """The flow network of a solver input: arrays of arcs, and where each kind of node
    starts. Arcs come in this order: the allowed request arcs (``arcs``, indices into the
    input's arcs), slot -> mentor, mentor -> sink, then each free request's unmatched arc."""

    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    costs: np.ndarray
    arcs: np.ndarray            # the input's arcs that are allowed, in network order
    slots: np.ndarray           # keys mentor * n_topics + topic of the (mentor, topic) nodes
    mentors: np.ndarray         # institution index of each mentor node
    free: np.ndarray            # requests that may stay unmatched (not locked)
    n_requests: int
    slot_base: int
    mentor_base: int
    sink: int

    def flows(self, chosen: np.ndarray) -> np.ndarray:
        """The flow on every arc of this network that serves requests as ``chosen`` does."""
        position = np.full(int(self.arcs.max(initial=-1)) + 1, -1, np.int64)
        position[self.arcs] = np.arange(self.arcs.size)
        served = np.flatnonzero(chosen >= 0)
        used = position[chosen[served]]
        flows = np.zeros(self.tails.size, np.int64)
        flows[used] = 1
        # Each used request arc carries one unit on to the sink, through its slot if any.
        inner = np.bincount(self.heads[used], minlength=self.sink + 1)
        n_slots, n_mentors = self.slots.size, self.mentors.size
        slot_arcs = self.arcs.size + np.arange(n_slots)
        flows[slot_arcs] = inner[self.slot_base:self.mentor_base]
        through = np.bincount(self.heads[slot_arcs], weights=flows[slot_arcs],
                              minlength=self.sink + 1).astype(np.int64) + inner
        flows[self.arcs.size + n_slots + np.arange(n_mentors)] = \
            through[self.mentor_base:self.sink]
        unmatched = np.ones(self.free.size, np.int64)
        unmatched[np.isin(self.free, served)] = 0
        flows[self.tails.size - self.free.size:] = unmatched
        return flows

    def entered(self, mentors: np.ndarray, requests: np.ndarray, req_topic: np.ndarray,
                n_topics: int) -> np.ndarray:
        """The node each arc request -> (mentor, the request's topic) enters, or -1 for a
        mentor without a node; without its slot node, the mentor's (a missing slot would
        pass on to it at no cost, as ``NodePotentials.target`` prices it)."""
        node = np.full(int(mentors.max(initial=-1)) + 1, -1, np.int64)
        inside = self.mentors < node.size
        node[self.mentors[inside]] = self.mentor_base + np.flatnonzero(inside)
        out = node[mentors]
        if self.slots.size:
            keys = mentors * n_topics + req_topic[requests]
            at = np.minimum(np.searchsorted(self.slots, keys), self.slots.size - 1)
            found = self.slots[at] == keys
            out[found] = self.slot_base + at[found]
        return out


def flow_network(inp: SolverInput, headroom: int = 0) -> FlowNetwork:
    """The min-cost flow network of ``inp`` (see the module's drawing). With ``headroom``,
    the (mentor, topic) layer is also built where a topic capacity would bind once the
    mentor's capacity grew by that much (``fixes.next_places`` adds one place)."""
    n_req = inp.n_requests
    keep = inp.allowed_arcs()
    arcs = np.flatnonzero(keep)
    a_men, a_top = inp.arc_mentor[arcs], inp.arc_topic[arcs]

    # The (mentor, topic) layer only matters where a topic capacity is below the total.
    binding = inp.topic_capacity[a_men] < inp.mentor_capacity[a_men] + headroom
    slot_key = np.where(binding, a_men * inp.n_topics + a_top, -1)
    slots, slot_of_arc = np.unique(slot_key[binding], return_inverse=True)
    # The mentors with an arc, and each one's rank among them (a sort would do the same).
    has_arc = np.zeros(inp.mentor_capacity.size, bool)
    has_arc[a_men] = True
    mentors = np.flatnonzero(has_arc)
    rank = np.cumsum(has_arc) - 1
    mentor_of_slot = rank[slots // inp.n_topics]
    n_slots, n_mentors = slots.size, mentors.size
    slot_base, mentor_base = n_req, n_req + n_slots
    sink = n_req + n_slots + n_mentors

    first_hop = mentor_base + rank[a_men]
    first_hop[binding] = slot_base + slot_of_arc
    free = np.flatnonzero(inp.forced < 0)
    tails = np.concatenate([inp.arc_request[arcs], slot_base + np.arange(n_slots),
                            mentor_base + np.arange(n_mentors), free])
    heads = np.concatenate([first_hop, mentor_base + mentor_of_slot,
                            np.full(n_mentors, sink), np.full(free.size, sink)])
    caps = np.concatenate([np.ones(arcs.size, np.int64),
                           inp.topic_capacity[mentors[mentor_of_slot]],
                           inp.mentor_capacity[mentors],
                           np.ones(free.size, np.int64)])
    costs = np.concatenate([inp.arc_cost[arcs], np.zeros(n_slots + n_mentors, np.int64),
                            inp.penalty[free]])
    return FlowNetwork(tails, heads, caps, costs, arcs, slots, mentors, free, n_req,
                       slot_base, mentor_base, sink)


def solve_flow(inp: SolverInput, potentials: bool = False) -> SolverOutput:
    """The optimum; with ``potentials``, also node potentials proving it (for the certificate)."""
    net = flow_network(inp)
    n_req, arcs, free, sink = net.n_requests, net.arcs, net.free, net.sink
    tails, heads, caps, costs = net.tails, net.heads, net.caps, net.costs
    slot_base, mentor_base, slots, mentors = net.slot_base, net.mentor_base, net.slots, \
        net.mentors

    # Solve with small coverage penalties first (same weights, each just above what one
    # arc can cost): OR-Tools' cost scaling then needs fewer phases. That optimum also
    # serves the most weight, and so is the true one, unless an unserved request reaches,
    # along the residual graph, spare capacity or a served request of lower weight.
    unit = int(np.gcd.reduce(inp.penalty[free])) if free.size else 0
    step = 4 * int(np.abs(inp.arc_cost[arcs]).max(initial=0)) + 1
    quick = 0 < step < unit
    supplies = np.zeros(sink + 1, np.int64)
    supplies[:n_req] = 1
    supplies[sink] = -n_req
    parts = _parts(tails, heads, sink, inp.tuning.part_nodes)
    if quick:
        small = costs.copy()
        small[costs.size - free.size:] = inp.penalty[free] // unit * step
        all_flows = _min_cost_flow(tails, heads, caps, small, supplies, parts,
                                   inp.tuning.second_process_arcs)
        layout = (n_req, slot_base, mentor_base, sink)
        if not _serves_most(layout, tails, heads, caps, all_flows, free, inp.penalty[free]):
            quick = False
    if not quick:
        all_flows = _min_cost_flow(tails, heads, caps, costs, supplies, parts,
                                   inp.tuning.second_process_arcs)
    objective = int(all_flows @ costs)
    flows = all_flows[: arcs.size]
    chosen = np.full(n_req, -1, np.int64)
    used = arcs[flows > 0]
    chosen[inp.arc_request[used]] = used
    out = SolverOutput(chosen=chosen, optimal=True, objective=objective, bound=objective,
                       stats={"arcs": int(arcs.size), "nodes": int(sink + 1),
                              "small_penalties": int(quick), "parts": len(parts)})
    if potentials:
        d = residual_distances(sink + 1, tails, heads, caps, costs, all_flows)
        out.potentials = NodePotentials(
            request=d[:n_req], slot_keys=slots, slot=d[slot_base:mentor_base],
            mentor_ids=mentors, mentor=d[mentor_base:sink], sink=int(d[sink]),
            n_topics=inp.n_topics)
    return out


def _min_cost_flow(tails, heads, caps, costs, supplies, parts,
                   second_process_arcs: int, solver=None) -> np.ndarray:
    """Flow on every arc of an OR-Tools min-cost flow optimum, solved part by part.

    Parts of the network that meet only at the sink (the kinds, when cross_kind is off)
    are independent flows. Each large part is solved on its own: a solve's time grows
    faster than its size, so this is quicker than one solve of them all. The largest part
    is solved here and, when the others are worth a process of their own, they are solved
    at the same time in a second one (OR-Tools holds the GIL, so a thread would wait).
    ``solver``: another function of the same arguments as ``_solve``."""
    solver = solver or _solve
    if len(parts) == 1:
        return solver(tails, heads, caps, costs, supplies)
    sink = supplies.size - 1

    def solve_part(nodes):
        local = np.full(sink + 1, -1, np.int64)
        local[nodes] = np.arange(nodes.size)
        arcs = np.flatnonzero(local[tails] >= 0)
        part_supplies = supplies[nodes]
        part_supplies[-1] = -part_supplies[:-1].sum()      # the sink is the part's last node
        return arcs, solver(local[tails[arcs]], local[heads[arcs]], caps[arcs], costs[arcs],
                            part_supplies)

    largest = max(range(len(parts)), key=lambda k: parts[k].size)
    others = parts[:largest] + parts[largest + 1:]
    flows = np.zeros(tails.size, np.int64)
    if sum(p.size for p in others) * tails.size >= second_process_arcs * (sink + 1):
        with in_second_process(lambda: [solve_part(p) for p in others]) as job:
            solved = [solve_part(parts[largest])] + job.result()
    else:
        solved = [solve_part(p) for p in parts]
    for arcs, part_flows in solved:
        flows[arcs] = part_flows
    return flows


def _solve(tails, heads, caps, costs, supplies) -> np.ndarray:
    smcf = min_cost_flow.SimpleMinCostFlow()
    handles = smcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    smcf.set_nodes_supplies(np.arange(supplies.size, dtype=np.int32), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        # Cannot happen with valid input (every free request may stay unmatched and locks
        # were checked against capacities), so this is a bug or an overflow, not user error.
        raise TpnBug(f"min-cost flow ended with status {status!r}")
    return smcf.flows(handles)


def _parts(tails, heads, sink, part_nodes: int) -> list[np.ndarray]:
    """Node sets (each ending with the sink) of the network's independent parts: each
    connected component of at least ``part_nodes`` nodes once the sink is left out, then
    all the smaller ones together (one solve each would cost more than it saves)."""
    inner = heads != sink
    graph = csr_matrix((np.ones(int(inner.sum()), np.int8), (tails[inner], heads[inner])),
                       shape=(sink + 1, sink + 1))
    count, label = connected_components(graph, directed=False)
    size = np.bincount(label[:sink], minlength=count)      # the sink's own label: 0
    large = np.flatnonzero(size >= part_nodes)
    if large.size + ((size > 0) & (size < part_nodes)).any() <= 1:
        return [np.arange(sink + 1)]        # one part: the network as it is
    group = np.where(np.isin(label, large), label, -2)
    group[sink] = -1
    out = [np.r_[np.flatnonzero(group == g), sink] for g in large]
    rest = np.flatnonzero(group == -2)
    if rest.size:
        out.append(np.r_[rest, sink])
    return out


def _serves_most(layout, tails, heads, caps, flows, free, penalty) -> bool:
    """Whether no unserved free request can reach, along arcs with room left (the sink
    aside), a mentor with spare capacity or a served free request of lower weight.

    Such a path is the only kind of cycle whose cost changes sign between small and full
    coverage penalties (any other cycle costs at least as much with full penalties), so
    when there is none, the optimum with small penalties is optimal with full ones."""
    n_req, _slot_base, mentor_base, sink = layout
    inner = (tails < sink) & (heads < sink)
    fwd = inner & (flows < caps)
    back = inner & (flows > 0)
    u = np.concatenate([tails[fwd], heads[back]])
    v = np.concatenate([heads[fwd], tails[back]])
    to_sink = heads == sink
    spare = np.zeros(sink + 1, bool)
    spare[tails[to_sink & (tails >= mentor_base) & (flows < caps)]] = True
    served = np.zeros(sink + 1, bool)
    served[tails[to_sink & (tails < n_req) & (flows == 0)]] = True
    weight = np.zeros(sink + 1, np.int64)
    weight[free] = penalty
    unserved = free[~served[free]]
    for level in np.unique(weight[unserved])[::-1]:
        # The sink is left out of the residual graph, so it can stand for all the sources.
        sources = unserved[weight[unserved] >= level]
        graph = csr_matrix((np.ones(u.size + sources.size, np.int8),
                            (np.r_[u, np.full(sources.size, sink)], np.r_[v, sources])),
                           shape=(sink + 1, sink + 1))
        reached = breadth_first_order(graph, sink, directed=True, return_predecessors=False)
        if spare[reached].any() or (served[reached] & (weight[reached] < level)).any():
            return False
    return True


class NodePotentials:
    """Shortest-path distances in the optimum's residual graph. Every residual arc (x, y)
    has cost + d[x] - d[y] >= 0; an arc left out of the flow that would break this is one
    the optimum of the full problem may need. ``scale``: the costs these distances are for
    were multiplied by it (max_changes searches its bonus in fractions of a cost unit)."""

    def __init__(self, request, slot_keys, slot, mentor_ids, mentor, sink, n_topics,
                 scale: int = 1):
        self.scale = scale
        self.request = request
        self._slot_keys, self._slot = slot_keys, slot
        self._mentor_ids, self._mentor = mentor_ids, mentor
        self.sink = sink
        self.n_topics = n_topics

    def on(self, net: FlowNetwork) -> np.ndarray:
        """These potentials as an array over ``net``'s nodes."""
        d = np.empty(net.sink + 1, np.int64)
        d[:net.n_requests] = self.request
        d[net.slot_base:net.mentor_base] = self.target(net.slots // self.n_topics,
                                                       net.slots % self.n_topics)
        d[net.mentor_base:net.sink] = self.mentor_of(net.mentors)
        d[net.sink] = self.sink
        return d

    def mentor_of(self, mentors: np.ndarray) -> np.ndarray:
        """Potential of each mentor's node (the sink's for a mentor without one)."""
        out = np.full(np.shape(mentors), self.sink, dtype=np.int64)
        if self._mentor_ids.size:
            pos = np.minimum(np.searchsorted(self._mentor_ids, mentors), self._mentor_ids.size - 1)
            found = self._mentor_ids[pos] == mentors
            out[found] = self._mentor[pos[found]]
        return out

    def target(self, mentors: np.ndarray, topic: int) -> np.ndarray:
        """Potential of the node an arc request -> (mentor, topic) would enter. A missing
        slot node takes its mentor's potential, a missing mentor the sink's: the smallest
        values consistent with their zero-cost arcs onward."""
        out = self.mentor_of(mentors)
        keys = mentors * self.n_topics + topic
        pos = np.minimum(np.searchsorted(self._slot_keys, keys), max(0, self._slot_keys.size - 1))
        if self._slot_keys.size:
            found = self._slot_keys[pos] == keys
            out[found] = self._slot[pos[found]]
        return out


def residual_distances(n: int, tails, heads, caps, costs, flows) -> np.ndarray:
    """Shortest distances from a virtual root joined to every node at cost 0, over the
    residual graph (``native.shortest_distances``: in C, or by NumPy without the C core)."""
    fwd = flows < caps
    back = flows > 0
    u = np.concatenate([tails[fwd], heads[back]]).astype(np.int64)
    v = np.concatenate([heads[fwd], tails[back]]).astype(np.int64)
    c = np.concatenate([costs[fwd], -costs[back]]).astype(np.int64)
    order = np.argsort(u, kind="stable")
    first = np.searchsorted(u[order], np.arange(n + 1)).astype(np.int64)
    return shortest_distances(n, first, v[order], c[order])
