"""Why each pair was made, why each other mentor was not, and why a request went unserved.

Reason codes are stable (tests, exports and the web app use them); the texts are for people.

Unmatched reasons:
  topic_not_applicable  the topic does not apply to the mentee's kind
  no_scores             nobody of its kind has a score on the topic
  no_better_peer        no high performer of its kind scores better (it is among the best)
  no_capacity           the better high performers all have capacity 0
  below_min_gap         better high performers exist, none by min_gap percentile points
  excluded              every eligible mentor is on the exclusion list
  other_region          no eligible mentor in its region (same_region)
  too_far               every eligible mentor is beyond max_distance_km
  mentors_full          eligible mentors exist, all their capacity is taken
  partner_limit         cpsat: the mentee already has max_partners mentors

Alternative reasons: serving_higher_priority, at_capacity, at_topic_capacity,
partner_limit, smaller_gain, further_away, less_similar_size, not_continuing, tie,
network_bonus, keeps_previous (the chosen pair continues the previous round and
max_changes holds it).
"""

from __future__ import annotations

import math

import numpy as np

from ..models import Alternative, CostTerms, Pair, Unmatched
from ..scoring import Encoded
from .candidates import Candidates, Rule
from .encoding import SolverInput
from .options import MatchOptions

RULE_REASON = {
    Rule.TOPIC_NOT_APPLICABLE: "topic_not_applicable",
    Rule.NO_SCORES: "no_scores",
    Rule.SELF: "no_better_peer",
    Rule.OTHER_KIND: "no_better_peer",
    Rule.MENTOR_TOPIC_NOT_APPLICABLE: "no_better_peer",
    Rule.MENTOR_NO_SCORE: "no_scores",
    Rule.NOT_HIGH_PERFORMER: "no_better_peer",
    Rule.NOT_BETTER: "no_better_peer",
    Rule.NO_CAPACITY: "no_capacity",
    Rule.BELOW_MIN_GAP: "below_min_gap",
    Rule.EXCLUDED: "excluded",
    Rule.OTHER_REGION: "other_region",
    Rule.TOO_FAR: "too_far",
    Rule.ELIGIBLE: "mentors_full",
}


def fmt(value: float | None) -> str:
    """A score for people: at most 3 decimals, no trailing zeros.

    >>> fmt(71.0), fmt(0.72349), fmt(None)
    ('71', '0.723', 'no score')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no score"
    return f"{round(float(value), 3):g}"


def _opt_float(v) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


class _Loads:
    """Who each mentor serves in the solution, for the alternatives' reasons."""

    def __init__(self, cand: Candidates, chosen: np.ndarray):
        self.by_mentor: dict[int, list[int]] = {}
        self.continuing = {r for r in np.flatnonzero(chosen >= 0).tolist()
                           if cand.arc_previous[chosen[r]]}
        for r in np.flatnonzero(chosen >= 0).tolist():
            m = int(cand.arc_mentor[chosen[r]])
            self.by_mentor.setdefault(m, []).append(r)
        self.partners: dict[int, set[int]] = {}
        self._busy: dict[int, str] = {}
        for m, rs in self.by_mentor.items():
            for r in rs:
                self.partners.setdefault(int(cand.req_inst[r]), set()).add(m)

    def busy(self, enc: Encoded, cand: Candidates, m: int) -> str:
        """Whom mentor m serves, for people; the same mentor is named as an alternative of
        many requests, so the text is made once."""
        text = self._busy.get(m)
        if text is None:
            text = self._busy[m] = ", ".join(_request_label(enc, cand, s) for s in self.served(m))
        return text

    def served(self, m: int) -> list[int]:
        return self.by_mentor.get(m, [])

    def on_topic(self, cand: Candidates, m: int, t: int) -> list[int]:
        return [r for r in self.served(m) if cand.req_topic[r] == t]


def explain(enc: Encoded, cand: Candidates, chosen: np.ndarray, inp: SolverInput,
            options: MatchOptions, progress=None) -> tuple[list[Pair], list[Unmatched]]:
    """Every pair and every unmatched request, explained against one table of who serves whom."""
    loads = _Loads(cand, chosen)
    return (explain_pairs(enc, cand, chosen, inp, options, loads, progress),
            explain_unmatched(enc, cand, chosen, inp, options, loads))


