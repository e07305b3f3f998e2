"""Use cases shared by the CLI and the web app; each is one transaction.

No SQL here (that is ``tpn.storage.repository``) and no argument parsing or printing (that
is ``tpn.cli``). Files are read and checked completely before the database is touched, so a
bad file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace as dc_replace
from pathlib import Path

from . import __version__, programme, quality
from .cycle import LOCKED_STEPS
from .errors import InputError, NotFoundError, Problem
from .matching import MatchOptions, solve
from .models import Exclusion, Flag, Lock, MatchProblem, Network, PreviousPair
from .results import PAIR_COLUMNS, UNMATCHED_COLUMNS, pair_rows, summary, unmatched_rows
from .storage import Database
from .storage import repository as repo
from .tabular import DEFAULT_PERIOD, network_rows, read_network, write_sheets
from .tabular.writer import safe_cell

EXPORT_FORMATS = ("csv", "xlsx", "json")


DEFAULT_ROUND = "1"


def import_file(db: Database, path: str | Path, network: str, period: str | None = None,
                replace: bool = False, author: str = "cli", round_name: str = DEFAULT_ROUND,
                columns: dict[str, dict[str, str]] | None = None,
                data: Network | None = None, source: str | None = None) -> dict:
    """Add a workbook (or DHIS2 export) to a network: all of it, or nothing. A focus sheet
    becomes the focus of ``round_name``. ``columns`` renames headers that differ from
    tpn's (see :func:`tpn.tabular.read_network`); ``data`` is a network already read
    (a DHIS2 export read with its own mapping), ``source`` the file name to record."""
    if data is None:
        data = read_network(path, default_period=period or DEFAULT_PERIOD, columns=columns)
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network, create=True)
        info = repo.save_network(conn, net_id, data, source or Path(path).name, replace,
                                 author, round_name)
    # A flag never blocks an import: the summary points to the data-quality report.
    info["quality"] = quality_report(db, network).summary()
    return info


def create_network(db: Database, name: str) -> None:
    """An empty network, to import into."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError(Problem("", None, None, "name", "a network needs a name of 1 to 200 "
                                 "characters", "type a name"))
    with db.transaction() as conn:
        if name in repo.network_names(conn):
            raise InputError(Problem("", None, None, "name", f"a network named {name!r} exists "
                                     "already", "open it, or choose another name"))
        repo.network_id(conn, name, create=True)


def networks(db: Database) -> list[str]:
    with db.connect() as conn:
        return repo.network_names(conn)


def overview(db: Database, network: str, round_name: str = DEFAULT_ROUND) -> dict:
    """What a network holds, for its front page: counts, periods, focus and runs."""
    data = load(db, network, round_name)
    run_list = runs(db, network)
    return {
        "name": network,
        "institutions": len(data.institutions),
        "topics": len(data.topics),
        "kinds": sorted({i.kind for i in data.institutions}),
        "regions": sorted({i.region for i in data.institutions if i.region}),
        "periods": data.periods,
        "focus": len(data.focus),
        "focus_institutions": len({f.institution_id for f in data.focus}),
        "runs": run_list,
        "published": _published(run_list),
        # Scores the data-quality checks flag and nobody accepted (they count as missing).
        "flagged": sum(len(s.flags) for s in data.snapshots),
    }


def _published(run_list: list[dict]) -> int | None:
    """The id of the network's published run, if any."""
    return next((r["id"] for r in reversed(run_list) if r["status"] == "published"), None)


def load(db: Database, network: str, round_name: str = DEFAULT_ROUND,
         options: MatchOptions | None = None) -> Network:
    """The stored network with the focus topics of one round, its scores flagged by the
    data-quality checks of ``options`` (flags a facilitator accepted are trusted)."""
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        data = repo.load_network(conn, net_id, round_name)
        accepted = repo.acceptances(conn, net_id)
    return quality.flagged(data, options or MatchOptions(), accepted)


def quality_report(db: Database, network: str,
                   options: MatchOptions | None = None) -> quality.QualityReport:
    """The data-quality report of a stored network (``tpn check``, the app's page)."""
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        data = repo.load_network(conn, net_id)
        accepted = repo.acceptances(conn, net_id)
    return quality.quality_report(data, quality.Checks.from_options(options or MatchOptions()),
                                  accepted)


