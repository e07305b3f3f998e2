"""The partnership cycle after publishing: steps, dated records, the programme dashboard and
the records' export. Use cases for the CLI and the web app, one transaction each.

A partnership is two institutions, a mentee and its mentor, with the topics they work on
(the published pairs between them). It lasts across published runs that pair them, adding
and dropping topics as the runs do, ends when a run pairs them on nothing or its review
closes it, and keeps its records either way. Records are the written outputs of WHO's cycle
(see :mod:`tpn.cycle` for what each holds): the agreement, baseline, visits and review are
the partnership's; priorities and action plans may be one topic's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..cycle import DECISIONS, RECORDS, STEPS, overdue, parse_record, visit_done
from ..errors import InputError, NotFoundError, Problem
from ..i18n import Text, _, checked, lower
from ..storage import Database
from ..storage import repository as repo
from ..tabular import write_sheets
from ..tabular.labels import with_labels
from ..tabular.writer import safe_cell, unsafe_cell

__all__ = ["STEPS", "partnerships", "pairs", "partnership", "set_step", "add_record",
           "update_record",
           "delete_record", "dashboard", "export_records", "import_records", "written",
           "what_followed", "record_saved"]


def _named(data, rows: list[dict]) -> list[dict]:
    """Partnership rows with the step's name, the institutions' and topics' names, and for
    an ended one how it ended."""
    inst = {i.id: i for i in data.institutions}
    name = lambda key: inst[key].name if key in inst else key
    label = _topic_labels(data)
    named = []
    for r in rows:
        topic_names = [label(t) for t in r["topics"]]
        named.append({**r, "step_name": STEPS[r["step"]], "mentee_name": name(r["mentee_id"]),
                      "mentor_name": name(r["mentor_id"]), "topic_names": topic_names,
                      "topics_text": ", ".join(topic_names), "ended_how": _ended_how(r)})
    return named


def _topic_labels(data):
    """``label(key)``: a topic's name (its id when unknown, "" for none)."""
    labels = {t.id: t.label for t in data.topics}
    return lambda key: labels.get(key, key or "")


def _ended_how(row: dict) -> str:
    if row["ended_at"] is None:
        return ""
    if row["ended_run_id"] is None:
        return _("closed by its review")
    return _("run {run} no longer pairs them", run=row["ended_run_id"])


def partnerships(db: Database, network: str, ended: bool = False) -> list[dict]:
    """The network's partnerships under way (with ``ended``: those that ended too)."""
    return _with_network(db, network, ended)[0]


def pairs(db: Database, network: str) -> list[dict]:
    """Every topic of the partnerships under way as a pair (mentee_id, topic_id, mentor_id),
    with its partnership's id (``partnership``) and step: what reruns keep."""
    with db.connect() as conn:
        return repo.pair_rows(conn, repo.network_id(conn, network))


def _with_network(db: Database, network: str, ended: bool):
    """(named partnership rows, the network) from one read of the network."""
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        data = repo.load_network(conn, net_id)
        return _named(data, repo.partnership_rows(conn, net_id, ended)), data


def partnership(db: Database, partnership_id: int, today: dt.date | None = None) -> dict:
    """One partnership with everything about it: names, step, its records (newest last),
    overdue activities, and both institutions' scores on the topic in every period
    (the baseline and what followed)."""
    today = today or dt.date.today()
    with db.connect() as conn:
        row = repo.get_partnership(conn, partnership_id)
        net_id = row["network_id"]
        data = repo.load_network(conn, net_id)
        info = _named(data, [row])[0]
        label = _topic_labels(data)
        info["network"] = repo.network_name(conn, net_id)
        recs = repo.records(conn, [partnership_id])
    info["records"] = [{**r, "title": RECORDS[r["kind"]].title, "step": RECORDS[r["kind"]].step,
                        "topic_name": label(r["topic_key"])} for r in recs]
    info["overdue"] = [a for r in recs if r["kind"] == "action_plan"
                       for a in overdue(r["fields"], today)]
    # Every topic it ever worked on, each with both institutions' scores in every period.
    info["scores"] = [{"topic_id": topic, "topic_name": label(topic),
                       "under_way": topic in row["topics"] and row["ended_at"] is None,
                       "periods": [{"period": s.period, "mentee": s.value(row["mentee_id"], topic),
                                    "mentor": s.value(row["mentor_id"], topic)}
                                   for s in data.snapshots]}
                      for topic in sorted({h["topic_id"] for h in row["topic_history"]})]
    info["missing"] = [RECORDS[k].title for k in _expected(row["step"])
                       if not any(r["kind"] == k for r in recs)]
    return info


