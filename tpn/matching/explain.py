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
network_bonus, keeps_previous (the chosen pair is one of the earlier run's and
max_changes holds it).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from ..errors import TpnBug
from ..i18n import N_, Text, _, join, number
from ..models import Alternative, CostTerms, Pair, Unmatched
from ..runtime.parallel import can_fork, in_second_process
from ..scoring import Encoded
from .candidates import Candidates, Rule
from .encoding import SolverInput
from .fixes import NAMES_SHOWN, TIE, NextPlaces, eligible_counts
from .options import MatchOptions

RULE_REASON = {
    Rule.TOPIC_NOT_APPLICABLE: "topic_not_applicable",
    Rule.NO_SCORES: "no_scores",
    Rule.SELF: "no_better_peer",
    Rule.OTHER_KIND: "no_better_peer",
    Rule.MENTOR_TOPIC_NOT_APPLICABLE: "no_better_peer",
    Rule.MENTOR_NO_SCORE: "no_scores",
    Rule.MENTOR_FLAGGED: "no_better_peer",
    Rule.NOT_HIGH_PERFORMER: "no_better_peer",
    Rule.NOT_BETTER: "no_better_peer",
    Rule.NO_CAPACITY: "no_capacity",
    Rule.BELOW_MIN_GAP: "below_min_gap",
    Rule.EXCLUDED: "excluded",
    Rule.OTHER_REGION: "other_region",
    Rule.TOO_FAR: "too_far",
    Rule.ELIGIBLE: "mentors_full",
}


# The reasons a mentor of another kind may take away (allowing cross_kind).
OTHER_KIND_MAY_HELP = ("no_better_peer", "no_scores")

# Each reason code in words, for pages (the codes stay in files and the API).
REASON_LABELS = {
    "topic_not_applicable": N_("topic does not apply"), "no_scores": N_("no scores"),
    "no_better_peer": N_("no better peer"), "no_capacity": N_("no capacity"),
    "below_min_gap": N_("below the minimum gap"), "excluded": N_("excluded"),
    "other_region": N_("other region"), "too_far": N_("too far"),
    "mentors_full": N_("mentors full"),
    "partner_limit": N_("the mentee has its maximum number of mentors"),
    "serving_higher_priority": N_("busy with requests of higher priority"),
    "at_capacity": N_("at capacity"), "at_topic_capacity": N_("at its capacity on this topic"),
    "smaller_gain": N_("smaller gain"), "further_away": N_("further away"),
    "less_similar_size": N_("less similar in size"),
    "not_continuing": N_("not a continuing pair"),
    "tie": N_("as good; tpn's fixed tie-break chose"),
    "network_bonus": N_("fewer network bonuses"),
    "keeps_previous": N_("the chosen pair is kept from the earlier run"),
    "not_preferred": N_("the mentee preferred the chosen mentor"),
}

# The rules an external partner is spared on a topic it is offered on (and breaks on others).
_SCORE_RULES = (Rule.OTHER_KIND, Rule.MENTOR_TOPIC_NOT_APPLICABLE, Rule.MENTOR_NO_SCORE,
                Rule.MENTOR_FLAGGED, Rule.NOT_HIGH_PERFORMER, Rule.NOT_BETTER,
                Rule.BELOW_MIN_GAP)


def rule_text(rule: Rule, options: MatchOptions, flag=None, external: bool = False) -> str:
    """Which rule a pair breaks, for people: why a lock cannot hold, why a preferred
    mentor is not the pair."""
    if external and rule in _SCORE_RULES:
        return _("breaks a rule (not_offered): the mentor is an external partner, offered on "
                 "other topics: offer it on this one too (its mentors_on)")
    if rule == Rule.MENTOR_FLAGGED:
        return _("breaks a rule (flagged_score): the mentor's score {flag}: not considered as "
                 "a mentor on this topic until someone checks and accepts it", flag=flag.reason)
    reason = RULE_REASON[rule]
    if rule == Rule.NOT_HIGH_PERFORMER:
        text = _("the mentor is not in the top {share:.0%} of its kind on the topic",
                 share=options.top_share)
    elif rule == Rule.BELOW_MIN_GAP:
        text = _("the gain is below min_gap={min_gap:g} percentile points",
                 min_gap=options.min_gap)
    elif rule == Rule.TOO_FAR and options.max_distance_km is not None:
        text = _("the two are further apart than max_distance_km={km:g}",
                 km=options.max_distance_km)
    else:
        text = _(_RULE_TEXTS.get(rule, reason))
    return _("breaks a rule ({reason}): {text}", reason=reason, text=text)


_RULE_TEXTS = {
    Rule.SELF: N_("an institution cannot mentor itself"),
    Rule.OTHER_KIND: N_("mentor and mentee are of different kinds (cross_kind is off)"),
    Rule.MENTOR_TOPIC_NOT_APPLICABLE: N_("the topic does not apply to the mentor's kind"),
    Rule.MENTOR_NO_SCORE: N_("the mentor has no score on the topic"),
    Rule.NOT_BETTER: N_("the mentor does not score better than the mentee"),
    Rule.NO_CAPACITY: N_("the mentor's capacity is 0"),
    Rule.EXCLUDED: N_("the pair is on the exclusion list"),
    Rule.OTHER_REGION: N_("the two are in different regions (same_region is on)"),
    Rule.TOO_FAR: N_("too far"),
    Rule.TOPIC_NOT_APPLICABLE: N_("the topic does not apply to the mentee's kind"),
}


