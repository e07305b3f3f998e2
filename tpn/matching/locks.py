"""Locks: the pairs a facilitator (or a partnership under way) fixes. A lock implies its
request; pruning never drops its arc; a lock that breaks a rule or a capacity is not made,
and says why."""

from __future__ import annotations

import numpy as np

from ..i18n import _
from ..models import FocusRequest, MatchProblem, RejectedLock
from ..scoring import Encoded
from .candidates import Candidates, Rule, with_arcs
from .explain import rule_text
from .options import MatchOptions


def with_lock_requests(requests, locks, enc) -> list[FocusRequest]:
    """A lock implies its request: add it (priority 1) when the focus set lacks it."""
    have = {(r.institution_id, r.topic_id) for r in requests}
    extra = []
    for lock in locks:
        key = (lock.mentee_id, lock.topic_id)
        if key not in have and lock.mentee_id in enc.inst_index and lock.topic_id in enc.topic_index:
            have.add(key)
            extra.append(FocusRequest(lock.mentee_id, lock.topic_id, 1))
    return list(requests) + extra


def with_lock_arcs(enc, cand, locks) -> Candidates:
    """Pruning must not drop an eligible lock: its arc is always kept."""
    req, men = [], []
    for lock in locks:
        if {lock.mentee_id, lock.mentor_id} <= enc.inst_index.keys() and \
                lock.topic_id in enc.topic_index:
            m, t = enc.inst_index[lock.mentor_id], enc.topic_index[lock.topic_id]
            r = cand.request_position(lock.mentee_id, lock.topic_id)
            if cand.rules.pair_rule(int(cand.req_inst[r]), t, m) == Rule.ELIGIBLE:
                req.append(r)
                men.append(m)
    if not req:
        return cand
    return with_arcs(cand, np.array(req, np.int64), np.array(men, np.int64), cand.rules)


def apply_locks(enc: Encoded, cand: Candidates, problem: MatchProblem,
                 options: MatchOptions) -> tuple[np.ndarray, list[RejectedLock]]:
    """The arc each locked request must take; locks that cannot hold, with the reason."""
    forced = np.full(len(cand.requests), -1, np.int64)
    rejected: list[RejectedLock] = []
    capacity, topic_cap = capacities(enc, options)
    used: dict[int, int] = {}
    used_topic: dict[tuple[int, int], int] = {}
    start = cand.arc_start
    for lock in sorted(set(problem.locks), key=lambda k: (k.mentee_id, k.topic_id, k.mentor_id)):
        unknown = [x for x in (lock.mentee_id, lock.mentor_id) if x not in enc.inst_index]
        if unknown or lock.topic_id not in enc.topic_index:
            what = ", ".join(repr(u) for u in unknown) or repr(lock.topic_id)
            rejected.append(RejectedLock(lock, _("unknown institution or topic {what}",
                                                 what=what)))
            continue
        r = cand.request_position(lock.mentee_id, lock.topic_id)
        m, t = enc.inst_index[lock.mentor_id], enc.topic_index[lock.topic_id]
        if forced[r] >= 0:
            other = enc.institutions[cand.arc_mentor[forced[r]]].id
            rejected.append(RejectedLock(lock, _("the request is already locked to {other}",
                                                 other=other)))
            continue
        arcs = np.arange(start[r], start[r + 1])
        hit = arcs[cand.arc_mentor[arcs] == m]
        if hit.size == 0:
            rule = cand.rules.pair_rule(int(cand.req_inst[r]), t, m)
            rejected.append(RejectedLock(lock, rule_text(
                rule, options, enc.flags.get((m, t)), enc.institutions[m].external)))
            continue
        if used.get(m, 0) >= capacity[m]:
            rejected.append(RejectedLock(
                lock, _("{mentor} has capacity {capacity}, taken by earlier locks",
                        mentor=lock.mentor_id, capacity=int(capacity[m]))))
            continue
        if used_topic.get((m, t), 0) >= topic_cap[m]:
            rejected.append(RejectedLock(
                lock, _("{mentor} has topic capacity {capacity} on {topic}, taken by earlier "
                        "locks", mentor=lock.mentor_id, capacity=int(topic_cap[m]),
                        topic=lock.topic_id)))
            continue
        used[m] = used.get(m, 0) + 1
        used_topic[(m, t)] = used_topic.get((m, t), 0) + 1
        forced[r] = hit[0]
    return forced, rejected


def capacities(enc: Encoded, options: MatchOptions) -> tuple[np.ndarray, np.ndarray]:
    """(n,) total and per-topic capacity of each institution."""
    capacity = enc.resolved_capacity(options.mentor_capacity)
    if options.topic_capacity is None:
        return capacity, capacity
    return capacity, np.minimum(capacity, options.topic_capacity)