def accept_score(db: Database, network: str, institution: str, topic: str, period: str,
                 author: str = "cli", note: str = "",
                 options: MatchOptions | None = None) -> Flag:
    """A facilitator checked a flagged score and trusts it: recorded with who and when (and
    in the history); the value counts again until it changes."""
    report = quality_report(db, network, options)
    flag = next((f for f in report.flags if (f.institution_id, f.topic_id, f.period)
                 == (institution, topic, period)), None)
    if flag is None:
        raise InputError(Problem("", None, None, None, f"the score of {institution} on {topic} "
                                 f"in period {period} is not flagged",
                                 f"list the flagged scores with: tpn check --network {network}"))
    with db.transaction() as conn:
        repo.accept_score(conn, repo.network_id(conn, network), institution, topic, period,
                          flag.value, author, note)
    return flag


def withdraw_acceptance(db: Database, network: str, institution: str, topic: str,
                        period: str, author: str = "cli") -> None:
    with db.transaction() as conn:
        if not repo.withdraw_acceptance(conn, repo.network_id(conn, network), institution,
                                        topic, period, author):
            raise NotFoundError(f"no accepted score of {institution} on {topic} in period "
                                f"{period}")


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


def _solve_and_keep(db: Database, network_id: int, data: Network, problem: MatchProblem,
                    options: MatchOptions, round_name: str, author: str, progress=None,
                    parent_id: int | None = None, copy_edits_from: int | None = None) -> dict:
    """Solve, and keep the result as a draft run with the record of its inputs."""
    result = solve(problem, options, progress)
    info = summary(result, data, sum(result.timings.values()))
    if problem.locks:
        info["rejected"] = [{"mentee_id": r.lock.mentee_id, "topic_id": r.lock.topic_id,
                             "mentor_id": r.lock.mentor_id, "reason": r.reason}
                            for r in result.rejected_locks]
    period = problem.snapshot.period
    with db.transaction() as conn:
        run_id = repo.insert_run(
            conn, network_id=network_id, period=period, round=round_name,
            input_hash=input_hash(data, period, options, problem),
            options=options.as_dict(), solver=result.solver, tpn_version=__version__,
            summary=info, pairs=[dict(zip(PAIR_COLUMNS, r)) for r in pair_rows(result, data)],
            unmatched=[dict(zip(UNMATCHED_COLUMNS, r)) for r in unmatched_rows(result, data)],
            created_by=author, parent_id=parent_id)
        if copy_edits_from is not None:
            repo.copy_edits(conn, copy_edits_from, run_id)
    return {"run": run_id, "period": period, **info}


def _network_id(db: Database, network: str) -> int:
    with db.connect() as conn:
        return repo.network_id(conn, network)


def run_match(db: Database, network: str, period: str | None = None,
              options: MatchOptions | None = None, author: str = "cli", progress=None,
              round_name: str = DEFAULT_ROUND) -> dict:
    """Match a round's focus topics of a stored network and keep the run, as a draft, with
    its inputs' hash."""
    options = options or MatchOptions()
    data = load(db, network, round_name, options)
    if not data.focus:
        raise InputError(Problem(network, "focus", None, None,
                                 f"round {round_name} has no focus topics",
                                 "import a workbook with a focus sheet, or use tpn focus set "
                                 "or tpn focus suggest --apply"))
    problem = MatchProblem.from_network(data, data.snapshot(period).period)
    return _solve_and_keep(db, _network_id(db, network), data, problem, options, round_name,
                           author, progress)


def runs(db: Database, network: str) -> list[dict]:
    with db.connect() as conn:
        return repo.list_runs(conn, repo.network_id(conn, network))


def show_run(db: Database, run_id: int) -> dict:
    with db.connect() as conn:
        return repo.get_run(conn, run_id)


def publish(db: Database, run_id: int, author: str = "cli",
            expected_version: int | None = None) -> dict:
    with db.transaction() as conn:
        return repo.publish_run(conn, run_id, author, expected_version)