def _expected(step: int) -> list[str]:
    """Records a partnership at ``step`` should have by now (one per step passed)."""
    return [k for k, spec in RECORDS.items() if not spec.many and spec.step < step]


def set_step(db: Database, partnership_id: int, step: int, author: str = "cli") -> dict:
    """Move a partnership along WHO's cycle (1 agreement … 6 review)."""
    if step not in STEPS:
        raise InputError(Problem("", None, None, "step",
                                 _("{step} is not a step of the cycle", step=step),
                                 _("use 1 (agreement) to 6 (review)")))
    with db.transaction() as conn:
        return repo.set_step(conn, partnership_id, step, author)


def written(records: list[dict], kind: str, topic: str | None = None) -> bool:
    """Whether a partnership's ``records`` hold its record ``kind`` for the current cycle
    (for ``topic``, when the kind may be one topic's: a record of that topic or of the whole
    partnership). A review that continued the partnership back to this kind's step, or
    before it, opens the step again (a new action plan after "continue")."""
    step = RECORDS[kind].step

    def reopens(r: dict) -> bool:
        back = DECISIONS.get(r["fields"].get("decision"))       # None: closed
        return r["kind"] == "review" and back is not None and back <= step

    since = max((r["id"] for r in records if reopens(r)), default=0)
    return any(r["kind"] == kind and r["id"] > since
               and (topic is None or r.get("topic_key") in (None, topic)) for r in records)


def add_record(db: Database, partnership_id: int, kind: str, form: dict, author: str = "cli",
               topic: str | None = None) -> dict:
    """Write a record of the cycle, of the whole partnership or (priorities, an action
    plan) of one of its topics (``topic``). Everything is checked first (every problem in one
    report; nothing saved otherwise). A record of a later step than the partnership's
    moves it there (an action plan means action planning has begun), with the move in the
    history. A step's single record (agreement, action plan, …) is written once: edit it.

    A review decides (``tpn.cycle.DECISIONS``): "continue" takes the partnership back to
    action planning for a new action plan, "continue with new topics" back to its
    priorities, "close" ends it (its records are kept); each in the history."""
    values = parse_record(kind, form)
    with db.transaction() as conn:
        return _add(conn, partnership_id, kind, values, author, topic)


def _check_topic(row: dict, kind: str, topic: str | None) -> None:
    """A record's topic: none, or one the partnership works on, for a kind that may be one
    topic's."""
    if topic is None:
        return
    if not RECORDS[kind].per_topic:
        raise InputError(Problem("", None, None, "topic",
                                 _("a {record} is the whole partnership's",
                                   record=lower(RECORDS[kind].title)),
                                 _("leave the topic empty")))
    known = sorted({h["topic_id"] for h in row["topic_history"]})
    if topic not in known:
        raise InputError(Problem("", None, None, "topic",
                                 _("partnership {id} does not work on {topic!r}", id=row['id'],
                                   topic=topic),
                                 _("use one of {join}, or leave it empty for the whole "
                                   "partnership", join=', '.join(known))))


def _add(conn, partnership_id: int, kind: str, values: dict, author: str,
         topic: str | None = None) -> dict:
    """add_record within a transaction, on values already parsed."""
    spec = RECORDS[kind]
    row = repo.get_partnership(conn, partnership_id)
    if row["ended_at"] is not None:
        raise InputError(Problem("", None, None, None,
                                 _("partnership {partnership_id} has ended",
                                   partnership_id=partnership_id),
                                 _("records of an ended partnership can be read, not added")))
    _check_topic(row, kind, topic)
    if not spec.many and written(repo.records(conn, [partnership_id]), kind, topic):
        raise InputError(Problem(
            "", None, None, "kind",
            _("this partnership has its {record} on {topic} already", record=lower(spec.title),
              topic=topic) if topic else
            _("this partnership has its {record} already", record=lower(spec.title)),
            _("edit that record")))
    record_id = repo.add_record(conn, partnership_id, kind,
                                dt.date.fromisoformat(values[spec.date_field]), values, author,
                                topic)
    moved = None
    if spec.step > row["step"]:
        repo.set_step(conn, partnership_id, spec.step, author, source=f"record {kind}")
        moved = spec.step
    ended = False
    if kind == "review":
        back = DECISIONS[values["decision"]]
        source = f"review: {values['decision']}"
        if back is None:
            repo.close_partnership(conn, partnership_id, author, source)
            ended = True
        else:
            repo.set_step(conn, partnership_id, back, author, source=source)
            moved = back
    return {"record": record_id, "partnership": partnership_id, "moved_to": moved,
            "ended": ended}


