"""Match runs and their review: a draft kept with the record of its inputs, edits, reruns
(of a draft, and of a new round on new scores), publishing, exports and diffs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace as dc_replace
from pathlib import Path

from .. import __version__
from ..cycle import KEEP_FROM_STEP, RECORDS, STEPS, is_kept
from ..errors import InputError, Problem
from ..graph import NetworkMetrics, network_metrics, twinning_graph
from ..i18n import _, checked, keeping, say
from ..matching import MatchOptions, solve
from ..models import (DEFAULT_ROUND, Exclusion, Lock, MatchProblem, Network, PreviousPair,
                      RejectedLock)
from ..storage import Database
from ..storage import repository as repo
from ..storage.stored import Edit, Publication, Run, RunSummary, in_force
from ..tabular import network_rows, write_sheets
from ..tabular.labels import with_labels
from ..tabular.results import PAIR_COLUMNS, UNMATCHED_COLUMNS, pair_rows, summary, unmatched_rows
from ..tabular.writer import safe_cell
from . import programme
from .networks import load


EXPORT_FORMATS = ("csv", "xlsx", "json")


def input_hash(network: Network, period: str, options: MatchOptions,
               problem: MatchProblem | None = None) -> str:
    """What a run depends on, hashed: the same inputs always give the same hash (locks,
    exclusions and previous pairs included when there are any)."""
    snapshot = network.snapshot(period)
    used = dc_replace(network, snapshots=(snapshot,))
    inputs = {"network": network_rows(used), "options": options.as_dict()}
    if snapshot.flags and not options.ignore_flags:
        inputs["flags"] = sorted(f"{f.institution_id} {f.topic_id} {f.check}"
                                 for f in snapshot.flags.values())
    for part in ("locks", "exclusions", "previous"):
        rows = sorted(repr(x) for x in getattr(problem, part, ()))
        if rows:
            inputs[part] = rows
    blob = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class NewRun:
    """A draft run just made: its id and period, the summary kept with it (what
    ``tpn match --json`` prints), the locks it could not keep and, for a new round, how
    many partnerships it kept locked and how many earned the continuity bonus."""

    id: int
    period: str
    summary: dict
    rejected: tuple[RejectedLock, ...] = ()
    kept_locked: int = 0
    continuing: int = 0

    @property
    def matched(self) -> int:
        return self.summary["matched"]

    @property
    def unmatched(self) -> int:
        return self.summary["unmatched"]

    @property
    def requests(self) -> int:
        return self.summary["requests"]

    def as_dict(self) -> dict:
        """What ``tpn run --json`` and the API print: the summary with the run's id."""
        return {"run": self.id, "period": self.period, **self.summary,
                "rejected": [_rejected_row(r) for r in self.rejected],
                "kept_locked": self.kept_locked, "continuing": self.continuing}


def _rejected_row(r: RejectedLock) -> dict:
    return {"mentee_id": r.lock.mentee_id, "topic_id": r.lock.topic_id,
            "mentor_id": r.lock.mentor_id, "reason": r.reason}


def _solve_and_keep(db: Database, network_id: int, data: Network, problem: MatchProblem,
                    options: MatchOptions, round_name: str, author: str, progress=None,
                    parent_id: int | None = None, copy_edits_from: int | None = None,
                    kept_locked: int = 0, continuing: int = 0,
                    partnerships: dict | None = None) -> NewRun:
    """Solve, and keep the result as a draft run with the record of its inputs (and, for
    a new round, which published partnerships it kept by which rule)."""
    with keeping():             # the run is read in every language tpn speaks
        result = solve(problem, options, progress)
    info = summary(result, data, sum(result.timings.values()))
    if partnerships is not None:
        info["partnerships"] = partnerships
    if problem.locks:
        info["rejected"] = [_rejected_row(r) for r in result.rejected_locks]
    period = problem.snapshot.period
    with db.transaction() as conn:
        run_id = repo.insert_run(
            conn, network_id=network_id, period=period, round=round_name,
            input_hash=input_hash(data, period, options, problem),
            options=options.as_dict(), solver=result.solver, tpn_version=__version__,
            summary=_stored_summary(info),
            pairs=repo.stored_rows(PAIR_COLUMNS, pair_rows(result, data)),
            unmatched=repo.stored_rows(UNMATCHED_COLUMNS, unmatched_rows(result, data)),
            created_by=author, parent_id=parent_id)
        if copy_edits_from is not None:
            repo.copy_edits(conn, copy_edits_from, run_id)
    return NewRun(run_id, period, info, tuple(result.rejected_locks), kept_locked, continuing)


