"""A match result as rows and text for people: pairs.csv, unmatched.csv, the summary and the
``--explain`` walk-through. Shared by the CLI and (later) the web exports, so both say the
same thing in the same words.
"""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

from ..i18n import DEFAULT, _, say
from ..models import MatchResult, Network
from .writer import safe_cell, write_csv_of

PAIR_COLUMNS = [
    "mentee_id", "mentee_name", "mentor_id", "mentor_name", "topic_id", "priority",
    "mentee_score", "mentor_score", "mentee_percentile", "mentor_percentile", "gain",
    "gain_estimated", "distance_km", "size_ratio", "cost", "cost_gain", "cost_distance",
    "cost_size", "cost_continuity", "cost_preference", "locked", "continued", "preferred",
    "alternatives", "why",
]
UNMATCHED_COLUMNS = ["institution_id", "institution_name", "topic_id", "priority", "reason",
                     "eligible_mentors", "detail", "fix"]
REJECTED_LOCK_COLUMNS = ["mentee_id", "topic_id", "mentor_id", "reason"]


_FIXED = {digits: f"%.{digits}f" for digits in range(1, 7)}


def _num(value: float | None, digits: int) -> str:
    """A figure rounded to ``digits`` decimals, without trailing zeros (digits >= 1).

    >>> _num(71.25, 1), _num(0.50001, 4), _num(-0.00001, 4), _num(None, 2)
    ('71.2', '0.5', '0', '')
    """
    if value is None:
        return ""
    text = (_FIXED[digits] % value).rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _as_made(value):
    return value


def pair_rows(result: MatchResult, network: Network) -> list[list[str]]:
    """pairs.csv's rows, by mentee and topic."""
    return list(map(_pair_row(network), _ordered_pairs(result)))


def write_pairs_csv(path: Path, result: MatchResult, network: Network) -> None:
    """pairs.csv, by mentee and topic."""
    write_csv_of(path, PAIR_COLUMNS, _ordered_pairs(result), _pair_row(network, file=True))


def _ordered_pairs(result: MatchResult) -> list:
    return sorted(result.pairs, key=attrgetter("mentee_id", "topic_id"))


def _pair_row(network: Network, file: bool = False):
    """A pair as a row of pairs.csv. In the ``file`` the texts a person typed (ids, names,
    and the explanations that name them) cannot start a spreadsheet formula; the rows a
    run keeps are as typed (its exports neutralise them)."""
    text = safe_cell if file else _as_made
    names = {i.id: text(i.name) for i in network.institutions}

    def row(p) -> list[str]:
        return [
            text(p.mentee_id), names.get(p.mentee_id, ""), text(p.mentor_id),
            names.get(p.mentor_id, ""), text(p.topic_id), str(p.priority), _num(p.mentee_score, 4),
            _num(p.mentor_score, 4),
            _num(p.mentee_percentile, 2), _num(p.mentor_percentile, 2), _num(p.gain, 2),
            "yes" if p.gain_estimated else "no", _num(p.distance_km, 1), _num(p.size_ratio, 3),
            _num(p.cost.total, 4), _num(p.cost.gain, 4), _num(p.cost.distance, 4),
            _num(p.cost.size, 4), _num(p.cost.continuity, 4), _num(p.cost.preference, 4),
            "yes" if p.locked else "no", "yes" if p.continued else "no",
            str(p.preferred) if p.preferred else "",
            text("; ".join(f"{a.mentor_id}: {a.reason}" for a in p.alternatives)),
            text(p.why),
        ]
    return row


def unmatched_rows(result: MatchResult, network: Network) -> list[list[str]]:
    names = {i.id: i.name for i in network.institutions}
    return [[u.institution_id, names.get(u.institution_id, ""), u.topic_id, str(u.priority),
             u.reason, str(u.eligible_mentors), u.detail, u.fix]
            for u in sorted(result.unmatched, key=lambda u: (u.institution_id, u.topic_id))]


def rejected_lock_rows(result: MatchResult) -> list[list[str]]:
    return [[r.lock.mentee_id, r.lock.topic_id, r.lock.mentor_id, r.reason]
            for r in result.rejected_locks]


def summary(result: MatchResult, network: Network, seconds: float) -> dict:
    """The one-object summary printed by ``tpn match --json``."""
    obj = result.objective
    out = {
        "institutions": len(network.institutions),
        "requests": result.request_count,
        "matched": len(result.pairs),
        "unmatched": len(result.unmatched),
        "rejected_locks": len(result.rejected_locks),
        "coverage_weight": obj["coverage_weight"],
        "coverage_weight_possible": obj["coverage_weight_possible"],
        "objective": obj["cost"],
        "solver": result.solver,
        "optimal": result.optimal,
        "seconds": round(seconds, 4),
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }
    if obj.get("flagged_scores"):
        # Scores a data-quality check flagged: treated as missing (tpn check lists them).
        out["flagged_scores"] = obj["flagged_scores"]
    if obj.get("previous_pairs"):
        # A rerun: how many of the previous round's pairs stay (and, under max_changes,
        # how many could have stayed at most).
        out["previous"] = {"pairs": obj["previous_pairs"], "kept": obj["previous_kept"]}
        if "stat_previous_keepable" in obj:
            out["previous"]["keepable"] = obj["stat_previous_keepable"]
    return out


def explain_text(result: MatchResult, network: Network, language: str = DEFAULT) -> str:
    """The readable walk-through printed by ``tpn match --explain``, in ``language``."""
    names = {i.id: i.name for i in network.institutions}
    topics = {t.id: t.label for t in network.topics}
    counts = dict(pairs=len(result.pairs), unmatched=len(result.unmatched), solver=result.solver)
    said = [_("{pairs} pairs, {unmatched} unmatched requests ({solver}, optimal)", **counts)
            if result.optimal else
            _("{pairs} pairs, {unmatched} unmatched requests ({solver}, not proven optimal)",
              **counts), ""]
    for p in sorted(result.pairs, key=attrgetter("mentee_id", "topic_id")):
        said.append(_("{mentee} learns {topic} from {mentor} (priority {priority})",
                      mentee=names[p.mentee_id], topic=topics[p.topic_id],
                      mentor=names[p.mentor_id], priority=p.priority))
        said.append(_("  why: {why}", why=p.why))
        for a in p.alternatives:
            said.append(_("  not {mentor}: {detail}", mentor=names.get(a.mentor_id, a.mentor_id),
                          detail=a.detail))
    if result.unmatched:
        said += ["", _("Not served:")]
    for u in sorted(result.unmatched, key=lambda u: (u.institution_id, u.topic_id)):
        said.append(_("{institution} on {topic} (priority {priority}): {detail}",
                      institution=names[u.institution_id], topic=topics[u.topic_id],
                      priority=u.priority, detail=u.detail))
        said.append(_("  what would fix it: {fix}", fix=u.fix))
    for r in result.rejected_locks:
        said.append(_("lock {mentee} / {topic} / {mentor} not kept: {reason}",
                      mentee=r.lock.mentee_id, topic=r.lock.topic_id, mentor=r.lock.mentor_id,
                      reason=r.reason))
    return "\n".join(say(line, language) for line in said) + "\n"
