"""What would serve an unserved request, checked before it is said; and the true next-best
mentors of every request on a pruned network.

**One more place.** Raising mentor X's capacity by one adds one unit to the flow network's
arc X -> sink. The new optimum is the old one plus the cheapest cycle through that arc in
the old optimum's residual graph: sink -> (an unserved request, undoing its unmatched arc)
-> ... -> X -> sink. Every optimum of the new problem contains such a cycle (one unit, so
exactly one), and the other cycles of its difference from the old optimum cost nothing and
cannot use an unmatched arc the old optimum already uses. So the extra place serves request
r in *every* optimum — whatever solver re-solves it — exactly when every shortest path from
the sink to X starts with the arc sink -> r and costs less than 0. One Dijkstra search from
the sink, over costs made non-negative by the optimum's potentials, gives that answer for
every mentor at once; where two first arcs tie, nothing is claimed.

Arcs left out by pruning can make shorter paths. As in the certificate, potentials built
from the distances found must hold on every left-out arc; the arcs that break them are
added and the search repeated. An arc that meets them exactly makes more shortest paths:
it is added where it would bring its head a first arc the head lacks (where every tied arc
brings only first arcs already there, the labels are those over every arc).

**Next-best mentors.** The k cheapest eligible mentors of a request may not all be among
its kept arcs; every left-out arc no dearer than its k-th cheapest kept one is found with
the certificate's search and added before explaining.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..errors import TpnBug
from .candidates import Candidates, Rule, with_arcs
from .certificate import _NO_LIMIT, arcs_at_most, tight_arcs
from .encoding import SolverInput, integer_costs
from .flow import NodePotentials, flow_network, residual_distances

NOBODY, TIE = -1, -2
NAMES_SHOWN = 5         # eligible mentors named in an unserved request's explanation
# Distances above this are not exact in the float64 Dijkstra of SciPy: no claim is made.
_EXACT = 2 ** 52
_UNREACHED = 2 ** 60


class NotOptimal(TpnBug):
    """Left-out arcs would improve the optimum being explained: it is not the last round's
    (explaining beside the certificate's last check), or tpn has a bug."""


@dataclasses.dataclass(frozen=True)
class NextPlaces:
    """For each institution: whom one more place of its capacity would serve (a request
    index), NOBODY (no request would be served) or TIE (several, at the same cost)."""

    winner: np.ndarray

    def of(self, request: int) -> np.ndarray:
        """The institutions whose extra place would serve ``request``."""
        return np.flatnonzero(self.winner == request)


def with_next_best(cand: Candidates, chosen: np.ndarray, forced: np.ndarray,
                   alternatives: int, arcs: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """``cand`` with every left-out arc that could be one of its requests' next-best
    mentors (``alternatives`` for a served request, NAMES_SHOWN for an unserved one), and
    ``chosen`` and ``forced`` pointing at the same arcs of it. ``arcs``: those arcs
    (``next_best_arcs``), when already found."""
    add_r, add_m = next_best_arcs(cand, chosen, alternatives) if arcs is None else arcs
    if add_r.size == 0:
        return cand, chosen, forced
    grown = with_arcs(cand, add_r, add_m, cand.rules)
    return grown, remap(cand, grown, chosen), remap(cand, grown, forced)


def next_best_arcs(cand: Candidates, chosen: np.ndarray,
                   alternatives: int) -> tuple[np.ndarray, np.ndarray]:
    """(requests, mentors) of the left-out arcs ``with_next_best`` adds."""
    if not cand.pruned or cand.arc_request.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    want = np.where(chosen >= 0, alternatives, NAMES_SHOWN)
    cost = integer_costs(cand.arc_cost)
    others = np.ones(cand.arc_request.size, bool)
    others[chosen[chosen >= 0]] = False
    arcs = np.flatnonzero(others)
    order = arcs[np.lexsort((cost[arcs], cand.arc_request[arcs]))]
    req = cand.arc_request[order]
    first = np.searchsorted(req, np.arange(len(cand.requests) + 1))
    rank = np.arange(order.size) - first[req]
    limit = np.full(len(cand.requests), _NO_LIMIT, np.int64)
    at = rank == want[req] - 1
    limit[req[at]] = cost[order[at]]
    ask = np.flatnonzero(want > 0)
    return arcs_at_most(cand, ask, limit[ask])


def remap(old: Candidates, new: Candidates, arcs: np.ndarray) -> np.ndarray:
    """Arc indices of ``old`` as indices of ``new`` (which holds every arc of ``old``);
    -1 stays -1."""
    n = max(1, len(old.rules.enc.institutions))
    new_key = new.arc_request * n + new.arc_mentor
    out = arcs.copy()
    have = arcs >= 0
    out[have] = np.searchsorted(new_key, old.arc_request[arcs[have]] * n
                                + old.arc_mentor[arcs[have]])
    return out


def eligible_counts(cand: Candidates, requests: np.ndarray) -> np.ndarray:
    """How many mentors are eligible for each of ``requests`` under every rule, counted
    over the whole pool (not the kept arcs)."""
    rules = cand.rules
    enc = rules.enc
    out = np.zeros(requests.size, np.int64)
    ok = cand.req_rule[requests] == Rule.ELIGIBLE
    inst = cand.req_inst[requests]
    key = cand.req_topic[requests] * max(1, len(enc.kinds)) + enc.kind[inst]
    for k in np.unique(key[ok]):
        local = np.flatnonzero(ok & (key == k))
        t = int(cand.req_topic[requests[local[0]]])
        pool = rules.pool(t, int(enc.kind[inst[local[0]]]))
        if _by_score_alone(rules, t):
            out[local] = _count_better(rules, inst[local], t, pool)
            continue
        for block, code, _dist in rules.against_pool(local, inst, t, pool):
            out[block] = (code == Rule.ELIGIBLE).sum(axis=1)
    return out


def _by_score_alone(rules, topic: int) -> bool:
    """Whether, within one group (a topic, a mentee kind), a pair's eligibility depends on
    the mentee only through its score: no distance, region, gap or excluded pairs, and no
    external partner on the topic (whose rules differ)."""
    opt = rules.options
    return (opt.max_distance_km is None and not opt.same_region and opt.min_gap <= 0
            and rules.excluded.size == 0 and not rules.enc.offered[:, topic].any())


def _count_better(rules, mentees: np.ndarray, topic: int, pool: np.ndarray) -> np.ndarray:
    """``eligible_counts`` of one group's ``mentees`` where ``_by_score_alone``: the mentors
    that pass every other rule for a mentee of the group, then, by a sorted search, those
    that score better than each mentee (all of them for a mentee without a score)."""
    ignore = frozenset({Rule.NOT_BETTER, Rule.SELF})
    code, _ = rules.evaluate(mentees[:1, None], topic, pool[None, :], ignore)
    usable = pool[code[0] == Rule.ELIGIBLE]
    scores = np.sort(rules.enc.oriented[usable, topic])
    own = rules.enc.oriented[mentees, topic]
    # SELF needs no check: a mentee is not better than itself, and one without a score
    # cannot mentor (so is not usable); it may take every usable mentor.
    better = usable.size - np.searchsorted(scores, own, side="right")
    return np.where(np.isnan(own), usable.size, better)


def next_places(cand: Candidates, inp: SolverInput, chosen: np.ndarray,
                make_input: Callable[[Candidates], SolverInput],
                given_up: Callable[[], None] = lambda: None
                ) -> tuple[NextPlaces, Candidates, np.ndarray]:
    """Whom one more place at each institution would serve, on the full problem (left-out
    arcs that matter are added: the grown candidates and ``chosen`` in them are returned).
    ``given_up`` is called between steps (it raises to stop the work)."""
    n_inst = len(cand.rules.enc.institutions)
    while True:
        given_up()
        # After one more place, a mentor's topic capacity is the option's, or its new total:
        # where the option would bind, the topic is a node of the network.
        limit = inp.options.topic_capacity
        after = dataclasses.replace(inp, topic_capacity=np.minimum(
            inp.mentor_capacity + 1, np.iinfo(np.int64).max if limit is None else limit))
        net = flow_network(after, headroom=1)
        flows = net.flows(chosen)
        n = net.sink + 1
        try:
            d = residual_distances(n, net.tails, net.heads, net.caps, net.costs, flows)
        except TpnBug:
            raise NotOptimal("the optimum being explained is not optimal with the arcs "
                             "added") from None
        fwd, back = flows < net.caps, flows > 0
        u = np.concatenate([net.tails[fwd], net.heads[back]])
        v = np.concatenate([net.heads[fwd], net.tails[back]])
        w = np.concatenate([net.costs[fwd], -net.costs[back]]) + d[u] - d[v]
        reach = dijkstra(csr_matrix((w.astype(float), (u, v)), shape=(n, n)), indices=net.sink)
        finite = np.isfinite(reach)
        dist = np.full(n, _UNREACHED, np.int64)
        dist[finite] = np.rint(reach[finite]).astype(np.int64)
        low, high = _labels(net, u, v, w, dist)
        if cand.pruned:
            q = d + dist
            potentials = NodePotentials(
                request=q[:net.n_requests], slot_keys=net.slots,
                slot=q[net.slot_base:net.mentor_base], mentor_ids=net.mentors,
                mentor=q[net.mentor_base:net.sink], sink=int(q[net.sink]),
                n_topics=inp.n_topics)
            add_r, add_m, reduced = tight_arcs(cand, inp, potentials)
            # A tied arc adds shortest paths; it matters only where it brings its head
            # first arcs the head has not got.
            head = net.entered(add_m, add_r, cand.req_topic, inp.n_topics)
            keep = (reduced < 0) | ((head >= 0) & (
                (low[add_r] < low[head]) | (high[add_r] > high[head])))
            if keep.any():
                grown = with_arcs(cand, add_r[keep], add_m[keep], cand.rules)
                chosen = remap(cand, grown, chosen)
                cand, inp = grown, make_input(grown)
                continue
        break
    first = _first(low, high)
    winner = np.full(n_inst, NOBODY, np.int64)
    mentor_nodes = net.mentor_base + np.arange(net.mentors.size)
    to_sink = net.arcs.size + net.slots.size + np.arange(net.mentors.size)
    full = flows[to_sink] >= net.caps[to_sink]
    # The cycle through the new place costs its distance from the sink, in true costs.
    cycle = dist[mentor_nodes] + d[mentor_nodes] - d[net.sink]
    exact = dist[mentor_nodes] < _EXACT
    use = full & exact & (cycle < 0)
    label = first[mentor_nodes]
    winner[net.mentors[use]] = np.where(label[use] >= net.n_requests, NOBODY, label[use])
    winner[net.mentors[use & (label == TIE)]] = TIE
    return NextPlaces(winner), cand, chosen


def _labels(net, u, v, w, dist) -> tuple[np.ndarray, np.ndarray]:
    """For every node, the least and greatest node after the sink on its shortest paths
    from the sink (least > greatest where unreached)."""
    n = net.sink + 1
    sink = net.sink
    reached = dist < _UNREACHED
    tight = reached[u] & reached[v] & (dist[u] + w == dist[v]) & (v != sink)
    low = np.full(n, np.iinfo(np.int64).max, np.int64)
    high = np.full(n, -1, np.int64)
    start = tight & (u == sink)
    low[v[start]] = v[start]
    high[v[start]] = v[start]
    step = tight & (u != sink)
    tu, tv = u[step], v[step]
    # Labels spread along tight arcs until nothing changes (shortest paths are short:
    # alternating chains of requests and mentors).
    while True:
        new_low, new_high = low.copy(), high.copy()
        np.minimum.at(new_low, tv, low[tu])
        np.maximum.at(new_high, tv, high[tu])
        if np.array_equal(new_low, low) and np.array_equal(new_high, high):
            return low, high
        low, high = new_low, new_high


def _first(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The node after the sink on all of a node's shortest paths, TIE where they start
    differently, NOBODY where unreached."""
    out = np.full(low.size, NOBODY, np.int64)
    labelled = high >= 0
    out[labelled] = np.where(low[labelled] == high[labelled], low[labelled], TIE)
    return out

