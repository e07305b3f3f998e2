"""The optimality certificate for pruned candidates.

The flow is solved over the kept arcs only. Its residual graph gives node potentials d
(shortest distances, ``flow.residual_distances``) with ``cost + d[x] - d[y] >= 0`` on every
residual arc. If every *left-out* eligible arc request r -> (mentor m, topic t) also has
``cost(r, m) + d[r] - d[(m, t)] >= 0``, those potentials prove the pruned optimum optimal for
the full problem (complementary slackness). Otherwise the violating arcs are added and the
flow is solved again; the loop ends because each round adds arcs and there are finitely many.

Finding violations without visiting every (request, mentor) pair: a pair's cost is at least

    LB(r, m) = G(m) + P(r) + alpha * km(r, m) + beta * |ln size(r) - ln size(m)|

with G(m) = weight_gain * (100 - percentile of m) / 100, P(r) = weight_gain * percentile of
r / 100 (50 without a score), alpha = weight_distance / 100 and beta = weight_size. With
cross_kind, or for a mentee without a score, a gain may be negative and is clipped at 0:
the gain term is min(weight_gain, G(m) + P(r)), and the pairs whose term is weight_gain
(the mentor ranks no higher than the mentee) are searched apart, with weight_gain for G(m)
and 0 for P(r), each band of mentees' percentiles against the mentors ranked below it.
Continuity and preferred pairs are always kept, so left-out arcs have no bonus. A
violation needs

    G(m) - d[(m, t)] + alpha * km(r, m) + beta * |ln size(r) - ln size(m)| < -d[r] - P(r)

Place each institution at (alpha * R / sqrt(3) * its unit vector, beta * ln size) in four
dimensions: as km >= R * chord and the sum of a 3-vector's absolute coordinates is at most
sqrt(3) times its length, the Manhattan (L1) distance of two points is at most the last two
terms; a fifth coordinate, h(m) = G(m) - d[(m, t)] above the lowest h (0 for requests), adds
the first. So for each request only mentors within an L1 radius of ``right side - min_m h``
of it can violate: a KD-tree ball query finds them. Each found pair is then checked exactly
(all rules, exact integer cost). (Euclidean distance bounds the sum too, but loosely: at
30,000 institutions its balls hold 3.5 times as many pairs to check.)

A round keeps only each request's most negative few (``per_request``), and of those at
least half a coverage penalty deep (a place that could serve one more request, which every
request reaching it reports alike) only each mentor's most negative few. Where a violation is
a coverage penalty deep (an unserved request could take a place), the ball is the whole
pool; then the request's nearest pairs in the same space (a KD-tree k-nearest query) are
checked first, and once they hold that many violations the ball shrinks to the least
negative of them: every arc the cap keeps is still inside.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
from scipy.spatial import cKDTree

from ..runtime.parallel import in_second_process, two_halves
from .candidates import Candidates, Rule, RuleContext, bound_points, is_member
from .encoding import COST_SCALE, SolverInput, integer_costs

_SLACK = 1.0      # integer rounding of costs: a bound may be off by half a unit


def violations(cand: Candidates, inp: SolverInput, potentials,
               per_request: int = 0, margin: float = 0.0,
               checked: RuleContext | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(requests, mentors) of left-out eligible arcs with negative reduced cost; with
    ``per_request``, only that many per request, the most negative first (column
    generation: the next round's potentials decide whether more are needed), and of those
    half a coverage penalty deep, that many per mentor (``_places_per_mentor``). With a
    ``margin`` (integer cost units), arcs with a reduced cost below it are returned too,
    but only when at least one is negative (none negative proves the optimum), and then
    only up to as far above 0 as the most negative one is below it (``tight_arcs`` gives
    those of reduced cost 0 too, always). With ``checked``, rules that agree with
    ``cand``'s on every mentor of their own pools (the same eligibility, the same costs)
    and whose arcs were proven not to violate under these potentials, only mentors outside
    those pools are searched."""
    search = _searcher(cand, inp, potentials, per_request, checked)
    groups = _request_groups(cand, inp)
    # The margin widens every request's ball, and the last round finds nothing: the
    # strict search, in smaller balls, says so alone.
    found = search(0, groups)
    if found and margin:
        # Prices move about as far as the deepest violation: arcs further from violating
        # are not the next round's (on nearly tied costs, a widened margin would add
        # nearly every arc).
        deepest = -min(int(f[2].min()) for f in found) / potentials.scale
        full = np.zeros(len(cand.requests), bool)
        if per_request:
            # A request with per_request violations keeps those: arcs within the margin
            # would rank after them. Only the others are searched again, more widely.
            counts = np.bincount(np.concatenate([f[0] for f in found]), minlength=full.size)
            full = counts >= per_request
        strict = [tuple(column[full[f[0]]] for column in f) for f in found]
        rest = [rows[~full[rows]] for rows in groups]
        found = [f for f in strict if f[0].size] + \
            search(min(margin, deepest), [rows for rows in rest if rows.size])
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    req, mentor, reduced = (np.concatenate([f[k] for f in found]) for k in range(3))
    if per_request and req.size and np.bincount(req).max() > per_request:
        order = _by_request_reduced_mentor(req, reduced, mentor,
                                           len(cand.rules.enc.institutions))
        req, mentor = req[order], mentor[order]
        first = np.r_[0, np.flatnonzero(np.diff(req)) + 1]
        rank = np.arange(req.size) - np.repeat(first, np.diff(np.r_[first, req.size]))
        keep = rank < per_request
        req, mentor, reduced = req[keep], mentor[keep], reduced[order][keep]
    if per_request and req.size:
        keep = _places_per_mentor(req, mentor, reduced, per_request,
                                  int(inp.penalty.min()) * potentials.scale, len(cand.requests))
        req, mentor = req[keep], mentor[keep]
    return req, mentor