def fmt(value: float | None) -> Text:
    """A score for people: at most 3 decimals, no trailing zeros.

    >>> fmt(71.0), fmt(0.72349), fmt(None)
    ('71', '0.723', 'no score')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _("no score")
    return number(round(float(value), 3))


def _opt_float(v) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


class _Arc(NamedTuple):
    """One arc's figures as plain Python values: explanations read them one pair at a time,
    and reading a NumPy array element by element costs several times more."""

    mentor: int
    cost: float
    gain: float
    gain_estimated: bool
    distance: float          # nan when unknown
    size_ratio: float        # nan when unknown
    previous: bool
    cost_gain: float
    cost_distance: float
    cost_size: float
    cost_continuity: float
    cost_preference: float
    preferred: int              # the mentor's rank among the mentee's choices (0: none)


_ARC_FIELDS = ("arc_mentor", "arc_cost", "arc_gain", "arc_gain_estimated", "arc_distance",
               "arc_size_ratio", "arc_previous", "arc_cost_gain", "arc_cost_distance",
               "arc_cost_size", "arc_cost_continuity", "arc_cost_preference", "arc_preferred")
ORDINAL = {1: _("1st"), 2: _("2nd"), 3: _("3rd")}


def _arcs(cand: Candidates, arcs: np.ndarray) -> list[_Arc]:
    columns = {**cand.figures(arcs), "arc_mentor": cand.arc_mentor[arcs],
               "arc_cost": cand.arc_cost[arcs]}
    return list(map(_Arc._make, zip(*(columns[f].tolist() for f in _ARC_FIELDS))))


class _Loads:
    """Who each mentor serves in the solution, and the per-request and per-mentor figures
    the reasons quote, as plain Python lists."""

    def __init__(self, enc: Encoded, cand: Candidates, chosen: np.ndarray, inp: SolverInput):
        self.req_inst = cand.req_inst.tolist()
        self.req_topic = cand.req_topic.tolist()
        self.req_priority = cand.req_priority.tolist()
        self.capacity = inp.mentor_capacity.tolist()
        self.topic_capacity = inp.topic_capacity.tolist()
        served = np.flatnonzero(chosen >= 0)
        arcs = chosen[served]
        self.continuing = set(served[cand.arc_previous[arcs]].tolist())
        self.by_mentor: dict[int, list[int]] = {}
        self.partners: dict[int, set[int]] = {}
        for r, m in zip(served.tolist(), cand.arc_mentor[arcs].tolist()):
            self.by_mentor.setdefault(m, []).append(r)
            self.partners.setdefault(self.req_inst[r], set()).add(m)
        self._busy: dict[int, str] = {}
        self._full: dict[tuple[int, int], tuple[str, str] | None] = {}
        self._enc = enc

    def busy(self, m: int) -> Text:
        """Whom mentor m serves, for people; the same mentor is named as an alternative of
        many requests, so the text is made once."""
        text = self._busy.get(m)
        if text is None:
            text = self._busy[m] = join((self.label(s) for s in self.served(m)), ", ")
        return text

    def full(self, m: int, priority: int) -> tuple[str, str] | None:
        """(reason, detail) when mentor m is at capacity, for an alternative of a request of
        that priority. A mentor is the alternative of many requests, mostly of a few
        priorities: each text is made once."""
        key = (m, priority)
        text = self._full.get(key, False)
        if text is False:
            served, cap = self.served(m), self.capacity[m]
            if len(served) < cap:
                text = None
            else:
                name, busy = self._enc.institutions[m].name, self.busy(m)
                higher = sum(self.req_priority[s] < priority for s in served)
                if higher:
                    text = ("serving_higher_priority",
                            _("{name} is at capacity ({n} of {cap}), serving {higher} request(s) "
                              "of higher priority: {busy}", name=name, n=len(served), cap=cap,
                              higher=higher, busy=busy))
                else:
                    text = ("at_capacity", _("{name} is at capacity ({n} of {cap}): {busy}",
                                             name=name, n=len(served), cap=cap, busy=busy))
            self._full[key] = text
        return text

    def label(self, r: int) -> Text:
        enc = self._enc
        return _("{name} on {topic} (priority {priority})",
                 name=enc.institutions[self.req_inst[r]].name,
                 topic=enc.topics[self.req_topic[r]].label, priority=self.req_priority[r])

    def served(self, m: int) -> list[int]:
        return self.by_mentor.get(m, [])

    def on_topic(self, m: int, t: int) -> list[int]:
        return [r for r in self.served(m) if self.req_topic[r] == t]


def explain(enc: Encoded, cand: Candidates, chosen: np.ndarray, inp: SolverInput,
            options: MatchOptions, progress=None, places: NextPlaces | None = None,
            counts: np.ndarray | None = None,
            beside: bool = False) -> tuple[list[Pair], list[Unmatched]]:
    """Every pair and every unmatched request, explained against one table of who serves
    whom. ``cand`` must hold every arc the explanations name (``fixes.with_next_best``);
    ``places``: whom one more place at each mentor would serve (``fixes.next_places``),
    without which the fix of a request whose mentors are full is a lock; ``counts``: the
    unserved requests' ``fixes.eligible_counts`` by request index, when already counted;
    ``beside``: the unmatched requests, and as many of the last pairs as make both end
    together, in a second process when there is one (tpn.runtime.parallel)."""
    loads = _Loads(enc, cand, chosen, inp)

    def unmatched() -> list[Unmatched]:
        return explain_unmatched(enc, cand, chosen, options, loads, places, counts)

    if not beside:
        return explain_pairs(enc, cand, chosen, inp, options, loads, progress), unmatched()
    # The two processes share only the table of who serves whom. The second explains the
    # unmatched requests and, when they are fewer, the last pairs, so that both end together.
    served = int((chosen >= 0).sum())
    there = pairs_there(served, chosen.size - served, cand.rules.tuning) if can_fork() else 0
    next_best = _next_best(cand, chosen, options.alternatives)

    def second() -> tuple[list[Unmatched], list[tuple]]:
        last = explain_pairs(enc, cand, chosen, inp, options, loads,
                             part=slice(served - there, None), next_best=next_best)
        return unmatched(), [_fields(p) for p in last]

    with in_second_process(second) as job:
        pairs = explain_pairs(enc, cand, chosen, inp, options, loads, progress,
                              part=slice(0, served - there), next_best=next_best)
        unmatched_requests, last = job.result()
    pairs += map(_pair_of, last)
    return pairs, unmatched_requests


def pairs_there(served: int, unserved: int, tuning) -> int:
    """How many of the pairs the second process explains beside the unmatched requests:
    a pair there costs ``tuning.pair_there`` times one explained here (its fields are sent
    back), an unmatched request about what a pair does.

    >>> from tpn.matching import Tuning
    >>> pairs_there(1000, 200, Tuning(pair_there=1.5)), pairs_there(100, 900, Tuning())
    (320, 0)
    """
    return max(0, int((served - unserved) / (1 + tuning.pair_there)))


# A pair goes back from the second process as plain tuples: pickling the frozen
# dataclasses costs about what making them does.
_PAIR = tuple(f.name for f in dataclasses.fields(Pair))
_COST = tuple(f.name for f in dataclasses.fields(CostTerms))
_ALTERNATIVE = tuple(f.name for f in dataclasses.fields(Alternative))
_COST_AT, _ALTERNATIVES_AT = _PAIR.index("cost"), _PAIR.index("alternatives")


def _fields(pair: Pair) -> tuple:
    fields = [getattr(pair, name) for name in _PAIR]
    fields[_COST_AT] = tuple(getattr(pair.cost, name) for name in _COST)
    fields[_ALTERNATIVES_AT] = tuple(tuple(getattr(a, name) for name in _ALTERNATIVE)
                                     for a in pair.alternatives)
    return tuple(fields)


def _pair_of(fields: tuple) -> Pair:
    fields = list(fields)
    fields[_COST_AT] = CostTerms(*fields[_COST_AT])
    fields[_ALTERNATIVES_AT] = tuple(Alternative(*a) for a in fields[_ALTERNATIVES_AT])
    return Pair(*fields)


def explain_pairs(enc: Encoded, cand: Candidates, chosen: np.ndarray, inp: SolverInput,
                  options: MatchOptions, loads: _Loads, progress=None,
                  part: slice = slice(None), next_best=None) -> list[Pair]:
    """The pairs of the served requests in ``part`` (of all served, in request order);
    ``next_best``: ``_next_best``'s answer when already found."""
    pairs = []
    served = np.flatnonzero(chosen >= 0)[part]
    if served.size == 0:
        return pairs
    arcs = chosen[served]
    inst, topic = cand.req_inst[served], cand.req_topic[served]
    mentor = cand.arc_mentor[arcs]
    if next_best is None:
        next_best = _next_best(cand, chosen, options.alternatives)
    alt_start, alt_arcs = next_best
    # A request's alternatives are contiguous, in request order: the part's are one slice.
    first = int(alt_start[served[0]])
    alt_start = alt_start - first
    alts = _arcs(cand, alt_arcs[first:alt_start[served[-1] + 1] + first])
    # A flagged mentee score counts as unknown (the why text quotes it with its flag).
    mentee_score = np.where(enc.flagged[inst, topic], np.nan, enc.score[inst, topic])
    rows = zip(served.tolist(), _arcs(cand, arcs), alt_start[served].tolist(),
               alt_start[served + 1].tolist(), inst.tolist(), topic.tolist(),
               mentee_score.tolist(), enc.score[mentor, topic].tolist(),
               enc.percentile[inst, topic].tolist(),
               enc.mentor_percentile[mentor, topic].tolist(),
               (inp.forced[served] == arcs).tolist())
    for k, (r, a, alt_lo, alt_hi, i, t, score_i, score_m, pct_i, pct_m, locked) in enumerate(rows):
        if progress and k % 2000 == 0:
            progress(k / max(1, served.size))
        m = a.mentor
        pairs.append(Pair(
            mentee_id=enc.institutions[i].id,
            mentor_id=enc.institutions[m].id,
            topic_id=enc.topics[t].id,
            priority=loads.req_priority[r],
            mentee_score=_opt_float(score_i),
            mentor_score=_opt_float(score_m),
            mentee_percentile=_opt_float(pct_i),
            mentor_percentile=pct_m,
            gain=a.gain,
            gain_estimated=a.gain_estimated,
            distance_km=_opt_float(a.distance),
            size_ratio=_opt_float(a.size_ratio),
            cost=CostTerms(gain=a.cost_gain, distance=a.cost_distance, size=a.cost_size,
                           continuity=a.cost_continuity, preference=a.cost_preference),
            preferred=a.preferred,
            locked=locked,
            continued=a.previous,
            alternatives=tuple(_alternative(enc, loads, r, a, b, options)
                               for b in alts[alt_lo:alt_hi]),
            why=_why(enc, i, t, a, score_i, score_m, pct_i, pct_m, locked,
                     _preferences_note(enc, cand, loads, r, a, options)),
        ))
    return pairs


