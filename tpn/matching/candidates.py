"""Requests, eligibility rules and candidate arcs (request -> eligible mentor), vectorised.

For each request (institution i, topic t) the rules below are checked against a pool of
possible mentors, all at once per (topic, kind) group with NumPy; no Python loop runs
over pairs. Each (request, mentor) pair gets the code of the *first* rule it breaks, in
the order of :class:`Rule`; a pair that breaks none is an arc. For a request with no arc,
the highest code over its pool names the rule that stopped the most promising mentor —
that is the reason reported for it.

Cost of an arc, in cost points (lower is better; weights are options):

- gain:       weight_gain * (100 - gain) / 100, gain = mentor's minus mentee's percentile
              within their kinds, clipped to 0..100. A mentee with no score counts as the
              median of its kind (percentile 50) and the gain is marked estimated.
- distance:   weight_distance * km / 100 (haversine). A missing location is taken as the
              centre of its region (else of its kind): neither rewarded nor penalised
              against its neighbours. Distance *rules* only judge known locations.
- size:       weight_size * |ln(mentor size / mentee size)|; a missing size is its kind's
              median.
- continuity: -weight_continuity when the pair existed in the previous round.
- preference: -weight_preference * (4 - rank) / 3 when the mentee ranked the mentor among
              its preferred ones (rank 1, 2 or 3).

Pruning (``options.candidates``): with K > 0 and a pool larger than 2K, each request
keeps the K cheapest of its K best-ranked eligible mentors and its K nearest by a lower
bound of the cost (gain, distance and size together, ``bound_points``; by distance alone
where that bound has no distance or size in it), and its previous and preferred mentors
(their bonuses are not bounded); then its few nearest *underused*
mentors — those that few requests kept (spread over the pool instead when every
institution is at one point: then nearness says nothing); a mentor still kept by few then
gets its nearest requests. The optimality certificate
(``tpn.matching.certificate``) then adds every other arc the optimum needs, so pruning never
changes the optimum; it only changes how many rounds that takes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Sequence

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError, Problem
from ..models import MAX_PREFERRED, Exclusion, FocusRequest, PreviousPair
from ..scoring import Encoded, unit_vectors
from ..runtime.parallel import in_second_process, two_halves
from .options import MatchOptions
from .tuning import Tuning

EARTH_RADIUS_KM = 6371.0088


class Rule(IntEnum):
    """Why a pair is not an arc, in the order the rules are checked (higher got further)."""

    TOPIC_NOT_APPLICABLE = 1   # the topic does not apply to the mentee's kind
    NO_SCORES = 2              # no institution that could mentor has a score on the topic
    SELF = 3
    OTHER_KIND = 4
    MENTOR_TOPIC_NOT_APPLICABLE = 5
    MENTOR_NO_SCORE = 6
    MENTOR_FLAGGED = 7         # its score is flagged by a data-quality check (tpn.quality)
    NOT_HIGH_PERFORMER = 8
    NOT_BETTER = 9
    NO_CAPACITY = 10
    BELOW_MIN_GAP = 11
    EXCLUDED = 12
    OTHER_REGION = 13
    TOO_FAR = 14
    ELIGIBLE = 15


@dataclass(frozen=True)
class Candidates:
    """Requests (sorted by institution id, topic id) and their arcs (sorted by request, mentor)."""

    requests: tuple[FocusRequest, ...]
    req_inst: np.ndarray
    req_topic: np.ndarray
    req_priority: np.ndarray
    req_rule: np.ndarray            # best rule reached over the pool (ELIGIBLE when it has arcs)
    req_nearest_km: np.ndarray      # nearest mentor that only the distance rule stopped
    arc_request: np.ndarray
    arc_mentor: np.ndarray
    arc_previous: np.ndarray        # bool: the pair of the previous round
    arc_cost: np.ndarray            # the sum of the four cost terms (see figures())
    arc_start: np.ndarray           # (R+1,) the arcs of request r are arc_start[r]:arc_start[r+1]
    _position: dict = field(default_factory=dict, repr=False, compare=False)
    rules: "RuleContext | None" = field(default=None, repr=False, compare=False)
    pruned: bool = False            # some eligible arcs were left out (the certificate must run)

    def figures(self, arcs: np.ndarray) -> dict[str, np.ndarray]:
        """The figures behind some arcs' costs (``RuleContext.arc_figures``: gain, distance,
        size ratio and the four cost terms), computed when asked: explanations show a few
        arcs per request, and keeping eight more columns for every arc cost memory and
        time each certificate round (at 100,000 institutions, 4.6 million arcs)."""
        requests = self.arc_request[arcs]
        return self.rules.arc_figures(self.req_inst[requests], self.req_topic[requests],
                                      self.arc_mentor[arcs])

    def request_position(self, institution_id: str, topic_id: str) -> int:
        return self._position[(institution_id, topic_id)]


def encode_requests(enc: Encoded, requests: Sequence[FocusRequest]) -> tuple[FocusRequest, ...]:
    """Requests checked against the network and sorted; every problem reported at once."""
    problems = []
    seen: dict[tuple[str, str], FocusRequest] = {}
    for r in requests:
        key = (r.institution_id, r.topic_id)
        if r.institution_id not in enc.inst_index:
            problems.append(f"focus names unknown institution {r.institution_id!r}")
        if r.topic_id not in enc.topic_index:
            problems.append(f"focus names unknown topic {r.topic_id!r}")
        if r.priority < 1:
            problems.append(f"focus {key}: priority {r.priority} must be 1 or more")
        if key in seen:
            problems.append(f"focus lists {r.institution_id!r} on {r.topic_id!r} twice")
        seen[key] = r
    if problems:
        raise InputError([Problem("", "focus", None, None, p) for p in problems])
    return tuple(sorted(seen.values(), key=lambda r: (enc.inst_index[r.institution_id],
                                                       enc.topic_index[r.topic_id])))


def build_candidates(
    enc: Encoded,
    requests: Sequence[FocusRequest],
    options: MatchOptions,
    exclusions: Sequence[Exclusion] = (),
    previous: Sequence[PreviousPair] = (),
    per_request: int | None = None,
    tuning: Tuning = Tuning(),
) -> Candidates:
    """All eligible arcs (``per_request`` None or 0), or the K most promising per request."""
    reqs = encode_requests(enc, requests)
    n_req = len(reqs)
    req_inst = np.array([enc.inst_index[r.institution_id] for r in reqs], dtype=np.int64)
    req_topic = np.array([enc.topic_index[r.topic_id] for r in reqs], dtype=np.int64)
    req_priority = np.array([r.priority for r in reqs], dtype=np.int64)
    req_rule = np.full(n_req, int(Rule.NO_SCORES), dtype=np.int64)
    req_nearest = np.full(n_req, np.nan)

    rules = RuleContext(enc, options, exclusions, previous, tuning, preferences(enc, reqs))
    applies = enc.applies[req_topic, enc.kind[req_inst]] if n_req else np.zeros(0, bool)
    req_rule[~applies] = Rule.TOPIC_NOT_APPLICABLE
    # The mentors every request keeps when eligible: its previous one and its preferred ones.
    prev_mentor = rules.previous_mentor(req_inst, req_topic)[:, None]
    if rules.preferred.size:
        prev_mentor = np.column_stack([prev_mentor, rules.preferred_mentors(req_inst, req_topic)])

    # Group requests by (topic, mentee kind): they share one pool of possible mentors.
    group_key = req_topic * max(1, len(enc.kinds)) + enc.kind[req_inst]
    groups = []
    for key in np.unique(group_key[applies]):
        rows = np.flatnonzero((group_key == key) & applies)
        t = int(req_topic[rows[0]])
        pool = rules.pool(t, int(enc.kind[req_inst[rows[0]]]))
        if pool.size:
            groups.append((rows, t, pool))

    def arcs_of(some) -> list[_GroupArcs]:
        return [_group_arcs(rules, rows, req_inst, t, pool, per_request, prev_mentor)
                for rows, t, pool in some]

    if applies.sum() >= tuning.second_process_candidates:
        # Half of the groups in a second process (tpn.runtime.parallel): the rest of this step
        # is sorting and costing the arcs found, once.
        here, there = two_halves(groups, size=lambda group: group[0].size)
        with in_second_process(lambda: arcs_of(there)) as job:
            found = arcs_of(here) + job.result()
    else:
        found = arcs_of(groups)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    pruned_groups: list[tuple[np.ndarray, int, np.ndarray]] = []
    for group in found:
        parts += group.parts
        for block, rule in group.rules:
            req_rule[block] = rule
        for block, nearest in group.nearest:
            req_nearest[block] = nearest
        if group.pruned is not None:
            pruned_groups.append(group.pruned)

    if pruned_groups:
        # Underused counts every kept arc, of every topic: capacity is the mentor's, overall.
        kept = np.bincount(np.concatenate([p[1] for p in parts]), minlength=len(enc.institutions))
        underused = kept <= tuning.underused_load * rules.capacity
        for rows, t, pool in pruned_groups:
            rules.nearest_eligible(rows, req_inst, t, pool[underused[pool]],
                                   tuning.underused_nearest, parts)
    n = max(1, len(enc.institutions))
    keys = _pair_keys(parts, n)
    if pruned_groups and tuning.lonely_nearest:
        # A mentor still kept by few requests is far from the demand: its places can raise
        # coverage only if some request reaches it, so its nearest requests do.
        lonely = np.bincount(keys % n, minlength=n) < tuning.underused_load * rules.capacity
        parts = []
        for rows, t, pool in pruned_groups:
            rules.nearest_requests(rows, req_inst, t, pool[lonely[pool]],
                                   tuning.lonely_nearest, parts)
        more = _pair_keys(parts, n)
        more = more[~is_member(more, keys)]
        keys = np.insert(keys, np.searchsorted(keys, more), more)
    return _assemble(reqs, req_inst, req_topic, req_priority, req_rule, req_nearest,
                     keys // n, keys % n, rules, bool(pruned_groups))


def _pair_keys(parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """request * n + mentor of the arcs in ``parts``, sorted, each pair once (the passes
    that find arcs may meet). One sort of one key: np.unique hashes first, 50 times slower
    on a million arcs."""
    if not parts:
        return np.zeros(0, np.int64)
    key = np.sort(np.concatenate([r.astype(np.int64) * n + m for r, m in parts]))
    return key[np.r_[True, key[1:] != key[:-1]]] if key.size else key


@dataclass
class _GroupArcs:
    """One group's candidate arcs, and each request's rule and nearest too-far mentor."""
    parts: list[tuple[np.ndarray, np.ndarray]]
    rules: list[tuple[np.ndarray, np.ndarray]]
    nearest: list[tuple[np.ndarray, np.ndarray]]
    pruned: tuple[np.ndarray, int, np.ndarray] | None


def preferences(enc: Encoded, requests: Sequence[FocusRequest]) -> list[tuple[int, int, int, int]]:
    """(mentee, mentor, topic, rank) indices of the requests' preferred mentors (rank 1 is
    the first choice); mentors not in the network are left out."""
    return [(enc.inst_index[r.institution_id], enc.inst_index[m], enc.topic_index[r.topic_id],
             rank)
            for r in requests for rank, m in enumerate(r.preferred, start=1)
            if m in enc.inst_index and m != r.institution_id]


def _group_arcs(rules: "RuleContext", rows, req_inst, t, pool, per_request,
                prev_mentor) -> _GroupArcs:
    """The arcs of one group of requests (one topic, one kind: one pool of mentors)."""
    out = _GroupArcs([], [], [], None)
    if per_request and pool.size > 2 * per_request:
        full = rules.pruned_group(rows, req_inst, t, pool, per_request, prev_mentor, out.parts)
        out.rules.append((rows, np.full(rows.size, int(Rule.ELIGIBLE))))
        out.pruned = (rows, t, pool)
    else:
        full = rows
    # Every eligible arc of these requests (all of them, or the best K when pruning), and
    # the exact reason for a request with none.
    for block, code, dist in rules.against_pool(full, req_inst, t, pool):
        out.rules.append((block, code.max(axis=1)))
        if dist is not None:
            too_far = np.where(code == Rule.TOO_FAR, dist, np.inf).min(axis=1)
            out.nearest.append((block, np.where(np.isfinite(too_far), too_far, np.nan)))
        eligible = code == Rule.ELIGIBLE
        if per_request and full is not rows:
            eligible = rules.keep_cheapest(req_inst[block], t, pool, eligible, per_request)
        r_local, m_local = np.nonzero(eligible)
        out.parts.append((block[r_local], pool[m_local]))
    return out


def under_milder_rules(cand: Candidates, rules: "RuleContext") -> Candidates:
    """``cand``'s arcs under ``rules``, milder than its own (every arc stays eligible, at
    the same cost): a request without an arc gets its reason again (ELIGIBLE when a mentor
    now is); the arcs the milder rules open are the certificate's to add."""
    enc = rules.enc
    req_rule = cand.req_rule.copy()
    again = np.flatnonzero((req_rule != Rule.ELIGIBLE) & (req_rule != Rule.TOPIC_NOT_APPLICABLE))
    key = cand.req_topic[again] * max(1, len(enc.kinds)) + enc.kind[cand.req_inst[again]]
    for k in np.unique(key):
        rows = again[key == k]
        t = int(cand.req_topic[rows[0]])
        pool = rules.pool(t, int(enc.kind[cand.req_inst[rows[0]]]))
        if pool.size == 0:
            continue            # NO_SCORES still
        for block, code, _dist in rules.against_pool(rows, cand.req_inst, t, pool):
            req_rule[block] = code.max(axis=1)
    return dataclasses.replace(cand, rules=rules, req_rule=req_rule, pruned=True)


