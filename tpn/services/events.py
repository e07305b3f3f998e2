"""Learning events of the whole network: exchange and coaching visits, virtual and
in-person learning sessions that bring many institutions and partnerships together (the
network-wide learning the Rwanda network credits). Use cases for the CLI and the web app,
one transaction each.

An event is attended by institutions; one that comes with its partnership is recorded with
it, and naming a partnership brings both its institutions.
"""

from __future__ import annotations

from ..cycle import NETWORK_EVENT, parse_fields
from ..errors import InputError, NotFoundError, Problem
from ..i18n import N_, _
from ..storage import Database
from ..storage import repository as repo
from ..storage.stored import Attendance, LearningEvent

__all__ = ["LearningEvent", "save_event", "delete_event", "events", "event", "attended_by",
           "attendance_counts"]


def save_event(db: Database, network: str, form: dict, institutions: list[str] = (),
               partnerships: list[int] = (), topics: list[str] = (), author: str = "cli",
               event_id: int | None = None) -> LearningEvent:
    """Add a network learning event, or (``event_id``) rewrite one and its attendance.
    ``form`` holds the fields of ``tpn.cycle.NETWORK_EVENT`` as text; ``institutions`` are
    ids or names (any case), ``partnerships`` ids of the network's partnerships (both their
    institutions attend), ``topics`` ids or names. Every problem in one report; nothing is
    saved otherwise."""
    problems: list[Problem] = []
    try:
        values = parse_fields(NETWORK_EVENT, form)
    except InputError as exc:
        problems += exc.problems
        values = {}
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        if event_id is not None and not repo.events(conn, net_id, event_id):
            raise NotFoundError(_("no learning event {event_id} in network {network!r}",
                                  event_id=event_id, network=network))
        data = repo.load_network(conn, net_id)
        found_topics = _resolve(topics, {t.id: t.label for t in data.topics}, "topics",
                                _UNKNOWN_TOPIC, problems)
        present = {key: None for key in _resolve(
            institutions, {i.id: i.name for i in data.institutions}, "institutions",
            _UNKNOWN_INSTITUTION, problems)}
        ours = {p["id"]: p for p in repo.partnership_rows(conn, net_id, ended=True)}
        for pid in partnerships:
            if pid not in ours:
                problems.append(Problem("", None, None, "partnerships",
                                        _("{pid} is not a partnership of {network}", pid=pid,
                                          network=network),
                                        _("choose among its partnerships (tpn partnership list "
                                          "NETWORK)")))
                continue
            for key in (ours[pid]["mentee_id"], ours[pid]["mentor_id"]):
                present[key] = present.get(key) or pid
        if problems:
            raise InputError(problems)
        saved = repo.save_event(conn, net_id, event_id, values, found_topics,
                                [Attendance(k, present[k]) for k in sorted(present)], author)
        return repo.events(conn, net_id, saved)[0]


_UNKNOWN_TOPIC = (N_("{text!r} is not a topic of the network"),
                  N_("give the topic's id or its name"))
_UNKNOWN_INSTITUTION = (N_("{text!r} is not an institution of the network"),
                        N_("give the institution's id or its name"))


def _resolve(given, known: dict[str, str], column: str, unknown: tuple[str, str],
             problems: list[Problem]) -> list[str]:
    """Ids from ids or names (any case, surrounding spaces ignored), each once, in order."""
    by_text = {k.casefold(): k for k in known} | {v.casefold(): k for k, v in known.items()}
    out: list[str] = []
    for text in given:
        key = by_text.get(str(text).strip().casefold())
        if key is None:
            problems.append(Problem("", None, None, column,
                                    _(unknown[0], text=str(text).strip()), _(unknown[1])))
        elif key not in out:
            out.append(key)
    return out


def delete_event(db: Database, network: str, event_id: int) -> LearningEvent:
    with db.transaction() as conn:
        found = event(db, network, event_id, conn)
        repo.delete_event(conn, event_id)
    return found


def events(db: Database, network: str) -> list[LearningEvent]:
    """The network's learning events, oldest first."""
    with db.connect() as conn:
        return repo.events(conn, repo.network_id(conn, network))


def event(db: Database, network: str, event_id: int, conn=None) -> LearningEvent:
    """One event of the network (NotFoundError for another network's)."""
    if conn is None:
        with db.connect() as conn:
            return event(db, network, event_id, conn)
    found = repo.events(conn, repo.network_id(conn, network), event_id)
    if not found:
        raise NotFoundError(_("no learning event {event_id} in network {network!r}",
                              event_id=event_id, network=network))
    return found[0]


def attended_by(all_events: list[LearningEvent], institution: str | None = None,
                partnership: dict | None = None) -> list[LearningEvent]:
    """The events an institution attended (on its own or with a partnership), or those a
    partnership attended (with it named, or both its institutions there)."""
    if institution is not None:
        return [e for e in all_events if institution in e.institutions]
    return [e for e, present in zip(all_events, _present(all_events))
            if _with(partnership, present)]


def attendance_counts(all_events: list[LearningEvent], partnerships: list[dict]
                      ) -> dict[int, int]:
    """How many of the events each partnership attended (as :func:`attended_by`), with
    each event's attendance gathered once."""
    present = _present(all_events)
    return {p["id"]: sum(_with(p, x) for x in present) for p in partnerships}


def _present(all_events: list[LearningEvent]) -> list[tuple[set[int], set[str]]]:
    return [(set(e.partnerships), set(e.institutions)) for e in all_events]


def _with(partnership: dict, present: tuple[set[int], set[str]]) -> bool:
    partnerships, institutions = present
    return partnership["id"] in partnerships or \
        {partnership["mentee_id"], partnership["mentor_id"]} <= institutions
