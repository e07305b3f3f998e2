"""The optional C core (``_simplex.c``), and the NumPy path that stands in for it.

tpn installs without a C compiler: the extension is built when one is there. With it, the
certificate's later rounds re-solve warm with a network simplex (``simplex.py``) and the
shortest distances behind each round's potentials run in C; without it, every round is
solved by OR-Tools and the distances by NumPy. The tie-break among equal optima
(``canonical.py``) makes both give the same pairs, byte for byte. ``TPN_NO_C_CORE=1`` takes
the NumPy path even where the C core is built (the tests compare the two).

>>> import numpy as np
>>> d = shortest_distances(3, np.array([0, 1, 2, 2]), np.array([1, 2]), np.array([-2, -3]))
>>> d.tolist()
[0, -2, -5]
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import TpnBug

try:
    if os.environ.get("TPN_NO_C_CORE"):     # the tests and benchmarks of the NumPy path
        raise ImportError
    from . import _simplex
except ImportError:        # no C compiler at install: the NumPy path below
    _simplex = None

ACCELERATED = _simplex is not None


def path() -> str:
    """Which path runs, for ``tpn --version`` and the benchmark table."""
    return "C core" if ACCELERATED else "NumPy path, no C core"


def shortest_distances(n: int, first: np.ndarray, head: np.ndarray,
                       cost: np.ndarray) -> np.ndarray:
    """Shortest distances from a virtual root joined to every node at cost 0, over arcs in
    CSR form (arcs ``first[u]:first[u + 1]`` leave u, to ``head``, at ``cost``): int64.
    The distances are unique, so both paths give the same numbers."""
    first = np.ascontiguousarray(first, np.int64)
    head = np.ascontiguousarray(head, np.int64)
    cost = np.ascontiguousarray(cost, np.int64)
    d = np.zeros(n, np.int64)
    if ACCELERATED:
        work = [np.empty(n, np.int64) for _ in range(5)]
        if _simplex.distances(n, head.size, first, head, cost, d, *work) < 0:
            raise _negative_cycle()
        return d
    # Bellman-Ford by rounds over the arcs whose tail fell in the last round. A negative
    # cycle shows as a cycle of the nodes' parents (the tail that last lowered each):
    # looked for every few rounds, so it is found without running n rounds.
    tail = np.repeat(np.arange(n, dtype=np.int64), np.diff(first))
    parent = np.full(n, -1, np.int64)
    changed = np.ones(n, bool)
    for round_ in range(n + 1):
        arcs = np.flatnonzero(changed[tail])
        if arcs.size == 0:
            return d
        new = d.copy()
        reach = d[tail[arcs]] + cost[arcs]
        np.minimum.at(new, head[arcs], reach)
        changed = new < d
        gave = changed[head[arcs]] & (reach == new[head[arcs]])
        parent[head[arcs[gave]]] = tail[arcs[gave]]
        d = new
        if round_ % 8 == 7 and _has_cycle(parent):
            break
    raise _negative_cycle()


def _has_cycle(parent: np.ndarray) -> bool:
    """Whether following parents (-1: none) from some node comes back to it."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = parent.size
    has = np.flatnonzero(parent >= 0)
    if (parent[has] == has).any():
        return True
    graph = csr_matrix((np.ones(has.size, np.int8), (has, parent[has])), shape=(n, n))
    count, labels = connected_components(graph, directed=True, connection="strong")
    return count < n


def _negative_cycle() -> TpnBug:
    return TpnBug("the flow's residual graph has a negative cycle")