def with_arcs(cand: Candidates, requests: np.ndarray, mentors: np.ndarray,
              rules: "RuleContext") -> Candidates:
    """The same candidates plus the given (request, mentor) arcs; only the new arcs' costs
    are computed (the certificate adds a few arcs to many)."""
    n = max(1, len(rules.enc.institutions))
    old_key = cand.arc_request * n + cand.arc_mentor    # sorted, as the arcs are
    new_key = np.sort(np.asarray(requests, np.int64) * n + mentors)
    new_key = new_key[np.r_[True, np.diff(new_key) != 0]] if new_key.size else new_key
    new_key = new_key[~is_member(new_key, old_key)]
    pos = np.searchsorted(old_key, new_key)
    if new_key.size == 0:
        return cand
    req, men = new_key // n, new_key % n
    cost, previous = rules.arc_costs(cand.req_inst[req], cand.req_topic[req], men)
    added = {"arc_request": req, "arc_mentor": men, "arc_previous": previous, "arc_cost": cost}
    # Where each new arc goes in the merged order, found once: np.insert would sort the
    # positions again for every column.
    total = cand.arc_request.size + new_key.size
    new_at = pos + np.arange(new_key.size)
    is_old = np.ones(total, bool)
    is_old[new_at] = False

    def merged(name: str) -> np.ndarray:
        old, values = getattr(cand, name), added[name]
        out = np.empty(total, np.result_type(old, values))
        out[is_old] = old
        out[new_at] = values
        return out

    columns = {name: merged(name) for name in added}
    req_rule = cand.req_rule.copy()
    req_rule[req] = Rule.ELIGIBLE
    return dataclasses.replace(
        cand, arc_start=np.searchsorted(columns["arc_request"], np.arange(len(cand.requests) + 1)),
        req_rule=req_rule, **columns)


