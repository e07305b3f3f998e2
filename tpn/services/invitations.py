"""Institutions take part: an invitation per institution and round (a link, no account),
where the institution sees where it stands, chooses its focus topics in priority order,
ranks the mentors it would like and says how many mentees it can take; the facilitator's
board of answers; and mentors who accept or decline the pairs of a draft. Use cases for
the CLI, the web app and the API, one transaction each.

An invitation reaches its own institution of its own network only: every use case that
takes a token reads the institution from it, never from what the caller sends.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import InputError, NotFoundError, Problem, TpnError
from ..i18n import _, checked
from ..models import DEFAULT_ROUND, MAX_PREFERRED, Institution
from ..storage import Database
from ..storage import repository as repo
from ..storage.stored import Answer, FocusAnswer, Invitation, MentorResponse

INVITATION_DAYS = 30
MAX_FOCUS = 3               # focus topics an institution chooses on its page
MENTORS_LISTED = 20         # eligible mentors offered per topic, the best-placed first
DECISIONS = ("accepted", "rejected")
RESPONSES = ("accept", "decline")

__all__ = ["INVITATION_DAYS", "MAX_FOCUS", "create", "invitations", "revoke", "invited",
           "page", "submit", "board", "decide", "apply", "close", "export", "ask_mentors",
           "proposals", "respond", "acceptance"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def create(db: Database, network: str, institutions: list[str] | None = None,
           days: int = INVITATION_DAYS, author: str = "cli",
           round_name: str = DEFAULT_ROUND) -> list[Invitation]:
    """A live invitation for each institution (all of the network's by default) that has
    none yet for the round; each expires after ``days``. Returns the round's live ones."""
    if not 1 <= days <= 366:
        raise InputError(Problem("", None, None, "days",
                                 _("{days} is not from 1 to 366", days=days),
                                 _("give how many days the invitations should work")))
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        known = {i.id for i in repo.load_network(conn, net_id).institutions}
        wanted = sorted(known) if institutions is None else list(dict.fromkeys(institutions))
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise InputError([Problem("", None, None, "institution",
                                      _("{i!r} is not an institution of {network}", i=i,
                                        network=network), _("check the id"))
                              for i in unknown])
        have = {i.institution_id for i in repo.invitations(conn, net_id, round_name)}
        expires = _now() + dt.timedelta(days=days)
        for inst in wanted:
            if inst not in have:
                repo.add_invitation(conn, net_id, round_name, inst, secrets.token_urlsafe(24),
                                    author, expires)
        return repo.invitations(conn, net_id, round_name)


def invitations(db: Database, network: str, round_name: str = DEFAULT_ROUND) -> list[Invitation]:
    """The round's live invitations, by institution."""
    with db.connect() as conn:
        return repo.invitations(conn, repo.network_id(conn, network), round_name)


def revoke(db: Database, network: str, institution: str | None = None,
           round_name: str = DEFAULT_ROUND) -> int:
    """Revoke one institution's invitation (every one of the round without ``institution``);
    returns how many stopped working."""
    with db.transaction() as conn:
        return repo.revoke_invitations(conn, repo.network_id(conn, network), round_name,
                                       institution)


def invited(db: Database, token: str) -> Invitation:
    """The live invitation of a token; NotFoundError (one message for every case, so a
    guess learns nothing) when it never was one, was revoked or expired."""
    with db.connect() as conn:
        found = repo.invitation(conn, token)
    if found is None or not found.live(_now()):
        raise NotFoundError(_("this invitation link does not work (any more): ask the facilitator "
                              "for a new one"))
    return found


def invitation_language(db: Database, token: str) -> str | None:
    """The language of the network a token's page belongs to (None: no such token)."""
    with db.connect() as conn:
        found = repo.invitation(conn, token)
    return None if found is None else found.language


@dataclass(frozen=True)
class Proposal:
    """A pair of a draft that its mentor is asked to accept, and what it answered."""

    run_id: int
    mentee_id: str
    mentee_name: str
    topic_id: str
    topic_name: str
    mentee_score: str
    mentor_score: str
    why: str
    response: MentorResponse | None


@dataclass(frozen=True)
class InstitutionPage:
    """Everything an institution's own page shows: where it stands (the gap analysis'
    figures), the mentors eligible on each topic, its last answer, whether the round still
    takes answers, and as a mentor the pairs it is asked to accept."""

    invitation: Invitation
    institution: Institution
    profile: dict
    eligible: dict[str, list[Institution]]      # topic -> its MENTORS_LISTED best mentors
    answer: Answer | None
    closed: bool
    max_focus: int
    proposals: tuple[Proposal, ...]


def page(db: Database, token: str, max_focus: int = MAX_FOCUS) -> InstitutionPage:
    inv = invited(db, token)
    return _page(db, inv, max_focus, tuple(_proposals(db, inv)))


def _page(db: Database, inv: Invitation, max_focus: int,
          proposed: tuple[Proposal, ...] = ()) -> InstitutionPage:
    from .analysis import institution_profile

    # The best-placed mentors by the match's cost: a national network has hundreds per topic.
    profile = institution_profile(db, inv.network, inv.institution_id,
                                  mentors_per_topic=MENTORS_LISTED)
    eligible = {t["topic"].id: [m["institution"] for m in t["mentors"]]
                for t in profile["topics"] if t["mentors"]}
    with db.connect() as conn:
        net_id = repo.network_id(conn, inv.network)
        answer = next(iter(repo.answers(conn, net_id, inv.round, inv.institution_id)), None)
        closed = repo.round_closed(conn, net_id, inv.round) is not None
    return InstitutionPage(inv, profile["institution"], profile, eligible, answer, closed,
                           max_focus, proposed)


def submit(db: Database, token: str, focus: list[tuple[str, list[str]]],
           capacity: str | int | None, note: str = "", max_focus: int = MAX_FOCUS) -> Answer:
    """An institution's answer through its invitation: up to ``max_focus`` topics in
    priority order, each with up to MAX_PREFERRED mentors among those listed, and how many
    mentees it can take (empty: not said). Every problem in one report; nothing saved
    otherwise. It can answer again until the facilitator closes the round."""
    inv = invited(db, token)
    current = _page(db, inv, max_focus)
    if current.closed:
        raise InputError(Problem("", None, None, None,
                                 _("the facilitator has closed this round's answers"),
                                 _("ask the facilitator to reopen them")))
    topics = {t["topic"].id: t["topic"] for t in current.profile["topics"]}
    names = {m.id: m for ms in current.eligible.values() for m in ms}
    problems, chosen = [], []
    bad = lambda column, message, fix: problems.append(Problem("", None, None, column, message,
                                                              fix))
    for n, (topic, preferred) in enumerate(focus, start=1):
        if not topic:
            continue
        if topic not in topics:
            bad(f"topic-{n}", _("{topic!r} is not a topic for {name}", topic=topic,
                                name=current.institution.name),
                _("choose one of the list"))
            continue
        if any(topic == c.topic_id for c in chosen):
            bad(f"topic-{n}", _("{label} is chosen twice", label=topics[topic].label),
                _("choose it once"))
            continue
        wanted = [m for m in dict.fromkeys(preferred) if m]
        allowed = {m.id for m in current.eligible.get(topic, ())}
        for m in wanted:
            if m not in allowed:
                who = names[m].name if m in names else repr(m)
                bad(f"mentor-{n}", _("{who} cannot mentor {name} on {label}", who=who,
                                     name=current.institution.name, label=topics[topic].label),
                                     _("choose among the mentors listed for the topic"))
        if len(wanted) > MAX_PREFERRED:
            bad(f"mentor-{n}", _("{n} mentors ranked", n=len(wanted)),
                _("rank at most {MAX_PREFERRED}", MAX_PREFERRED=MAX_PREFERRED))
        chosen.append(FocusAnswer(topic, tuple(wanted[:MAX_PREFERRED])))
    if len(chosen) > max_focus:
        bad("topic", _("{n} topics chosen", n=len(chosen)),
            _("choose at most {max_focus}", max_focus=max_focus))
    amount = None
    if capacity not in (None, ""):
        text = str(capacity).strip()
        if not text.isdecimal() or int(text) > 100:
            bad("capacity", _("{text!r} is not a number of mentees", text=text),
                _("write 0 to 100, or leave it empty"))
        else:
            amount = int(text)
    if len(note) > 2000:
        bad("note", _("the note is longer than 2,000 characters"), _("shorten it"))
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        net_id = repo.network_id(conn, inv.network)
        repo.add_answer(conn, net_id, inv.round, inv.institution_id, inv.id, chosen, amount,
                        note.strip())
        return repo.answers(conn, net_id, inv.round, inv.institution_id)[0]


@dataclass(frozen=True)
class AnswerBoard:
    """The facilitator's view of a round: who was invited, who answered (their last
    answers) and who not yet (the reminders list), and whether answers are closed."""

    network: str
    round: str
    invited: tuple[Invitation, ...]
    answers: tuple[Answer, ...]
    waiting: tuple[Invitation, ...]
    closed_at: dt.datetime | None


def board(db: Database, network: str, round_name: str = DEFAULT_ROUND) -> AnswerBoard:
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        invited_ = tuple(repo.invitations(conn, net_id, round_name))
        answered = tuple(repo.answers(conn, net_id, round_name))
        closed = repo.round_closed(conn, net_id, round_name)
    done = {a.institution_id for a in answered}
    return AnswerBoard(network, round_name, invited_, answered,
                       tuple(i for i in invited_ if i.institution_id not in done), closed)


def decide(db: Database, network: str, institution: str, decision: str, author: str = "cli",
           round_name: str = DEFAULT_ROUND) -> Answer:
    """Accept or reject an institution's last answer (before "use these answers")."""
    if decision not in DECISIONS:
        raise InputError(Problem("", None, None, "decision",
                                 _("{decision!r} is not a decision", decision=decision),
                                 _("use one of {join}", join=', '.join(DECISIONS))))
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        found = repo.answers(conn, net_id, round_name, institution)
        if not found:
            raise NotFoundError(_("{institution!r} has not answered in round {round_name}",
                                  institution=institution, round_name=round_name))
        repo.decide_answer(conn, found[0].id, decision, author)
        return repo.answers(conn, net_id, round_name, institution)[0]


@dataclass(frozen=True)
class Applied:
    """What "use these answers" did."""

    institutions: int           # whose focus was replaced by their answer
    focus: int                  # focus topics written
    capacities: int             # capacities set
    rejected: int               # answers left out (rejected)


def apply(db: Database, network: str, author: str = "cli",
          round_name: str = DEFAULT_ROUND) -> Applied:
    """Make the round's answers (all but the rejected ones) its focus topics, with their
    preferred mentors, and the institutions' capacities; each change in the history."""
    from .networks import set_fields

    current = board(db, network, round_name)
    used = [a for a in current.answers if a.status != "rejected"]
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        for a in used:
            for f in repo.focus_rows(conn, net_id, round_name):
                if f.institution_id == a.institution_id:
                    repo.remove_focus(conn, net_id, f.institution_id, f.topic_id, round_name)
            for priority, f in enumerate(a.focus, start=1):
                repo.set_focus(conn, net_id, a.institution_id, f.topic_id, priority,
                               f"{author} (answer of {a.answered_at:%Y-%m-%d})", round_name,
                               f.preferred)
            repo.decide_answer(conn, a.id, "applied", author)
    for a in used:
        if a.capacity is not None:
            set_fields(db, network, "institution", a.institution_id,
                       {"capacity": str(a.capacity)}, f"{author} (answer)")
    return Applied(len(used), sum(len(a.focus) for a in used),
                   sum(a.capacity is not None for a in used),
                   len(current.answers) - len(used))


def close(db: Database, network: str, author: str = "cli", round_name: str = DEFAULT_ROUND,
          closed: bool = True) -> None:
    """Close the round's answers (invitation pages then read, no longer write), or reopen."""
    with db.transaction() as conn:
        repo.close_round(conn, repo.network_id(conn, network), round_name, author, closed)


EXPORT_FORMATS = ("csv", "xlsx")


def export(db: Database, network: str, base_url: str, fmt: str, out: str | Path,
           round_name: str = DEFAULT_ROUND, language: str | None = None) -> Path:
    """The round's live invitations for a mail-merge, one file (a workbook, or one CSV
    file): institution, its contact columns (email, phone, contact), its link and when it
    expires. Text a spreadsheet would read as a formula is neutralised. A workbook in a
    ``language`` other than English has a ``labels`` sheet naming each column in it."""
    from ..tabular import write_sheets
    from ..tabular.labels import with_labels
    from ..tabular.writer import safe_cell, write_csv

    language = checked(language, "--lang")
    if fmt not in EXPORT_FORMATS:
        raise InputError(Problem("", None, None, "--format", _("{fmt!r} is not a format", fmt=fmt),
                                 _("use one of {join}", join=', '.join(EXPORT_FORMATS))))
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        data = repo.load_network(conn, net_id)
        rows = repo.invitations(conn, net_id, round_name)
    inst = {i.id: i for i in data.institutions}
    contact = sorted({k for i in data.institutions for k in i.attributes
                      if k in ("email", "phone", "contact")})
    header = ["institution_id", "name"] + contact + ["link", "expires"]
    body = [[r.institution_id, inst[r.institution_id].name if r.institution_id in inst else ""]
            + [inst[r.institution_id].attributes.get(k, "") if r.institution_id in inst else ""
               for k in contact]
            + [link(base_url, r.token), r.expires_at.date().isoformat()] for r in rows]
    body = [[safe_cell(cell) for cell in row] for row in body]
    if fmt == "csv":
        write_csv(Path(out), header, body)
        return Path(out)
    return write_sheets(out, with_labels({"invitations": (header, body)}, language), fmt)


def link(base_url: str, token: str) -> str:
    """An invitation's address.

    >>> link("http://10.0.0.5:8000/", "abc")
    'http://10.0.0.5:8000/i/abc'
    """
    return f"{base_url.rstrip('/')}/i/{token}"


# --- mentors accept -----------------------------------------------------------------------


def ask_mentors(db: Database, run_id: int, author: str = "cli") -> None:
    """Share a draft with its mentors: each mentor's invitation page lists its proposed
    mentees, to accept or decline."""
    with db.transaction() as conn:
        run = repo.get_run(conn, run_id)
        if run.status != "draft":
            raise TpnError(_("run {run_id} is {status}: mentors accept a draft's pairs",
                             run_id=run_id, status=run.status))
        repo.ask_mentors(conn, run_id)


def _asked_draft(conn, network: str):
    """The network's latest draft its mentors were asked to accept, if any."""
    net_id = repo.network_id(conn, network)
    for summary in reversed(repo.list_runs(conn, net_id)):
        if summary.status == "draft":
            run = repo.get_run(conn, summary.id)
            if run.mentors_asked_at is not None:
                return run
    return None


def proposals(db: Database, token: str) -> list[Proposal]:
    """The pairs of the latest draft shared with the mentors where the invitation's
    institution is the mentor, with what it answered."""
    return _proposals(db, invited(db, token))


def _proposals(db: Database, inv: Invitation) -> list[Proposal]:
    with db.connect() as conn:
        run = _asked_draft(conn, inv.network)
        if run is None:
            return []
        answered = _responses(conn, run)
        data = repo.load_network(conn, run.network_id)
    topics = {t.id: t.label for t in data.topics}
    return [Proposal(run.id, p["mentee_id"], p["mentee_name"], p["topic_id"],
                     topics.get(p["topic_id"], p["topic_id"]), p["mentee_score"],
                     p["mentor_score"], p["why"],
                     answered.get((p["mentee_id"], p["topic_id"], p["mentor_id"])))
            for p in run.pairs if p["mentor_id"] == inv.institution_id]


def _responses(conn, run) -> dict[tuple[str, str, str], MentorResponse]:
    """The responses that hold for a draft's pairs: its own, and its parents' for the pairs
    a rerun kept (a mentor that accepted need not accept again)."""
    chain, at = [], run
    while at is not None:
        chain.append(at.id)
        at = repo.get_run(conn, at.parent_id) if at.parent_id else None
        if at is not None and at.status != "draft":
            break
    out: dict[tuple[str, str, str], MentorResponse] = {}
    for run_id in reversed(chain):          # oldest first: a later response counts
        for r in repo.responses(conn, run_id):
            out[(r.mentee_id, r.topic_id, r.mentor_id)] = r
    return out


def respond(db: Database, token: str, run_id: int, mentee: str, topic: str, response: str,
            reason: str = "") -> MentorResponse:
    """A mentor accepts or declines one of its proposed pairs. A decline needs a reason and
    becomes an exclusion of the draft (an edit with the reason): the next rerun leaves the
    pair out."""
    inv = invited(db, token)
    problems = []
    if response not in RESPONSES:
        problems.append(Problem("", None, None, "response",
                                _("{response!r} is not an answer", response=response),
                                _("accept or decline")))
    if response == "decline" and not reason.strip():
        problems.append(Problem("", None, None, "reason", _("a decline needs a reason"),
                                _("say why, so that the facilitator can find another mentor")))
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        run = _asked_draft(conn, inv.network)
        if run is None or run.id != run_id or not any(
                (p["mentee_id"], p["topic_id"], p["mentor_id"])
                == (mentee, topic, inv.institution_id) for p in run.pairs):
            raise NotFoundError(_("this pair is not proposed to you (any more): reload the page"))
        repo.add_response(conn, run_id, mentee, topic, inv.institution_id, response,
                          reason.strip(), inv.id)
        if response == "decline":
            repo.add_edit(conn, run_id, "exclude", mentee, topic, inv.institution_id,
                          f"{inv.institution_id} (its invitation)",
                          f"the mentor declined: {reason.strip()}")
        return _responses(conn, run)[(mentee, topic, inv.institution_id)]


@dataclass(frozen=True)
class Acceptance:
    """Where a draft's pairs stand with their mentors (asked: shared with them). ``declined``
    holds every decline of the draft and of the drafts it was rerun from; ``declined_here``
    counts those whose pair is still in the draft."""

    asked: bool
    accepted: tuple[tuple[str, str, str], ...]
    declined: tuple[MentorResponse, ...]
    pending: tuple[tuple[str, str, str], ...]
    declined_here: int = 0

    @property
    def unsettled(self) -> int:
        """Pairs of the draft not accepted: awaiting an answer, or declined."""
        return len(self.pending) + self.declined_here

    @cached_property
    def _answers(self) -> dict[tuple[str, str, str], str]:
        return {**{(r.mentee_id, r.topic_id, r.mentor_id): "declined" for r in self.declined},
                **{k: "accepted" for k in self.accepted}}

    def status(self, mentee: str, topic: str, mentor: str) -> str:
        return self._answers.get((mentee, topic, mentor), "pending" if self.asked else "")


def acceptance(db: Database, run_id: int) -> Acceptance:
    with db.connect() as conn:
        run = repo.get_run(conn, run_id)
        answered = _responses(conn, run)
        asked = run.mentors_asked_at is not None
    keys = [(p["mentee_id"], p["topic_id"], p["mentor_id"]) for p in run.pairs]
    accepted = tuple(k for k in keys if k in answered and answered[k].response == "accept")
    declined = tuple(r for k, r in answered.items() if r.response == "decline")
    pending = tuple(k for k in keys if k not in answered) if asked else ()
    here = sum(k in answered and answered[k].response == "decline" for k in keys)
    return Acceptance(asked, accepted, declined, pending, here)