def _stored_summary(info: dict) -> dict:
    """The summary as a run keeps it: the rejected locks' reasons with how they were made."""
    if not info.get("rejected"):
        return info
    columns = list(info["rejected"][0])
    return {**info, "rejected": repo.stored_rows(
        columns, [[r[c] for c in columns] for r in info["rejected"]])}


def _network_id(db: Database, network: str) -> int:
    with db.connect() as conn:
        return repo.network_id(conn, network)


def run_match(db: Database, network: str, period: str | None = None,
              options: MatchOptions | None = None, author: str = "cli", progress=None,
              round_name: str = DEFAULT_ROUND) -> NewRun:
    """Match a round's focus topics of a stored network and keep the run, as a draft, with
    its inputs' hash."""
    options = options or MatchOptions()
    data = load(db, network, round_name, options)
    if not data.focus:
        raise InputError(Problem(network, "focus", None, None,
                                 _("round {round_name} has no focus topics",
                                   round_name=round_name),
                                 _("import a workbook with a focus sheet, or use tpn focus set "
                                   "or tpn focus suggest --apply")))
    problem = MatchProblem.from_network(data, data.snapshot(period).period)
    return _solve_and_keep(db, _network_id(db, network), data, problem, options, round_name,
                           author, progress)


def runs(db: Database, network: str) -> list[RunSummary]:
    with db.connect() as conn:
        return repo.list_runs(conn, repo.network_id(conn, network))


def show_run(db: Database, run_id: int) -> Run:
    with db.connect() as conn:
        return repo.get_run(conn, run_id)


def run_network(db: Database, run_id: int) -> str | None:
    """The name of the network a run belongs to, or None for no such run."""
    with db.connect() as conn:
        return repo.run_network(conn, run_id)


def publish(db: Database, run_id: int, author: str = "cli",
            expected_version: int | None = None, confirmed: bool = False) -> Publication:
    """Publish a draft. One shared with its mentors (``invitations.ask_mentors``) whose
    pairs are not all accepted is published only ``confirmed``: the problem says how many
    are pending and declined."""
    from .invitations import acceptance

    state = acceptance(db, run_id)
    if state.asked and state.unsettled and not confirmed:
        raise InputError(Problem("", None, None, "confirm",
                                 _("{n} pair(s) await their mentor's answer and {declined_here} "
                                   "were declined", n=len(state.pending),
                                   declined_here=state.declined_here),
                                 _("rerun the draft to replace the declined pairs, or confirm to "
                                   "publish it as it is")))
    with db.transaction() as conn:
        return repo.publish_run(conn, run_id, author, expected_version)


def export_run(db: Database, run_id: int, fmt: str, out: str | Path,
               language: str | None = None) -> Path:
    """csv: a folder with pairs.csv and unmatched.csv; xlsx: one workbook; json: one file.
    Text cells that a spreadsheet would read as a formula are neutralised. In a
    ``language`` (default: English) the explanations are said in it, and csv and xlsx add a
    ``labels`` sheet naming each column in it; the headers stay the columns' ids."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(Problem("", None, None, "--format", _("{fmt!r} is not a format", fmt=fmt),
                                 _("use one of {join}", join=', '.join(EXPORT_FORMATS))))
    language = checked(language, "--lang")
    run = show_run(db, run_id)
    out = Path(out)

    def said(row: dict) -> dict:
        return {k: say(v, language) for k, v in row.items()}

    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        keep = ("id", "network", "period", "status", "solver", "tpn_version", "input_hash",
                "options", "summary")
        data = {k: getattr(run, k) for k in keep}
        data.update(pairs=[said(p) for p in run.pairs],
                    unmatched=[said(u) for u in run.unmatched])
        out.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                       encoding="utf-8")
        return out
    sheets = {
        "pairs": (PAIR_COLUMNS, [[safe_cell(say(p.get(c, ""), language)) for c in PAIR_COLUMNS]
                                 for p in run.pairs]),
        "unmatched": (UNMATCHED_COLUMNS, [[safe_cell(say(u[c], language))
                                           for c in UNMATCHED_COLUMNS] for u in run.unmatched]),
    }
    return write_sheets(out, with_labels(sheets, language), fmt)


def edit_draft(db: Database, run_id: int, action: str, mentee: str, topic: str, mentor: str,
               author: str = "cli", note: str = "", expected_version: int | None = None) -> int:
    """Record a lock, exclusion or swap on a draft (applied by :func:`rerun`); returns the
    draft's new version. Every edit is kept with its author and time."""
    if action not in repo.EDIT_ACTIONS:
        raise InputError(Problem("", None, None, "action",
                                 _("{action!r} is not an edit", action=action),
                                 _("use one of {join}", join=', '.join(repo.EDIT_ACTIONS))))
    with db.transaction() as conn:
        run = repo.get_run(conn, run_id)
        data = repo.load_network(conn, run.network_id)
        known = {i.id for i in data.institutions}
        problems = [Problem("", None, None, what,
                            _("{value!r} is not an institution of {network}", value=value,
                              network=run.network), _("check the id"))
                    for what,
                    value in (("mentee", mentee), ("mentor", mentor)) if value not in known]
        requests = {(r["mentee_id"], r["topic_id"]) for r in run.pairs} | \
                   {(u["institution_id"], u["topic_id"]) for u in run.unmatched}
        if (mentee, topic) not in requests:
            problems.append(Problem("", None, None, "topic",
                                    _("{mentee} did not ask for help on {topic!r} in this run",
                                      mentee=mentee, topic=topic),
                                    _("choose one of its requests")))
        if problems:
            raise InputError(problems)
        return repo.add_edit(conn, run_id, action, mentee, topic, mentor, author, note,
                             expected_version)


