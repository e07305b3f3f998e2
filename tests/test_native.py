"""The C core is optional: its NumPy stand-in gives the same distances, tpn the same bytes
without it, and the C code refuses bad buffers instead of crashing."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tpn.matching import native

from helpers import REPO


def random_graph(seed: int, n: int = 60, m: int = 400, slack: int = 20):
    """A graph without negative cycles: costs are reduced costs of random potentials plus
    non-negative slack, so every cycle costs at least 0 (exactly 0 with ``slack`` 1)."""
    rng = np.random.default_rng(seed)
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    p = rng.integers(-50, 50, n)
    cost = rng.integers(0, slack, m) - p[u] + p[v]
    order = np.argsort(u, kind="stable")
    first = np.searchsorted(u[order], np.arange(n + 1))
    return n, first, v[order], cost[order]


@pytest.mark.skipif(not native.ACCELERATED, reason="the C core is not built here")
@pytest.mark.parametrize("seed", range(5))
def test_numpy_distances_equal_the_c_ones(seed, monkeypatch):
    n, first, head, cost = random_graph(seed)
    with_c = native.shortest_distances(n, first, head, cost)
    monkeypatch.setattr(native, "ACCELERATED", False)
    assert native.shortest_distances(n, first, head, cost).tolist() == with_c.tolist()


def test_a_negative_cycle_is_reported_on_both_paths(monkeypatch):
    from tpn.errors import TpnBug

    first, head, cost = np.array([0, 1, 2]), np.array([1, 0]), np.array([-1, -1])
    for accelerated in {native.ACCELERATED, False}:
        monkeypatch.setattr(native, "ACCELERATED", accelerated)
        with pytest.raises(TpnBug, match="negative cycle"):
            native.shortest_distances(2, first, head, cost)


def csr(n: int, u, v, cost):
    u, v, cost = map(np.asarray, (u, v, cost))
    order = np.argsort(u, kind="stable")
    return n, np.searchsorted(u[order], np.arange(n + 1)), v[order], cost[order]


@pytest.mark.parametrize("shape", ["self-loop", "long cycle", "behind a chain"])
def test_negative_cycles_of_every_shape_are_found(shape, monkeypatch):
    """Found from the nodes' parents, not after n falls of one node: a cycle at the end of
    a long chain of nodes whose distances keep falling too."""
    from tpn.errors import TpnBug

    n = 3000
    if shape == "self-loop":
        graph = csr(n, [5], [5], [-1])
    elif shape == "long cycle":
        graph = csr(n, np.arange(n), (np.arange(n) + 1) % n, np.r_[np.zeros(n - 1), -1])
    else:
        chain = np.arange(n - 3)
        graph = csr(n, np.r_[chain, n - 3, n - 2, n - 1], np.r_[chain + 1, n - 2, n - 1, n - 3],
                    np.r_[np.full(chain.size, -2), 1, 1, -3])
    for accelerated in {native.ACCELERATED, False}:
        monkeypatch.setattr(native, "ACCELERATED", accelerated)
        with pytest.raises(TpnBug, match="negative cycle"):
            native.shortest_distances(*graph)


@pytest.mark.parametrize("seed", range(3))
def test_cycles_of_cost_zero_are_not_negative(seed, monkeypatch):
    """Every cycle of these graphs costs exactly 0: shortest distances exist and both paths
    find them (a cycle among the parents would be a false alarm)."""
    n, first, head, cost = random_graph(seed, n=2000, m=20000, slack=1)
    found = []
    for accelerated in {native.ACCELERATED, False}:
        monkeypatch.setattr(native, "ACCELERATED", accelerated)
        found.append(native.shortest_distances(n, first, head, cost).tolist())
    assert all(f == found[0] for f in found)
    tail = np.repeat(np.arange(n), np.diff(first))
    d = np.array(found[0])
    assert (d[tail] + cost >= d[head]).all() and (d <= 0).all()
    tight = np.zeros(n, bool)
    tight[head[d[tail] + cost == d[head]]] = True
    assert tight[d < 0].all()            # each distance below 0 is a path's length


@pytest.mark.skipif(not native.ACCELERATED, reason="the C core is not built here")
def test_the_c_core_refuses_bad_buffers():
    from tpn.matching import _simplex

    n, first, head, cost = random_graph(1)
    work = [np.zeros(n, np.int64) for _ in range(6)]
    with pytest.raises(ValueError, match="int64"):
        _simplex.distances(n, head.size, first.astype(float), head, cost, *work)
    bad = head.copy()
    bad[3] = n + 5
    with pytest.raises(ValueError, match=r"head\[3\]"):
        _simplex.distances(n, head.size, first, bad, cost, *work)
    with pytest.raises(ValueError, match="first"):
        _simplex.distances(n, head.size, first[::-1].copy(), head, cost, *work)
    arrays = [np.zeros(4, np.int64) for _ in range(15)]
    arrays[0][:] = [0, 1, 7, 0]                       # src 7 in a 3-node network
    with pytest.raises(ValueError, match=r"src\[2\]"):
        _simplex.solve(3, 4, 10, *arrays)


def test_the_same_bytes_without_the_c_core(tmp_path):
    """A network large enough for pruned candidates, several certificate rounds and (with
    the C core) warm rounds: pairs.csv, unmatched.csv and --explain are the same bytes on
    the NumPy path."""
    from tpn.samples import generate
    from tpn.tabular import write_network

    write_network(generate(3000, seed=4), tmp_path / "net")
    outputs = []
    for no_c in ("", "1"):
        out = tmp_path / f"out{no_c}"
        done = subprocess.run([sys.executable, "-m", "tpn.cli", "match", str(tmp_path / "net"),
                               "--out", str(out), "--explain"], cwd=REPO, capture_output=True,
                              env={**os.environ, "TPN_NO_C_CORE": no_c}, timeout=600)
        assert done.returncode == 0, done.stderr
        outputs.append(((out / "pairs.csv").read_bytes(), (out / "unmatched.csv").read_bytes(),
                        done.stdout))
    assert outputs[0] == outputs[1]