def _preferences_note(enc: Encoded, cand: Candidates, loads: "_Loads", r: int, a: _Arc,
                      options: MatchOptions) -> str:
    """What became of the mentee's preferred mentors ranked above the chosen one: each
    with the reason it is not the pair (at capacity, another rule, a higher cost)."""
    i, t = int(cand.req_inst[r]), int(cand.req_topic[r])
    wanted = cand.requests[r].preferred
    above = wanted[:a.preferred - 1] if a.preferred else wanted
    arcs = np.arange(cand.arc_start[r], cand.arc_start[r + 1])
    notes = []
    for rank, mentor_id in enumerate(above, start=1):
        m = enc.inst_index.get(mentor_id)
        if m is None or m == i:         # not a mentor of the network (never a candidate)
            continue
        name = enc.institutions[m].name
        hit = arcs[cand.arc_mentor[arcs] == m]
        if hit.size:
            b = _arcs(cand, hit)[0]
            detail = (loads.full(m, loads.req_priority[r])
                      or _reason(enc, loads, r, a, b, options))[1]
        else:
            broken = rule_text(cand.rules.pair_rule(i, t, m), options, enc.flags.get((m, t)),
                               enc.institutions[m].external)
            detail = _("{name} {rule}", name=name, rule=broken)
        notes.append(_("its {rank} choice, {name}, is not the pair: {detail}",
                       rank=ORDINAL[rank], name=name, detail=detail))
    return join(notes, end=".", capital=True) if notes else None