def export_run(db: Database, run_id: int, fmt: str, out: str | Path) -> Path:
    """csv: a folder with pairs.csv and unmatched.csv; xlsx: one workbook; json: one file.
    Text cells that a spreadsheet would read as a formula are neutralised."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(Problem("", None, None, "--format", f"{fmt!r} is not a format",
                                 f"use one of {', '.join(EXPORT_FORMATS)}"))
    run = show_run(db, run_id)
    out = Path(out)
    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        keep = ("id", "network", "period", "status", "solver", "tpn_version", "input_hash",
                "options", "summary", "pairs", "unmatched")
        out.write_text(json.dumps({k: run[k] for k in keep}, indent=2, sort_keys=True,
                                  default=str) + "\n", encoding="utf-8")
        return out
    sheets = {
        "pairs": (PAIR_COLUMNS, [[safe_cell(str(p[c])) for c in PAIR_COLUMNS] for p in run["pairs"]]),
        "unmatched": (UNMATCHED_COLUMNS, [[safe_cell(str(u[c])) for c in UNMATCHED_COLUMNS]
                                          for u in run["unmatched"]]),
    }
    return write_sheets(out, sheets, fmt)


# --- reviewing a draft --------------------------------------------------------------------


def edit_draft(db: Database, run_id: int, action: str, mentee: str, topic: str, mentor: str,
               author: str = "cli", note: str = "", expected_version: int | None = None) -> int:
    """Record a lock, exclusion or swap on a draft (applied by :func:`rerun`); returns the
    draft's new version. Every edit is kept with its author and time."""
    if action not in repo.EDIT_ACTIONS:
        raise InputError(Problem("", None, None, "action", f"{action!r} is not an edit",
                                 f"use one of {', '.join(repo.EDIT_ACTIONS)}"))
    with db.transaction() as conn:
        run = repo.get_run(conn, run_id)
        data = repo.load_network(conn, run["network_id"])
        known = {i.id for i in data.institutions}
        problems = [Problem("", None, None, what, f"{value!r} is not an institution of "
                            f"{run['network']}", "check the id")
                    for what, value in (("mentee", mentee), ("mentor", mentor))
                    if value not in known]
        requests = {(r["mentee_id"], r["topic_id"]) for r in run["pairs"]} | \
                   {(u["institution_id"], u["topic_id"]) for u in run["unmatched"]}
        if (mentee, topic) not in requests:
            problems.append(Problem("", None, None, "topic", f"{mentee} did not ask for help "
                                    f"on {topic!r} in this run", "choose one of its requests"))
        if problems:
            raise InputError(problems)
        return repo.add_edit(conn, run_id, action, mentee, topic, mentor, author, note,
                             expected_version)


def run_edits(db: Database, run_id: int) -> list[dict]:
    """The edits of a draft, oldest first, with author, time and note."""
    with db.connect() as conn:
        return repo.edits(conn, run_id)


def rerun(db: Database, run_id: int, author: str = "cli", progress=None) -> dict:
    """A new draft from a run's inputs with its edits applied: locks and swaps are locked
    pairs, exclusions excluded pairs. Edits carry over to the new draft."""
    with db.connect() as conn:
        run = repo.get_run(conn, run_id)
        changes = repo.edits(conn, run_id)
    options = MatchOptions(**run["options"])
    data = load(db, run["network"], run["round"], options)
    locks = tuple(Lock(e["mentee_key"], e["topic_key"], e["mentor_key"]) for e in changes
                  if e["action"] in ("lock", "swap"))
    exclusions = tuple(Exclusion(e["mentee_key"], e["mentor_key"], e["topic_key"])
                       for e in changes if e["action"] == "exclude")
    problem = MatchProblem.from_network(data, run["period"], locks=locks, exclusions=exclusions)
    info = _solve_and_keep(db, run["network_id"], data, problem, options, run["round"], author,
                           progress, parent_id=run_id, copy_edits_from=run_id)
    info.setdefault("rejected", [])
    return info


# --- rounds after the workshop --------------------------------------------------------------