def undo_edit(db: Database, run_id: int, author: str = "cli",
              expected_version: int | None = None) -> Edit:
    """Take back the draft's last edit in force; the undo is itself kept, with who and
    when, so the audit trail stays whole. Returns the edit taken back."""
    with db.transaction() as conn:
        current = in_force(repo.edits(conn, run_id))
        if not current:
            raise InputError(Problem("", None, None, None,
                                     _("run {run_id} has no edit to undo", run_id=run_id),
                                     _("make an edit first")))
        last = current[-1]
        repo.add_edit(conn, run_id, "undo", last.mentee_id, last.topic_id, last.mentor_id,
                      author, f"took back the {last.action} by {last.author}",
                      expected_version)
    return last


def run_edits(db: Database, run_id: int) -> list[Edit]:
    """The edits of a draft, oldest first, with author, time and note."""
    with db.connect() as conn:
        return repo.edits(conn, run_id)


def rerun(db: Database, run_id: int, author: str = "cli", progress=None) -> NewRun:
    """A new draft from a run's inputs with its edits applied: locks and swaps are locked
    pairs, exclusions excluded pairs. Edits carry over to the new draft. The draft's own
    pairs are the earlier run's: each earns the continuity bonus, and among equal optima
    the one keeping the most of them is chosen, so that only pairs the edits force to move
    do (``diff_runs`` says why each did). The partnerships under way that a new round's
    draft locked stay locked."""
    with db.connect() as conn:
        run = repo.get_run(conn, run_id)
        changes = in_force(repo.edits(conn, run_id))
    options = MatchOptions(**run.options)
    data = load(db, run.network, run.round, options)
    locks = tuple(Lock(e.mentee_id, e.topic_id, e.mentor_id) for e in changes
                  if e.action in ("lock", "swap"))
    # A new round's draft (rerun_round) locks the partnerships it kept and leaves out the
    # pairs closed by their review: still so, for those still under way.
    rules = run.summary.get("partnerships")
    kept = {tuple(k[:3]) for k in rules["locked"]} if rules else set()
    under_way = {(p["mentee_id"], p["topic_id"], p["mentor_id"])
                 for p in programme.pairs(db, run.network)} & kept
    edited = {(lock.mentee_id, lock.topic_id) for lock in locks}
    locks += tuple(Lock(p["mentee_id"], p["topic_id"], p["mentor_id"]) for p in run.pairs
                   if p["locked"] == "yes" and (p["mentee_id"], p["topic_id"]) not in edited
                   and (p["mentee_id"], p["topic_id"], p["mentor_id"]) in under_way)
    exclusions = tuple(Exclusion(e.mentee_id, e.mentor_id, e.topic_id)
                       for e in changes if e.action == "exclude")
    exclusions += tuple(Exclusion(mentee, mentor, topic)
                        for mentee, topic, mentor in (rules["closed"] if rules else ()))
    draft = tuple(PreviousPair(p["mentee_id"], p["topic_id"], p["mentor_id"])
                  for p in run.pairs)
    problem = MatchProblem.from_network(data, run.period, locks=locks, exclusions=exclusions,
                                        previous=draft)
    return _solve_and_keep(db, run.network_id, data, problem, options, run.round, author,
                           progress, parent_id=run_id, copy_edits_from=run_id,
                           partnerships=rules)


