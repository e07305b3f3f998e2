"""Why a pair changed between two runs: the reason for each kept, changed, new and ended
pair of :func:`tpn.services.diff_runs`, judged on the later run's scores and rules.

Reasons (``reason`` codes; ``detail`` says it in words):

- ``focus_dropped``: the mentee no longer asks for help on the topic;
- ``new_focus``: a request the earlier run did not have;
- ``mentee_gap_closed``: the mentee is now a high performer, or the mentor no longer
  scores better than it;
- ``mentor_not_high_performer``: the earlier mentor is no longer in its kind's top share;
- ``rule_change``: the options changed and the earlier pair breaks a rule now;
- ``capacity``: the earlier mentor's capacity is taken by other mentees;
- ``better_fit``: the earlier pair is still possible, but another pair serves the network
  better (more requests served, or lower cost);
- ``served_now``: a request left without a mentor earlier has one now;
- ``excluded``, ``swapped``: a facilitator's edit of the later run;
- ``closed``: the partners' review closed the partnership, so the pair was not proposed;
- ``locked``, ``kept``: the pair stayed (locked — for a new round, the partnership had
  reached the step from which a rerun keeps it —, or by choice, with the continuity
  bonus for a partnership under way).
"""

from __future__ import annotations

from typing import Sequence

from ..cycle import STEPS
from ..i18n import _
from ..matching.candidates import Rule, RuleContext
from ..matching.options import MatchOptions
from ..models import Network
from ..scoring import Encoded
from ..storage.stored import Edit, Run

_GAP = (Rule.NOT_BETTER, Rule.BELOW_MIN_GAP)


def change_reasons(network: Network, period: str, run_a: Run, run_b: Run,
                   diff: dict, edits: Sequence[Edit] = ()) -> dict:
    """``diff`` with a reason and a detail on every row (the later run's scores/rules);
    ``edits`` are the later run's review edits (exclusions and swaps explain changes)."""
    excluded = {(e.mentee_id, e.topic_id, e.mentor_id) for e in edits if e.action == "exclude"}
    swapped = {(e.mentee_id, e.topic_id): e.author for e in edits if e.action == "swap"}
    names = {i.id: i.name for i in network.institutions}
    enc = Encoded.build(network.institutions, network.topics, network.snapshot(period))
    options = MatchOptions(**run_b.options)
    rules = RuleContext(enc, options, (), ())
    rules_changed = run_a.options != run_b.options
    requests_a = _requests(run_a)
    requests_b = _requests(run_b)
    loads_b: dict[str, int] = {}
    for p in run_b.pairs:
        loads_b[p["mentor_id"]] = loads_b.get(p["mentor_id"], 0) + 1
    locked_b = {(p["mentee_id"], p["topic_id"]) for p in run_b.pairs if p["locked"] == "yes"}
    rules_b = run_b.summary.get("partnerships") or {}
    at_step = {tuple(k[:3]): k[3] for k in rules_b.get("locked", [])}
    continuing = {tuple(k) for k in rules_b.get("continuing", [])}
    closed = {tuple(k) for k in rules_b.get("closed", [])}

    def why_kept(r: dict) -> tuple[str, str]:
        key = (r["mentee_id"], r["topic_id"], r["mentor_id"])
        if (r["mentee_id"], r["topic_id"]) not in locked_b:
            return "kept", (_("a partnership under way, kept with the continuity bonus")
                            if key in continuing else "")
        if key in at_step:
            step, start = at_step[key], rules_b["keep_from_step"]
            return "locked", _("the partnership is at step {step} ({name}); a rerun keeps "
                               "partnerships from step {start} ({start_name})", step=step,
                               name=STEPS[step], start=start, start_name=STEPS[start])
        return "locked", _("locked in review")

    def why_not_kept(mentee: str, topic: str, mentor: str) -> tuple[str, str]:
        said = dict(mentee=names.get(mentee, mentee), topic=topic,
                    mentor=names.get(mentor, mentor))
        if (mentee, topic, mentor) in closed:
            return "closed", _("{mentee} on {topic}: the partnership's review decided to close "
                               "it", **said)
        if (mentee, topic, mentor) in excluded:
            return "excluded", _("{mentee} on {topic}: the pair was excluded in review", **said)
        if (mentee, topic) in swapped:
            return "swapped", _("{mentee} on {topic}: swapped in review by {author}",
                                author=swapped[(mentee, topic)], **said)
        if (mentee, topic) not in requests_b:
            return "focus_dropped", _("{mentee} on {topic}: no longer a focus topic", **said)
        if not {mentee, mentor} <= enc.inst_index.keys() or topic not in enc.topic_index:
            return "rule_change", _("{mentee} on {topic}: the institution or topic is gone",
                                    **said)
        i, t, m = enc.inst_index[mentee], enc.topic_index[topic], enc.inst_index[mentor]
        if rules.top[i, t]:
            return "mentee_gap_closed", _("{mentee} on {topic}: now a high performer itself",
                                          **said)
        rule = rules.pair_rule(i, t, m)
        if rule in _GAP:
            return "mentee_gap_closed", _("{mentee} on {topic}: {mentor} no longer scores "
                                          "enough above it", **said)
        if rule == Rule.NOT_HIGH_PERFORMER or rule == Rule.MENTOR_NO_SCORE:
            return "mentor_not_high_performer", _("{mentor} is no longer a high performer on "
                                                  "{topic}", **said)
        if rule != Rule.ELIGIBLE:
            code = "rule_change" if rules_changed else "rule"
            return code, _("{mentee} on {topic}: the pair breaks the rule {rule} now",
                           rule=rule.name.lower(), **said)
        if loads_b.get(mentor, 0) >= int(rules.capacity[m]):
            return "capacity", _("{mentor} is at capacity with {n} other mentee(s)",
                                 n=loads_b.get(mentor, 0), **said)
        return "better_fit", _("{mentee} on {topic}: the pair is still possible; another "
                               "matching serves the network better", **said)

    out = {**diff}
    out["kept"] = [{**r, **dict(zip(("reason", "detail"), why_kept(r)))} for r in diff["kept"]]
    out["changed"] = [{**r, **dict(zip(("reason", "detail"),
                                       why_not_kept(r["mentee_id"], r["topic_id"], r["was"])))}
                      for r in diff["changed"]]
    out["ended"] = [{**r, **dict(zip(("reason", "detail"),
                                     why_not_kept(r["mentee_id"], r["topic_id"], r["mentor_id"])))}
                    for r in diff["ended"]]
    out["new"] = [{**r, **({"reason": "served_now", "detail": _("left without a mentor before")}
                           if (r["mentee_id"], r["topic_id"]) in requests_a
                           else {"reason": "new_focus", "detail": _("a new focus topic")})}
                  for r in diff["new"]]
    return out


def _requests(run: dict) -> set[tuple[str, str]]:
    return ({(p["mentee_id"], p["topic_id"]) for p in run.pairs}
            | {(u["institution_id"], u["topic_id"]) for u in run.unmatched})