def rerun_round(db: Database, network: str, period: str | None = None,
                options: MatchOptions | None = None, author: str = "cli", progress=None,
                round_name: str = DEFAULT_ROUND) -> dict:
    """A new draft on new scores that keeps the published partnerships stable: those in
    action planning or action (steps 4-5) are locked, the others earn the continuity
    bonus (``weight_continuity``) for staying as they are."""
    options = options or MatchOptions()
    data = load(db, network, round_name, options)
    current = programme.partnerships(db, network)
    if not current:
        raise InputError(Problem(network, None, None, None, "the network has no published "
                                 "partnerships to keep", "publish a run first, or use tpn run"))
    locks = tuple(Lock(p["mentee_key"], p["topic_key"], p["mentor_key"]) for p in current
                  if p["step"] in LOCKED_STEPS)
    previous = tuple(PreviousPair(p["mentee_key"], p["topic_key"], p["mentor_key"])
                     for p in current if p["step"] not in LOCKED_STEPS)
    problem = MatchProblem.from_network(data, data.snapshot(period).period, locks=locks,
                                        previous=previous)
    info = _solve_and_keep(db, _network_id(db, network), data, problem, options, round_name,
                           author, progress, parent_id=_published(runs(db, network)))
    info.setdefault("rejected", [])
    info["kept_locked"], info["continuing"] = len(locks), len(previous)
    return info


def diff_runs(db: Database, run_a: int, run_b: int) -> dict:
    """Pairs kept, changed (another mentor), new and ended between two runs, each with the
    reason it changed (see :mod:`tpn.changes`), judged on the later run's scores."""
    from .changes import change_reasons

    a, b = show_run(db, run_a), show_run(db, run_b)
    pairs_a = {(p["mentee_id"], p["topic_id"]): p["mentor_id"] for p in a["pairs"]}
    pairs_b = {(p["mentee_id"], p["topic_id"]): p["mentor_id"] for p in b["pairs"]}
    row = lambda k, m: {"mentee_id": k[0], "topic_id": k[1], "mentor_id": m}
    diff = {
        "from": run_a, "to": run_b,
        "kept": [row(k, pairs_a[k]) for k in sorted(pairs_a) if pairs_b.get(k) == pairs_a[k]],
        "changed": [{**row(k, pairs_b[k]), "was": pairs_a[k]} for k in sorted(pairs_a)
                    if k in pairs_b and pairs_b[k] != pairs_a[k]],
        "new": [row(k, pairs_b[k]) for k in sorted(pairs_b) if k not in pairs_a],
        "ended": [row(k, pairs_a[k]) for k in sorted(pairs_a) if k not in pairs_b],
    }
    return change_reasons(load(db, b["network"], b["round"]), b["period"], a, b, diff,
                          run_edits(db, run_b))


# --- a whole network as one file ----------------------------------------------------------

BACKUP_FORMAT = "tpn-backup-1"


def backup(db: Database, network: str) -> bytes:
    """Everything about one network as one JSON document, without database ids, so that
    backup -> restore -> backup gives the same bytes."""
    with db.connect() as conn:
        return json.dumps(repo.export_network(conn, repo.network_id(conn, network)),
                          sort_keys=True, indent=1, default=_iso).encode() + b"\n"


def restore(db: Database, data: bytes, network: str | None = None) -> dict:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(Problem("", None, None, None, f"not a tpn backup ({exc})",
                                 "give a file written by tpn backup")) from None
    if not isinstance(doc, dict) or doc.get("format") != BACKUP_FORMAT:
        raise InputError(Problem("", None, None, None, "not a tpn backup (no format "
                                 f"{BACKUP_FORMAT!r})", "give a file written by tpn backup"))
    name = network or doc["network"]
    with db.transaction() as conn:
        if name in repo.network_names(conn):
            raise InputError(Problem("", None, None, "--network", f"a network named {name!r} "
                                     "exists already", "restore it under another name with "
                                     "--network NAME"))
        return repo.import_network(conn, doc, name)