def rerun_round(db: Database, network: str, period: str | None = None,
                options: MatchOptions | None = None, author: str = "cli",
                keep_from_step: int = KEEP_FROM_STEP, progress=None,
                round_name: str = DEFAULT_ROUND) -> NewRun:
    """A new draft on new scores that keeps the published partnerships stable: those from
    ``keep_from_step`` on (by default, once their agreement is signed; see
    ``tpn.cycle.is_kept``) are locked, the others earn the continuity bonus
    (``weight_continuity``) for staying as they are, and pairs whose review closed their
    partnership are not proposed again. The run's summary says which rule kept each."""
    options = options or MatchOptions()
    if keep_from_step not in STEPS:
        raise InputError(Problem("", None, None, "keep_from_step",
                                 _("{keep_from_step} is not a step of the cycle",
                                   keep_from_step=keep_from_step),
                                 _("give 1 (agreement) to 6 (review)")))
    data = load(db, network, round_name, options)
    current = programme.pairs(db, network)
    if not current:
        raise InputError(Problem(network, None, None, None,
                                 _("the network has no published partnerships to keep"),
                                 _("publish a run first, or use tpn run")))
    pair = lambda p: (p["mentee_id"], p["topic_id"], p["mentor_id"])
    under_way = {pair(p) for p in current}
    with db.connect() as conn:
        records = repo.records(conn, sorted({p["partnership"] for p in current}))
        closed = [p for p in repo.closed_by_review(conn, repo.network_id(conn, network))
                  if pair(p) not in under_way]
    by_partnership: dict[int, list[dict]] = {}
    for r in records:
        by_partnership.setdefault(r["partnership_id"], []).append(r)
    kept = {p["partnership"] for p in current
            if is_kept(p["step"], {k for k in RECORDS if programme.written(
                by_partnership.get(p["partnership"], []), k)}, keep_from_step)}
    locks = tuple(Lock(p["mentee_id"], p["topic_id"], p["mentor_id"]) for p in current
                  if p["partnership"] in kept)
    previous = tuple(PreviousPair(p["mentee_id"], p["topic_id"], p["mentor_id"])
                     for p in current if p["partnership"] not in kept)
    exclusions = tuple(Exclusion(p["mentee_id"], p["mentor_id"], p["topic_id"]) for p in closed)
    problem = MatchProblem.from_network(data, data.snapshot(period).period, locks=locks,
                                        previous=previous, exclusions=exclusions)
    rules = {"keep_from_step": keep_from_step,
             "locked": [[*pair(p), p["step"]] for p in current if p["partnership"] in kept],
             "continuing": [list(pair(p)) for p in current if p["partnership"] not in kept],
             "closed": [list(pair(p)) for p in closed]}
    return _solve_and_keep(db, _network_id(db, network), data, problem, options, round_name,
                           author, progress, parent_id=published(runs(db, network)),
                           kept_locked=len(locks), continuing=len(previous),
                           partnerships=rules)


def diff_runs(db: Database, run_a: int, run_b: int, network: Network | None = None) -> dict:
    """Pairs kept, changed (another mentor), new and ended between two runs, each with the
    reason it changed (see :mod:`tpn.changes`), judged on the later run's scores
    (``network``: the later run's network, when the caller has loaded it already)."""
    from ..analysis.changes import change_reasons

    a, b = show_run(db, run_a), show_run(db, run_b)
    pairs_a = {(p["mentee_id"], p["topic_id"]): p["mentor_id"] for p in a.pairs}
    pairs_b = {(p["mentee_id"], p["topic_id"]): p["mentor_id"] for p in b.pairs}
    row = lambda k, m: {"mentee_id": k[0], "topic_id": k[1], "mentor_id": m}
    diff = {
        "from": run_a, "to": run_b,
        "kept": [row(k, pairs_a[k]) for k in sorted(pairs_a) if pairs_b.get(k) == pairs_a[k]],
        "changed": [{**row(k, pairs_b[k]), "was": pairs_a[k]} for k in sorted(pairs_a)
                    if k in pairs_b and pairs_b[k] != pairs_a[k]],
        "new": [row(k, pairs_b[k]) for k in sorted(pairs_b) if k not in pairs_a],
        "ended": [row(k, pairs_a[k]) for k in sorted(pairs_a) if k not in pairs_b],
    }
    return change_reasons(network or load(db, b.network, b.round), b.period, a, b, diff,
                          in_force(run_edits(db, run_b)))


def published(run_list: list[RunSummary]) -> int | None:
    """The id of the network's published run, if any."""
    return next((r.id for r in reversed(run_list) if r.status == "published"), None)


def run_metrics(db: Database, run_id: int, network: Network | None = None) -> NetworkMetrics:
    """The figures of a run's network: institutions reached, mentoring load, mutual pairs,
    groups that learn together, regions linked (``tpn.graph``); ``network`` when loaded."""
    run = show_run(db, run_id)
    data = network or load(db, run.network, run.round)
    graph = twinning_graph(data.institutions, [(p["mentee_id"], p["mentor_id"], p["topic_id"])
                                               for p in run.pairs])
    return network_metrics(graph, [(u["institution_id"], u["topic_id"]) for u in run.unmatched])
