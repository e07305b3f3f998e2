"""What the database hands back, as frozen dataclasses with one vocabulary: a mentee, topic
and mentor are ``mentee_id``, ``topic_id`` and ``mentor_id`` (the ids of the network's
workbook) wherever they appear, whatever the columns are called."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RunSummary:
    """One match run in a network's list of runs."""

    id: int
    period: str
    status: str                 # draft -> published -> superseded
    solver: str
    created_by: str
    created_at: dt.datetime
    summary: dict               # what tpn match --json prints
    input_hash: str


@dataclass(frozen=True)
class Run:
    """A match run with the record of its inputs and its result (rows as in pairs.csv and
    unmatched.csv)."""

    id: int
    network_id: int
    network: str
    period: str
    round: str
    input_hash: str
    options: dict
    solver: str
    tpn_version: str
    status: str
    summary: dict
    pairs: list
    unmatched: list
    created_by: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    version: int                # optimistic locking of drafts
    parent_id: int | None       # the run a rerun started from
    mentors_asked_at: dt.datetime | None = None     # a draft its mentors may accept

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Import:
    """What an import added to a network, the periods it replaced (with ``replace``), and
    the one-line summary of the data-quality checks on the network after it."""

    institutions: int
    topics: int
    periods: tuple[str, ...]
    scores: int
    focus: int
    replaced: tuple[str, ...]
    quality: str = ""
    # Per new period: scores per topic, and the institutions left without any score.
    coverage: tuple["PeriodCoverage", ...] = ()


@dataclass(frozen=True)
class PeriodCoverage:
    period: str
    scores_by_topic: tuple[tuple[str, int], ...]
    institutions_without: int


@dataclass(frozen=True)
class Publication:
    """What publishing a run did: its pairs became partnerships of two institutions (new
    ones, or the same institutions continuing, with the run's topics), earlier partnerships
    whose institutions it no longer pairs ended, an earlier run superseded."""

    run_id: int
    partnerships: int
    new: int
    continued: int
    ended: int
    superseded: int
    pairs: int = 0          # (mentee, topic, mentor) pairs: a partnership may have several

    def as_dict(self) -> dict[str, Any]:
        """As the API prints it (the run's id as ``run``)."""
        doc = asdict(self)
        doc["run"] = doc.pop("run_id")
        return doc


@dataclass(frozen=True)
class Edit:
    """A review edit of a draft: lock, exclude or swap one pair."""

    id: int
    run_id: int
    action: str
    mentee_id: str
    topic_id: str
    mentor_id: str
    author: str
    at: dt.datetime
    note: str


def in_force(edits: list[Edit]) -> list[Edit]:
    """The edits an "undo" has not taken back (each undo takes back the last one in force).

    >>> import datetime as dt
    >>> e = lambda k, action: Edit(k, 1, action, "a", "t", "m", "amina", dt.datetime(2026, 1, 1), "")
    >>> [x.id for x in in_force([e(1, "lock"), e(2, "exclude"), e(3, "undo"), e(4, "swap")])]
    [1, 4]
    """
    kept: list[Edit] = []
    for e in edits:
        if e.action == "undo":
            if kept:
                kept.pop()
        else:
            kept.append(e)
    return kept


@dataclass(frozen=True)
class FocusChoice:
    """A topic an institution chose for a round, who chose it and when."""

    institution_id: str
    topic_id: str
    priority: int
    chosen_by: str
    chosen_at: dt.datetime
    preferred: str = ""         # ";"-separated mentor ids, first choice first


@dataclass(frozen=True)
class Change:
    """One field of an institution or topic changed (or an entity created), with who,
    when and from which file or command."""

    id: int
    entity: str                 # institution | topic | score
    key: str
    field: str
    old: str | None             # JSON text of the value; None: none
    new: str | None
    author: str
    source: str
    at: dt.datetime


@dataclass(frozen=True)
class User:
    """An account. ``networks`` (name, role) when it was given networks: it then works on
    those alone, with the role given on each, and ``role`` applies nowhere."""

    username: str
    role: str
    created_at: dt.datetime
    networks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ShareLink:
    id: int
    token: str
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    show_contacts: bool


@dataclass(frozen=True)
class SharedNetwork:
    """What a live share link opens: one network, read-only, its contact details shown
    only when the facilitator allowed it."""

    name: str
    show_contacts: bool


@dataclass(frozen=True)
class Attendance:
    """An institution at a network learning event, on its own or with its partnership."""

    institution_id: str
    partnership_id: int | None = None


@dataclass(frozen=True)
class LearningEvent:
    """A learning event of the whole network (see ``tpn.cycle.NETWORK_EVENT``) and who
    attended it."""

    id: int
    held_on: dt.date
    kind: str
    title: str
    place: str
    topics: tuple[str, ...]
    organiser: str
    agenda: str
    outputs: str
    attendance: tuple[Attendance, ...]
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime

    @property
    def institutions(self) -> list[str]:
        return sorted(a.institution_id for a in self.attendance)

    @property
    def partnerships(self) -> list[int]:
        return sorted({a.partnership_id for a in self.attendance if a.partnership_id})

    def fields(self) -> dict:
        """Its values as ``tpn.cycle.as_form`` and the record forms take them."""
        return {"held_on": self.held_on.isoformat(), "kind": self.kind, "title": self.title,
                "place": self.place, "organiser": self.organiser, "agenda": self.agenda,
                "outputs": self.outputs}


@dataclass(frozen=True)
class Invitation:
    """An institution's own link for a round (no account): its page, where it answers, and
    as a mentor the pairs it is asked to accept."""

    id: int
    network: str
    round: str
    institution_id: str
    token: str
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    language: str = "en"            # the network's: the institution's page is shown in it

    def live(self, at: dt.datetime) -> bool:
        return self.revoked_at is None and self.expires_at > at


@dataclass(frozen=True)
class FocusAnswer:
    """One focus topic of an answer, with the mentors it would like, first choice first."""

    topic_id: str
    preferred: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """What an institution answered on its page: focus topics in priority order, preferred
    mentors, how many mentees it can take (None: not said), a note."""

    id: int
    round: str
    institution_id: str
    focus: tuple[FocusAnswer, ...]
    capacity: int | None
    note: str
    answered_at: dt.datetime
    status: str                 # new | accepted | rejected | applied
    decided_by: str | None
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class MentorResponse:
    """A mentor's answer to a pair of a draft it was asked to accept."""

    run_id: int
    mentee_id: str
    topic_id: str
    mentor_id: str
    response: str               # accept | decline
    reason: str
    at: dt.datetime