def _next_best(cand: Candidates, chosen: np.ndarray, count: int):
    """(start, arcs): each request's ``count`` next-best arcs besides the chosen one, by cost
    and then mentor id, are ``arcs[start[r]:start[r + 1]]``.

    A request's arcs are contiguous and sorted by mentor: each pass takes every request's
    cheapest arc left (the first of equal ones), in time linear in the arcs: for a few
    alternatives much quicker than sorting all arcs, which many alternatives still do.
    """
    if count > cand.rules.tuning.next_best_passes:
        return _next_best_sorted(cand, chosen, count)
    cost = cand.arc_cost.astype(float)
    cost[chosen[chosen >= 0]] = np.inf
    begin = cand.arc_start[:-1][cand.arc_start[:-1] < cand.arc_start[1:]]
    lowest = np.full(len(cand.requests), np.inf)
    picked = []
    for _pass in range(count):
        if begin.size == 0:
            break
        lowest[cand.arc_request[begin]] = np.minimum.reduceat(cost, begin)
        at = np.flatnonzero((cost == lowest[cand.arc_request]) & (cost < np.inf))
        if at.size == 0:
            break
        at = at[np.r_[True, cand.arc_request[at[1:]] != cand.arc_request[at[:-1]]]]
        cost[at] = np.inf
        picked.append(at)
    arcs = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    # Stable: a request's picks stay in the order of the passes, cheapest first.
    arcs = arcs[np.argsort(cand.arc_request[arcs], kind="stable")]
    return np.searchsorted(cand.arc_request[arcs], np.arange(len(cand.requests) + 1)), arcs


def _next_best_sorted(cand: Candidates, chosen: np.ndarray, count: int):
    taken = np.zeros(cand.arc_request.size, bool)
    taken[chosen[chosen >= 0]] = True
    # Arcs are sorted by mentor within a request, and lexsort is stable: ties go by mentor.
    order = np.lexsort((cand.arc_cost, cand.arc_request))
    order = order[~taken[order]]
    request = cand.arc_request[order]
    first = np.searchsorted(request, np.arange(len(cand.requests) + 1))
    arcs = order[np.arange(order.size) - first[request] < count]
    return np.searchsorted(cand.arc_request[arcs], np.arange(len(cand.requests) + 1)), arcs


def _why(enc: Encoded, i: int, t: int, a: _Arc, score_i: float, score_m: float,
         pct_i: float, pct_m: float, locked: bool, note: Text | None = None) -> Text:
    mentee, mentor, topic = enc.institutions[i], enc.institutions[a.mentor], enc.topics[t]
    kind = enc.kinds[enc.kind[a.mentor]]
    external = bool(enc.offered[a.mentor, t])
    if external:
        parts = [_("{mentor} is an external partner the facilitator offered as a mentor on "
                   "{topic}: it has no scores and counts as the best (percentile 100)",
                   mentor=mentor.name, topic=topic.label)]
    else:
        parts = [_("{mentor} is a high performer among {kind} institutions on {topic} (score "
                   "{score}, percentile {percentile:.0f})", mentor=mentor.name, kind=kind,
                   topic=topic.label, score=fmt(score_m), percentile=pct_m)]
    flag = enc.flags.get((i, t))
    if flag is not None:
        parts.append(_("{mentee}'s score is flagged ({flag}): it counts as unknown, so the gain "
                       "of {gain:.0f} points is estimated from the median", mentee=mentee.name,
                       flag=flag.reason, gain=a.gain))
    elif math.isnan(score_i):
        parts.append(_("{mentee} has no score on it, so the gain of {gain:.0f} points is "
                       "estimated from the median", mentee=mentee.name, gain=a.gain))
    elif external:
        parts.append(_("{mentee} scores {score} (percentile {percentile:.0f}): an estimated "
                       "gain of {gain:.0f} points", mentee=mentee.name, score=fmt(score_i),
                       percentile=pct_i, gain=a.gain))
    else:
        parts.append(_("{mentee} scores {score} (percentile {percentile:.0f}): a gain of "
                       "{gain:.0f} points", mentee=mentee.name, score=fmt(score_i),
                       percentile=pct_i, gain=a.gain))
    if not math.isnan(a.distance):
        parts.append(_("{km:.0f} km apart", km=a.distance))
    if not math.isnan(a.size_ratio):
        parts.append(_("size ratio {ratio:.2f}", ratio=a.size_ratio))
    if a.preferred:
        parts.append(_("{mentee} asked for {mentor} ({rank} choice)", mentee=mentee.name,
                       mentor=mentor.name, rank=ORDINAL[a.preferred]))
    if a.previous:
        parts.append(_("keeps a pair of the earlier run"))
    if locked:
        parts.append(_("locked"))
    why = join(parts, end=".")
    return join([why, note], " ") if note else why


def _alternative(enc, loads: _Loads, r: int, a: _Arc, b: _Arc, options) -> Alternative:
    m2 = b.mentor
    reason_detail = loads.full(m2, loads.req_priority[r]) or \
        _reason(enc, loads, r, a, b, options)
    return Alternative(enc.institutions[m2].id, round(b.cost, 4), b.gain,
                       _opt_float(b.distance), *reason_detail)


