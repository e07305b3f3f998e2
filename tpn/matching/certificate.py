"""The optimality certificate for pruned candidates.

The flow is solved over the kept arcs only. Its residual graph gives node potentials d
(shortest distances, ``flow.residual_distances``) with ``cost + d[x] - d[y] >= 0`` on every
residual arc. If every *left-out* eligible arc request r -> (mentor m, topic t) also has
``cost(r, m) + d[r] - d[(m, t)] >= 0``, those potentials prove the pruned optimum optimal for
the full problem (complementary slackness). Otherwise the violating arcs are added and the
flow is solved again; the loop ends because each round adds arcs and there are finitely many.

Finding violations without visiting every (request, mentor) pair: a pair's cost is at least

    LB(r, m) = G(m) + P(r) + alpha * km(r, m)

with G(m) = weight_gain * (100 - percentile of m) / 100, P(r) = weight_gain * percentile of
r / 100 (0 with cross_kind, and 0 for a mentee without a score — in both cases gains may be
negative and are clipped, so only G(m) is a bound), alpha =
weight_distance / 100 and the size term dropped (it is >= 0). Continuity pairs are always
kept, so left-out arcs have no bonus. A violation needs

    G(m) - d[(m, t)] + alpha * km(r, m) < -d[r] - P(r)

so for each request only mentors within a radius of ``(right side - min_m(G - d)) / alpha``
can violate: a KD-tree ball query finds them. Each found pair is then checked exactly (all
rules, exact integer cost).
"""

from __future__ import annotations

from itertools import chain

import numpy as np
from scipy.spatial import cKDTree

from .candidates import (BLOCK_CELLS, EARTH_RADIUS_KM, Candidates, Rule, is_member,
                         total_cost)
from .encoding import COST_SCALE, SolverInput, integer_costs

_SLACK = 1.0      # integer rounding of costs: a bound may be off by half a unit
_BANDS = 8        # bands of h searched with their own radius (see _candidate_pairs)