def _iso(value):
    """Times as UTC with an explicit offset, whatever the database hands back (SQLite gives
    naive UTC, PostgreSQL aware times in its session's zone), so backups compare equal."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else \
            value.astimezone(dt.timezone.utc)
        return value.isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- institutions, topics and focus, one change at a time ---------------------------------

_FIELDS = {
    "institution": ("name", "kind", "region", "latitude", "longitude", "size", "capacity"),
    "topic": ("name", "direction", "kinds", "target", "unit"),
}


def set_fields(db: Database, network: str, entity: str, key: str, assignments: dict[str, str],
               author: str = "cli") -> dict:
    """Change fields of an institution or topic (checked as an import would check them);
    every change goes to the network's history."""
    from .tabular.workbook import _direction, parse_number

    problems, changes = [], {}
    for field, text in assignments.items():
        where = Problem("", entity, None, field, "", "")
        if field not in _FIELDS[entity]:
            problems.append(dc_replace(where, message=f"{field!r} is not a field of a {entity}",
                                       fix=f"use one of {', '.join(_FIELDS[entity])}"))
            continue
        try:
            if field in ("latitude", "longitude", "size", "target"):
                value = None if text.strip() == "" else parse_number(text)
                limit = {"latitude": 90, "longitude": 180}.get(field)
                if value is not None and limit and abs(value) > limit:
                    raise ValueError(f"{text!r} is outside -{limit} to {limit}")
                if field == "size" and value is not None and value <= 0:
                    raise ValueError(f"{text!r} must be above 0")
            elif field == "capacity":
                value = None if text.strip() == "" else int(text)
                if value is not None and value < 0:
                    raise ValueError(f"{text!r} must not be negative")
            elif field == "direction":
                value = _direction(text)
                if value is None:
                    raise ValueError(f"{text!r} is not a direction: write higher or lower")
            elif field in ("name", "kind") and not text.strip():
                raise ValueError(f"the {field} must not be empty")
            else:
                value = text.strip()
        except ValueError as exc:
            problems.append(dc_replace(where, message=str(exc).replace("invalid literal for "
                                       "int() with base 10", "not a whole number"),
                                       fix="type a valid value"))
            continue
        changes[field] = value
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        return repo.update_entity(conn, repo.network_id(conn, network), entity, key, changes,
                                  author)


def history(db: Database, network: str, key: str | None = None) -> list[dict]:
    with db.connect() as conn:
        return repo.history(conn, repo.network_id(conn, network), key)


def set_focus(db: Database, network: str, institution: str, topic: str, priority: int = 1,
              author: str = "cli", round_name: str = DEFAULT_ROUND) -> None:
    """An institution chooses a topic (who and when are kept); topics that do not apply to
    its kind are refused."""
    if priority < 1:
        raise InputError(Problem("", "focus", None, "priority", f"{priority} is below 1",
                                 "1 is the most important"))
    data = load(db, network)
    inst = {i.id: i for i in data.institutions}.get(institution)
    top = {t.id: t for t in data.topics}.get(topic)
    if inst and top and not top.applies_to(inst.kind):
        raise InputError(Problem("", "focus", None, "topic_id", f"{topic} does not apply to "
                                 f"{inst.kind} institutions", "choose another topic"))
    with db.transaction() as conn:
        repo.set_focus(conn, repo.network_id(conn, network), institution, topic, priority,
                       author, round_name)


def replace_focus(db: Database, network: str, choices: dict[str, list[tuple[str, int]]],
                  author: str = "cli", round_name: str = DEFAULT_ROUND) -> int:
    """Many institutions' focus at once (a workshop's focus form): each named institution's
    topics become exactly its list of (topic, priority). Checked first, all saved in one
    transaction or nothing; returns how many topics are chosen in all."""
    data = load(db, network, round_name)
    insts = {i.id: i for i in data.institutions}
    topics = {t.id: t for t in data.topics}
    problems = []
    for inst_id, chosen in sorted(choices.items()):
        inst = insts.get(inst_id)
        if inst is None:
            problems.append(Problem("", "focus", None, "institution_id",
                                    f"{inst_id!r} is not an institution of {network}",
                                    "check the id"))
            continue
        seen = set()
        for topic_id, priority in chosen:
            topic = topics.get(topic_id)
            where = f"{inst.name}: "
            if topic is None:
                problems.append(Problem("", "focus", None, "topic_id", f"{where}{topic_id!r} "
                                        "is not a topic", "choose a topic from the list"))
            elif not topic.applies_to(inst.kind):
                problems.append(Problem("", "focus", None, "topic_id", f"{where}{topic.label} "
                                        f"does not apply to {inst.kind} institutions",
                                        "choose another topic"))
            elif topic_id in seen:
                problems.append(Problem("", "focus", None, "topic_id", f"{where}{topic.label} "
                                        "is chosen twice", "choose each topic once"))
            if priority < 1:
                problems.append(Problem("", "focus", None, "priority", f"{where}priority "
                                        f"{priority} is below 1", "1 is the most important"))
            seen.add(topic_id)
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        for inst_id, chosen in sorted(choices.items()):
            repo.replace_focus(conn, net_id, inst_id, chosen, author, round_name)
        return len(repo.focus_rows(conn, net_id, round_name))