def _reason(enc, loads: _Loads, r: int, a: _Arc, b: _Arc, options) -> tuple[str, str]:
    """Why the alternative b (a mentor with room) was not chosen over the pair's arc a."""
    m2 = b.mentor
    t = loads.req_topic[r]
    name = enc.institutions[m2].name
    dist = _opt_float(b.distance)
    on_topic = loads.on_topic(m2, t)
    if len(on_topic) >= loads.topic_capacity[m2]:
        return ("at_topic_capacity",
                _("{name} already mentors {n} on this topic (topic capacity {cap})", name=name,
                  n=len(on_topic), cap=loads.topic_capacity[m2]))
    mentee = loads.req_inst[r]
    partners = loads.partners.get(mentee, set())
    if (options.max_partners is not None and m2 not in partners
            and len(partners) >= options.max_partners):
        return ("partner_limit", _("{name} already has {n} mentors (max_partners)",
                                   name=enc.institutions[mentee].name, n=len(partners)))
    total = b.cost - a.cost
    if abs(total) < 0.5e-4:
        return ("tie", _("{name} is as good (cost {cost:.4f}); tpn's fixed tie-break chose",
                         name=name, cost=b.cost))
    if total < 0 and options.max_changes is not None and a.previous:
        return ("keeps_previous", _("{name} costs less, but the chosen pair is one of the "
                                    "earlier run's and max_changes={max_changes} limits how "
                                    "many of those may change", name=name,
                                    max_changes=options.max_changes))
    if total < 0:
        return ("network_bonus", _("{name} costs less on its own, but the chosen pair earns "
                                   "more of the network's bonuses (same mentor, mutual pairs, "
                                   "load balance)", name=name))
    # The term that costs most more; on a tie, the last name in alphabetical order.
    _most, reason = max((b.cost_gain - a.cost_gain, "smaller_gain"),
                    (b.cost_distance - a.cost_distance, "further_away"),
                    (b.cost_size - a.cost_size, "less_similar_size"),
                    (b.cost_continuity - a.cost_continuity, "not_continuing"),
                    (b.cost_preference - a.cost_preference, "not_preferred"))
    if reason == "smaller_gain":
        detail = _("{name} gives a smaller gain: {gain:.0f} points, {fewer:.0f} fewer",
                   name=name, gain=b.gain, fewer=a.gain - b.gain)
    elif reason == "further_away" and dist is not None:
        detail = (_("{name} is further away: {km:.0f} km", name=name, km=dist)
                  if math.isnan(a.distance) else
                  _("{name} is further away: {km:.0f} km, {more:.0f} km more", name=name,
                    km=dist, more=dist - a.distance))
    elif reason == "less_similar_size":
        detail = _("{name} is less similar in size (ratio {ratio:.2f})", name=name,
                   ratio=b.size_ratio)
    elif reason == "not_continuing":
        detail = _("the chosen pair keeps a pair of the earlier run")
    elif reason == "not_preferred":
        detail = (_("the mentee asked for the chosen mentor ({rank} choice)",
                    rank=ORDINAL[a.preferred])
                  if a.preferred else _("the mentee ranked {name} lower", name=name))
    else:
        detail = _("{name} costs {more:.4f} more", name=name, more=total)
    return (reason, _("{detail} (total cost {cost:.4f} vs {chosen:.4f})", detail=detail,
                      cost=b.cost, chosen=a.cost))


def _flagged_note(enc: Encoded, i: int, t: int, options: MatchOptions) -> Text | str:
    """Which peers' flagged scores were left out, when one of them would have scored
    better than the mentee (or the mentee's own score is unknown)."""
    peers = enc.flagged[:, t].copy()
    if not options.cross_kind:
        peers &= enc.kind == enc.kind[i]
    peers[i] = False
    mine = enc.oriented[i, t]
    if not np.isnan(mine):
        sign = 1.0 if enc.topics[t].direction == "higher" else -1.0
        with np.errstate(invalid="ignore"):
            peers &= enc.score[:, t] * sign > mine
    found = np.flatnonzero(peers)
    if found.size == 0:
        return ""
    first = enc.flags[(int(found[0]), t)]
    return _("; {n} peer score(s) that are flagged were not considered (e.g. {name}: {flag}; "
             "see the data-quality report)", n=found.size, name=enc.institutions[found[0]].name,
             flag=first.reason)


def explain_unmatched(enc: Encoded, cand: Candidates, chosen: np.ndarray,
                      options: MatchOptions, loads: _Loads,
                      places: NextPlaces | None = None,
                      counts: np.ndarray | None = None) -> list[Unmatched]:
    out = []
    unserved = np.flatnonzero(chosen < 0)
    if counts is None:
        counts = eligible_counts(cand, unserved)
    else:
        counts = counts[unserved]
        if (counts < 0).any():
            raise TpnBug("mentors were counted for another set of unserved requests")
    serves = _serves(cand, places) if places is not None else {}
    for r, count in zip(unserved.tolist(), counts.tolist()):
        reason, detail, fix = _unmatched_reason(enc, cand, loads, r, options, count, places,
                                                serves.get(r, ((), ())))
        out.append(Unmatched(
            institution_id=enc.institutions[loads.req_inst[r]].id,
            topic_id=enc.topics[loads.req_topic[r]].id,
            priority=loads.req_priority[r],
            reason=reason,
            detail=detail,
            fix=fix,
            eligible_mentors=count,
        ))
    return out


def _serves(cand: Candidates, places: NextPlaces) -> dict[int, tuple[list[int], list[int]]]:
    """For each request that one more place at some mentors would serve: (those mentors,
    those of them eligible for it by every rule, not only the arcs kept, cheapest first);
    checked for all requests at once, by topic."""
    won = np.flatnonzero(places.winner >= 0)
    req, mentor = places.winner[won].astype(np.int64), won.astype(np.int64)
    rules, enc = cand.rules, cand.rules.enc
    mentee, topic = cand.req_inst[req], cand.req_topic[req]
    eligible = enc.applies[topic, enc.kind[mentee]]
    for t in np.unique(topic).tolist():
        at = np.flatnonzero(topic == t)
        code, _d = rules.evaluate(mentee[at], t, mentor[at])
        eligible[at] &= code == Rule.ELIGIBLE
    cost = rules.arc_costs(mentee, topic, mentor)[0]
    out: dict[int, tuple[list[int], list[int]]] = {}
    for r, m in zip(req.tolist(), mentor.tolist()):
        out.setdefault(r, ([], []))[0].append(m)
    order = np.lexsort((mentor, cost))
    for k in order[eligible[order]].tolist():
        out[int(req[k])][1].append(int(mentor[k]))
    return out


