"""An independent, deliberately plain implementation of the matching contract (README,
"How matching works"): eligibility and cost with Python loops over pairs, and the
lexicographic optimum by brute force or by SciPy's assignment solver. The engine is
vectorised and uses OR-Tools; agreement between the two is what the tests check.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import median

import numpy as np
from scipy.optimize import linear_sum_assignment

from tpn.models import MatchProblem, haversine_km
from tpn.matching import MatchOptions


@dataclass(frozen=True)
class OracleArc:
    mentee: str
    topic: str
    mentor: str
    cost: float


def _capacity(inst, options):
    return options.mentor_capacity if inst.capacity is None else inst.capacity


def oracle_arcs(problem: MatchProblem, options: MatchOptions) -> dict[tuple[str, str], dict[str, float]]:
    """{(mentee, topic): {mentor: cost}} for every request, by the documented rules."""
    insts = {i.id: i for i in problem.institutions}
    topics = {t.id: t for t in problem.topics}
    # A flagged score counts as missing, unless the run ignores flags.
    flags = set() if options.ignore_flags else set(problem.snapshot.flags)
    scores = {k: v for k, v in problem.snapshot.scores.items() if k not in flags}

    def oriented(i, t):
        v = scores.get((i, t))
        if v is None or not topics[t].applies_to(insts[i].kind):
            return None
        return topics[t].orient(v)

    def peers(kind, t):
        return [j for j in insts if insts[j].kind == kind and oriented(j, t) is not None]

    def percentile(i, t):
        o = oriented(i, t)
        if o is None:
            return None
        group = [oriented(j, t) for j in peers(insts[i].kind, t)]
        less = sum(g < o for g in group)
        equal = sum(g == o for g in group)
        return 100.0 * (less + 0.5 * equal) / len(group)

    def high_performer(m, t):
        o = oriented(m, t)
        if o is None:
            return False
        group = [oriented(j, t) for j in peers(insts[m].kind, t)]
        k = max(1, math.floor(options.top_share * len(group) + 1e-9))
        top = sum(g > o for g in group) < k
        target = topics[t].target
        return top or (target is not None and o >= topics[t].orient(target))

    location = filled_locations(problem.institutions)
    size = filled_sizes(problem.institutions)
    excluded = {(e.mentee_id, e.mentor_id, e.topic_id) for e in problem.exclusions}
    previous = {(p.mentee_id, p.topic_id, p.mentor_id) for p in problem.previous}
    # A preferred mentor of rank k (1 = first choice) earns (4 - k) / 3 of the bonus.
    rank = {(r.institution_id, r.topic_id, m): k for r in problem.requests
            for k, m in enumerate(r.preferred, start=1)}
    raw = {}
    for req in problem.requests:
        i, t = req.institution_id, req.topic_id
        raw[(i, t)] = {}
        if not topics[t].applies_to(insts[i].kind):
            continue
        for m, mentor in insts.items():
            if m == i:
                continue
            # An external partner offered on the topic: no score, no kind, the best.
            offered = mentor.external and t in mentor.mentors_on
            if not offered:
                if not options.cross_kind and mentor.kind != insts[i].kind:
                    continue
                if not topics[t].applies_to(mentor.kind) or not high_performer(m, t):
                    continue
                o_i, o_m = oriented(i, t), oriented(m, t)
                if o_i is not None and not o_m > o_i:
                    continue
            if _capacity(mentor, options) <= 0:
                continue
            p_i = percentile(i, t)
            p_m = 100.0 if offered else percentile(m, t)
            if (not offered and options.min_gap > 0 and p_i is not None
                    and p_m - p_i < options.min_gap):
                continue
            if (i, m, t) in excluded or (i, m, None) in excluded:
                continue
            if options.same_region and (not insts[i].region or insts[i].region != mentor.region):
                continue
            d = None
            if insts[i].has_coordinates and mentor.has_coordinates:
                d = haversine_km(insts[i].latitude, insts[i].longitude, mentor.latitude,
                                 mentor.longitude)
            if options.max_distance_km is not None and d is not None and d > options.max_distance_km:
                continue
            gain = p_m - (50.0 if p_i is None else p_i)
            km = 0.0
            if location[i] and location[m]:
                km = haversine_km(*location[i], *location[m])
            ratio = 0.0
            if size[i] and size[m]:
                ratio = abs(math.log(size[m] / size[i]))
            raw[(i, t)][m] = (options.weight_gain * (100 - min(100.0, max(0.0, gain))) / 100
                              + options.weight_distance * km / 100
                              + options.weight_size * ratio
                              - (options.weight_continuity if (i, t, m) in previous else 0.0)
                              - (options.weight_preference * (4 - rank[(i, t, m)]) / 3
                                 if (i, t, m) in rank else 0.0))
    return raw


def _centre(points):
    """Mean position on the unit sphere, in degrees."""
    xs = [(math.cos(math.radians(a)) * math.cos(math.radians(b)),
           math.cos(math.radians(a)) * math.sin(math.radians(b)),
           math.sin(math.radians(a))) for a, b in points]
    x, y, z = (sum(v[k] for v in xs) / len(xs) for k in range(3))
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def filled_locations(institutions):
    """A missing location is the centre of its region's known ones, else its kind's, else
    everyone's; None when nobody has one."""
    known = {i.id: (i.latitude, i.longitude) for i in institutions if i.has_coordinates}
    out = {}
    for inst in institutions:
        if inst.id in known:
            out[inst.id] = known[inst.id]
            continue
        for same in (lambda j: inst.region and j.region == inst.region,
                     lambda j: j.kind == inst.kind, lambda j: True):
            points = [known[j.id] for j in institutions if j.id in known and same(j)]
            if points:
                out[inst.id] = _centre(points)
                break
        else:
            out[inst.id] = None
    return out