def violations(cand: Candidates, inp: SolverInput, potentials,
               per_request: int = 0, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(requests, mentors) of left-out eligible arcs with negative reduced cost; with
    ``per_request``, only that many per request, the most negative first (column
    generation: the next round's potentials decide whether more are needed). With a
    ``margin`` (integer cost units), arcs with a reduced cost below it are returned too,
    but only when at least one is negative: none negative proves the optimum."""
    rules = cand.rules
    enc, opt = rules.enc, rules.options
    free = (inp.forced < 0) & (cand.req_rule == Rule.ELIGIBLE)
    kept = np.sort(cand.arc_request * len(enc.institutions) + cand.arc_mentor)
    scale = potentials.scale          # costs behind the potentials were multiplied by it
    alpha = opt.weight_distance / 100.0 * COST_SCALE * scale
    out_r, out_m, out_rc = [], [], []
    group_key = cand.req_topic * max(1, len(enc.kinds)) + enc.kind[cand.req_inst]
    for key in np.unique(group_key[free]):
        rows = np.flatnonzero((group_key == key) & free)
        t = int(cand.req_topic[rows[0]])
        pool = rules.pool(t, int(enc.kind[cand.req_inst[rows[0]]]))
        pool = pool[rules.capacity[pool] > 0]
        if pool.size == 0:
            continue
        target = potentials.target(pool, t).astype(float)
        h = opt.weight_gain * (100.0 - enc.percentile[pool, t]) / 100.0 * COST_SCALE * scale \
            - target
        # The mentee's share of the bound holds only where gains cannot be clipped at 0:
        # same kind and a mentee with a score (then every eligible mentor is strictly
        # better). A mentee without a score is compared with the median, so mentors below
        # it are eligible with a negative, clipped gain: there only G(m) bounds the cost.
        pct_i = enc.percentile[cand.req_inst[rows], t]
        p_r = np.where(np.isnan(pct_i) | opt.cross_kind, 0.0,
                       opt.weight_gain * np.nan_to_num(pct_i) / 100.0 * COST_SCALE * scale)
        bound = -potentials.request[rows].astype(float) - p_r + (_SLACK + margin) * scale
        for r_idx, m_idx in _candidate_pairs(rules, cand, rows, pool, h, bound, alpha):
            req, mentor = rows[r_idx], pool[m_idx]
            code, _ = rules.evaluate(cand.req_inst[req], t, mentor)
            ok = (code == Rule.ELIGIBLE) & ~is_member(req * len(enc.institutions) + mentor, kept)
            req, mentor, m_idx = req[ok], mentor[ok], m_idx[ok]
            if req.size == 0:
                continue
            fig = rules.arc_figures(cand.req_inst[req], np.full(req.size, t), mentor)
            cost = integer_costs(total_cost(fig)) * scale
            reduced = cost + potentials.request[req] - target[m_idx].astype(np.int64)
            bad = reduced < margin * scale
            out_r.append(req[bad])
            out_m.append(mentor[bad])
            out_rc.append(reduced[bad])
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if margin and min(r.min(initial=0) for r in out_rc) >= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    req, mentor, reduced = (np.concatenate(a) for a in (out_r, out_m, out_rc))
    if per_request and req.size:
        order = np.lexsort((mentor, reduced, req))
        req, mentor = req[order], mentor[order]
        first = np.r_[0, np.flatnonzero(np.diff(req)) + 1]
        rank = np.arange(req.size) - np.repeat(first, np.diff(np.r_[first, req.size]))
        keep = rank < per_request
        req, mentor = req[keep], mentor[keep]
    return req, mentor


def _candidate_pairs(rules, cand, rows, pool, h, bound, alpha):
    """Chunks of (row index, pool index) whose lower bound does not rule out a violation.

    A few mentors with a very low ``h`` (a free mentor, a cheap one) would give every
    request a wide radius; so the pool is split into bands of ``h`` (each half as wide as
    the rest of the range) and each band is searched with its own, tighter radius."""
    order = np.argsort(h, kind="stable")
    h_sorted = h[order]
    if alpha > 0 and h_sorted.size:
        low, span = h_sorted[0], h_sorted[-1] - h_sorted[0]
        cuts = np.searchsorted(h_sorted, low + span * (1 - 0.5 ** np.arange(1, _BANDS)))
        edges = np.unique(np.r_[0, cuts, h_sorted.size])
    else:
        edges = np.array([0, h_sorted.size])
    for start, stop in zip(edges[:-1], edges[1:]):
        members = order[start:stop]
        rows_idx = np.flatnonzero(bound > h_sorted[start])
        if rows_idx.size == 0:
            continue
        if alpha > 0:
            radius_km = (bound[rows_idx] - h_sorted[start]) / alpha
            chord = 2 * np.sin(np.minimum(radius_km / EARTH_RADIUS_KM, np.pi) / 2)
            points = rules._points
            tree = cKDTree(points[pool[members]])
            found = tree.query_ball_point(points[cand.req_inst[rows[rows_idx]]],
                                          r=np.minimum(chord, 2.0) + 1e-12)
            lengths = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
            if lengths.sum():
                r_idx = np.repeat(rows_idx, lengths)
                m_idx = members[np.fromiter(chain.from_iterable(found), dtype=np.int64,
                                            count=int(lengths.sum()))]
                yield from _filtered(rules, cand, rows, pool, h, bound, alpha, r_idx, m_idx)
            continue
        # No distance weight: every mentor with a small enough h, in blocks.
        step = max(1, BLOCK_CELLS // max(1, pool.size))
        for first in range(0, rows_idx.size, step):
            block = rows_idx[first:first + step]
            count = np.searchsorted(h_sorted, bound[block], side="left")
            r_idx = np.repeat(block, count)
            m_idx = np.concatenate([order[:c] for c in count]) if count.sum() else \
                np.zeros(0, np.int64)
            yield from _filtered(rules, cand, rows, pool, h, bound, alpha, r_idx, m_idx)


def _filtered(rules, cand, rows, pool, h, bound, alpha, r_idx, m_idx):
    for start in range(0, r_idx.size, BLOCK_CELLS):
        r, m = r_idx[start:start + BLOCK_CELLS], m_idx[start:start + BLOCK_CELLS]
        if alpha > 0:
            km = rules.distance(cand.req_inst[rows[r]], pool[m], filled=True)
            keep = h[m] + alpha * km < bound[r]
            r, m = r[keep], m[keep]
        if r.size:
            yield r, m
