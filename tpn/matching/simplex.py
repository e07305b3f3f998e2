"""A min-cost flow that stays warm: arcs can be added and the flow solved again from the
last optimum, for the certificate's rounds (see ``tpn.matching.engine``).

OR-Tools' cost scaling starts from nothing on every solve, so each certificate round used
to cost as much as the first. A primal network simplex ends on an optimal spanning tree;
arcs added afterwards (at flow 0) leave that tree a valid starting basis, and the next
solve pivots only where the new arcs make a difference. The pivots run in C
(``_simplex.c``); this module keeps the arrays. From scratch, or for a round that moves the
optimum far, OR-Tools is faster: tpn uses this only for rounds that add few arcs
(``Tuning.warm_share``), standing it on OR-Tools' last optimum (:meth:`WarmFlow.from_optimum`).

>>> flow = WarmFlow(np.array([1, 1, 0, -2]), cost_bound=100)
>>> flow.add_arcs(np.array([0, 1, 2, 0, 1]), np.array([2, 2, 3, 3, 3]),
...               np.array([1, 1, 1, 1, 1]), np.array([5, 7, 0, 100, 100]))
>>> flow.solve(); flow.flow.tolist(), flow.objective()
([1, 0, 1, 0, 1], 105)
>>> flow.add_arcs(np.array([1]), np.array([3]), np.array([1]), np.array([6]))   # one more
>>> flow.solve(); flow.flow.tolist(), flow.objective()
([1, 0, 1, 0, 0, 1], 11)
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from ..errors import InfeasibleError
from ..i18n import _
from .native import _simplex
from .encoding import INT_LIMIT

_INFINITE = 2 ** 60        # capacity of the artificial arcs


class PivotLimit(RuntimeError):
    """The simplex made more pivots than it was allowed."""


class WarmFlow:
    """Min-cost flow with the given node supplies (summing to 0), solved by network
    simplex from an artificial starting tree, then from each optimum after arcs are added.
    ``cost_bound``: no arc added will cost more than it (in absolute value); it sets the
    artificial arcs' cost, which must outweigh any path of real arcs."""

    def __init__(self, supply: np.ndarray, cost_bound: int):
        n = int(supply.size)
        self.n_nodes = n
        root = n
        self._art = (int(cost_bound) + 1) * (n + 1)
        if 4 * self._art >= INT_LIMIT:
            raise InfeasibleError(_("the problem is too large for exact integer costs"))
        self._bound = int(cost_bound)
        nodes = np.arange(n, dtype=np.int64)
        up = np.asarray(supply) >= 0
        # Node u's artificial arc is arc u: to the root for a supply (or none), from the
        # root for a demand, carrying it; the tree starts as the star of these arcs.
        self._src = np.where(up, nodes, root)
        self._dst = np.where(up, root, nodes)
        self._cap = np.full(n, _INFINITE, np.int64)
        self._cost = np.full(n, self._art, np.int64)
        self._flow = np.abs(np.asarray(supply, np.int64))
        self._state = np.zeros(n, np.int64)
        self._parent = np.r_[np.full(n, root), -1].astype(np.int64)
        self._pred = np.r_[nodes, -1]
        self._dir = np.r_[np.where(up, 1, -1), 0].astype(np.int64)
        self._pi = np.r_[-self._dir[:n] * self._art, 0].astype(np.int64)
        self._depth = np.r_[np.ones(n, np.int64), 0]
        self._child = np.full(n + 1, -1, np.int64)
        self._next = np.r_[nodes[1:], -1, -1].astype(np.int64)
        self._prev = np.r_[-1, nodes[:-1], -1].astype(np.int64)
        if n:
            self._child[root] = 0
        self._stack = np.zeros(n + 1, np.int64)
        self.pivots = 0

    @classmethod
    def from_optimum(cls, supply, tails, heads, caps, costs, flow, potentials, top: int,
                     cost_bound: int) -> "WarmFlow":
        """A WarmFlow standing on an optimum found elsewhere (OR-Tools): ``flow`` on the
        given arcs and ``potentials`` proving it (as ``flow.residual_distances`` gives).

        The starting tree is a breadth-first tree of the residual arcs with reduced cost 0,
        grown backwards from node ``top`` (tpn's sink), which hangs from the root: each
        node hangs by an arc along which flow can go towards the root (a strongly feasible
        tree), and the potentials stay those given. Nodes it does not reach hang from the
        root by their artificial arcs, whose cost is set so that they keep their
        potentials: all artificial arcs point into the root, which has no supply and no
        arc out, so they never carry flow whatever they cost. Every arc strictly between
        its bounds must be in the tree: ValueError when one is not reached that way."""
        self = cls(np.zeros(supply.size, np.int64), cost_bound)   # artificial arcs in
        n = self.n_nodes
        d = np.asarray(potentials, np.int64)
        self._cost = -d
        self.add_arcs(tails, heads, caps, costs)
        flow = np.asarray(flow, np.int64)
        caps = np.asarray(caps, np.int64)
        self._flow[n:] = flow
        balance = np.bincount(self._src[n:], flow, n) - np.bincount(self._dst[n:], flow, n)
        if (balance != supply).any():
            raise ValueError("the flow does not meet the supplies")
        inner = (flow > 0) & (flow < caps)
        # At a bound: +1 at 0, -1 at capacity; the tree arcs' 0 is set by the tree.
        self._state[n:] = np.where(caps == 0, 0, np.where(flow < caps, 1, -1))
        self._pi[:n] = d
        self._hang_tight_tree(d, top)
        if (inner & (self._state[n:] != 0)).any():
            raise ValueError("an arc strictly between its bounds is not in the starting tree")
        # Children lists: each parent's children in node order.
        order = np.argsort(self._parent[:n], kind="stable")
        parents = self._parent[order]
        same = np.r_[parents[1:] == parents[:-1], False]
        self._next[order] = np.where(same, np.r_[order[1:], -1], -1)
        self._prev[order] = np.where(np.r_[False, same[:-1]], np.r_[-1, order[:-1]], -1)
        self._child[:] = -1
        first = order[~np.r_[False, same[:-1]]]
        self._child[self._parent[first]] = first
        return self

    def _hang_tight_tree(self, d: np.ndarray, top: int) -> None:
        """Re-hang, under ``top``, the nodes that a breadth-first search from it reaches
        backwards along tight residual arcs (v can send flow to w at reduced cost 0)."""
        n = self.n_nodes
        tails, heads, caps, costs = self.arcs()
        x = self.flow
        tight = costs + d[tails] - d[heads] == 0
        up = tight & (x < caps)            # v = tail sends along the arc, which points up
        down = tight & (x > 0)             # v = head sends back: the arc points down
        v = np.r_[tails[up], heads[down]]
        w = np.r_[heads[up], tails[down]]
        arc = np.r_[np.flatnonzero(up), np.flatnonzero(down)]
        direction = np.repeat(np.array([1, -1], np.int64), [int(up.sum()), int(down.sum())])
        graph = csr_matrix((np.ones(v.size, np.int8), (w, v)), shape=(n, n))
        order, preds = breadth_first_order(graph, top, directed=True, return_predecessors=True)
        reached = order[1:].astype(np.int64)
        parent = preds[reached].astype(np.int64)
        key = v * n + w
        by_key = np.argsort(key)
        pos = by_key[np.searchsorted(key[by_key], reached * n + parent)]
        self._parent[reached] = parent
        self._pred[reached] = n + arc[pos]
        self._dir[reached] = direction[pos]
        self._state[reached] = 1             # their artificial arcs leave the tree
        self._state[n + arc[pos]] = 0
        # Depths level by level (breadth-first order: parents come first).
        level = np.zeros(n + 1, bool)
        level[top] = True
        depth = 2
        todo = reached
        while todo.size:
            now = level[self._parent[todo]]
            self._depth[todo[now]] = depth
            level[:] = False
            level[todo[now]] = True
            todo = todo[~now]
            depth += 1

    def add_arcs(self, tails, heads, caps, costs) -> None:
        """Append arcs, at flow 0."""
        costs = np.asarray(costs, np.int64)
        if costs.size and int(np.abs(costs).max()) > self._bound:
            raise ValueError("an arc costs more than the cost bound given")
        caps = np.asarray(caps, np.int64)
        self._src = np.concatenate([self._src, np.asarray(tails, np.int64)])
        self._dst = np.concatenate([self._dst, np.asarray(heads, np.int64)])
        self._cap = np.concatenate([self._cap, caps])
        self._cost = np.concatenate([self._cost, costs])
        self._flow = np.concatenate([self._flow, np.zeros(costs.size, np.int64)])
        # An arc that can never carry flow is never offered to the tree (state 0 is never
        # chosen): in the tree it would block the path to the root whichever way it points.
        self._state = np.concatenate([self._state, (caps > 0).astype(np.int64)])

    def solve(self, max_pivots: int | None = None) -> None:
        """Pivot to an optimum. Raises InfeasibleError when the supplies cannot be met, and
        PivotLimit after ``max_pivots`` (by default 20 per arc and node, ten times what a
        round moving far takes), which only a bug could reach: the caller can then fall
        back on OR-Tools instead of waiting for ever."""
        n_arcs = self._src.size
        if max_pivots is None:
            max_pivots = 20 * (n_arcs + self.n_nodes) + 1000
        pivots = _simplex.solve(
            self.n_nodes + 1, n_arcs, max_pivots, self._src, self._dst, self._cap,
            self._cost, self._flow, self._state, self._parent, self._pred, self._dir,
            self._pi, self._depth, self._child, self._next, self._prev, self._stack)
        if pivots < 0:
            raise PivotLimit(f"no optimum after {max_pivots} pivots")
        self.pivots += pivots
        if self._flow[: self.n_nodes].any():
            raise InfeasibleError(_("the supplies cannot all be met"))

    @property
    def flow(self) -> np.ndarray:
        """Flow on each added arc, in the order added."""
        return self._flow[self.n_nodes:]

    @property
    def potentials(self) -> np.ndarray:
        """Node potentials proving the optimum: cost + p[tail] - p[head] is >= 0 on every
        arc that can carry more flow and <= 0 on every arc that carries some."""
        return self._pi[: self.n_nodes] - self._pi[self.n_nodes]

    def arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tails, heads, capacities, costs) of the added arcs, in the order added."""
        n = self.n_nodes
        return self._src[n:], self._dst[n:], self._cap[n:], self._cost[n:]

    def objective(self) -> int:
        return int(self.flow @ self._cost[self.n_nodes:])