def filled_sizes(institutions):
    """A missing size is its kind's median size."""
    out = {}
    for inst in institutions:
        peers = [j.size for j in institutions if j.kind == inst.kind and j.size]
        out[inst.id] = inst.size or (median(peers) if peers else None)
    return out


def weights(problem: MatchProblem) -> dict[tuple[str, str], int]:
    top = max((r.priority for r in problem.requests), default=1)
    return {(r.institution_id, r.topic_id): 1 + top - r.priority for r in problem.requests}


def _caps(problem, options):
    insts = {i.id: i for i in problem.institutions}
    total = {m: _capacity(insts[m], options) for m in insts}
    per_topic = {m: (total[m] if options.topic_capacity is None
                     else min(total[m], options.topic_capacity)) for m in insts}
    return total, per_topic


def brute_force(problem: MatchProblem, options: MatchOptions) -> tuple[int, float]:
    """(best coverage weight, lowest cost among matchings with that coverage), exhaustively.

    With ``max_changes``: only matchings that keep at least (the most previous pairs any
    feasible matching keeps) - max_changes of the previous round's pairs."""
    arcs = oracle_arcs(problem, options)
    w = weights(problem)
    total, per_topic = _caps(problem, options)
    keys = sorted(arcs)
    choices = [[None] + sorted(arcs[k]) for k in keys]
    previous = {(p.mentee_id, p.topic_id, p.mentor_id) for p in problem.previous}
    feasible = []
    for combo in itertools.product(*choices):
        load, load_t = {}, {}
        ok = True
        for (i, t), m in zip(keys, combo):
            if m is None:
                continue
            load[m] = load.get(m, 0) + 1
            load_t[(m, t)] = load_t.get((m, t), 0) + 1
            if load[m] > total[m] or load_t[(m, t)] > per_topic[m]:
                ok = False
                break
        if ok:
            kept = sum((i, t, m) in previous for (i, t), m in zip(keys, combo))
            feasible.append((combo, kept))
    need = 0
    if options.max_changes is not None:
        need = max(kept for _c, kept in feasible) - options.max_changes
    best = (-1, math.inf)
    for combo, kept in feasible:
        if kept < need:
            continue
        cover = sum(w[k] for k, m in zip(keys, combo) if m is not None)
        cost = sum(arcs[k][m] for k, m in zip(keys, combo) if m is not None)
        if cover > best[0] or (cover == best[0] and cost < best[1] - 1e-12):
            best = (cover, cost)
    return best[0], (0.0 if best[1] == math.inf else best[1])