def _unmatched_reason(enc, cand, loads: _Loads, r, options, count=0, places=None,
                      serves=((), ())) -> tuple[str, str, str]:
    i, t = loads.req_inst[r], loads.req_topic[r]
    inst, topic = enc.institutions[i], enc.topics[t]
    kind = enc.kinds[enc.kind[i]]
    rule = Rule(int(cand.req_rule[r]))
    reason = RULE_REASON[rule]
    if rule == Rule.TOPIC_NOT_APPLICABLE:
        return (reason, _("{topic} does not apply to {kind} institutions", topic=topic.label,
                          kind=kind),
                _("choose another topic, or add '{kind}' to the kinds of topic {topic_id}",
                  kind=kind, topic_id=topic.id))
    if rule in (Rule.NO_SCORES, Rule.MENTOR_NO_SCORE):
        return (reason, join([_("no {kind} institution has a trusted score on {topic}",
                                kind=kind, topic=topic.label),
                              _flagged_note(enc, i, t, options)], ""),
                _("it needs trusted scores of {kind} institutions on this topic", kind=kind))
    if reason == "no_better_peer":
        own = enc.flags.get((i, t))
        score = _("its score {flag}, so it counts as unknown", flag=own.reason) if own else \
            _("its score: {score}", score=fmt(enc.score[i, t]))
        return (reason,
                join([_("no high performer among {kind} institutions scores better than "
                        "{name} on {topic} ({score})", kind=kind, name=inst.name,
                        topic=topic.label, score=score), _flagged_note(enc, i, t, options)], ""),
                _("it is among the best on this topic: it could mentor others on it"))
    if rule == Rule.NO_CAPACITY:
        detail = _("every {kind} institution that scores better on {topic} and is a high "
                   "performer has capacity 0", kind=kind, topic=topic.label)
    elif rule == Rule.BELOW_MIN_GAP:
        best = float(max(_gaps(cand, r, _reaching(cand, r, rule)), default=0.0))
        detail = _("the best {kind} peer that could mentor it on {topic} is {best:.0f} "
                   "percentile points above, less than min_gap={min_gap:g}", kind=kind,
                   topic=topic.label, best=best, min_gap=options.min_gap)
    elif rule == Rule.EXCLUDED:
        detail = _("every eligible mentor is on the exclusion list")
    elif rule == Rule.OTHER_REGION:
        detail = _("no eligible mentor in region {region}",
                   region=inst.region or _("(unknown)"))
    elif rule == Rule.TOO_FAR:
        detail = _("every eligible mentor is further than max_distance_km={km:g} (nearest "
                   "{nearest:.0f} km)", km=options.max_distance_km,
                   nearest=float(cand.req_nearest_km[r]))
    if rule in RELAXABLE:
        m, changes = rule_changes(cand, r, rule)
        return (reason, detail, _lock_fix(enc, loads, m, changes, options))
    # Eligible mentors exist: the solution gave their capacity to other requests.
    arcs = np.arange(cand.arc_start[r], cand.arc_start[r + 1])
    arcs = arcs[np.lexsort((cand.arc_mentor[arcs], cand.arc_cost[arcs]))]
    mentors = cand.arc_mentor[arcs].tolist()
    partners = loads.partners.get(i, set())
    if (options.max_partners is not None and len(partners) >= options.max_partners
            and not any(m in partners for m in mentors)):
        return ("partner_limit", _("{name} already has {n} mentors", name=inst.name,
                                   n=len(partners)),
                _("raise max_partners to {value}", value=len(partners) + 1))
    names = [_("{name} ({n} of {cap})", name=enc.institutions[m].name, n=len(loads.served(m)),
               cap=loads.capacity[m]) for m in mentors[:NAMES_SHOWN]]
    detail = _("all {count} eligible mentor(s) are taken by other requests: {names}",
               count=count, names=join(names, ", ", end=" …" if count > NAMES_SHOWN else ""))
    if options.max_changes is not None and any(
            s in loads.continuing for m in mentors for s in loads.served(m)):
        detail = _("{detail} (pairs kept from the previous round hold some of these places: "
                   "max_changes={max_changes})", detail=detail, max_changes=options.max_changes)
    return ("mentors_full", detail,
            _capacity_fix(enc, cand, loads, r, mentors, options, places, serves))


