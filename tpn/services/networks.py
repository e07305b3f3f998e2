"""Networks and their data: imports (all of it or nothing), institutions, topics and
focus changed one at a time with their history, data-quality flags and acceptances, and a
whole network as one backup file."""

from __future__ import annotations

import json
from dataclasses import replace as dc_replace
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from .. import i18n, quality
from ..analysis.quality import QualityReport
from ..analysis.quality import quality_report as report_on
from ..errors import InputError, NotFoundError, Problem
from ..i18n import _, ngettext
from ..matching import MatchOptions
from ..models import DEFAULT_ROUND, Flag, Network
from ..storage import Database
from ..storage import repository as repo
from ..storage.stored import Import, PeriodCoverage
from ..tabular import DEFAULT_PERIOD, read_network


def import_file(db: Database, path: str | Path, network: str, period: str | None = None,
                replace: bool = False, author: str = "cli", round_name: str = DEFAULT_ROUND,
                columns: dict[str, dict[str, str]] | None = None,
                data: Network | None = None, source: str | None = None) -> Import:
    """Add a workbook (or DHIS2 export) to a network: all of it, or nothing. A focus sheet
    becomes the focus of ``round_name``. ``columns`` renames headers that differ from
    tpn's (see :func:`tpn.tabular.read_network`); ``data`` is a network already read
    (a DHIS2 export read with its own mapping), ``source`` the file name to record."""
    if data is None:
        data = read_for_import(db, path, network, period, columns)
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network, create=True)
        added = repo.save_network(conn, net_id, data, source or Path(path).name, replace,
                                  author, round_name)
    # A flag never blocks an import: the summary points to the data-quality report.
    return dc_replace(added, quality=quality_report(db, network).summary(),
                      coverage=tuple(_coverage(data, snap) for snap in data.snapshots))


def _coverage(data: Network, snap) -> PeriodCoverage:
    by_topic: dict[str, int] = {}
    scored = set()
    for (inst, topic) in snap.scores:
        by_topic[topic] = by_topic.get(topic, 0) + 1
        scored.add(inst)
    return PeriodCoverage(snap.period, tuple(sorted(by_topic.items())),
                          sum(i.id not in scored for i in data.institutions))


def read_for_import(db: Database, path, network: str, period: str | None = None,
                    columns: dict[str, dict[str, str]] | None = None) -> Network:
    """What importing ``path`` into ``network`` would add: a whole network from a workbook,
    or, from a scores sheet alone, new scores for the stored institutions and topics."""
    from ..tabular.scores import is_scores_only, read_scores

    if is_scores_only(path):
        if network not in networks(db):
            raise InputError(Problem(Path(path).name, "scores", None, None,
                                     _("a scores sheet alone adds scores to a network tpn holds, "
                                       "and {network!r} is new", network=network),
                                     _("import a workbook with the institutions, topics and "
                                       "scores sheets first (tpn template writes one)")))
        return read_scores(path, load(db, network), period or DEFAULT_PERIOD)
    return read_network(path, default_period=period or DEFAULT_PERIOD, columns=columns)


def create_network(db: Database, name: str) -> None:
    """An empty network, to import into."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError(Problem("", None, None, "name",
                                 _("a network needs a name of 1 to 200 characters"),
                                 _("type a name")))
    with db.transaction() as conn:
        if name in repo.network_names(conn):
            raise InputError(Problem("", None, None, "name",
                                     _("a network named {name!r} exists already", name=name),
                                     _("open it, or choose another name")))
        repo.network_id(conn, name, create=True)


def networks(db: Database) -> list[str]:
    with db.connect() as conn:
        return repo.network_names(conn)


def network_language(db: Database, network: str) -> str:
    """The language a network's pages are shown in when the reader has not chosen one."""
    with db.connect() as conn:
        return repo.network_language(conn, repo.network_id(conn, network))