def assignment_optimum(problem: MatchProblem, options: MatchOptions) -> tuple[int, float]:
    """The same optimum by SciPy's linear_sum_assignment on a slot-expanded matrix
    (each mentor repeated once per unit of capacity; one 'unmatched' column per request).
    Valid when topic capacity does not bind (topic_capacity None)."""
    assert options.topic_capacity is None
    arcs = oracle_arcs(problem, options)
    w = weights(problem)
    total, _ = _caps(problem, options)
    keys = sorted(arcs)
    mentors = sorted({m for a in arcs.values() for m in a})
    slots = [(m, k) for m in mentors for k in range(total[m])]
    n, s = len(keys), len(slots)
    big = 1e6
    forbidden = 1e12
    matrix = np.full((n, s + n), forbidden)
    for r, key in enumerate(keys):
        matrix[r, s + r] = 0.0
        for c, (m, _k) in enumerate(slots):
            if m in arcs[key]:
                matrix[r, c] = arcs[key][m] - big * w[key]
    rows, cols = linear_sum_assignment(matrix)
    cover, cost = 0, 0.0
    for r, c in zip(rows, cols):
        if c < s:
            cover += w[keys[r]]
            cost += arcs[keys[r]][slots[c][0]]
    return cover, cost


# --- explanations: counts, next-best mentors, and whether a fix serves a request --------


def next_best(problem: MatchProblem, options: MatchOptions, key: tuple[str, str],
              chosen: str | None, count: int) -> list[tuple[str, float]]:
    """The ``count`` cheapest eligible mentors of a request besides ``chosen``, by cost and
    then mentor id."""
    arcs = oracle_arcs(problem, options)[key]
    return sorted(((m, c) for m, c in arcs.items() if m != chosen),
                  key=lambda x: (x[1], x[0]))[:count]


def optimal_matchings(problem: MatchProblem, options: MatchOptions) -> list[dict]:
    """Every matching with the best coverage and then the lowest cost, exhaustively; costs
    are rounded per pair to 0.0001 points as the engine's are. Each matching maps every
    request to its mentor or None. Locks must hold. (No max_changes.)"""
    assert options.max_changes is None
    arcs = oracle_arcs(problem, options)
    w = weights(problem)
    locked = {(lk.mentee_id, lk.topic_id): lk.mentor_id for lk in problem.locks}
    for key in locked:
        w.setdefault(key, 1)
        arcs.setdefault(key, {})
    total, per_topic = _caps(problem, options)
    keys = sorted(arcs)
    choices = [[locked[k]] if k in locked else [None] + sorted(arcs[k]) for k in keys]
    best, found = None, []
    for combo in itertools.product(*choices):
        load, load_t, ok = {}, {}, True
        for (i, t), m in zip(keys, combo):
            if m is None:
                continue
            if m not in arcs[(i, t)]:
                ok = False
                break
            load[m] = load.get(m, 0) + 1
            load_t[(m, t)] = load_t.get((m, t), 0) + 1
            if load[m] > total[m] or load_t[(m, t)] > per_topic[m]:
                ok = False
                break
        if not ok:
            continue
        value = (-sum(w[k] for k, m in zip(keys, combo) if m is not None),
                 sum(int(round(arcs[k][m] * 10_000)) for k, m in zip(keys, combo)
                     if m is not None))
        if best is None or value < best:
            best, found = value, [combo]
        elif value == best:
            found.append(combo)
    return [dict(zip(keys, combo)) for combo in found]


def served_in_every_optimum(problem: MatchProblem, options: MatchOptions,
                            key: tuple[str, str]) -> bool:
    return all(matching.get(key) is not None for matching in optimal_matchings(problem, options))
