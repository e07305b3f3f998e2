"""The partnership cycle's records: what each one holds, and turning form values into them.

WHO's Twinning Partnerships for Improvement cycle has six steps; each leaves a written
record. This module is the one registry of those records — their fields, labels and types —
used by the services (validation), the web forms, the printed dossier and the exports:

========  ===============  ============================================================
step      record           holds
========  ===============  ============================================================
1         agreement        date signed, contacts on both sides, scope, commitments
2         baseline         date and method of the needs assessment, findings (the scores
                           of both institutions on the topic are added by tpn)
3         priorities       the priority areas chosen, ranked, and why
4         action_plan      objectives, activities with owners and due dates, short- and
                           long-term targets, communication plan, spread plan, budget
                           (the contents of WHO's planning template)
5         visit            a proposal (purpose, dates, participants, expected outputs,
                           cost) and, once done, its report (what was done, results,
                           next steps)
5         learning_event   an exchange or coaching visit, a virtual or in-person learning
                           event, with its attendees
6         review           progress against the baseline, how the partnership works,
                           lessons, and the decision (continue, new topics, close)
========  ===============  ============================================================

>>> values = parse_record("agreement", {"signed_on": "2026-03-01", "scope": "Hand hygiene"})
>>> values["signed_on"], values["scope"]
('2026-03-01', 'Hand hygiene')
>>> parse_record("agreement", {"signed_on": "1 March"})
Traceback (most recent call last):
...
tpn.errors.InputError: 1 problem found; nothing was saved:
  - column signed_on: '1 March' is not a date. Fix: write it as YYYY-MM-DD, e.g. 2026-03-01.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

from .errors import InputError, Problem
from .i18n import _

STEPS = {1: _("agreement"), 2: _("baseline"), 3: _("priorities"), 4: _("action planning"),
         5: _("action"), 6: _("review")}
# A rerun on new scores keeps a partnership as it is from this step on (once that step's
# record is written): by default from its signed agreement.
KEEP_FROM_STEP = 1
# What a review's decision does to its partnership: the step it goes back to, or None
# for the end of the partnership (its records are kept).
DECISIONS = {"continue": 4, "continue with new topics": 3, "close": None}
ACTIVITY_ROWS = 3         # empty activity rows a form offers besides the existing ones


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"            # text | longtext | date | number | choice | lines | activities
    required: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class RecordKind:
    name: str
    step: int
    title: str
    fields: tuple[Field, ...]
    date_field: str               # the field that dates the record
    many: bool = False            # a partnership has many (visits, events) or one
    per_topic: bool = False       # may be one topic's (one each), or the whole partnership's

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


_ACTIVITY = "activities"
RECORDS: dict[str, RecordKind] = {k.name: k for k in (
    RecordKind("agreement", 1, _("Partnership agreement"), (
        Field("signed_on", _("Date signed"), "date", required=True),
        Field("mentor_contact", _("Contact person at the mentor"),
              help=_("name, role, phone or email")),
        Field("mentee_contact", _("Contact person at the mentee"),
              help=_("name, role, phone or email")),
        Field("scope", _("What the two institutions agree to work on"), "longtext"),
        Field("commitments", _("Commitments of each side"), "longtext",
              help=_("time, staff and resources each side gives")),
        Field("review_by", _("Review the partnership by"), "date"),
    ), "signed_on"),
    RecordKind("baseline", 2, _("Needs assessment (baseline)"), (
        Field("assessed_on", _("Date of the assessment"), "date", required=True),
        Field("method", _("How needs were measured"), help=_("e.g. situational analysis tool, "
                                                             "facility survey, DHIS2 indicators")),
        Field("findings", _("Main findings and gaps"), "longtext"),
    ), "assessed_on"),
    RecordKind("priorities", 3, _("Gap analysis: priority areas"), (
        Field("decided_on", _("Date decided"), "date", required=True),
        Field("priorities", _("Priority areas, most important first"), "lines", required=True,
              help=_("one per line")),
        Field("rationale", _("Why these"), "longtext"),
    ), "decided_on", per_topic=True),
    RecordKind("action_plan", 4, _("Action plan"), (
        Field("agreed_on", _("Date agreed"), "date", required=True),
        Field("objectives", _("Objectives"), "longtext", required=True),
        Field(_ACTIVITY, _("Activities"), "activities",
              help=_("what will be done, who owns it, by when; tick when done")),
        Field("short_term_targets", _("Short-term targets"), "longtext"),
        Field("long_term_targets", _("Long-term targets"), "longtext"),
        Field("communication_plan", _("Communication plan"), "longtext",
              help=_("how and how often the partners keep in touch")),
        Field("spread_plan", _("Spread plan"), "longtext",
              help=_("how the learning reaches other units and institutions")),
        Field("budget", _("Budget"), "number"),
        Field("budget_notes", _("Budget: what it covers and who pays"), "longtext"),
    ), "agreed_on", per_topic=True),
    RecordKind("visit", 5, _("Visit"), (
        Field("visit_type", _("Type of visit"), "choice", required=True,
              choices=(_("exchange visit"), _("coaching visit"))),
        Field("purpose", _("Purpose"), "longtext", required=True),
        Field("starts_on", _("First day"), "date", required=True),
        Field("ends_on", _("Last day"), "date"),
        Field("participants", _("Participants"), "lines", help=_("one per line")),
        Field("expected_outputs", _("Expected outputs"), "longtext"),
        Field("cost", _("Expected cost"), "number"),
        Field("reported_on", _("Report: date written"), "date",
              help=_("fill the report after the visit; a visit with a report counts as done")),
        Field("what_was_done", _("Report: what was done"), "longtext"),
        Field("results", _("Report: results"), "longtext"),
        Field("next_steps", _("Report: next steps"), "longtext"),
    ), "starts_on", many=True),
    RecordKind("learning_event", 5, _("Learning event"), (
        Field("held_on", _("Date"), "date", required=True),
        Field("format", _("Format"), "choice", required=True,
              choices=(_("exchange visit"), _("coaching visit"), _("virtual learning event"),
                       _("in-person learning event"))),
        Field("title", _("Title"), required=True),
        Field("attendees", _("Attendees"), "lines", help=_("one per line")),
        Field("notes", _("Notes"), "longtext"),
    ), "held_on", many=True),
    RecordKind("review", 6, _("Evaluation and review"), (
        Field("reviewed_on", _("Date of the review"), "date", required=True),
        Field("technical_progress", _("Progress against the baseline"), "longtext"),
        Field("partnership_functioning", _("How the partnership works"), "longtext"),
        Field("lessons", _("Lessons to spread"), "longtext"),
        Field("decision", _("Decision"), "choice", required=True,
              choices=(_("continue"), _("continue with new topics"), _("close"))),
    ), "reviewed_on"),
)}


# A learning event of the whole network: many institutions and partnerships attend.
EVENT_KINDS = (_("exchange visit"), _("coaching visit"), _("virtual learning session"),
               _("in-person learning session"))
NETWORK_EVENT = RecordKind("network_event", 5, _("Network learning event"), (
    Field("held_on", _("Date"), "date", required=True),
    Field("kind", _("Type"), "choice", required=True, choices=EVENT_KINDS),
    Field("title", _("Title"), required=True),
    Field("place", _("Place"), help=_("a town, a hospital, or online")),
    Field("organiser", _("Organiser"),
          help=_("who runs it: an institution, the district, the ministry")),
    Field("agenda", _("Agenda"), "longtext"),
    Field("outputs", _("Outputs"), "longtext",
          help=_("what came out of it: lessons, tools shared, decisions")),
), "held_on", many=True)


def is_kept(step: int, recorded: set[str], keep_from_step: int = KEEP_FROM_STEP) -> bool:
    """Whether a rerun keeps a partnership at ``step`` that has records of the kinds
    ``recorded`` (in its current cycle): past ``keep_from_step``, or at it with that step's
    record written.

    >>> is_kept(1, {"agreement"}), is_kept(1, set()), is_kept(4, set(), keep_from_step=4)
    (True, False, False)
    """
    if step != keep_from_step:
        return step > keep_from_step
    return any(RECORDS[k].step == step for k in recorded)


def _date(text: str) -> str:
    return dt.date.fromisoformat(text).isoformat()


def parse_record(kind: str, form: Mapping[str, str]) -> dict:
    """A record's values from text (a web form, a CLI): dates as ISO text, numbers as
    floats, lines as lists, activities as a list of dicts. Every problem in one InputError.

    Activities come as ``activity-N-what``, ``activity-N-owner``, ``activity-N-due`` and
    ``activity-N-done`` (a date, or empty); rows without a description are dropped."""
    if kind not in RECORDS:
        raise InputError(Problem("", None, None, "kind",
                                 _("{kind!r} is not a record of the cycle", kind=kind),
                                 _("use one of {kinds}", kinds=", ".join(RECORDS))))
    return parse_fields(RECORDS[kind], form)


def parse_fields(spec: RecordKind, form: Mapping[str, str]) -> dict:
    """The values of any kind of record (a network event's too) from text, as
    :func:`parse_record` describes; every problem in one InputError."""
    values: dict = {}
    problems: list[Problem] = []

    def bad(name: str, what: str, fix: str) -> None:
        problems.append(Problem("", None, None, name, what, fix))

    for f in spec.fields:
        if f.type == "activities":
            values[f.name] = _activities(form, bad)
            continue
        text = str(form.get(f.name, "") or "").strip()
        if not text:
            if f.required:
                bad(f.name, _("{label} is required", label=f.label),
                    _("fill in {label}", label=f.label))
            values[f.name] = [] if f.type == "lines" else None
            continue
        if f.type == "date":
            try:
                values[f.name] = _date(text)
            except ValueError:
                bad(f.name, _("{text!r} is not a date", text=text),
                    _("write it as YYYY-MM-DD, e.g. 2026-03-01"))
        elif f.type == "number":
            try:
                values[f.name] = float(text.replace(",", ""))
            except ValueError:
                bad(f.name, _("{text!r} is not a number", text=text),
                    _("write digits only, e.g. 1500"))
        elif f.type == "choice":
            if text in f.choices:
                values[f.name] = text
            else:
                bad(f.name,
                    _("{text!r} is not one of {choices}", text=text, choices=", ".join(f.choices)),
                    _("choose one of them"))
        elif f.type == "lines":
            values[f.name] = [line.strip() for line in text.splitlines() if line.strip()]
        else:
            values[f.name] = text
    if spec.name == "visit" and values.get("starts_on") and values.get("ends_on") \
            and values["ends_on"] < values["starts_on"]:
        bad("ends_on", _("the last day is before the first day"), _("correct one of the dates"))
    if problems:
        raise InputError(problems)
    return values


def _activities(form: Mapping[str, str], bad) -> list[dict]:
    rows = sorted({int(k.split("-")[1]) for k in form
                   if k.startswith("activity-") and k.split("-")[1].isdecimal()})
    out = []
    for n in rows:
        get = lambda part: str(form.get(f"activity-{n}-{part}", "") or "").strip()
        what = get("what")
        if not what:
            continue
        item = {"what": what, "owner": get("owner"), "due": None, "done": None}
        for part in ("due", "done"):
            if get(part):
                try:
                    item[part] = _date(get(part))
                except ValueError:
                    bad(f"activity-{n}-{part}",
                        _("activity {n}: {text!r} is not a date", n=n + 1, text=get(part)),
                        _("write it as YYYY-MM-DD, e.g. 2026-03-01"))
        if item["due"] is None:
            bad(f"activity-{n}-due",
                _("activity {n} ({what}) has no due date", n=n + 1, what=what),
                _("give every activity a date to be done by"))
        out.append(item)
    return out


def overdue(values: dict, today: dt.date) -> list[dict]:
    """The action plan's activities past their due date and not done.

    >>> plan = {"activities": [{"what": "audit", "owner": "A", "due": "2026-01-10", "done": None},
    ...                        {"what": "train", "owner": "B", "due": "2026-01-10",
    ...                         "done": "2026-01-09"}]}
    >>> [a["what"] for a in overdue(plan, dt.date(2026, 2, 1))]
    ['audit']
    """
    return [a for a in values.get(_ACTIVITY) or ()
            if a.get("due") and not a.get("done") and a["due"] < today.isoformat()]


def visit_done(values: dict) -> bool:
    """A visit counts as done once its report is dated."""
    return bool(values.get("reported_on"))


def as_form(kind: str | RecordKind, values: dict) -> dict[str, str]:
    """The text a form shows for stored values (the inverse of :func:`parse_record`)."""
    form: dict[str, str] = {}
    for f in (kind if isinstance(kind, RecordKind) else RECORDS[kind]).fields:
        v = values.get(f.name)
        if f.type == "activities":
            for n, a in enumerate(v or ()):
                for part in ("what", "owner", "due", "done"):
                    form[f"activity-{n}-{part}"] = a.get(part) or ""
        elif f.type == "lines":
            form[f.name] = "\n".join(v or ())
        elif f.type == "number" and v is not None:
            form[f.name] = f"{v:g}"
        else:
            form[f.name] = "" if v is None else str(v)
    return form