def set_network_language(db: Database, network: str, code: str, author: str) -> None:
    """Set a network's default language (one of ``tpn.i18n.languages()``)."""
    i18n.checked(code)
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        repo.set_network_language(conn, net_id, code, author)


def labels(db: Database, network: str):
    """``label(key, topic=False)``: an institution's (or topic's) name for messages, its id
    when it has none."""
    with db.connect() as conn:
        institutions, topics = repo.names(conn, repo.network_id(conn, network))

    def label(key: str, topic: bool = False) -> str:
        return (topics if topic else institutions).get(key, key)
    return label


def institution_count(db: Database, network: str) -> int:
    """How many institutions a network has, without loading it."""
    with db.connect() as conn:
        return repo.institution_count(conn, repo.network_id(conn, network))


def overview(db: Database, network: str, round_name: str = DEFAULT_ROUND) -> dict:
    """What a network holds, for its front page: counts, periods, focus and runs."""
    from .runs import published, runs

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
        "published": published(run_list),
        # Scores the data-quality checks flag and nobody accepted (they count as missing).
        "flagged": sum(len(s.flags) for s in data.snapshots),
    }


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
                   options: MatchOptions | None = None) -> QualityReport:
    """The data-quality report of a stored network (``tpn check``, the app's page)."""
    with db.connect() as conn:
        net_id = repo.network_id(conn, network)
        data = repo.load_network(conn, net_id)
        accepted = repo.acceptances(conn, net_id)
    return report_on(data, quality.Checks.from_options(options or MatchOptions()),
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
        raise InputError(Problem("", None, None, None,
                                 _("the score of {institution} on {topic} in period {period} is "
                                   "not flagged", institution=institution, topic=topic,
                                   period=period),
                                 _("list the flagged scores with: tpn check --network {network}",
                                   network=network)))
    with db.transaction() as conn:
        repo.accept_score(conn, repo.network_id(conn, network), institution, topic, period,
                          flag.value, author, note)
    return flag


def withdraw_acceptance(db: Database, network: str, institution: str, topic: str,
                        period: str, author: str = "cli") -> None:
    with db.transaction() as conn:
        if not repo.withdraw_acceptance(conn, repo.network_id(conn, network), institution,
                                        topic, period, author):
            raise NotFoundError(_("no accepted score of {institution} on {topic} in period "
                                  "{period}", institution=institution, topic=topic, period=period))


MAX_PRIORITY = 1000     # the database keeps a 32-bit integer; nobody ranks past a few
_FIELDS = {
    "institution": ("name", "kind", "region", "latitude", "longitude", "size", "capacity",
                    "external", "mentors_on"),
    "topic": ("name", "direction", "kinds", "target", "unit"),
}


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(_("{text!r} is not a whole number", text=text)) from None


def set_fields(db: Database, network: str, entity: str, key: str, assignments: dict[str, str],
               author: str = "cli") -> dict:
    """Change fields of an institution or topic (checked as an import would check them);
    every change goes to the network's history."""
    from ..tabular.workbook import MAX_LENGTH, _direction, parse_number

    problems, changes = [], {}
    for field, text in assignments.items():
        where = Problem("", entity, None, field, "", "")
        if field not in _FIELDS[entity]:
            problems.append(dc_replace(where, message=_("{field!r} is not a field of a {entity}",
                                                        field=field, entity=entity),
                                       fix=_("use one of {join}",
                                             join=', '.join(_FIELDS[entity]))))
            continue
        try:
            if field in ("latitude", "longitude", "size", "target"):
                value = None if text.strip() == "" else parse_number(text)
                limit = {"latitude": 90, "longitude": 180}.get(field)
                if value is not None and limit and abs(value) > limit:
                    raise ValueError(_("{text!r} is outside -{limit} to {limit}", text=text,
                                       limit=limit))
                if field == "size" and value is not None and value <= 0:
                    raise ValueError(_("{text!r} must be above 0", text=text))
            elif field == "capacity":
                value = None if text.strip() == "" else _whole(text)
                if value is not None and value < 0:
                    raise ValueError(_("{text!r} must not be negative", text=text))
            elif field == "external":
                from ..tabular.workbook import _NO, _YES

                if text.strip().lower() not in _YES + _NO:
                    raise ValueError(_("{text!r} is not yes or no", text=text))
                value = text.strip().lower() in _YES
            elif field == "mentors_on":
                value = _offered_topics(db, network, text)
            elif field == "direction":
                value = _direction(text)
                if value is None:
                    raise ValueError(_("{text!r} is not a direction: write higher or lower",
                                       text=text))
            elif field in ("name", "kind") and not text.strip():
                raise ValueError(_("the {field} must not be empty", field=field))
            else:
                value = text.strip()
                limit = MAX_LENGTH[entity + "s"].get(field)
                if limit and len(value) > limit:
                    raise ValueError(_("the text is longer than the {limit} characters tpn keeps",
                                       limit=limit))
        except ValueError as exc:
            problems.append(dc_replace(where, message=exc.args[0], fix=_("type a valid value")))
            continue
        changes[field] = value
    if entity == "institution" and not problems and {"external", "mentors_on"} & changes.keys():
        current = {i.id: i for i in load(db, network).institutions}.get(key)
        external = changes.get("external", current is not None and current.external)
        offers = changes.get("mentors_on", ";".join(current.mentors_on) if current else "")
        if not external and offers:
            if "mentors_on" in changes:
                problems.append(Problem("", entity, None, "mentors_on",
                                        _("only an external partner is offered as a mentor on "
                                          "named topics"),
                                        _("set external=yes too, or leave mentors_on empty")))
            else:
                changes["mentors_on"] = ""      # no longer external: no longer offered
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        return repo.update_entity(conn, repo.network_id(conn, network), entity, key, changes,
                                  author)


def _offered_topics(db: Database, network: str, text: str) -> str:
    """Topic ids (or names) separated by ; or , as the stored text; ValueError names the
    unknown ones."""
    topics = load(db, network).topics
    by_text = {t.id.casefold(): t.id for t in topics} | {t.label.casefold(): t.id for t in topics}
    given = [x.strip() for x in text.replace(",", ";").split(";") if x.strip()]
    unknown = [x for x in given if x.casefold() not in by_text]
    if unknown:
        raise ValueError(ngettext("{topics} is not a topic of the network",
                                  "{topics} are not topics of the network", len(unknown),
                                  topics=", ".join(repr(x) for x in unknown)))
    return ";".join(sorted({by_text[x.casefold()] for x in given}))


def history(db: Database, network: str, key: str | None = None) -> list[dict]:
    with db.connect() as conn:
        return repo.history(conn, repo.network_id(conn, network), key)


def set_focus(db: Database, network: str, institution: str, topic: str, priority: int = 1,
              author: str = "cli", round_name: str = DEFAULT_ROUND) -> None:
    """An institution chooses a topic (who and when are kept); topics that do not apply to
    its kind are refused."""
    if not 1 <= priority <= MAX_PRIORITY:
        raise InputError(Problem("", "focus", None, "priority",
                                 _("{priority} is not from 1 to {MAX_PRIORITY}",
                                   priority=priority, MAX_PRIORITY=MAX_PRIORITY),
                                 _("1 is the most important")))
    data = load(db, network)
    inst = {i.id: i for i in data.institutions}.get(institution)
    top = {t.id: t for t in data.topics}.get(topic)
    if inst and top and not top.applies_to(inst.kind):
        raise InputError(Problem("", "focus", None, "topic_id",
                                 _("{topic} does not apply to {kind} institutions", topic=topic,
                                   kind=inst.kind), _("choose another topic")))
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
                                    _("{inst_id!r} is not an institution of {network}",
                                      inst_id=inst_id, network=network),
                                    _("check the id")))
            continue
        seen = set()
        for topic_id, priority in chosen:
            topic = topics.get(topic_id)
            where = f"{inst.name}: "
            if topic is None:
                problems.append(Problem("", "focus", None, "topic_id",
                                        _("{where}{topic_id!r} is not a topic", where=where,
                                          topic_id=topic_id), _("choose a topic from the list")))
            elif not topic.applies_to(inst.kind):
                problems.append(Problem("", "focus", None, "topic_id",
                                        _("{where}{label} does not apply to {kind} institutions",
                                          where=where, label=topic.label, kind=inst.kind),
                                        _("choose another topic")))
            elif topic_id in seen:
                problems.append(Problem("", "focus", None, "topic_id",
                                        _("{where}{label} is chosen twice", where=where,
                                          label=topic.label), _("choose each topic once")))
            if not 1 <= priority <= MAX_PRIORITY:
                problems.append(Problem("", "focus", None, "priority",
                                        _("{where}priority {priority} is not from 1 to "
                                          "{MAX_PRIORITY}", where=where, priority=priority,
                                          MAX_PRIORITY=MAX_PRIORITY),
                                        _("1 is the most important")))
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
                  round_name: str = DEFAULT_ROUND, institutions=None,
                  data: Network | None = None) -> list:
    """The gap analysis on a stored network (or ``data``, the network already loaded);
    only for ``institutions`` when given; with ``apply``, the suggestions become the
    round's focus (replacing it), in one transaction."""
    from ..matching.focus import suggest_focus as suggest

    if apply and institutions is not None:
        raise ValueError(_("apply replaces the whole round's focus: give no institutions"))
    data = data or load(db, network, round_name, options)
    suggestions = suggest(data, data.snapshot(period), options, per_institution, institutions)
    if apply:
        with db.transaction() as conn:
            net_id = repo.network_id(conn, network)
            for f in repo.focus_rows(conn, net_id, round_name):
                repo.remove_focus(conn, net_id, f.institution_id, f.topic_id, round_name)
            for x in suggestions:
                repo.set_focus(conn, net_id, x.institution_id, x.topic_id, x.rank, author,
                               round_name)
    return suggestions