def explain_pairs(enc: Encoded, cand: Candidates, chosen: np.ndarray, inp: SolverInput,
                  options: MatchOptions, loads: _Loads, progress=None) -> list[Pair]:
    pairs = []
    served = np.flatnonzero(chosen >= 0).tolist()
    alt_start, alt_arcs = _next_best(cand, chosen, options.alternatives)
    for k, r in enumerate(served):
        if progress and k % 2000 == 0:
            progress(k / max(1, len(served)))
        a = int(chosen[r])
        i, t, m = int(cand.req_inst[r]), int(cand.req_topic[r]), int(cand.arc_mentor[a])
        alternatives = tuple(_alternative(enc, cand, inp, loads, r, a, b, options)
                             for b in alt_arcs[alt_start[r]:alt_start[r + 1]].tolist())
        pairs.append(Pair(
            mentee_id=enc.institutions[i].id,
            mentor_id=enc.institutions[m].id,
            topic_id=enc.topics[t].id,
            priority=int(cand.req_priority[r]),
            mentee_score=_opt_float(enc.score[i, t]),
            mentor_score=float(enc.score[m, t]),
            mentee_percentile=_opt_float(enc.percentile[i, t]),
            mentor_percentile=float(enc.percentile[m, t]),
            gain=float(cand.arc_gain[a]),
            gain_estimated=bool(cand.arc_gain_estimated[a]),
            distance_km=_opt_float(cand.arc_distance[a]),
            size_ratio=_opt_float(cand.arc_size_ratio[a]),
            cost=CostTerms(
                gain=float(cand.arc_cost_gain[a]),
                distance=float(cand.arc_cost_distance[a]),
                size=float(cand.arc_cost_size[a]),
                continuity=float(cand.arc_cost_continuity[a]),
            ),
            locked=bool(inp.forced[r] == a),
            continued=bool(cand.arc_previous[a]),
            alternatives=alternatives,
            why=_why(enc, cand, r, a, options, locked=bool(inp.forced[r] == a)),
        ))
    return pairs


def _next_best(cand: Candidates, chosen: np.ndarray, count: int):
    """(start, arcs): each request's ``count`` next-best arcs besides the chosen one, by cost
    and then mentor id, are ``arcs[start[r]:start[r + 1]]``."""
    taken = np.zeros(cand.arc_request.size, bool)
    taken[chosen[chosen >= 0]] = True
    # Arcs are sorted by mentor within a request, and lexsort is stable: ties go by mentor.
    order = np.lexsort((cand.arc_cost, cand.arc_request))
    order = order[~taken[order]]
    request = cand.arc_request[order]
    first = np.searchsorted(request, np.arange(len(cand.requests) + 1))
    keep = np.arange(order.size) - first[request] < count
    arcs = order[keep]
    return np.searchsorted(request[keep], np.arange(len(cand.requests) + 1)), arcs


def _why(enc: Encoded, cand: Candidates, r: int, a: int, options: MatchOptions,
         locked: bool) -> str:
    i, t, m = int(cand.req_inst[r]), int(cand.req_topic[r]), int(cand.arc_mentor[a])
    mentee, mentor, topic = enc.institutions[i], enc.institutions[m], enc.topics[t]
    kind = enc.kinds[enc.kind[m]]
    parts = [
        f"{mentor.name} is a high performer among {kind} institutions on {topic.label} "
        f"(score {fmt(enc.score[m, t])}, percentile {enc.percentile[m, t]:.0f})"
    ]
    if cand.arc_gain_estimated[a]:
        parts.append(f"{mentee.name} has no score on it, so the gain of "
                     f"{cand.arc_gain[a]:.0f} points is estimated from the median")
    else:
        parts.append(f"{mentee.name} scores {fmt(enc.score[i, t])} (percentile "
                     f"{enc.percentile[i, t]:.0f}): a gain of {cand.arc_gain[a]:.0f} points")
    if not math.isnan(cand.arc_distance[a]):
        parts.append(f"{cand.arc_distance[a]:.0f} km apart")
    if not math.isnan(cand.arc_size_ratio[a]):
        parts.append(f"size ratio {cand.arc_size_ratio[a]:.2f}")
    if cand.arc_previous[a]:
        parts.append("continues a pair of the previous round")
    if locked:
        parts.append("locked")
    return "; ".join(parts) + "."