def what_followed(added: dict) -> str:
    """What writing a record did to its partnership, for the CLI (empty: nothing)."""
    if added["ended"]:
        return "; the partnership is closed (its records stay)"
    if added["moved_to"]:
        return f"; the partnership moved to step {added['moved_to']}: {STEPS[added['moved_to']]}"
    return ""


def record_saved(title: str, added: dict) -> Text:
    """The message for a record written, with what it did to its partnership."""
    if added["ended"]:
        return _("{title} saved; the partnership is closed (its records stay).", title=title)
    if added["moved_to"]:
        return _("{title} saved; the partnership moved to step {step}: {name}.", title=title,
                 step=added["moved_to"], name=STEPS[added["moved_to"]])
    return _("{title} saved.", title=title)


def _record(conn, record_id: int) -> tuple[dict, dict]:
    rec = repo.get_record(conn, record_id)
    return rec, repo.get_partnership(conn, rec["partnership_id"])


_SAME = object()


def update_record(db: Database, record_id: int, form: dict, author: str = "cli",
                  topic=_SAME) -> dict:
    """Rewrite a record's fields (and, given, its ``topic``: None for the whole
    partnership)."""
    with db.transaction() as conn:
        rec, row = _record(conn, record_id)
        values = parse_record(rec["kind"], form)
        topic = rec["topic_key"] if topic is _SAME else topic
        _check_topic(row, rec["kind"], topic)
        dated = dt.date.fromisoformat(values[RECORDS[rec["kind"]].date_field])
        repo.update_record(conn, record_id, dated, values, author, topic)
    return {"record": record_id, "partnership": rec["partnership_id"]}


def delete_record(db: Database, record_id: int) -> dict:
    with db.transaction() as conn:
        rec, _row = _record(conn, record_id)
        repo.delete_record(conn, record_id)
    return {"record": record_id, "partnership": rec["partnership_id"]}


def record(db: Database, record_id: int) -> dict:
    with db.connect() as conn:
        rec, row = _record(conn, record_id)
        return {**rec, "network": repo.network_name(conn, row["network_id"])}


def dashboard(db: Database, network: str, today: dt.date | None = None) -> dict:
    """The programme at a glance: partnerships by step, activities overdue (with owner
    and days late), visits proposed and done and learning events per partnership, and the
    records a partnership lacks for the steps it has passed; the network's learning events
    (a partnership's count includes those it attended)."""
    from .events import attendance_counts

    today = today or dt.date.today()
    rows, data = _with_network(db, network, ended=True)
    with db.connect() as conn:
        recs = repo.records(conn, [r["id"] for r in rows])
        network_events = repo.events(conn, repo.network_id(conn, network))
    attended = attendance_counts(network_events, rows)
    by_p: dict[int, list[dict]] = {}
    for rec in recs:
        by_p.setdefault(rec["partnership_id"], []).append(rec)
    active = [r for r in rows if r["ended_at"] is None]
    lines, late = [], []
    for p in active:
        mine = by_p.get(p["id"], [])
        visits = [r for r in mine if r["kind"] == "visit"]
        for r in mine:
            if r["kind"] == "action_plan":
                for a in overdue(r["fields"], today):
                    late.append({**a, "partnership": p, "record": r["id"],
                                 "days_late": (today - dt.date.fromisoformat(a["due"])).days})
        lines.append({**p, "visits_proposed": sum(not visit_done(v["fields"]) for v in visits),
                      "visits_done": sum(visit_done(v["fields"]) for v in visits),
                      "learning_events": sum(r["kind"] == "learning_event" for r in mine)
                      + attended[p["id"]],
                      "records": len(mine),
                      "missing": [RECORDS[k].title for k in _expected(p["step"])
                                  if not any(r["kind"] == k for r in mine)]})
    late.sort(key=lambda a: (-a["days_late"], a["partnership"]["mentee_id"], a["what"]))
    return {
        "network": network, "today": today.isoformat(), "periods": data.periods,
        "by_step": {n: sum(p["step"] == n for p in active) for n in STEPS},
        "active": len(active), "ended": len(rows) - len(active),
        "partnerships": lines, "overdue": late,
        "ended_partnerships": [{**p, "records": len(by_p.get(p["id"], []))}
                               for p in rows if p["ended_at"] is not None],
        "visits_done": sum(p["visits_done"] for p in lines),
        "learning_events": sum(p["learning_events"] for p in lines),
        "network_events": network_events,
    }