def tight_arcs(cand: Candidates, inp: SolverInput, potentials
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(requests, mentors, reduced costs) of every left-out eligible arc with a reduced cost
    of 0 or below."""
    found = _searcher(cand, inp, potentials, 0, None)(1, _request_groups(cand, inp))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tuple(np.concatenate([f[k] for f in found]) for k in range(3))


def _request_groups(cand: Candidates, inp: SolverInput) -> list[np.ndarray]:
    """The free eligible requests, one array per (topic, kind): they share a pool."""
    enc = cand.rules.enc
    free = (inp.forced < 0) & (cand.req_rule == Rule.ELIGIBLE)
    group_key = cand.req_topic * max(1, len(enc.kinds)) + enc.kind[cand.req_inst]
    return [np.flatnonzero((group_key == key) & free) for key in np.unique(group_key[free])]


def _searcher(cand: Candidates, inp: SolverInput, potentials, per_request: int, checked):
    """``search(margin, groups)``: the violating arcs of those groups of requests, as a list
    of (requests, mentors, reduced costs)."""
    rules = cand.rules
    # Sorted already: candidates keep their arcs by request, then mentor.
    kept = cand.arc_request * len(rules.enc.institutions) + cand.arc_mentor

    def search(margin: float, groups: list[np.ndarray]
               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        def part(some):
            return [found for rows in some
                    for found in _group_violations(cand, potentials, rows, kept, margin,
                                                   per_request, checked) if found[0].size]
        if sum(map(len, groups)) < rules.tuning.second_process_checks:
            return part(groups)
        # Half of the requests' groups in a second process (tpn.runtime.parallel): the KD-tree
        # search already uses both cores, the exact checks after it only one.
        here, there = two_halves(groups, size=len)
        with in_second_process(lambda: part(there)) as job:
            return part(here) + job.result()
    return search


def _places_per_mentor(req, mentor, reduced, per_request: int, penalty: int,
                       n_requests: int) -> np.ndarray:
    """Bool mask of the violations to keep: all but those at least half a coverage
    ``penalty`` deep beyond each mentor's ``per_request`` most negative (then by request).

    Such a violation says that a place at the mentor could serve one more request, and
    every request that reaches the place says so alike: kept per request only, a few
    places far from the prices gave arcs to every one of thousands of requests.

    >>> _places_per_mentor(np.array([0, 1, 2, 3]), np.array([7, 7, 7, 8]),
    ...                    np.array([-60, -70, -5, -80]), 1, 100, 4).tolist()
    [False, True, True, True]
    """
    deep = reduced < -(penalty / 2)
    keep = ~deep
    if np.bincount(mentor[deep]).max(initial=0) <= per_request:
        return np.ones(req.size, bool)
    at = np.flatnonzero(deep)
    order = at[_by_request_reduced_mentor(mentor[at], reduced[at], req[at], n_requests)]
    by_mentor = mentor[order]
    first = np.searchsorted(by_mentor, by_mentor)
    keep[order[np.arange(order.size) - first < per_request]] = True
    return keep


def _by_request_reduced_mentor(req, reduced, mentor, n_inst: int) -> np.ndarray:
    """The order of np.lexsort((mentor, reduced, req)) in two sorts: (reduced, mentor) as
    one int64 key when it fits, then a stable sort by request (about half the time on
    millions of arcs).

    >>> _by_request_reduced_mentor(np.array([1, 0, 1]), np.array([-5, 3, -9]),
    ...                            np.array([2, 4, 3]), 5).tolist()
    [1, 2, 0]
    """
    low = int(reduced.min())
    bits_m = max(1, n_inst - 1).bit_length()
    if (max(1, int(reduced.max()) - low).bit_length() + bits_m > 63
            or req.max() >= 2 ** 31):
        return np.lexsort((mentor, reduced, req))
    first = np.argsort(((reduced - low) << bits_m) | mentor)
    return first[np.argsort(req[first].astype(np.int32), kind="stable")]


def settled(cand: Candidates, inp: SolverInput, chosen: np.ndarray, potentials,
            rows: np.ndarray) -> bool:
    """Whether each request of ``rows`` is served in every optimum of ``inp`` or in none,
    as in ``chosen``, by the ``potentials`` that prove it optimal on every eligible arc: an
    arc of positive reduced cost is empty in every optimum (complementary slackness). So a
    served request whose unmatched arc has one stays served, and an unserved one all of
    whose eligible arcs have one stays unserved. A locked request is always served, one
    without an eligible mentor never."""
    if potentials is None:
        return False
    rules, scale = cand.rules, potentials.scale
    for r in rows.tolist():
        if inp.forced[r] >= 0 or cand.req_rule[r] != Rule.ELIGIBLE:
            continue
        if chosen[r] >= 0:
            if inp.penalty[r] * scale + potentials.request[r] - potentials.sink <= 0:
                return False
            continue
        i, t = int(cand.req_inst[r]), int(cand.req_topic[r])
        pool = rules.pool(t, int(rules.enc.kind[i]))
        code, _dist = rules.evaluate(np.array([i]), t, pool)
        m = pool[code == Rule.ELIGIBLE]
        cost = integer_costs(rules.arc_costs(np.full(m.size, i), np.full(m.size, t), m)[0])
        if (cost * scale + potentials.request[r] - potentials.target(m, t) <= 0).any():
            return False
    return True


def arcs_at_most(cand: Candidates, requests: np.ndarray,
                 limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(requests, mentors) of the eligible arcs left out of ``cand`` whose integer cost is
    at most ``limit`` (one per request, in integer cost units): with the arcs kept, every
    arc of these requests up to that cost, found with the certificate's search (the same
    lower bound, with potentials 0 and the limit as the request's side)."""
    enc = cand.rules.enc
    requests = np.asarray(requests, np.int64)
    if requests.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    bound = np.zeros(len(cand.requests), np.int64)
    bound[requests] = -np.minimum(limit, _NO_LIMIT).astype(np.int64)
    limits = _Limits(bound)
    key = cand.req_topic * max(1, len(enc.kinds)) + enc.kind[cand.req_inst]
    ok = cand.req_rule[requests] == Rule.ELIGIBLE
    kept = cand.arc_request * len(enc.institutions) + cand.arc_mentor
    found = [f for k in np.unique(key[requests[ok]])
             for f in _group_violations(cand, limits, requests[ok][key[requests[ok]] == k], kept,
                                        margin=1)]
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


_NO_LIMIT = 2 ** 50     # "any cost": far above every arc's, far below overflow


class _Limits:
    """Potentials that turn the certificate's search into "every arc up to a cost"."""

    scale = 1

    def __init__(self, request: np.ndarray):
        self.request = request

    def target(self, mentors: np.ndarray, topic: int) -> np.ndarray:
        return np.zeros(mentors.shape, np.int64)


def _group_violations(cand: Candidates, potentials, rows: np.ndarray, kept: np.ndarray,
                      margin: float, per_request: int = 0, checked=None):
    """(requests, mentors, reduced costs) of the violating arcs of one group of requests
    (one topic, one kind: they share a pool of mentors), in chunks. With ``per_request``,
    a request may get only the arcs down to its per_request-th most negative (and all its
    ties): the caller keeps no more."""
    rules = cand.rules
    enc, opt = rules.enc, rules.options
    t = int(cand.req_topic[rows[0]])
    kind = int(enc.kind[cand.req_inst[rows[0]]])
    pool = rules.pool(t, kind)
    if checked is not None:
        pool = pool[~is_member(pool, checked.pool(t, kind))]
    pool = pool[rules.capacity[pool] > 0]
    if pool.size == 0:
        return
    scale = potentials.scale          # costs behind the potentials were multiplied by it
    alpha = 0.0 if rules.one_place else opt.weight_distance / 100.0 * COST_SCALE * scale
    target = potentials.target(pool, t).astype(float)
    h = opt.weight_gain * (100.0 - enc.mentor_percentile[pool, t]) / 100.0 * COST_SCALE * scale \
        - target
    # The gain term is min(w, G(m) + P(r)) (gains are clipped at 0; a mentee without a
    # score counts as the median). Of one kind, a mentee with a score has only strictly
    # better, so higher-percentile, eligible mentors: G(m) + P(r) it is. Across kinds, or
    # without a score, a mentor may rank lower: then w, searched for apart (a second pass
    # over those requests, the pairs the first found left out).
    pct_i = enc.percentile[cand.req_inst[rows], t]
    unsure = np.isnan(pct_i) | opt.cross_kind
    whole = opt.weight_gain * COST_SCALE * scale
    p_r = whole * np.nan_to_num(pct_i, nan=50.0) / 100.0
    # Reduced costs below a request's limit are found.
    limit = np.full(rows.size, margin * scale)
    request_side = -potentials.request[rows].astype(float) + _SLACK * scale
    bound = request_side + limit - p_r
    known = rules.sizes_known(cand.req_inst[rows], pool)
    beta = opt.weight_size * COST_SCALE * scale if known else 0.0
    space = _Space(rules, alpha, beta)
    mentees = cand.req_inst[rows]
    left_out = _LeftOut(cand, rows, pool, kept, rules.tuning.block_cells)

    def exact(r_idx, m_idx):
        # The pairs that are left-out arcs, with their reduced costs.
        req, mentor = rows[r_idx], pool[m_idx]
        code, _ = rules.evaluate(cand.req_inst[req], t, mentor)
        ok = (code == Rule.ELIGIBLE) & left_out(r_idx, m_idx)
        r_idx, m_idx, req, mentor = r_idx[ok], m_idx[ok], req[ok], mentor[ok]
        cost = integer_costs(rules.arc_costs(cand.req_inst[req], np.full(req.size, t),
                                             mentor)[0]) * scale
        return r_idx, m_idx, cost + potentials.request[req] - target[m_idx].astype(np.int64)

    if per_request:
        # Where a request's ball holds far more pairs than it can keep (deep violations: an
        # unserved request could take a place), its nearest pairs by the bound give
        # per_request violations first, and the ball shrinks to the least negative of them.
        # Clipped gains (see clipped()) have a bound of their own: whole - target.
        views = [(h, bound)] + ([(whole - target, np.where(unsure, request_side + limit,
                                                          -np.inf))] if unsure.any() else [])
        kth = _kth_found(space, mentees, pool, views, rows, cand, per_request, limit, exact,
                         rules.tuning)
        if kth is not None:
            limit = np.minimum(limit, kth + 1)
            bound = request_side + limit - p_r

    def clipped():
        # A gain is clipped where the mentor ranks no higher than the mentee: each band of
        # the mentees' percentiles is searched against the mentors ranked below its top
        # only, and keeps the pairs clipped for their own mentee (the others' bound in the
        # first pass is exact) that the first pass left out.
        pct_r, pct_m = np.nan_to_num(pct_i, nan=50.0), enc.mentor_percentile[pool, t]
        order = np.flatnonzero(unsure)
        order = order[np.argsort(pct_r[order], kind="stable")]
        for band in np.array_split(order, min(rules.tuning.bands, order.size)):
            below = np.flatnonzero(pct_m < pct_r[band[-1]])
            if below.size == 0:
                continue
            side = np.full(rows.size, -np.inf)
            side[band] = request_side[band] + limit[band]
            for r_idx, sub in _candidate_pairs(space, mentees, pool[below],
                                               whole - target[below], side, rules.tuning):
                m_idx = below[sub]
                again = h[m_idx] + space.cost(mentees[r_idx], pool[m_idx]) < bound[r_idx]
                keep = (pct_m[m_idx] < pct_r[r_idx]) & ~again
                yield r_idx[keep], m_idx[keep]

    def pairs():
        yield from _candidate_pairs(space, mentees, pool, h, bound, rules.tuning)
        if unsure.any():
            yield from clipped()

    for r_idx, m_idx in pairs():
        r_idx, m_idx, reduced = exact(r_idx, m_idx)
        bad = reduced < limit[r_idx]
        yield rows[r_idx[bad]], pool[m_idx[bad]], reduced[bad]


class _LeftOut:
    """Whether pairs (row index, pool index) of one group are left out of the candidates'
    arcs. Where the pairs are dense (costs without distances: balls hold most of the pool),
    the kept arcs of their rows are marked in a rows x pool table, ``cells`` at a time: a
    look-up per pair instead of a binary search among every kept arc's key. Sparse pairs
    are searched."""

    def __init__(self, cand: Candidates, rows: np.ndarray, pool: np.ndarray, kept: np.ndarray,
                 cells: int):
        self.cand, self.rows, self.pool, self.kept = cand, rows, pool, kept
        self.window = max(1, cells // max(1, pool.size))        # rows marked at once
        self.at_pool: np.ndarray | None = None

    def __call__(self, r_idx: np.ndarray, m_idx: np.ndarray) -> np.ndarray:
        if r_idx.size == 0:
            return np.ones(0, bool)
        low, high = int(r_idx.min()), int(r_idx.max()) + 1
        n = len(self.cand.rules.enc.institutions)
        if r_idx.size * _DENSE < (high - low) * self.pool.size:
            return ~is_member(self.rows[r_idx] * n + self.pool[m_idx], self.kept)
        if self.at_pool is None:
            self.at_pool = np.full(n, -1, np.int64)
            self.at_pool[self.pool] = np.arange(self.pool.size)
        order = np.argsort(r_idx, kind="stable") if (np.diff(r_idx) < 0).any() else None
        if order is not None:
            r_idx, m_idx = r_idx[order], m_idx[order]
        out = np.empty(r_idx.size, bool)
        for start in range(low, high, self.window):
            stop = min(high, start + self.window)
            a, b = np.searchsorted(r_idx, [start, stop])
            if a < b:
                out[a:b] = ~self._mark(start, stop)[r_idx[a:b] - start, m_idx[a:b]]
        if order is not None:
            out[order] = out.copy()
        return out

    def _mark(self, start: int, stop: int) -> np.ndarray:
        """The kept arcs of rows start..stop-1 as a (rows, pool) table."""
        arc_start = self.cand.arc_start
        first, last = arc_start[self.rows[start:stop]], arc_start[self.rows[start:stop] + 1]
        counts = last - first
        arcs = np.repeat(first - np.r_[0, np.cumsum(counts)[:-1]], counts) + \
            np.arange(int(counts.sum()))
        at = self.at_pool[self.cand.arc_mentor[arcs]]
        row = np.repeat(np.arange(stop - start), counts)
        mark = np.zeros((stop - start, self.pool.size), bool)
        mark[row[at >= 0], at[at >= 0]] = True
        return mark


_DENSE = 64       # pairs marked when at least 1 in this many of their rows x pool cells


def _kth_found(space, mentees, pool, views, rows, cand, per_request, limit, exact,
               tuning) -> np.ndarray | None:
    """For each row whose balls (all pairs the bounds cannot rule out; ``views``: (h, bound)
    of each pass) hold more than ``tuning.wide_ball`` times the arcs it keeps plus
    per_request: the per_request-th smallest reduced cost below its limit among the
    left-out arcs to its nearest mentors by the bounds, where there are that many (else
    +inf); None when no row is that wide. No arc of the row beyond that value can be among
    its per_request most negative."""
    counts = np.zeros(rows.size, np.int64)
    searches = []
    for h, bound in views:
        low = h.min()
        radius = bound - low
        if space.metric:
            tree = cKDTree(np.column_stack([space.points(pool), h - low]))
            # Counting every ball costs about what searching the small ones does: only balls
            # across a good part of the pool's box (Tuning.wide_radius) are counted.
            near = np.flatnonzero(radius > (tree.maxes - tree.mins).sum() / tuning.wide_radius)
            if near.size:
                queries = np.column_stack([space.points(mentees[near]), np.zeros(near.size)])
                counts[near] += tree.query_ball_point(
                    queries, r=radius[near] + 1e-6, p=1, return_length=True,
                    workers=2 if near.size >= tuning.threaded_queries else 1)
        else:
            order = np.argsort(h, kind="stable")      # no space: the order of h alone
            near = np.flatnonzero(radius > 0)
            counts[near] += np.searchsorted(h[order], bound[near], side="left")
        searches.append(tree if space.metric else order)
    keeps = cand.arc_start[rows + 1] - cand.arc_start[rows]
    wide = counts > tuning.wide_ball * (keeps + per_request)
    if not wide.any():
        return None
    k = int(min(pool.size, 2 * per_request + np.percentile(keeps[wide], 90)))
    which = np.flatnonzero(wide)
    nearest = []
    for search in searches:      # a KD-tree, or (no space) the mentors in order of h
        if not space.metric:
            nearest.append(np.broadcast_to(search[:k], (which.size, k)))
        else:
            queries = np.column_stack([space.points(mentees[which]), np.zeros(which.size)])
            _d, found = search.query(queries, k=k, p=1,
                                   workers=2 if which.size >= tuning.threaded_queries else 1)
            nearest.append(found.reshape(which.size, k))
    # Each pair once, though several passes may find it.
    nearest = np.sort(np.hstack(nearest), axis=1)
    once = np.ones(nearest.shape, bool)
    once[:, 1:] = nearest[:, 1:] != nearest[:, :-1]
    width = nearest.shape[1]
    step = max(1, tuning.block_cells // width)
    found = []
    for first in range(0, which.size, step):
        block = slice(first, first + step)
        r_idx = np.repeat(which[block], width)[once[block].ravel()]
        r_idx, _m, reduced = exact(r_idx, nearest[block][once[block]])
        bad = reduced < limit[r_idx]
        found.append((r_idx[bad], reduced[bad]))
    r_idx = np.concatenate([f[0] for f in found])
    reduced = np.concatenate([f[1] for f in found])
    out = np.full(rows.size, np.inf)
    if r_idx.size == 0:
        return out
    order = np.lexsort((reduced, r_idx))
    r_idx, reduced = r_idx[order], reduced[order]
    first = np.searchsorted(r_idx, np.arange(rows.size))
    count = np.bincount(r_idx, minlength=rows.size)
    full = np.flatnonzero(count >= per_request)
    out[full] = reduced[first[full] + per_request - 1]
    return out


class _Space:
    """Institutions as points whose L1 distance is at most the pair's distance and size
    cost: (alpha * R / sqrt(3) * unit vector, beta * ln size); and that cost exactly."""

    def __init__(self, rules, alpha: float, beta: float):
        self.rules, self.alpha, self.beta = rules, alpha, beta

    @property
    def metric(self) -> bool:
        return self.alpha > 0 or self.beta > 0

    def points(self, institutions: np.ndarray) -> np.ndarray:
        return bound_points(self.rules, institutions, self.alpha, self.beta)

    def cost(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = self.alpha * self.rules.distance(a, b, filled=True) if self.alpha else \
            np.zeros(a.size)
        if self.beta:
            log_size = self.rules.log_size
            out += self.beta * np.abs(log_size[a] - log_size[b])
        return out


def _candidate_pairs(space, mentees, pool, h, bound, tuning):
    """Chunks of (row index, pool index) whose lower bound does not rule out a violation.

    A few mentors with a very low ``h`` (a free mentor, a cheap one) would give every
    request a wide radius; so the pool is split into bands of ``h`` (each half as wide as
    the rest of the range) and each band is searched with its own, tighter radius. A
    small pool is searched at once (at 2,000 institutions a third less time)."""
    order = np.argsort(h, kind="stable")
    h_sorted = h[order]
    if space.metric and h_sorted.size >= tuning.banded_pool:
        low, span = h_sorted[0], h_sorted[-1] - h_sorted[0]
        cuts = np.searchsorted(h_sorted, low + span * (1 - 0.5 ** np.arange(1, tuning.bands)))
        edges = np.unique(np.r_[0, cuts, h_sorted.size])
    else:
        edges = np.array([0, h_sorted.size])
    for start, stop in zip(edges[:-1], edges[1:]):
        members = order[start:stop]
        rows_idx = np.flatnonzero(bound > h_sorted[start])
        if rows_idx.size == 0:
            continue
        if space.metric:
            # One more coordinate, h above the band's lowest (0 for requests): the distance
            # stays at most h - h_low + the pair's distance and size cost.
            lift = h_sorted[start:stop] - h_sorted[start]
            tree = cKDTree(np.column_stack([space.points(pool[members]), lift]))
            queries = np.column_stack([space.points(mentees[rows_idx]),
                                       np.zeros(rows_idx.size)])
            # The tiny extra radius absorbs floating error in the points. Two threads for
            # many queries: the search is most of the certificate's time (30 % less at
            # 30,000 institutions); for a few hundred, starting threads costs more.
            found = tree.query_ball_point(queries, r=bound[rows_idx] - h_sorted[start] + 1e-6,
                                          p=1, return_sorted=False,
                                          workers=2 if rows_idx.size >= tuning.threaded_queries
                                          else 1)
            lengths = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
            if lengths.sum():
                r_idx = np.repeat(rows_idx, lengths)
                m_idx = members[np.fromiter(chain.from_iterable(found), dtype=np.int64,
                                            count=int(lengths.sum()))]
                yield from _filtered(space, mentees, pool, h, bound, r_idx, m_idx,
                                     tuning.block_cells)
            continue
        # No distance or size weight: every mentor with a small enough h, in blocks.
        step = max(1, tuning.block_cells // max(1, pool.size))
        for first in range(0, rows_idx.size, step):
            block = rows_idx[first:first + step]
            count = np.searchsorted(h_sorted, bound[block], side="left")
            r_idx = np.repeat(block, count)
            m_idx = np.concatenate([order[:c] for c in count]) if count.sum() else \
                np.zeros(0, np.int64)
            yield from _filtered(space, mentees, pool, h, bound, r_idx, m_idx,
                                 tuning.block_cells)


def _filtered(space, mentees, pool, h, bound, r_idx, m_idx, block):
    for start in range(0, r_idx.size, block):
        r, m = r_idx[start:start + block], m_idx[start:start + block]
        if space.metric:
            keep = h[m] + space.cost(mentees[r], pool[m]) < bound[r]
            r, m = r[keep], m[keep]
        if r.size:
            yield r, m