def _alternative(enc, cand, inp, loads: _Loads, r, a, b, options) -> Alternative:
    m2 = int(cand.arc_mentor[b])
    t = int(cand.req_topic[r])
    name = enc.institutions[m2].name
    served = loads.served(m2)
    cap = int(inp.mentor_capacity[m2])
    gain, dist = float(cand.arc_gain[b]), _opt_float(cand.arc_distance[b])

    def alt(reason: str, detail: str) -> Alternative:
        return Alternative(enc.institutions[m2].id, round(float(cand.arc_cost[b]), 4),
                           gain, dist, reason, detail)

    if len(served) >= cap:
        busy = loads.busy(enc, cand, m2)
        higher = [s for s in served if cand.req_priority[s] < cand.req_priority[r]]
        if higher:
            return alt("serving_higher_priority",
                       f"{name} is at capacity ({len(served)} of {cap}), serving "
                       f"{len(higher)} request(s) of higher priority: {busy}")
        return alt("at_capacity", f"{name} is at capacity ({len(served)} of {cap}): {busy}")
    on_topic = loads.on_topic(cand, m2, t)
    if len(on_topic) >= inp.topic_capacity[m2]:
        return alt("at_topic_capacity",
                   f"{name} already mentors {len(on_topic)} on this topic "
                   f"(topic capacity {int(inp.topic_capacity[m2])})")
    mentee = int(cand.req_inst[r])
    partners = loads.partners.get(mentee, set())
    if (options.max_partners is not None and m2 not in partners
            and len(partners) >= options.max_partners):
        return alt("partner_limit", f"{enc.institutions[mentee].name} already has "
                                    f"{len(partners)} mentors (max_partners)")
    diffs = {
        "smaller_gain": cand.arc_cost_gain[b] - cand.arc_cost_gain[a],
        "further_away": cand.arc_cost_distance[b] - cand.arc_cost_distance[a],
        "less_similar_size": cand.arc_cost_size[b] - cand.arc_cost_size[a],
        "not_continuing": cand.arc_cost_continuity[b] - cand.arc_cost_continuity[a],
    }
    total = cand.arc_cost[b] - cand.arc_cost[a]
    if abs(total) < 0.5e-4:
        return alt("tie", f"{name} is as good (cost {cand.arc_cost[b]:.4f}); the order of ids "
                          "decided")
    if total < 0 and options.max_changes is not None and cand.arc_previous[a]:
        return alt("keeps_previous", f"{name} costs less, but the chosen pair continues the "
                                     f"previous round and max_changes={options.max_changes} "
                                     "limits how many of those may change")
    if total < 0:
        return alt("network_bonus", f"{name} costs less on its own, but the chosen pair earns "
                                    "more of the network's bonuses (same mentor, mutual pairs, "
                                    "load balance)")
    reason = max(diffs, key=lambda k: (diffs[k], k))
    if reason == "smaller_gain":
        detail = (f"{name} gives a smaller gain: {gain:.0f} points, "
                  f"{cand.arc_gain[a] - gain:.0f} fewer")
    elif reason == "further_away" and dist is not None:
        detail = f"{name} is further away: {dist:.0f} km"
        if not math.isnan(cand.arc_distance[a]):
            detail += f", {dist - cand.arc_distance[a]:.0f} km more"
    elif reason == "less_similar_size":
        detail = f"{name} is less similar in size (ratio {cand.arc_size_ratio[b]:.2f})"
    elif reason == "not_continuing":
        detail = "the chosen pair continues a partnership of the previous round"
    else:
        detail = f"{name} costs {total:.4f} more"
    return alt(reason, f"{detail} (total cost {cand.arc_cost[b]:.4f} vs {cand.arc_cost[a]:.4f})")


def _request_label(enc, cand, r) -> str:
    return (f"{enc.institutions[cand.req_inst[r]].name} on {enc.topics[cand.req_topic[r]].label}"
            f" (priority {cand.req_priority[r]})")


def explain_unmatched(enc: Encoded, cand: Candidates, chosen: np.ndarray, inp: SolverInput,
                      options: MatchOptions, loads: _Loads) -> list[Unmatched]:
    start = cand.arc_start
    out = []
    for r in np.flatnonzero(chosen < 0).tolist():
        reason, detail, fix = _unmatched_reason(enc, cand, inp, loads, r, start, options)
        out.append(Unmatched(
            institution_id=enc.institutions[cand.req_inst[r]].id,
            topic_id=enc.topics[cand.req_topic[r]].id,
            priority=int(cand.req_priority[r]),
            reason=reason,
            detail=detail,
            fix=fix,
        ))
    return out