def _capacity_fix(enc, cand, loads: _Loads, r, mentors, options, places,
                  serves) -> str:
    """A change that serves request r, checked: one more place at a mentor whose next
    place goes to r in every optimum (``fixes.next_places``; ``serves``: those mentors,
    and those eligible for r, cheapest first); else a lock on its cheapest eligible mentor
    with one more place there, which serves it by construction."""
    t = loads.req_topic[r]
    serves, direct = serves
    if serves:
        m = direct[0] if direct else min(serves, key=lambda x: enc.institutions[x].id)
        name, cap = enc.institutions[m].name, loads.capacity[m]
        if direct:
            return _("raise the capacity of {name} from {cap} to {more}: the extra place would "
                     "serve this request", name=name, cap=cap, more=cap + 1)
        return _("raise the capacity of {name} from {cap} to {more}: the extra place would "
                 "serve this request (another pair moves to {name}, and this request takes its "
                 "place)", name=name, cap=cap, more=cap + 1)
    # No single extra place serves it: say who would win one, then the lock that works.
    # A lock needs a topic place too once the mentor has one more place in all.
    room = next((m for m in mentors if len(loads.on_topic(m, t)) < (
        loads.capacity[m] + 1 if options.topic_capacity is None
        else min(loads.capacity[m] + 1, options.topic_capacity))), None)
    best = mentors[0]
    lead = None
    if places is not None:
        winner = int(places.winner[best])
        name = enc.institutions[best].name
        if winner >= 0:
            lead = (_("one more place at {name} would go to {request} instead, which has a "
                      "higher priority; ", name=name, request=loads.label(winner))
                    if loads.req_priority[winner] < loads.req_priority[r] else
                    _("one more place at {name} would go to {request} instead, which costs "
                      "less; ", name=name, request=loads.label(winner)))
        elif winner == TIE:
            lead = _("one more place at {name} would go to one of several requests that cost "
                     "the same; ", name=name)
    if room is not None:
        m = room
        name, cap = enc.institutions[m].name, loads.capacity[m]
        fix = (_("lock it to {name} (a review edit) and raise the capacity of {name} from {cap} "
                 "to {more}: the other pairs can stay as they are", name=name, cap=cap,
                 more=cap + 1)
               if options.solver == "flow" and options.max_changes is None else
               _("lock it to {name} (a review edit) and raise the capacity of {name} from {cap} "
                 "to {more}", name=name, cap=cap, more=cap + 1))
    else:
        m = best
        name, cap, topic_cap = enc.institutions[m].name, loads.capacity[m], loads.topic_capacity[m]
        fix = _("raise topic_capacity to {topic_cap} and the capacity of {name} from {cap} to "
                "{more}, and lock it to {name} (a review edit)", topic_cap=topic_cap + 1,
                name=name, cap=cap, more=cap + 1)
    return join([lead, fix], "") if lead else fix


# The rules a facilitator can relax for one request, and how each is said.
RELAXABLE = (Rule.NO_CAPACITY, Rule.BELOW_MIN_GAP, Rule.EXCLUDED, Rule.OTHER_REGION,
             Rule.TOO_FAR)


def _reaching(cand: Candidates, r: int, rule: Rule) -> np.ndarray:
    """The mentors of request r's pool that pass every rule before ``rule`` and break it."""
    rules = cand.rules
    i, t = int(cand.req_inst[r]), int(cand.req_topic[r])
    pool = rules.pool(t, int(rules.enc.kind[i]))
    code, _given = rules.evaluate(np.array([i]), t, pool)
    return pool[code == rule]


def _gaps(cand: Candidates, r: int, mentors: np.ndarray) -> np.ndarray:
    enc, i, t = cand.rules.enc, int(cand.req_inst[r]), int(cand.req_topic[r])
    return enc.percentile[mentors, t] - enc.percentile[i, t]


def rule_changes(cand: Candidates, r: int, rule: Rule) -> tuple[int, dict[Rule, object]]:
    """The mentor that request r reaches with the fewest rule changes, among those that
    break ``rule`` first (then with the mildest change of that rule: the nearest for a
    distance, the largest gap for min_gap; then the cheapest, then by index), and the
    changes: the rule and the value that lets the pair through (a capacity, a min_gap, an
    exclusion to remove, same_region off, a distance)."""
    rules = cand.rules
    i, t = int(cand.req_inst[r]), int(cand.req_topic[r])
    mentors = _reaching(cand, r, rule)
    later = [x for x in RELAXABLE if x >= rule]
    broken = {}
    for x in later:
        code, _given = rules.evaluate(np.array([i]), t, mentors,
                                 ignore=frozenset(RELAXABLE) - {x})
        broken[x] = code == x
    count = sum(broken.values())
    cost = rules.arc_costs(np.full(mentors.size, i), np.full(mentors.size, t), mentors)[0]
    mild = rules.distance(np.full(mentors.size, i), mentors) if rule == Rule.TOO_FAR else \
        -_gaps(cand, r, mentors) if rule == Rule.BELOW_MIN_GAP else np.zeros(mentors.size)
    k = int(np.lexsort((mentors, cost, mild, count))[0])
    m = int(mentors[k])
    changes: dict[Rule, object] = {}
    for x in later:
        if broken[x][k]:
            if x == Rule.BELOW_MIN_GAP:
                # min_gap 0 switches the rule off: a gap below 0 (other kinds) needs that.
                changes[x] = max(0, math.floor(float(_gaps(cand, r, np.array([m]))[0])))
            elif x == Rule.TOO_FAR:
                changes[x] = math.ceil(float(rules.distance(np.array([i]), np.array([m]))[0]))
            else:
                changes[x] = True
    return m, changes


def _lock_fix(enc, loads: _Loads, m: int, changes: dict, options) -> str:
    """Each rule change that lets request r's pair with m through, then the lock: it serves
    the request by construction."""
    name = enc.institutions[m].name
    said = {Rule.NO_CAPACITY: lambda: _("give {name} a capacity of 1", name=name),
            Rule.BELOW_MIN_GAP: lambda: _("lower min_gap to {value}",
                                          value=changes.get(Rule.BELOW_MIN_GAP)),
            Rule.EXCLUDED: lambda: _("remove the exclusion of {name} for it", name=name),
            Rule.OTHER_REGION: lambda: _("turn off same_region"),
            Rule.TOO_FAR: lambda: _("raise max_distance_km to {value}",
                                    value=changes.get(Rule.TOO_FAR))}
    steps = [said[x]() for x in RELAXABLE if x in changes]
    lock = _("lock it to {name} (a review edit)", name=name)
    text = _("{steps} and {last}", steps=join(steps, ", "), last=lock) if steps else lock
    room = "" if Rule.NO_CAPACITY in changes else _room(enc, loads, m)
    return join([text, room], "") if room else text


def _room(enc, loads: _Loads, m: int) -> str:
    """One more place at m when it is full, so that the lock does not take a place its
    mentees hold now (a rule changed for everyone may still move other pairs)."""
    cap = loads.capacity[m]
    if len(loads.served(m)) < cap:
        return ""
    return _(", and raise the capacity of {name} from {cap} to {more}",
             name=enc.institutions[m].name, cap=cap, more=cap + 1)