def remove_focus(db: Database, network: str, institution: str, topic: str,
                 round_name: str = DEFAULT_ROUND) -> int:
    with db.transaction() as conn:
        return repo.remove_focus(conn, repo.network_id(conn, network), institution, topic,
                                 round_name)


def focus(db: Database, network: str, round_name: str = DEFAULT_ROUND) -> list[dict]:
    with db.connect() as conn:
        return repo.focus_rows(conn, repo.network_id(conn, network), round_name)


def suggest_focus(db: Database, network: str, per_institution: int, options: MatchOptions,
                  period: str | None = None, apply: bool = False, author: str = "cli",
                  round_name: str = DEFAULT_ROUND) -> list:
    """The gap analysis on a stored network; with ``apply``, the suggestions become the
    round's focus (replacing it), in one transaction."""
    from .matching.focus import suggest_focus as suggest

    data = load(db, network, round_name, options)
    suggestions = suggest(data, data.snapshot(period), options, per_institution)
    if apply:
        with db.transaction() as conn:
            net_id = repo.network_id(conn, network)
            for f in repo.focus_rows(conn, net_id, round_name):
                repo.remove_focus(conn, net_id, f["institution_id"], f["topic_id"], round_name)
            for x in suggestions:
                repo.set_focus(conn, net_id, x.institution_id, x.topic_id, x.rank, author,
                               round_name)
    return suggestions


# --- evaluation -----------------------------------------------------------------------------


def evaluate_network(db: Database | None, network: str, from_period: str, to_period: str,
                     confidence: float = 0.95, by_region: bool = False,
                     round_name: str = DEFAULT_ROUND, pairs_file: str | None = None
                     ):
    """Effects per topic and kind (adjusted for the baseline; see :mod:`tpn.evaluation`) and
    the partnerships' before and after, for a stored network, or for a workbook when
    ``network`` is a path to one (its pairs from ``pairs_file``, a pairs.csv). Flagged scores
    are left out and counted."""
    from .evaluation import Evaluation, evaluate, pair_changes

    if Path(network).exists():
        data, title = quality.flagged(read_network(network), MatchOptions()), Path(network).name
        under_way = all_pairs = _pairs_file(pairs_file, data) if pairs_file else []
    else:
        with db.connect() as conn:
            net_id = repo.network_id(conn, network)
            under_way = repo.published_partnerships(conn, net_id)
            all_pairs = [(p["mentee_key"], p["mentor_key"], p["topic_key"])
                         for p in repo.partnership_rows(conn, net_id, ended=True)]
        data, title = load(db, network, round_name), network
    effects = evaluate(data, from_period, to_period, partnerships=all_pairs,
                       confidence=confidence, by_region=by_region)
    return Evaluation(title, from_period, to_period, confidence, tuple(effects),
                      tuple(pair_changes(data, from_period, to_period, under_way)))


def _pairs_file(path: str, network: Network) -> list[tuple[str, str, str]]:
    """(mentee, mentor, topic) of a pairs.csv that tpn match wrote."""
    from .tabular.pairs import read_previous

    return [(p.mentee_id, p.mentor_id, p.topic_id) for p in read_previous(path, network)]


# --- the gap analysis ----------------------------------------------------------------------