# An arc's cost in points is the sum of these terms (RuleContext._cost_terms).
COST_TERMS = ("cost_gain", "cost_distance", "cost_size", "cost_continuity", "cost_preference")


def is_member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Bool per key: whether it is in ``sorted_keys``.

    >>> is_member(np.array([3, 4, 9]), np.array([1, 3, 9])).tolist()
    [True, False, True]
    """
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def _assemble(reqs, req_inst, req_topic, req_priority, req_rule, req_nearest, arc_request,
              arc_mentor, rules, pruned) -> Candidates:
    """The candidates of arcs sorted by request, then mentor, each pair once."""
    cost, previous = rules.arc_costs(req_inst[arc_request], req_topic[arc_request], arc_mentor)
    req_rule = req_rule.copy()
    req_rule[arc_request] = Rule.ELIGIBLE
    return Candidates(
        requests=reqs,
        req_inst=req_inst,
        req_topic=req_topic,
        req_priority=req_priority,
        req_rule=req_rule,
        req_nearest_km=req_nearest,
        arc_request=arc_request,
        arc_mentor=arc_mentor,
        arc_previous=previous,
        arc_cost=cost,
        arc_start=np.searchsorted(arc_request, np.arange(len(reqs) + 1)),
        _position={(r.institution_id, r.topic_id): n for n, r in enumerate(reqs)},
        rules=rules,
        pruned=pruned,
    )


class RuleContext:
    """The network's arrays and the options, ready to check blocks of pairs."""

    def __init__(self, enc: Encoded, options: MatchOptions,
                 exclusions: Sequence[Exclusion], previous: Sequence[PreviousPair],
                 tuning: Tuning = Tuning(), preferred: Sequence[tuple[int, int, int, int]] = ()):
        self.enc = enc
        self.options = options
        self.tuning = tuning
        self.top = enc.high_performer(options.top_share)
        self._offered_on = enc.offered.any(axis=0)      # (T,) a partner is offered on it
        self.capacity = enc.resolved_capacity(options.mentor_capacity)
        n, n_topics = len(enc.institutions), len(enc.topics)
        self._n, self._t = n, n_topics
        self.excluded = np.array(sorted({
            self._key(enc.inst_index[e.mentee_id], enc.inst_index[e.mentor_id],
                      -1 if e.topic_id is None else enc.topic_index[e.topic_id])
            for e in exclusions
            if e.mentee_id in enc.inst_index and e.mentor_id in enc.inst_index
            and (e.topic_id is None or e.topic_id in enc.topic_index)
        }), dtype=np.int64)
        self.previous = np.array(sorted({
            self._key(enc.inst_index[p.mentee_id], enc.inst_index[p.mentor_id],
                      enc.topic_index[p.topic_id])
            for p in previous
            if p.mentee_id in enc.inst_index and p.mentor_id in enc.inst_index
            and p.topic_id in enc.topic_index
        }), dtype=np.int64)
        self._lat = np.radians(enc.lat)
        self._lon = np.radians(enc.lon)
        self._lat_f = np.radians(enc.lat_filled)
        self._lon_f = np.radians(enc.lon_filled)
        self._cos_lat, self._cos_lat_f = np.cos(self._lat), np.cos(self._lat_f)
        self._points = unit_vectors(enc.lat_filled, enc.lon_filled)
        # ln of each size for costs (nan for a kind with no size at all: none is filled).
        self.log_size = np.log(enc.size_filled)
        # Every location the same point (most often: none known, tpn.scoring.fill_locations):
        # every distance for costs is 0, and nearness says nothing.
        self.one_place = bool((self._points == self._points[:1]).all())
        # Preferred pairs: sorted keys and the bonus each earns.
        pref = {self._key(i, m, t): rank for i, m, t, rank in preferred}
        self.preferred = np.array(sorted(pref), dtype=np.int64)
        self.preferred_rank = np.array([pref[k] for k in sorted(pref)], dtype=np.int64)
        self._preferred_by_request: dict[tuple[int, int], list[int]] = {}
        for i, m, t, rank in sorted(preferred, key=lambda x: x[3]):
            self._preferred_by_request.setdefault((i, t), []).append(m)
        self._prev_mentor = {}
        for p in previous:
            if {p.mentee_id, p.mentor_id} <= enc.inst_index.keys() and p.topic_id in enc.topic_index:
                self._prev_mentor[(enc.inst_index[p.mentee_id], enc.topic_index[p.topic_id])] = \
                    enc.inst_index[p.mentor_id]

    def pair_rule(self, mentee: int, topic: int, mentor: int) -> Rule:
        """The first rule the pair (mentee, topic, mentor) breaks, or ELIGIBLE (for locks)."""
        if not self.enc.applies[topic, self.enc.kind[mentee]]:
            return Rule.TOPIC_NOT_APPLICABLE
        code, _ = self.evaluate(np.array([[mentee]]), topic, np.array([[mentor]]))
        return Rule(int(code[0, 0]))

    def previous_mentor(self, req_inst: np.ndarray, req_topic: np.ndarray) -> np.ndarray:
        """(R,) each request's mentor of the previous round, -1 when none."""
        return np.array([self._prev_mentor.get((i, t), -1)
                         for i, t in zip(req_inst.tolist(), req_topic.tolist())], dtype=np.int64)

    def preferred_mentors(self, req_inst: np.ndarray, req_topic: np.ndarray) -> np.ndarray:
        """(R, MAX_PREFERRED) each request's preferred mentors, -1 where fewer."""
        out = np.full((req_inst.size, MAX_PREFERRED), -1, dtype=np.int64)
        if self._preferred_by_request:
            for r, (i, t) in enumerate(zip(req_inst.tolist(), req_topic.tolist())):
                chosen = self._preferred_by_request.get((i, t), ())[:MAX_PREFERRED]
                out[r, :len(chosen)] = chosen
        return out

    def preference_rank(self, mentees, mentors, topics) -> np.ndarray:
        """Each pair's rank among its mentee's preferred mentors (0: not preferred); only
        when some request has preferred mentors."""
        keys = self._key(mentees, mentors, topics)
        pos = np.minimum(np.searchsorted(self.preferred, keys), self.preferred.size - 1)
        return np.where(self.preferred[pos] == keys, self.preferred_rank[pos], 0)

    def pruned_group(self, rows, req_inst, t, pool, k, prev_mentor, parts) -> np.ndarray:
        """Add the K cheapest arcs among each request's K nearest and K best-ranked mentors;
        return the requests none of whose candidates is eligible (to be evaluated fully)."""
        enc = self.enc
        best = pool[np.lexsort((pool, -enc.mentor_percentile[pool, t]))[:k]]
        cand = np.concatenate([np.broadcast_to(best, (rows.size, k)),
                               self._nearest_by_cost(req_inst[rows], t, pool, k),
                               prev_mentor[rows]], axis=1)
        cand.sort(axis=1)
        invalid = cand < 0
        invalid[:, 1:] |= cand[:, 1:] == cand[:, :-1]
        cand = np.where(invalid, pool[0], cand)
        code, _dist = self.evaluate(req_inst[rows][:, None], t, cand)
        eligible = (code == Rule.ELIGIBLE) & ~invalid
        has = eligible.any(axis=1)
        keep = self._cheapest(req_inst[rows][:, None], t, cand, eligible, k)
        r_local, c_local = np.nonzero(keep)
        parts.append((rows[r_local], cand[r_local, c_local]))
        # The previous round's pair and the preferred ones are always kept when eligible
        # (their bonuses are not bounded).
        bonus = (cand[:, :, None] == prev_mentor[rows][:, None, :]).any(axis=2) \
            if prev_mentor.shape[1] > 1 else cand == prev_mentor[rows]
        r_prev, c_prev = np.nonzero(eligible & bonus)
        parts.append((rows[r_prev], cand[r_prev, c_prev]))
        return rows[~has]

    def against_pool(self, rows, req_inst, t, pool, ignore: frozenset = frozenset()):
        """(block of ``rows``, codes, distances) of those requests against every mentor of
        ``pool``, in blocks of at most ``Tuning.block_cells`` pairs (memory on national
        networks); rules in ``ignore`` are not checked."""
        step = max(1, self.tuning.block_cells // max(1, pool.size))
        for start in range(0, rows.size, step):
            block = rows[start:start + step]
            code, dist = self.evaluate(req_inst[block][:, None], t, pool[None, :], ignore)
            yield block, code, dist

    def nearest_eligible(self, rows, req_inst, t, mentors, k, parts) -> None:
        """Add, for each request, those of its k nearest ``mentors`` that are eligible."""
        if mentors.size == 0 or k <= 0:
            return
        near = self._nearest(req_inst[rows], mentors, min(k, mentors.size))
        code, _dist = self.evaluate(req_inst[rows][:, None], t, near)
        r_local, c_local = np.nonzero(code == Rule.ELIGIBLE)
        parts.append((rows[r_local], near[r_local, c_local]))

    def nearest_requests(self, rows, req_inst, t, mentors, k, parts) -> None:
        """Add, for each of ``mentors``, its k nearest requests among ``rows`` when
        eligible."""
        if mentors.size == 0 or k <= 0:
            return
        # The nearest search the other way round: mentors ask, requests are found.
        near = self._nearest(mentors, req_inst[rows], min(k, rows.size), positions=True)
        code, _dist = self.evaluate(req_inst[rows][near], t, mentors[:, None])
        m_local, c_local = np.nonzero(code == Rule.ELIGIBLE)
        parts.append((rows[near[m_local, c_local]], mentors[m_local]))

    def _nearest(self, mentees: np.ndarray, mentors: np.ndarray, k: int,
                 positions: bool = False) -> np.ndarray:
        """(len(mentees), k) the k nearest of ``mentors`` to each mentee (k <= mentors.size)."""
        if self.one_place:
            near = _spread(mentees, np.arange(mentors.size), k)
        else:
            tree = cKDTree(self._points[mentors])
            _d, near = tree.query(self._points[mentees], k=list(range(1, k + 1)))
        return near if positions else mentors[near]

    def _nearest_by_cost(self, mentees: np.ndarray, t: int, mentors: np.ndarray,
                         k: int) -> np.ndarray:
        """(len(mentees), k) the k of ``mentors`` with the lowest bound on each mentee's cost:
        the L1 distance of ``bound_points`` plus the mentor's side of the gain term. In
        tight clusters, the nearest by km are as good as any drawn at random: the gain and
        size decide the cost there."""
        enc, opt = self.enc, self.options
        sized = bool(opt.weight_size) and self.sizes_known(mentees, mentors)
        alpha = opt.weight_distance / 100.0
        if self.one_place or not (alpha or sized):
            return self._nearest(mentees, mentors, k)  # the gain alone: the same k for all
        beta = opt.weight_size if sized else 0.0
        gain_side = opt.weight_gain * (100.0 - enc.mentor_percentile[mentors, t]) / 100.0
        tree = cKDTree(np.column_stack([bound_points(self, mentors, alpha, beta), gain_side]))
        queries = np.column_stack([bound_points(self, mentees, alpha, beta),
                                   np.zeros(mentees.size)])
        _d, near = tree.query(queries, k=list(range(1, k + 1)), p=1)
        return mentors[near]

    def sizes_known(self, mentees: np.ndarray, mentors: np.ndarray) -> bool:
        """Whether all of them have a size: a size still unknown (a kind with none at all)
        costs nothing, which no point can express, so bounds then leave the size out."""
        return bool(np.isfinite(self.log_size[mentees]).all()
                    and np.isfinite(self.log_size[mentors]).all())

    def keep_cheapest(self, mentees, t, pool, eligible, k) -> np.ndarray:
        return self._cheapest(mentees[:, None], t, np.broadcast_to(pool, eligible.shape),
                              eligible, k)

    def _cheapest(self, mentees, t, mentors, eligible, k) -> np.ndarray:
        """Bool mask of the k cheapest eligible mentors per row (ties: lower index)."""
        if eligible.shape[1] <= k:
            return eligible
        r, c = np.nonzero(eligible)
        cost = np.full(eligible.shape, np.inf)
        if r.size:
            cost[r, c], _previous = self.arc_costs(
                np.broadcast_to(mentees, eligible.shape)[r, c], np.full(r.size, t),
                mentors[r, c])
        # Stable order by (cost, mentor index) so the choice does not depend on row order.
        order = np.lexsort((mentors if mentors.shape == cost.shape
                            else np.broadcast_to(mentors, cost.shape), cost), axis=1)
        keep = np.zeros(eligible.shape, bool)
        np.put_along_axis(keep, order[:, :k], True, axis=1)
        return keep & eligible

    def _key(self, mentee, mentor, topic):
        # topic -1 means "every topic"; keys stay well inside int64 up to millions of nodes.
        return (np.asarray(mentee, np.int64) * self._n + mentor) * (self._t + 1) + (np.asarray(topic) + 1)

    def pool(self, topic: int, kind: int | None) -> np.ndarray:
        """Possible mentors for requests of one kind on one topic: the high performers, and
        the external partners offered on it (of any kind). With ``kind`` None, those of
        every kind, as cross_kind has them."""
        enc = self.enc
        mask = self.top[:, topic].copy()
        if not self.options.cross_kind and kind is not None:
            mask &= enc.kind == kind
        return np.flatnonzero(mask | enc.offered[:, topic])

    def evaluate(self, mentees: np.ndarray, topic: int, mentors: np.ndarray,
                 ignore: frozenset = frozenset()):
        """(codes, known distances) for mentee and mentor index arrays that broadcast
        together, e.g. (R, 1) x (1, P) for a block or (R, 1) x (R, C) for candidate lists.
        The distances are None without max_distance_km: no rule needs them then. Rules in
        ``ignore`` are not checked (what a change of that rule would allow)."""
        enc, opt = self.enc, self.options
        shape = np.broadcast_shapes(mentees.shape, mentors.shape)
        o_i, o_m = enc.oriented[mentees, topic], enc.oriented[mentors, topic]
        code = np.full(shape, int(Rule.ELIGIBLE), dtype=np.int8)
        dist = self.distance(mentees, mentors) if opt.max_distance_km is not None else None

        def mark(condition, rule):
            if rule not in ignore:
                code[np.broadcast_to(condition, shape)] = rule

        # An external partner offered on the topic needs no score and no kind of its own:
        # the rules about scores and kinds do not apply to it there.
        scored = ~enc.offered[mentors, topic] if self._offered_on[topic] else True

        # Rules are applied last-to-first so that the first broken rule's code wins.
        if opt.max_distance_km is not None:
            with np.errstate(invalid="ignore"):
                mark(dist > opt.max_distance_km, Rule.TOO_FAR)
        if opt.same_region:
            r_i, r_m = enc.region[mentees], enc.region[mentors]
            mark((r_i != r_m) | (r_i < 0), Rule.OTHER_REGION)
        if self.excluded.size:
            for t_key in (topic, -1):
                mark(np.isin(self._key(mentees, mentors, t_key), self.excluded), Rule.EXCLUDED)
        if opt.min_gap > 0:
            with np.errstate(invalid="ignore"):
                mark(scored & (enc.percentile[mentors, topic] - enc.percentile[mentees, topic]
                               < opt.min_gap), Rule.BELOW_MIN_GAP)
        mark(self.capacity[mentors] <= 0, Rule.NO_CAPACITY)
        with np.errstate(invalid="ignore"):
            mark(scored & ~np.isnan(o_i) & ~(o_m > o_i), Rule.NOT_BETTER)
        mark(scored & ~self.top[mentors, topic], Rule.NOT_HIGH_PERFORMER)
        flagged = enc.flagged[mentors, topic]
        mark(scored & flagged, Rule.MENTOR_FLAGGED)
        mark(scored & np.isnan(o_m) & ~flagged, Rule.MENTOR_NO_SCORE)
        mark(scored & ~enc.applies[topic, enc.kind[mentors]], Rule.MENTOR_TOPIC_NOT_APPLICABLE)
        if not opt.cross_kind:
            mark(scored & (enc.kind[mentees] != enc.kind[mentors]), Rule.OTHER_KIND)
        mark(mentees == mentors, Rule.SELF)
        return code, dist

    def distance(self, a, b, filled: bool = False) -> np.ndarray:
        """Haversine km between institution index arrays (broadcast); nan when a location is
        unknown, unless ``filled`` (then missing locations are their region's centre)."""
        if filled and self.one_place:
            return np.zeros(np.broadcast_shapes(np.shape(a), np.shape(b)))
        lat, lon, cos = (self._lat_f, self._lon_f, self._cos_lat_f) if filled else \
            (self._lat, self._lon, self._cos_lat)
        return haversine(lat[a], lon[a], lat[b], lon[b], cos[a], cos[b])

    def arc_figures(self, mentees, topics, mentors) -> dict[str, np.ndarray]:
        """Every figure behind the arcs' costs, and the four cost terms (explanations)."""
        enc = self.enc
        terms = self._cost_terms(mentees, topics, mentors)
        known = ~(np.isnan(self._lat[mentees]) | np.isnan(self._lat[mentors])
                  | np.isnan(self._lon[mentees]) | np.isnan(self._lon[mentors]))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = enc.size[mentors] / enc.size[mentees]
        return {
            "arc_gain": terms["gain"],
            "arc_gain_estimated": terms["estimated"],
            # Filled locations equal the known ones where both are known.
            "arc_distance": np.where(known, terms["km"], np.nan),
            "arc_size_ratio": ratio,
            "arc_previous": terms["previous"],
            "arc_preferred": np.broadcast_to(terms["rank"], np.shape(mentees)),
            **{f"arc_{name}": np.broadcast_to(terms[name], np.shape(mentees))
               for name in COST_TERMS},
        }

    def arc_costs(self, mentees, topics, mentors) -> tuple[np.ndarray, np.ndarray]:
        """(cost in points: the sum of the four cost terms, whether the previous round's
        pair) of arcs, without the figures only explanations show (candidates and the
        certificate cost millions of arcs)."""
        terms = self._cost_terms(mentees, topics, mentors)
        cost = terms[COST_TERMS[0]]
        for name in COST_TERMS[1:]:
            if not isinstance(terms[name], float):
                cost = cost + terms[name]
        return cost, terms["previous"]

    def _cost_terms(self, mentees, topics, mentors) -> dict[str, np.ndarray]:
        enc, opt = self.enc, self.options
        p_i = enc.percentile[mentees, topics]
        p_m = enc.mentor_percentile[mentors, topics]
        unknown = np.isnan(p_i)
        gain = p_m - np.where(unknown, 50.0, p_i)
        # An external partner's side of the gain is an estimate too (it has no scores).
        estimated = unknown | enc.offered[mentors, topics] if self._offered_on.any() else unknown
        km = self.distance(mentees, mentors, filled=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_ratio = np.abs(np.log(enc.size_filled[mentors] / enc.size_filled[mentees]))
        log_ratio = np.where(np.isnan(log_ratio), 0.0, log_ratio)
        previous = (np.isin(self._key(mentees, mentors, topics), self.previous)
                    if self.previous.size else np.zeros(mentees.size, bool))
        # Without preferences (most runs) the term is a plain 0: nothing to add per arc.
        rank, preference = 0, 0.0
        if self.preferred.size:
            rank = self.preference_rank(mentees, mentors, topics)
            preference = np.where(rank > 0, -opt.weight_preference * (4 - rank) / 3, 0.0)
        return {
            "gain": gain, "estimated": estimated, "km": km, "previous": previous,
            "cost_gain": opt.weight_gain * (100.0 - np.clip(gain, 0.0, 100.0)) / 100.0,
            "cost_distance": opt.weight_distance * km / 100.0,
            "cost_size": opt.weight_size * log_ratio,
            "cost_continuity": np.where(previous, -opt.weight_continuity, 0.0),
            "cost_preference": preference,
            "rank": rank,
        }


def bound_points(rules: RuleContext, institutions: np.ndarray, alpha: float,
                 beta: float) -> np.ndarray:
    """Institutions as points whose L1 distance is at most ``alpha`` * km + ``beta`` *
    |ln size ratio| of any two: (alpha * R / sqrt(3) * unit vector, beta * ln size), as km
    >= R * chord and a 3-vector's absolute coordinates sum to at most sqrt(3) times its
    length. Without ``beta``, no size coordinate.

    >>> from tpn.samples import generate
    >>> net = generate(3, seed=1)
    >>> enc = Encoded.build(net.institutions, net.topics, net.snapshot())
    >>> rules = RuleContext(enc, MatchOptions(), (), ())
    >>> a, b = bound_points(rules, np.array([0, 1]), 1.0, 0.0)
    >>> km = rules.distance(np.array([0]), np.array([1]), filled=True)[0]
    >>> bool(0 < np.abs(a - b).sum() <= km)
    True
    """
    xyz = rules._points[institutions] * (alpha * EARTH_RADIUS_KM / np.sqrt(3))
    if not beta:
        return xyz
    return np.column_stack([xyz, beta * rules.log_size[institutions]])


def _spread(mentees: np.ndarray, mentors: np.ndarray, k: int) -> np.ndarray:
    """(len(mentees), k) mentors evenly spaced over ``mentors``, from a place that depends
    on the mentee alone: where every location is the same point, "nearest" would give all
    requests the same k, and the certificate would then add nearly every arc round by round.

    >>> _spread(np.array([0, 1]), np.arange(10, 16), 3).tolist()
    [[10, 12, 14], [11, 13, 15]]
    """
    start = (mentees.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(mentors.size)
    step = max(1, mentors.size // k)
    return mentors[(start.astype(np.int64)[:, None] + step * np.arange(k)) % mentors.size]


def haversine(lat1, lon1, lat2, lon2, cos1=None, cos2=None) -> np.ndarray:
    """Great-circle km between points given in radians (NumPy, broadcast); ``cos1`` and
    ``cos2``, the cosines of the latitudes when already known (the same numbers, with two
    of the four trigonometric functions per pair saved).

    >>> round(float(haversine(0.0, 0.0, 0.0, np.pi / 2)))
    10008
    """
    cos1 = np.cos(lat1) if cos1 is None else cos1
    cos2 = np.cos(lat2) if cos2 is None else cos2
    h = np.sin((lat2 - lat1) / 2) ** 2 + cos1 * cos2 * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def cost_range(enc: Encoded, options: MatchOptions) -> tuple[float, float]:
    """(lowest, highest) cost any arc can have, from the options and the network alone, so
    coverage penalties do not depend on which arcs were kept."""
    sizes = enc.size_filled[~np.isnan(enc.size_filled)]
    spread = float(np.log(sizes.max() / sizes.min())) if sizes.size else 0.0
    # No two institutions are further apart than twice the furthest one from the centre.
    points = unit_vectors(enc.lat_filled, enc.lon_filled)
    centre = points.mean(axis=0) if len(points) else np.array([1.0, 0.0, 0.0])
    norm = np.linalg.norm(centre)
    if norm > 1e-9:
        c_lat = np.arcsin(np.clip(centre[2] / norm, -1, 1))
        c_lon = np.arctan2(centre[1], centre[0])
        radius = float(haversine(c_lat, c_lon, np.radians(enc.lat_filled),
                                 np.radians(enc.lon_filled)).max(initial=0.0))
        widest = min(np.pi * EARTH_RADIUS_KM, 2 * radius) + 1.0
    else:
        widest = np.pi * EARTH_RADIUS_KM
    highest = (options.weight_gain + options.weight_distance * widest / 100
               + options.weight_size * spread)
    return -options.weight_continuity - options.weight_preference, highest