def _unmatched_reason(enc, cand, inp, loads, r, start, options) -> tuple[str, str, str]:
    i, t = int(cand.req_inst[r]), int(cand.req_topic[r])
    inst, topic = enc.institutions[i], enc.topics[t]
    kind = enc.kinds[enc.kind[i]]
    rule = Rule(int(cand.req_rule[r]))
    reason = RULE_REASON[rule]
    if rule == Rule.TOPIC_NOT_APPLICABLE:
        return (reason, f"{topic.label} does not apply to {kind} institutions",
                f"choose another topic, or add '{kind}' to the kinds of topic {topic.id}")
    if rule in (Rule.NO_SCORES, Rule.MENTOR_NO_SCORE):
        return (reason, f"no {kind} institution has a score on {topic.label}",
                "add scores for this topic, or allow mentors of other kinds (cross_kind)")
    if reason == "no_better_peer":
        return (reason,
                f"no high performer among {kind} institutions scores better than {inst.name} "
                f"on {topic.label} (its score: {fmt(enc.score[i, t])})",
                "it is among the best on this topic: it could mentor others on it; to learn "
                "from another kind, allow cross_kind")
    if rule == Rule.NO_CAPACITY:
        return (reason, f"every {kind} institution that scores better on {topic.label} and is "
                        "a high performer has capacity 0",
                "give one of them a capacity above 0")
    if rule == Rule.BELOW_MIN_GAP:
        peers = enc.kind == enc.kind[i]
        best = float(np.nanmax(enc.percentile[peers, t]) - enc.percentile[i, t])
        return (reason, f"the best {kind} peer on {topic.label} is {best:.0f} percentile points "
                        f"above, less than min_gap={options.min_gap:g}",
                f"lower min_gap to {math.floor(best)} or less")
    if rule == Rule.EXCLUDED:
        return (reason, "every eligible mentor is on the exclusion list",
                "remove an exclusion for this institution")
    if rule == Rule.OTHER_REGION:
        return (reason, f"no eligible mentor in region {inst.region or '(unknown)'}",
                "turn off same_region")
    if rule == Rule.TOO_FAR:
        near = cand.req_nearest_km[r]
        return (reason, f"every eligible mentor is further than max_distance_km="
                        f"{options.max_distance_km:g} (nearest {near:.0f} km)",
                f"raise max_distance_km to {math.ceil(near)}")
    # Eligible mentors exist: the solution gave their capacity to other requests.
    arcs = np.arange(start[r], start[r + 1])
    arcs = arcs[np.argsort(cand.arc_cost[arcs], kind="stable")]
    partners = loads.partners.get(i, set())
    if (options.max_partners is not None and len(partners) >= options.max_partners
            and not any(int(cand.arc_mentor[b]) in partners for b in arcs)):
        return ("partner_limit", f"{inst.name} already has {len(partners)} mentors",
                f"raise max_partners to {len(partners) + 1}")
    names = []
    for b in arcs.tolist():
        m = int(cand.arc_mentor[b])
        served = loads.served(m)
        names.append(f"{enc.institutions[m].name} ({len(served)} of "
                     f"{int(inp.mentor_capacity[m])})")
    best = int(cand.arc_mentor[arcs[0]])
    cap = int(inp.mentor_capacity[best])
    on_topic = len(loads.on_topic(cand, best, t))
    if on_topic >= inp.topic_capacity[best] and inp.topic_capacity[best] < cap:
        fix = (f"raise topic_capacity to {int(inp.topic_capacity[best]) + 1} "
               f"(or give {enc.institutions[best].name} a higher capacity)")
    else:
        fix = f"raise the capacity of {enc.institutions[best].name} from {cap} to {cap + 1}"
    if options.max_changes is not None and any(
            s in loads.continuing for b in arcs.tolist()
            for s in loads.served(int(cand.arc_mentor[b]))):
        fix += (f", or raise max_changes above {options.max_changes} (pairs kept from the "
                "previous round hold some of these places)")
    return ("mentors_full",
            f"all {len(names)} eligible mentor(s) are taken by other requests: "
            + ", ".join(names[:5]) + (" …" if len(names) > 5 else ""),
            fix)