def gap_table(db: Database, network: str, period: str | None = None,
              options: MatchOptions | None = None, round_name: str = DEFAULT_ROUND) -> dict:
    from . import gaps

    data = load(db, network, round_name, options)
    return gaps.gap_table(data, data.snapshot(period), options or MatchOptions())


def institution_profile(db: Database, network: str, institution: str,
                        period: str | None = None, options: MatchOptions | None = None,
                        round_name: str = DEFAULT_ROUND) -> dict:
    from . import gaps

    data = load(db, network, round_name, options)
    return gaps.institution_profile(data, data.snapshot(period), options or MatchOptions(),
                                    institution)


# --- accounts and share links of the workshop app -----------------------------------------

MIN_PASSWORD = 8


def add_user(db: Database, username: str, password: str, role: str) -> None:
    """A workshop account; the password is kept only as a salted scrypt hash."""
    from werkzeug.security import generate_password_hash

    problems = []
    if not username.strip() or len(username) > 100 or username != username.strip():
        problems.append(Problem("", None, None, "username", "a user name is 1 to 100 "
                                "characters without spaces around it", "type a name"))
    if role not in repo.ROLES:
        problems.append(Problem("", None, None, "role", f"{role!r} is not a role",
                                f"use one of {', '.join(repo.ROLES)}"))
    if len(password) < MIN_PASSWORD:
        problems.append(Problem("", None, None, "password", f"the password is shorter than "
                                f"{MIN_PASSWORD} characters", "choose a longer one"))
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        repo.add_user(conn, username, generate_password_hash(password), role)


def set_password(db: Database, username: str, password: str) -> None:
    from werkzeug.security import generate_password_hash

    if len(password) < MIN_PASSWORD:
        raise InputError(Problem("", None, None, "password", f"the password is shorter than "
                                 f"{MIN_PASSWORD} characters", "choose a longer one"))
    with db.transaction() as conn:
        if not repo.set_password(conn, username, generate_password_hash(password)):
            raise NotFoundError(f"no user {username!r}; add one with: tpn user add NAME")


def demo(db: Database) -> dict:
    """The sample network, its focus topics, a first draft run and a demo facilitator with
    a fresh password: what ``make demo`` opens. Safe to repeat: what exists is kept."""
    import secrets

    from .samples import data_dir

    if "rwanda" not in networks(db):
        import_file(db, data_dir() / "rwanda", "rwanda", author="demo")
    if not runs(db, "rwanda"):
        run_match(db, "rwanda", author="demo")
    password = secrets.token_urlsafe(9)
    if user(db, "demo") is None:
        add_user(db, "demo", password, "facilitator")
    else:
        set_password(db, "demo", password)
    latest = runs(db, "rwanda")[-1]
    return {"network": "rwanda", "run": latest["id"], "summary": latest["summary"],
            "username": "demo", "password": password}


def authenticate(db: Database, username: str, password: str) -> dict | None:
    """The user (name and role) when the password is right, else None."""
    from werkzeug.security import check_password_hash

    with db.connect() as conn:
        user = repo.get_user(conn, username)
    if user is None or not check_password_hash(user["password_hash"], password):
        return None
    return {"username": user["username"], "role": user["role"]}


def user(db: Database, username: str) -> dict | None:
    with db.connect() as conn:
        found = repo.get_user(conn, username)
    return found and {"username": found["username"], "role": found["role"]}


def users(db: Database) -> list[dict]:
    with db.connect() as conn:
        return repo.list_users(conn)


def create_share_link(db: Database, network: str, author: str = "cli") -> str:
    """A token that opens the network read-only, for participants without an account."""
    import secrets

    token = secrets.token_urlsafe(24)
    with db.transaction() as conn:
        repo.add_share_link(conn, repo.network_id(conn, network), token, author)
    return token


def share_links(db: Database, network: str) -> list[dict]:
    with db.connect() as conn:
        return repo.share_links(conn, repo.network_id(conn, network))


def revoke_share_link(db: Database, token: str) -> int:
    with db.transaction() as conn:
        return repo.revoke_share_link(conn, token)


def shared_network(db: Database, token: str) -> str | None:
    with db.connect() as conn:
        return repo.shared_network(conn, token)