EXPORT_FORMATS = ("xlsx", "csv")
_PARTNER_COLUMNS = ["partnership", "mentee_id", "mentor_id", "topics", "step", "status"]


def export_records(db: Database, network: str, fmt: str, out: str | Path,
                   language: str | None = None) -> Path:
    """Every partnership and its records: a sheet (or CSV file) for the partnerships, one
    per kind of record (its topic — empty for the whole partnership's —, its fields as
    columns; a field of several lines in one cell, a line each) and one for the action
    plans' activities (with their plan's record id); then the network's learning events
    and who attended each (read, not imported back).
    Text a spreadsheet would read as a formula is neutralised. :func:`import_records` reads
    the workbook back. In a ``language`` other than English a ``labels`` sheet names each
    column in it (``tpn.tabular.labels``)."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(Problem("", None, None, "--format", _("{fmt!r} is not a format", fmt=fmt),
                                 _("use one of {join}", join=', '.join(EXPORT_FORMATS))))
    language = checked(language, "--lang")
    rows = partnerships(db, network, ended=True)
    with db.connect() as conn:
        recs = repo.records(conn, [r["id"] for r in rows])
    of = {r["id"]: r for r in rows}
    cell = lambda v: safe_cell("" if v is None else "\n".join(v) if isinstance(v, list)
                               else f"{v:g}" if isinstance(v, float) else str(v))
    lead = lambda p: [str(p["id"]), p["mentee_id"], p["mentor_id"], "\n".join(p["topics"]),
                      str(p["step"]), "ended" if p["ended_at"] else "under way"]
    sheets = {"partnerships": (_PARTNER_COLUMNS + ["started", "ended"], [
        lead(p) + [p["created_at"].date().isoformat(),
                   p["ended_at"].date().isoformat() if p["ended_at"] else ""] for p in rows])}
    activities = []
    for kind, spec in RECORDS.items():
        fields = [f for f in spec.fields if f.type != "activities"]
        body = []
        for r in (r for r in recs if r["kind"] == kind):
            body.append(lead(of[r["partnership_id"]])
                        + [str(r["id"]), r["topic_key"] or "", r["created_by"]]
                        + [cell(r["fields"].get(f.name)) for f in fields])
            for a in r["fields"].get("activities") or ():
                activities.append(lead(of[r["partnership_id"]]) + [str(r["id"])]
                                  + [cell(a.get(k)) for k in ACTIVITY_PARTS])
        sheets[kind] = (_PARTNER_COLUMNS + ["record", "topic_id", "written_by"]
                        + [f.name for f in fields],
                        body)
    sheets["activities"] = (_PARTNER_COLUMNS + ["record"] + list(ACTIVITY_PARTS), activities)
    from .events import events

    network_events = events(db, network)
    sheets["events"] = (["event", "held_on", "kind", "title", "place", "topics", "organiser",
                         "agenda", "outputs", "institutions", "partnerships"], [
        [str(e.id), e.held_on.isoformat(), e.kind, cell(e.title), cell(e.place),
         "\n".join(e.topics), cell(e.organiser), cell(e.agenda), cell(e.outputs),
         str(len(e.institutions)), str(len(e.partnerships))] for e in network_events])
    sheets["attendance"] = (["event", "held_on", "institution_id", "partnership"], [
        [str(e.id), e.held_on.isoformat(), a.institution_id,
         "" if a.partnership_id is None else str(a.partnership_id)]
        for e in network_events for a in e.attendance])
    fields = {(kind, f.name): f.label for kind, spec in RECORDS.items() for f in spec.fields}
    return write_sheets(out, with_labels(sheets, language, fields), fmt)


ACTIVITY_PARTS = ("what", "owner", "due", "done")


def import_records(db: Database, network: str, path: str | Path, author: str = "cli") -> dict:
    """Read back a records workbook of :func:`export_records`, edited in a spreadsheet:
    a row with a record id updates that record where it changed, a row without one adds a
    record to its partnership (as :func:`add_record`: steps move, a review decides). Every
    problem is reported with sheet, row and column; nothing is saved unless all is right.
    Returns how many records were updated, added and left unchanged."""
    from ..tabular.tables import read_xlsx_tables

    path = Path(path)
    tables = read_xlsx_tables(path)
    problems: list[Problem] = []
    where = lambda sheet, row, column, message, fix: problems.append(
        Problem(path.name, sheet, row, column, message, fix))
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        ours = {p["id"]: p for p in repo.partnership_rows(conn, net_id, ended=True)}
        stored = {r["id"]: r for r in repo.records(conn, list(ours))}
    plans: dict[str, list[tuple[int, dict]]] = {}      # record id or "new:<partnership>"
    table = tables.get("activities")
    for number, row in (table.records() if table else ()):
        plans.setdefault(row.get("record") or f"new:{row.get('partnership', '')}", []).append(
            (number, row))
    changes = []        # (kind, partnership id, record id or None, values, sheet, row)
    for kind, spec in RECORDS.items():
        table = tables.get(kind)
        if table is None:
            continue
        for number, row in table.records():
            pid = _whole(row.get("partnership", ""))
            if pid not in ours:
                where(kind, number, "partnership",
                      _("{partnership!r} is not a partnership of {network}",
                        partnership=row.get("partnership"), network=network),
                      _("keep the partnership column as exported"))
                continue
            record_id = _whole(row.get("record", "")) if row.get("record") else None
            if record_id is not None and (record_id not in stored
                                          or stored[record_id]["partnership_id"] != pid
                                          or stored[record_id]["kind"] != kind):
                where(kind, number, "record",
                      _("record {record} is not a record {kind!r} of partnership {pid}",
                        record=row["record"], kind=kind, pid=pid),
                      _("keep the record column as exported, or empty it to add a new record"))
                continue
            form = {f.name: _unsafe(row.get(f.name, ""), f.type) for f in spec.fields
                    if f.type != "activities"}
            if any(f.type == "activities" for f in spec.fields):
                key = str(record_id) if record_id is not None else f"new:{pid}"
                for n, (_number, a) in enumerate(plans.pop(key, [])):
                    for part in ACTIVITY_PARTS:
                        form[f"activity-{n}-{part}"] = _unsafe(
                            a.get(part, ""), "date" if part in ("due", "done") else "text")
            try:
                values = parse_record(kind, form)
            except InputError as exc:
                for p in exc.problems:
                    where(kind, number, p.column, p.message, p.fix)
                continue
            topic = row.get("topic_id", "").strip() or None
            try:
                _check_topic(ours[pid], kind, topic)
            except InputError as exc:
                for p in exc.problems:
                    where(kind, number, "topic_id", p.message, p.fix)
                continue
            changes.append((kind, pid, record_id, values, number, topic))
    for key, rows in plans.items():
        for number, _row in rows:
            where("activities", number, "record",
                  _("no action plan {plan} in the action_plan sheet for this activity",
                    plan=key.removeprefix("new:")),
                  _("give the record id of its action plan, as exported"))
    if problems:
        raise InputError(problems)
    done = {"updated": 0, "added": 0, "unchanged": 0}
    with db.transaction() as conn:
        for kind, pid, record_id, values, number, topic in changes:
            dated = dt.date.fromisoformat(values[RECORDS[kind].date_field])
            if record_id is None:
                try:
                    _add(conn, pid, kind, values, author, topic)
                except InputError as exc:      # an ended partnership, a second agreement
                    raise InputError([Problem(path.name, kind, number, p.column, p.message,
                                              p.fix) for p in exc.problems]) from None
                done["added"] += 1
            elif (values, dated, topic) != (stored[record_id]["fields"],
                                            stored[record_id]["dated"],
                                            stored[record_id]["topic_key"]):
                repo.update_record(conn, record_id, dated, values, author, topic)
                done["updated"] += 1
            else:
                done["unchanged"] += 1
    return done


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdecimal() else None


def _unsafe(text: str, kind: str) -> str:
    """A cell as it was before the export (``unsafe_cell``); a date a spreadsheet made a
    date and time at midnight, a date again."""
    if kind == "date" and text.endswith("T00:00:00"):
        return text.removesuffix("T00:00:00")
    return unsafe_cell(text)


def check_in_network(db: Database, network: str, partnership_id: int) -> dict:
    """The partnership, or NotFoundError when it belongs to another network (the web app
    checks this before any change, so a share link of one network reaches no other)."""
    with db.connect() as conn:
        row = repo.get_partnership(conn, partnership_id)
        if repo.network_name(conn, row["network_id"]) != network:
            raise NotFoundError(_("no partnership {partnership_id} in network {network!r}",
                                  partnership_id=partnership_id, network=network))
    return row