BACKUP_FORMAT = repo.BACKUP_FORMAT


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
        raise InputError(Problem("", None, None, None, _("not a tpn backup ({exc})", exc=exc),
                                 _("give a file written by tpn backup"))) from None
    if not isinstance(doc, dict) or doc.get("format") not in repo.BACKUP_FORMATS:
        raise InputError(Problem("", None, None, None,
                                 _("not a tpn backup (no format {BACKUP_FORMAT!r})",
                                   BACKUP_FORMAT=BACKUP_FORMAT),
                                 _("give a file written by tpn backup")))
    name = network or doc.get("network")
    if not isinstance(name, str) or not name:
        raise _damaged("no network name")
    try:
        with db.transaction() as conn:
            if name in repo.network_names(conn):
                raise InputError(Problem("", None, None, "--network",
                                         _("a network named {name!r} exists already", name=name),
                                         _("restore it under another name with --network NAME")))
            return repo.import_network(conn, doc, name)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Rolled back: a backup cut short or edited by hand restores nothing.
        raise _damaged(f"missing {exc}" if isinstance(exc, KeyError) else str(exc)) from None
    except DBAPIError as exc:
        raise _damaged(str(exc.orig).splitlines()[0][:200]) from None


def _damaged(what: str) -> InputError:
    return InputError(Problem("", None, None, None, _("the backup is incomplete or damaged "
                                                      "({what}); nothing was restored", what=what),
                              _("give a whole file written by tpn backup")))


def _iso(value):
    """Times as UTC with an explicit offset, whatever the database hands back (SQLite gives
    naive UTC, PostgreSQL aware times in its session's zone), so backups compare equal."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else \
            value.astimezone(dt.timezone.utc)
        return value.isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