RULE_CHECKS = 3        # values of a rule tried by re-solving, per rule
_OPTION = {Rule.BELOW_MIN_GAP: "min_gap", Rule.OTHER_REGION: "same_region",
           Rule.TOO_FAR: "max_distance_km"}


def check_rule_fixes(problem, options: MatchOptions, unmatched: list[Unmatched],
                     cand: Candidates, served) -> list[Unmatched]:
    """A fix that changes a rule for everyone (max_distance_km, min_gap, same_region,
    cross_kind, max_partners) is said only once a re-solve with the change serves the
    request (``served(problem, options, asked)``: the (institution, topic) pairs served,
    of those ``asked`` at least): up to RULE_CHECKS values per rule are tried, and each
    request gets the mildest tried value that serves it. Otherwise its fix stays the one
    that holds by construction (a lock). Allowing cross_kind is tried only for requests a
    mentor of another kind could take (``another_kind_passes``): no match serves the
    others."""
    asks: dict[str, list[tuple[int, object]]] = {}
    other_kind: list[int] = []
    for k, u in enumerate(unmatched):
        r = cand.request_position(u.institution_id, u.topic_id)
        rule = Rule(int(cand.req_rule[r]))
        if rule in _OPTION:
            _m, changes = rule_changes(cand, r, rule)
            if set(changes) == {rule}:      # one rule for everyone stands in the way
                value = False if rule == Rule.OTHER_REGION else float(changes[rule])
                asks.setdefault(_OPTION[rule], []).append((k, value))
        elif u.reason in OTHER_KIND_MAY_HELP and not options.cross_kind:
            other_kind.append(k)
        elif u.reason == "partner_limit":
            asks.setdefault("max_partners", []).append((k, options.max_partners + 1))
        elif u.reason == "mentors_full" and options.max_changes is not None \
                and "max_changes=" in u.detail:
            for step in (1, 2, 4):      # how many more changes it needs is not known
                asks.setdefault("max_changes", []).append((k, options.max_changes + step))
    if other_kind:
        # A request no mentor of another kind could take keeps its fix, re-solve or not.
        rows = np.array([cand.request_position(unmatched[k].institution_id,
                                               unmatched[k].topic_id) for k in other_kind])
        passes = another_kind_passes(cand, rows)
        if passes.any():
            asks["cross_kind"] = [(k, True) for k, p in zip(other_kind, passes.tolist()) if p]
    out = list(unmatched)
    for name, items in sorted(asks.items()):
        lower = name == "min_gap"          # the one rule relaxed by lowering it
        values = sorted({v for _k, v in items}, reverse=lower)
        tried = [values[round(j * (len(values) - 1) / max(1, RULE_CHECKS - 1))]
                 for j in range(min(RULE_CHECKS, len(values)))]
        done: dict[int, object] = {}
        keys = {(unmatched[k].institution_id, unmatched[k].topic_id) for k, _need in items}
        for value in dict.fromkeys(tried):
            ok = served(problem, dataclasses.replace(options, **{name: value}), keys)
            for k, need in items:
                allows = isinstance(value, bool) or (value <= need if lower else value >= need)
                u = unmatched[k]
                if k not in done and allows and (u.institution_id, u.topic_id) in ok:
                    done[k] = value
        for k in dict.fromkeys(k for k, _need in items):
            out[k] = dataclasses.replace(out[k], fix=_rule_fix(name, done.get(k), out[k]))
    return out


def another_kind_passes(cand: Candidates, rows: np.ndarray, first: bool = False
                        ) -> np.ndarray:
    """Bool per request of ``rows``: a mentor of another kind passes every rule but the
    kind's for it, so that a match with cross_kind may serve it (without one, none can).
    With ``first``, the work stops at the first request that has one.

    >>> from tpn.matching.candidates import build_candidates
    >>> from tpn.samples import rwanda
    >>> net = rwanda()
    >>> cand = build_candidates(Encoded.build(net.institutions, net.topics, net.snapshot()),
    ...                         net.focus, MatchOptions())
    >>> best = np.flatnonzero(cand.req_rule == Rule.NOT_BETTER)  # the best of its kind
    >>> another_kind_passes(cand, best).tolist()                  # and of the other
    [False]
    """
    rules = cand.rules
    out = np.zeros(rows.size, bool)
    topics = cand.req_topic[rows]
    for t in np.unique(topics).tolist():
        pool = rules.pool(t, None)
        for block, code, _dist in rules.against_pool(
                np.flatnonzero(topics == t), cand.req_inst[rows], t, pool,
                ignore=frozenset({Rule.OTHER_KIND})):
            out[block] = (code == Rule.ELIGIBLE).any(axis=1)
            if first and out.any():
                return out
    return out


def _rule_fix(name: str, value, u: Unmatched) -> str:
    """The fix text once re-solves were tried: the checked change, or the fix that holds by
    construction (with, for cross_kind, nothing claimed)."""
    if value is None:
        if name == "max_partners":
            return _("no change of max_partners that was tried serves it: it already has as "
                     "many mentors as max_partners allows")
        return u.fix
    checked = _("checked: a match with it serves this request")
    if name == "cross_kind":
        return _("{fix}; to learn from another kind, allow cross_kind ({checked})", fix=u.fix,
                 checked=checked)
    if name == "same_region":
        return _("turn off same_region ({checked})", checked=checked)
    if name == "min_gap":
        return _("lower min_gap to {value:g} ({checked})", value=value, checked=checked)
    if name in ("max_partners", "max_changes"):
        return _("raise {option} to {value} ({checked})", option=name, value=value,
                 checked=checked)
    return _("raise {option} to {value:g} ({checked})", option=name, value=value,
             checked=checked)
