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
- distance:   weight_distance * km / 100 (haversine). When either lacks coordinates the
              median distance of all arcs with coordinates is used: neither rewarded nor
              penalised against a typical pair.
- size:       weight_size * |ln(mentor size / mentee size)|; median when a size is missing.
- continuity: -weight_continuity when the pair existed in the previous round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Sequence

import numpy as np

from ..errors import InputError, Problem
from ..models import Exclusion, FocusRequest, PreviousPair
from ..scoring import Encoded
from .options import MatchOptions

EARTH_RADIUS_KM = 6371.0088
# Largest (requests x pool) block evaluated at once; bounds memory on national networks.
BLOCK_CELLS = 2_000_000


class Rule(IntEnum):
    """Why a pair is not an arc, in the order the rules are checked (higher got further)."""

    TOPIC_NOT_APPLICABLE = 1   # the topic does not apply to the mentee's kind
    NO_SCORES = 2              # no institution that could mentor has a score on the topic
    SELF = 3
    OTHER_KIND = 4
    MENTOR_TOPIC_NOT_APPLICABLE = 5
    MENTOR_NO_SCORE = 6
    NOT_HIGH_PERFORMER = 7
    NOT_BETTER = 8
    NO_CAPACITY = 9
    BELOW_MIN_GAP = 10
    EXCLUDED = 11
    OTHER_REGION = 12
    TOO_FAR = 13
    ELIGIBLE = 14


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
    arc_gain: np.ndarray            # percentile points
    arc_gain_estimated: np.ndarray  # bool
    arc_distance: np.ndarray        # km, nan when unknown
    arc_size_ratio: np.ndarray      # mentor / mentee, nan when unknown
    arc_previous: np.ndarray        # bool
    arc_cost_gain: np.ndarray
    arc_cost_distance: np.ndarray
    arc_cost_size: np.ndarray
    arc_cost_continuity: np.ndarray
    arc_cost: np.ndarray            # the sum of the four cost terms
    arc_start: np.ndarray           # (R+1,) the arcs of request r are arc_start[r]:arc_start[r+1]
    _position: dict = field(default_factory=dict, repr=False, compare=False)

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
) -> Candidates:
    reqs = encode_requests(enc, requests)
    n_req = len(reqs)
    req_inst = np.array([enc.inst_index[r.institution_id] for r in reqs], dtype=np.int64)
    req_topic = np.array([enc.topic_index[r.topic_id] for r in reqs], dtype=np.int64)
    req_priority = np.array([r.priority for r in reqs], dtype=np.int64)
    req_rule = np.full(n_req, int(Rule.NO_SCORES), dtype=np.int64)
    req_nearest = np.full(n_req, np.nan)

    rules = _RuleContext(enc, options, exclusions, previous)
    applies = enc.applies[req_topic, enc.kind[req_inst]] if n_req else np.zeros(0, bool)
    req_rule[~applies] = Rule.TOPIC_NOT_APPLICABLE

    parts: list[tuple[np.ndarray, np.ndarray]] = []
    # Group requests by (topic, mentee kind): they share one pool of possible mentors.
    group_key = req_topic * max(1, len(enc.kinds)) + enc.kind[req_inst]
    for key in np.unique(group_key[applies]):
        rows = np.flatnonzero((group_key == key) & applies)
        t = int(req_topic[rows[0]])
        pool = rules.pool(t, int(enc.kind[req_inst[rows[0]]]))
        if pool.size == 0:
            continue
        step = max(1, BLOCK_CELLS // pool.size)
        for start in range(0, rows.size, step):
            block = rows[start:start + step]
            code, dist = rules.evaluate(req_inst[block], t, pool)
            req_rule[block] = code.max(axis=1)
            too_far = np.where(code == Rule.TOO_FAR, dist, np.inf).min(axis=1)
            req_nearest[block] = np.where(np.isfinite(too_far), too_far, np.nan)
            r_local, m_local = np.nonzero(code == Rule.ELIGIBLE)
            parts.append((block[r_local], pool[m_local]))

    arc_request = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    arc_mentor = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    order = np.lexsort((arc_mentor, arc_request))
    arc_request, arc_mentor = arc_request[order], arc_mentor[order]
    costs = rules.arc_figures(req_inst[arc_request], req_topic[arc_request], arc_mentor)
    return Candidates(
        requests=reqs,
        req_inst=req_inst,
        req_topic=req_topic,
        req_priority=req_priority,
        req_rule=req_rule,
        req_nearest_km=req_nearest,
        arc_request=arc_request,
        arc_mentor=arc_mentor,
        arc_cost=(costs["arc_cost_gain"] + costs["arc_cost_distance"] + costs["arc_cost_size"]
                  + costs["arc_cost_continuity"]),
        arc_start=np.searchsorted(arc_request, np.arange(n_req + 1)),
        _position={(r.institution_id, r.topic_id): n for n, r in enumerate(reqs)},
        **costs,
    )


def pair_rule(enc: Encoded, options: MatchOptions, mentee: int, topic: int, mentor: int,
              exclusions: Sequence[Exclusion] = ()) -> Rule:
    """The first rule the pair (mentee, topic, mentor) breaks, or ELIGIBLE (used for locks)."""
    if not enc.applies[topic, enc.kind[mentee]]:
        return Rule.TOPIC_NOT_APPLICABLE
    rules = _RuleContext(enc, options, exclusions, ())
    code, _ = rules.evaluate(np.array([mentee]), topic, np.array([mentor]))
    return Rule(int(code[0, 0]))


class _RuleContext:
    """The network's arrays and the options, ready to check blocks of pairs."""

    def __init__(self, enc: Encoded, options: MatchOptions,
                 exclusions: Sequence[Exclusion], previous: Sequence[PreviousPair]):
        self.enc = enc
        self.options = options
        self.top = enc.high_performer(options.top_share)
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

    def _key(self, mentee, mentor, topic):
        # topic -1 means "every topic"; keys stay well inside int64 up to millions of nodes.
        return (np.asarray(mentee, np.int64) * self._n + mentor) * (self._t + 1) + (np.asarray(topic) + 1)

    def pool(self, topic: int, kind: int) -> np.ndarray:
        """Possible mentors for requests of one kind on one topic: the high performers."""
        enc = self.enc
        mask = self.top[:, topic].copy()
        if not self.options.cross_kind:
            mask &= enc.kind == kind
        return np.flatnonzero(mask)

    def evaluate(self, mentees: np.ndarray, topic: int, mentors: np.ndarray):
        """(codes, distances) for the block mentees x mentors on one topic."""
        enc, opt = self.enc, self.options
        o_i = enc.oriented[mentees, topic][:, None]
        o_m = enc.oriented[mentors, topic][None, :]
        shape = (mentees.size, mentors.size)
        code = np.full(shape, int(Rule.ELIGIBLE), dtype=np.int8)
        dist = self.distance(mentees[:, None], mentors[None, :])

        # Rules are applied last-to-first so that the first broken rule's code wins.
        if opt.max_distance_km is not None:
            with np.errstate(invalid="ignore"):
                code[dist > opt.max_distance_km] = Rule.TOO_FAR
        if opt.same_region:
            r_i, r_m = enc.region[mentees][:, None], enc.region[mentors][None, :]
            code[np.broadcast_to((r_i != r_m) | (r_i < 0), shape)] = Rule.OTHER_REGION
        if self.excluded.size:
            for t_key in (topic, -1):
                keys = self._key(mentees[:, None], mentors[None, :], t_key)
                code[np.isin(keys, self.excluded)] = Rule.EXCLUDED
        if opt.min_gap > 0:
            p_i = enc.percentile[mentees, topic][:, None]
            p_m = enc.percentile[mentors, topic][None, :]
            with np.errstate(invalid="ignore"):
                code[np.broadcast_to(p_m - p_i < opt.min_gap, shape)] = Rule.BELOW_MIN_GAP
        code[np.broadcast_to(self.capacity[mentors][None, :] <= 0, shape)] = Rule.NO_CAPACITY
        with np.errstate(invalid="ignore"):
            not_better = ~np.isnan(o_i) & ~(o_m > o_i)
        code[np.broadcast_to(not_better, shape)] = Rule.NOT_BETTER
        code[np.broadcast_to(~self.top[mentors, topic][None, :], shape)] = Rule.NOT_HIGH_PERFORMER
        code[np.broadcast_to(np.isnan(o_m), shape)] = Rule.MENTOR_NO_SCORE
        mentor_applies = enc.applies[topic, enc.kind[mentors]][None, :]
        code[np.broadcast_to(~mentor_applies, shape)] = Rule.MENTOR_TOPIC_NOT_APPLICABLE
        if not opt.cross_kind:
            other = enc.kind[mentees][:, None] != enc.kind[mentors][None, :]
            code[other] = Rule.OTHER_KIND
        code[mentees[:, None] == mentors[None, :]] = Rule.SELF
        return code, dist

    def distance(self, a, b) -> np.ndarray:
        """Haversine km between institution index arrays (broadcast); nan when unknown."""
        lat1, lat2 = self._lat[a], self._lat[b]
        dlat, dlon = lat2 - lat1, self._lon[b] - self._lon[a]
        h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
        return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))

    def arc_figures(self, mentees, topics, mentors) -> dict[str, np.ndarray]:
        enc, opt = self.enc, self.options
        p_i = enc.percentile[mentees, topics]
        p_m = enc.percentile[mentors, topics]
        estimated = np.isnan(p_i)
        gain = p_m - np.where(estimated, 50.0, p_i)
        dist = self.distance(mentees, mentors)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = enc.size[mentors] / enc.size[mentees]
            log_ratio = np.abs(np.log(ratio))
        previous = (np.isin(self._key(mentees, mentors, topics), self.previous)
                    if self.previous.size else np.zeros(mentees.size, bool))
        return {
            "arc_gain": gain,
            "arc_gain_estimated": estimated,
            "arc_distance": dist,
            "arc_size_ratio": ratio,
            "arc_previous": previous,
            "arc_cost_gain": opt.weight_gain * (100.0 - np.clip(gain, 0.0, 100.0)) / 100.0,
            "arc_cost_distance": opt.weight_distance * _impute_median(dist) / 100.0,
            "arc_cost_size": opt.weight_size * _impute_median(log_ratio),
            "arc_cost_continuity": np.where(previous, -opt.weight_continuity, 0.0),
        }


def _impute_median(values: np.ndarray) -> np.ndarray:
    known = values[~np.isnan(values)]
    fill = float(np.median(known)) if known.size else 0.0
    return np.where(np.isnan(values), fill, values)
