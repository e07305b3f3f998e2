"""Reading and writing domain models; the only module that writes SQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..errors import InputError, NotFoundError, Problem, TpnError
from ..i18n import Text, _
from ..models import FocusRequest, Institution, Network, Snapshot, Topic, period_key
from . import schema as s
from .stored import (Answer, Attendance, Change, Edit, FocusAnswer, FocusChoice, Import,
                     Invitation, LearningEvent, MentorResponse, Publication, Run, RunSummary,
                     ShareLink,
                     SharedNetwork, User)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def network_id(conn: Connection, name: str, create: bool = False) -> int:
    found = conn.execute(select(s.network.c.id).where(s.network.c.name == name)).scalar()
    if found is not None:
        return found
    if not create:
        known = conn.execute(select(s.network.c.name).order_by(s.network.c.name)).scalars().all()
        raise NotFoundError(
            _("no network named {name!r}; there are: {known}", name=name, known=", ".join(known))
            if known else _("no network named {name!r}; import one with: tpn import FILE "
                            "--network NAME", name=name))
    return conn.execute(insert(s.network).values(name=name,
                                                 created_at=now())).inserted_primary_key[0]


def network_name(conn: Connection, net_id: int) -> str:
    return conn.execute(select(s.network.c.name).where(s.network.c.id == net_id)).scalar_one()


def network_language(conn: Connection, net_id: int) -> str:
    return conn.execute(select(s.network.c.language).where(s.network.c.id == net_id)).scalar_one()


def set_network_language(conn: Connection, net_id: int, language: str, author: str) -> None:
    old = network_language(conn, net_id)
    conn.execute(update(s.network).where(s.network.c.id == net_id).values(language=language))
    _ChangeLog(conn, net_id, author, "form").record("network", network_name(conn, net_id),
                                                    {"language": old}, {"language": language})


def names(conn: Connection, net_id: int) -> tuple[dict[str, str], dict[str, str]]:
    """The names of the network's institutions and topics, by id."""
    return tuple({r.key: r.name for r in conn.execute(
        select(table.c.key, table.c.name).where(table.c.network_id == net_id))}
        for table in (s.institution, s.topic))


def institution_count(conn: Connection, net_id: int) -> int:
    return conn.execute(select(func.count()).select_from(s.institution)
                        .where(s.institution.c.network_id == net_id)).scalar_one()


def network_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(s.network.c.name).order_by(s.network.c.name)).scalars())


def save_network(conn: Connection, net_id: int, network: Network, source: str, replace: bool,
                 author: str, round_name: str = "1") -> dict:
    """Institutions and topics are added or updated by id; each period becomes a snapshot
    (an existing period only with ``replace``); a focus sheet replaces the round's focus."""
    existing = set(conn.execute(select(s.snapshot.c.period)
                                .where(s.snapshot.c.network_id == net_id)).scalars())
    clash = sorted(existing & set(network.periods))
    if clash and not replace:
        raise InputError([Problem(source, "scores", None, "period",
                                  _("period {p} is already in this network", p=p),
                                  _("import with --replace to replace its scores, or give another "
                                    "--period")) for p in clash])
    log = _ChangeLog(conn, net_id, author, source)
    inst_ids = _upsert(conn, s.institution, net_id, [
        dict(key=i.id, name=i.name, kind=i.kind, region=i.region, latitude=i.latitude,
             longitude=i.longitude, size=i.size, capacity=i.capacity,
             attributes=dict(i.attributes), **_external(i)) for i in network.institutions], log)
    topic_ids = _upsert(conn, s.topic, net_id, [
        dict(key=t.id, name=t.name, direction=t.direction, kinds=";".join(sorted(t.kinds)),
             target=t.target, unit=t.unit, minimum=t.minimum, maximum=t.maximum)
        for t in network.topics], log)
    scores = 0
    for snap in network.snapshots:
        conn.execute(delete(s.snapshot).where((s.snapshot.c.network_id == net_id)
                                              & (s.snapshot.c.period == snap.period)))
        snap_id = conn.execute(insert(s.snapshot).values(
            network_id=net_id, period=snap.period, source=source,
            imported_at=now())).inserted_primary_key[0]
        rows = [dict(snapshot_id=snap_id, institution_id=inst_ids[i], topic_id=topic_ids[t],
                     value=v) for (i, t), v in sorted(snap.scores.items())]
        if rows:
            conn.execute(insert(s.score), rows)
        scores += len(rows)
    if network.focus:
        conn.execute(delete(s.focus).where((s.focus.c.network_id == net_id)
                                           & (s.focus.c.round == round_name)))
        conn.execute(insert(s.focus), [
            dict(network_id=net_id, round=round_name, institution_id=inst_ids[f.institution_id],
                 topic_id=topic_ids[f.topic_id], priority=f.priority,
                 preferred=";".join(f.preferred), chosen_by=author,
                 chosen_at=now()) for f in network.focus])
    return Import(len(network.institutions), len(network.topics), tuple(network.periods),
                  scores, len(network.focus), tuple(clash))


class _ChangeLog:
    """Collects field changes of one unit of work and writes them to change_log."""

    def __init__(self, conn, net_id, author, source):
        self.conn, self.net_id, self.author, self.source = conn, net_id, author, source

    def record(self, entity: str, key: str, old: dict | None, new: dict) -> None:
        import json

        def row(field, before, after):
            return dict(network_id=self.net_id, entity=entity, key=key, field=field,
                        old=before, new=after, author=self.author, source=self.source, at=now())

        if old is None:
            created = {k: v for k, v in new.items() if k != "key" and v not in (None, "", {})}
            rows = [row("created", None, json.dumps(created, sort_keys=True))]
        else:
            rows = [row(field, json.dumps(old.get(field), sort_keys=True),
                        json.dumps(value, sort_keys=True))
                    for field, value in new.items() if field != "key" and old.get(field) != value]
        if rows:
            self.conn.execute(insert(s.change_log), rows)


def _external(inst: Institution) -> dict:
    """An external partner's columns. Only a file that marks one says so: the others (a
    DHIS2 export has no such column) leave what a facilitator set as it is."""
    return dict(external=True, mentors_on=";".join(inst.mentors_on)) if inst.external else {}


def _upsert(conn, table, net_id, rows, log: _ChangeLog | None = None) -> dict[str, int]:
    existing = {r["key"]: dict(r) for r in conn.execute(
        select(table).where(table.c.network_id == net_id)).mappings()}
    current = {k: r["id"] for k, r in existing.items()}
    for row in rows:
        if row["key"] in current:
            if log is not None:
                log.record(table.name, row["key"], existing[row["key"]], row)
            conn.execute(update(table).where(table.c.id == current[row["key"]]).values(**row))
        else:
            if log is not None:
                log.record(table.name, row["key"], None, row)
            current[row["key"]] = conn.execute(
                insert(table).values(network_id=net_id, **row)).inserted_primary_key[0]
    return current


def update_entity(conn: Connection, net_id: int, entity: str, key: str, changes: dict,
                  author: str) -> dict:
    """Change fields of one institution or topic, with history."""
    table = {"institution": s.institution, "topic": s.topic}[entity]
    row = conn.execute(select(table).where((table.c.network_id == net_id)
                                           & (table.c.key == key))).mappings().first()
    if row is None:
        raise NotFoundError(_("no {entity} {key!r} in this network", entity=entity, key=key))
    _ChangeLog(conn, net_id, author, f"tpn {entity} set").record(entity, key, dict(row),
                                                                changes)
    conn.execute(update(table).where(table.c.id == row["id"]).values(**changes))
    return {**dict(row), **changes}


def history(conn: Connection, net_id: int, key: str | None = None) -> list[Change]:
    c = s.change_log
    query = select(c.c.id, c.c.entity, c.c.key, c.c.field, c.c.old, c.c.new, c.c.author,
                   c.c.source, c.c.at).where(c.c.network_id == net_id)
    if key is not None:
        query = query.where(c.c.key == key)
    return [Change(**r) for r in conn.execute(query.order_by(c.c.id)).mappings()]


def load_network(conn: Connection, net_id: int, round_name: str = "1") -> Network:
    inst = conn.execute(select(s.institution).where(s.institution.c.network_id == net_id)
                        .order_by(s.institution.c.key)).mappings().all()
    tops = conn.execute(select(s.topic).where(s.topic.c.network_id == net_id)
                        .order_by(s.topic.c.key)).mappings().all()
    inst_key = {r["id"]: r["key"] for r in inst}
    topic_key = {r["id"]: r["key"] for r in tops}
    snapshots = []
    for snap in conn.execute(select(s.snapshot).where(s.snapshot.c.network_id == net_id)
                             .order_by(s.snapshot.c.period)).mappings():
        values = {(inst_key[r.institution_id], topic_key[r.topic_id]): r.value
                  for r in conn.execute(select(s.score).where(s.score.c.snapshot_id == snap["id"]))}
        snapshots.append(Snapshot(snap["period"], values))
    focus = [FocusRequest(inst_key[r.institution_id], topic_key[r.topic_id], r.priority,
                          tuple(x for x in r.preferred.split(";") if x))
             for r in conn.execute(select(s.focus).where((s.focus.c.network_id == net_id)
                                                         & (s.focus.c.round == round_name)))]
    return Network(
        institutions=tuple(Institution(r["key"], r["name"], r["kind"], r["region"],
                                       r["latitude"], r["longitude"], r["size"], r["capacity"],
                                       dict(r["attributes"] or {}), bool(r["external"]),
                                       tuple(t for t in r["mentors_on"].split(";") if t))
                           for r in inst),
        topics=tuple(Topic(r["key"], r["name"], r["direction"],
                           frozenset(k for k in r["kinds"].split(";") if k), r["target"],
                           r["unit"], r["minimum"], r["maximum"]) for r in tops),
        snapshots=tuple(sorted(snapshots, key=lambda snap: period_key(snap.period))),
        focus=tuple(sorted(focus, key=lambda f: (f.institution_id, f.priority, f.topic_id))),
    )


def acceptances(conn: Connection, net_id: int) -> dict[tuple[str, str, str],
                                                     tuple[float, str, str]]:
    """(institution, topic, period) -> (value, who, when) of every accepted flagged score."""
    a, i, t = s.accepted_score, s.institution, s.topic
    rows = conn.execute(select(i.c.key, t.c.key, a.c.period, a.c.value, a.c.accepted_by,
                               a.c.accepted_at)
                        .join(i, i.c.id == a.c.institution_id).join(t, t.c.id == a.c.topic_id)
                        .where(a.c.network_id == net_id)).all()
    return {(inst, topic, period): (value, by, _iso(at))
            for inst, topic, period, value, by, at in rows}


def accept_score(conn: Connection, net_id: int, institution: str, topic: str, period: str,
                 value: float, author: str, note: str) -> None:
    """Record that a facilitator checked a flagged score and trusts it (kept in the history)."""
    inst_id, topic_id = _entity_id(conn, s.institution, net_id, institution), \
        _entity_id(conn, s.topic, net_id, topic)
    a = s.accepted_score
    conn.execute(delete(a).where((a.c.network_id == net_id) & (a.c.institution_id == inst_id)
                                 & (a.c.topic_id == topic_id) & (a.c.period == period)))
    conn.execute(insert(a).values(network_id=net_id, institution_id=inst_id, topic_id=topic_id,
                                  period=period, value=value, accepted_by=author,
                                  accepted_at=now(), note=note))
    _ChangeLog(conn, net_id, author, "tpn check --accept").record(
        "score", institution, {}, {f"{topic} {period} accepted": value})


def withdraw_acceptance(conn: Connection, net_id: int, institution: str, topic: str,
                        period: str, author: str) -> bool:
    a = s.accepted_score
    inst_id, topic_id = _entity_id(conn, s.institution, net_id, institution), \
        _entity_id(conn, s.topic, net_id, topic)
    done = conn.execute(delete(a).where(
        (a.c.network_id == net_id) & (a.c.institution_id == inst_id)
        & (a.c.topic_id == topic_id) & (a.c.period == period))).rowcount
    if done:
        _ChangeLog(conn, net_id, author, "tpn check --withdraw").record(
            "score", institution, {f"{topic} {period} accepted": True},
            {f"{topic} {period} accepted": False})
    return bool(done)


def _entity_id(conn: Connection, table, net_id: int, key: str) -> int:
    found = conn.execute(select(table.c.id).where((table.c.network_id == net_id)
                                                  & (table.c.key == key))).scalar()
    if found is None:
        raise NotFoundError(_("no {name} {key!r} in this network", name=table.name, key=key))
    return found


def _iso(value) -> str:
    """A stored time as ISO text in UTC (SQLite hands back naive UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def insert_run(conn: Connection, **values) -> int:
    return conn.execute(insert(s.match_run).values(status="draft", version=1, created_at=now(),
                                                   **values)).inserted_primary_key[0]


def get_run(conn: Connection, run_id: int) -> Run:
    row = conn.execute(select(s.match_run, s.network.c.name.label("network"))
                       .join(s.network).where(s.match_run.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFoundError(_("no match run {run_id}; list them with: tpn runs NETWORK",
                              run_id=run_id))
    summary = row["summary"]
    if summary.get("rejected"):
        summary = {**summary, "rejected": _said(summary["rejected"])}
    return Run(**{**row, "summary": summary, "pairs": _said(row["pairs"]),
                  "unmatched": _said(row["unmatched"])})


def stored_rows(columns: list[str], rows) -> list[dict]:
    """Rows of pairs.csv or unmatched.csv as a run keeps them: each text as English, and
    under ``texts`` how it was made, so that a page can say it in another language."""
    out = []
    for row in rows:
        stored = dict(zip(columns, row))
        texts = {c: v.spec for c, v in stored.items() if isinstance(v, Text)}
        if texts:
            stored["texts"] = texts
        out.append(stored)
    return out


def _said(rows: list[dict]) -> list[dict]:
    """A run's rows with their texts as made again (see ``stored_rows``)."""
    out = []
    for row in rows:
        texts = row.get("texts")
        if texts:
            row = {k: v for k, v in row.items() if k != "texts"}
            for column, spec in texts.items():
                row[column] = Text.restore(row[column], spec)
        out.append(row)
    return out


def run_network(conn: Connection, run_id: int) -> str | None:
    return conn.execute(select(s.network.c.name).join(s.match_run)
                        .where(s.match_run.c.id == run_id)).scalar()


def list_runs(conn: Connection, net_id: int) -> list[RunSummary]:
    return [RunSummary(**r) for r in conn.execute(
        select(s.match_run.c.id, s.match_run.c.period, s.match_run.c.status,
               s.match_run.c.solver, s.match_run.c.created_at, s.match_run.c.created_by,
               s.match_run.c.summary, s.match_run.c.input_hash)
        .where(s.match_run.c.network_id == net_id).order_by(s.match_run.c.id)).mappings()]


def publish_run(conn: Connection, run_id: int, author: str,
                expected_version: int | None = None) -> Publication:
    """draft -> published; the network's previously published run becomes superseded.
    A pair that is already a partnership continues it (same step, same records); a new
    pair starts one at step 1; a partnership whose pair the run drops ends."""
    run = get_run(conn, run_id)
    if run.status != "draft":
        raise TpnError(_("run {run_id} is {status}: only a draft can be published (a published "
                         "run is never changed; run the match again instead)", run_id=run_id,
                         status=run.status))
    if expected_version is not None and run.version != expected_version:
        raise TpnError(_("run {run_id} was changed by someone else (version {version}, you had "
                         "{expected_version}): reload it and try again", run_id=run_id,
                         version=run.version, expected_version=expected_version))
    superseded = conn.execute(
        update(s.match_run).where((s.match_run.c.network_id == run.network_id)
                                  & (s.match_run.c.status == "published"))
        .values(status="superseded")).rowcount
    changed = conn.execute(
        update(s.match_run).where((s.match_run.c.id == run_id) & (s.match_run.c.status == "draft")
                                  & (s.match_run.c.version == run.version))
        .values(status="published", published_at=now(), version=run.version + 1)).rowcount
    if changed != 1:
        raise TpnError(_("run {run_id} changed while publishing it: try again", run_id=run_id))
    pairs = run.pairs
    by_pair: dict[tuple[str, str], set[str]] = {}
    for p in pairs:
        by_pair.setdefault((p["mentee_id"], p["mentor_id"]), set()).add(p["topic_id"])
    active = {(p["mentee_id"], p["mentor_id"]): p for p in partnership_rows(conn, run.network_id)}
    at = now()
    ended = sorted(p["id"] for key, p in active.items() if key not in by_pair)
    if ended:
        conn.execute(update(s.partnership).where(s.partnership.c.id.in_(ended))
                     .values(ended_at=at, ended_run_id=run_id))
    t = s.partnership_topic
    dropped = [h["id"] for key, p in active.items() for h in p["topic_history"]
               if h["ended_at"] is None and h["topic_id"] not in by_pair.get(key, ())]
    if dropped:
        conn.execute(update(t).where(t.c.id.in_(dropped)).values(ended_at=at, ended_run_id=run_id))
    added = [(active[key]["id"], topic) for key in sorted(by_pair.keys() & active.keys())
             for topic in sorted(by_pair[key] - set(active[key]["topics"]))]
    new = sorted(by_pair.keys() - active.keys())
    for mentee, mentor in new:
        pid = conn.execute(insert(s.partnership).values(
            network_id=run.network_id, run_id=run_id, mentee_key=mentee, mentor_key=mentor,
            step=1, created_at=at)).inserted_primary_key[0]
        added += [(pid, topic) for topic in sorted(by_pair[mentee, mentor])]
    if added:
        conn.execute(insert(t), [dict(partnership_id=pid, topic_key=topic, run_id=run_id,
                                      added_at=at) for pid, topic in added])
    return Publication(run_id, len(by_pair), len(new), len(by_pair) - len(new), len(ended),
                       superseded, len(pairs))


def set_focus(conn: Connection, net_id: int, institution: str, topic: str, priority: int,
              author: str, round_name: str = "1", preferred: tuple[str, ...] = ()) -> None:
    inst_id = _id_of(conn, s.institution, net_id, institution)
    topic_id = _id_of(conn, s.topic, net_id, topic)
    conn.execute(delete(s.focus).where((s.focus.c.network_id == net_id)
                                       & (s.focus.c.round == round_name)
                                       & (s.focus.c.institution_id == inst_id)
                                       & (s.focus.c.topic_id == topic_id)))
    conn.execute(insert(s.focus).values(network_id=net_id, round=round_name,
                                        institution_id=inst_id, topic_id=topic_id,
                                        priority=priority, preferred=";".join(preferred),
                                        chosen_by=author, chosen_at=now()))


def remove_focus(conn: Connection, net_id: int, institution: str, topic: str,
                 round_name: str = "1") -> int:
    return conn.execute(delete(s.focus).where(
        (s.focus.c.network_id == net_id) & (s.focus.c.round == round_name)
        & (s.focus.c.institution_id == _id_of(conn, s.institution, net_id, institution))
        & (s.focus.c.topic_id == _id_of(conn, s.topic, net_id, topic)))).rowcount


def focus_rows(conn: Connection, net_id: int, round_name: str = "1") -> list[FocusChoice]:
    return [FocusChoice(**r) for r in conn.execute(
        select(s.institution.c.key.label("institution_id"), s.topic.c.key.label("topic_id"),
               s.focus.c.priority, s.focus.c.chosen_by, s.focus.c.chosen_at,
               s.focus.c.preferred)
        .join(s.institution, s.institution.c.id == s.focus.c.institution_id)
        .join(s.topic, s.topic.c.id == s.focus.c.topic_id)
        .where((s.focus.c.network_id == net_id) & (s.focus.c.round == round_name))
        .order_by(s.institution.c.key, s.focus.c.priority, s.topic.c.key)).mappings()]


def _id_of(conn, table, net_id, key) -> int:
    found = conn.execute(select(table.c.id).where((table.c.network_id == net_id)
                                                  & (table.c.key == key))).scalar()
    if found is None:
        raise NotFoundError(_("no {name} {key!r} in this network", name=table.name, key=key))
    return found


def published_partnerships(conn: Connection, net_id: int) -> list[tuple[str, str, str]]:
    """(mentee, mentor, topic) of every topic of the network's partnerships under way."""
    return [(p["mentee_id"], p["mentor_id"], p["topic_id"]) for p in pair_rows(conn, net_id)]


def partnership_rows(conn: Connection, net_id: int, ended: bool = False,
                     ids: list[int] | None = None) -> list[dict]:
    """The network's partnerships under way (with ``ended``: those that ended too), with
    their step of the cycle and their topics: ``topics`` those it works on now (for an
    ended one, those it had when it ended), ``topic_history`` every topic it ever had."""
    p = s.partnership
    where = p.c.network_id == net_id
    if not ended:
        where &= p.c.ended_at.is_(None)
    if ids is not None:
        where &= p.c.id.in_(ids)
    rows = conn.execute(select(p).where(where).order_by(p.c.mentee_key, p.c.mentor_key, p.c.id)
                        ).mappings().all()
    t = s.partnership_topic
    topics: dict[int, list[dict]] = {}
    for r in conn.execute(select(t).where(t.c.partnership_id.in_([r["id"] for r in rows]))
                          .order_by(t.c.partnership_id, t.c.topic_key, t.c.id)).mappings():
        topics.setdefault(r["partnership_id"], []).append(
            {"id": r["id"], "topic_id": r["topic_key"], "run_id": r["run_id"],
             "added_at": r["added_at"], "ended_at": r["ended_at"],
             "ended_run_id": r["ended_run_id"]})
    return [_partnership(r, topics.get(r["id"], [])) for r in rows]


def _partnership(row, history: list[dict]) -> dict:
    """A partnership row in the shared vocabulary (mentee_id, mentor_id, topics)."""
    out = {k: v for k, v in row.items() if k not in ("mentee_key", "mentor_key")}
    if row["ended_at"] is None:
        now_on = [h for h in history if h["ended_at"] is None]
    else:
        last = max((h["ended_at"] for h in history if h["ended_at"] is not None), default=None)
        now_on = [h for h in history if h["ended_at"] is None or h["ended_at"] == last]
    return {**out, "mentee_id": row["mentee_key"], "mentor_id": row["mentor_key"],
            "topics": sorted({h["topic_id"] for h in now_on}),
            "topic_history": history}


def pair_rows(conn: Connection, net_id: int, ended: bool = False) -> list[dict]:
    """One row per topic of the network's partnerships under way (with ``ended``: every
    topic any partnership ever had): the (mentee, topic, mentor) pairs reruns, evaluation
    and diffs work with, each with its partnership's id and step."""
    return [{"partnership": p["id"], "mentee_id": p["mentee_id"], "topic_id": h["topic_id"],
             "mentor_id": p["mentor_id"], "step": p["step"], "ended_at": h["ended_at"],
             "ended_run_id": h["ended_run_id"]}
            for p in partnership_rows(conn, net_id, ended)
            for h in (p["topic_history"] if ended else
                      [h for h in p["topic_history"] if h["ended_at"] is None])]


def closed_by_review(conn: Connection, net_id: int) -> list[dict]:
    """Pairs (mentee, topic, mentor) of partnerships their partners closed (a review's
    decision), not a published run."""
    return [{"partnership": p["id"], "mentee_id": p["mentee_id"], "topic_id": topic,
             "mentor_id": p["mentor_id"], "step": p["step"]}
            for p in partnership_rows(conn, net_id, ended=True)
            if p["ended_at"] is not None and p["ended_run_id"] is None
            for topic in p["topics"]]


def get_partnership(conn: Connection, partnership_id: int) -> dict:
    net_id = conn.execute(select(s.partnership.c.network_id)
                          .where(s.partnership.c.id == partnership_id)).scalar()
    if net_id is None:
        raise NotFoundError(_("no partnership {partnership_id}; list them with: tpn partnership "
                              "list NETWORK", partnership_id=partnership_id))
    return partnership_rows(conn, net_id, ended=True, ids=[partnership_id])[0]


def set_step(conn: Connection, partnership_id: int, step: int, author: str,
             source: str = "tpn partnership step") -> dict:
    """Move a partnership to a step of the cycle; the change goes to the history."""
    row = get_partnership(conn, partnership_id)
    if row["ended_at"] is not None:
        raise TpnError(_("partnership {partnership_id} has ended: its step no longer moves",
                         partnership_id=partnership_id))
    _ChangeLog(conn, row["network_id"], author, source).record(
        "partnership", _history_key(row), {"step": row["step"]}, {"step": step})
    conn.execute(update(s.partnership).where(s.partnership.c.id == partnership_id)
                 .values(step=step))
    return {**row, "step": step}


def _history_key(row: dict) -> str:
    return f"{row['mentee_id']}/{row['mentor_id']}"


def close_partnership(conn: Connection, partnership_id: int, author: str, source: str) -> None:
    """End a partnership by its partners' decision (no run ended it), with its topics; into
    the history."""
    row = get_partnership(conn, partnership_id)
    _ChangeLog(conn, row["network_id"], author, source).record(
        "partnership", _history_key(row), {"status": "under way"}, {"status": "closed"})
    at = now()
    conn.execute(update(s.partnership).where(s.partnership.c.id == partnership_id)
                 .values(ended_at=at, ended_run_id=None))
    t = s.partnership_topic
    conn.execute(update(t).where((t.c.partnership_id == partnership_id) & t.c.ended_at.is_(None))
                 .values(ended_at=at, ended_run_id=None))


def add_record(conn: Connection, partnership_id: int, kind: str, dated: dt.date,
               fields: dict, author: str, topic: str | None = None) -> int:
    at = now()
    return conn.execute(insert(s.partnership_record).values(
        partnership_id=partnership_id, kind=kind, topic_key=topic, dated=dated, fields=fields,
        created_by=author,
        created_at=at, updated_by=author, updated_at=at)).inserted_primary_key[0]


def update_record(conn: Connection, record_id: int, dated: dt.date, fields: dict,
                  author: str, topic: str | None) -> None:
    conn.execute(update(s.partnership_record).where(s.partnership_record.c.id == record_id)
                 .values(dated=dated, fields=fields, topic_key=topic, updated_by=author,
                         updated_at=now()))


def delete_record(conn: Connection, record_id: int) -> None:
    conn.execute(delete(s.partnership_record).where(s.partnership_record.c.id == record_id))


def get_record(conn: Connection, record_id: int) -> dict:
    row = conn.execute(select(s.partnership_record)
                       .where(s.partnership_record.c.id == record_id)).mappings().first()
    if row is None:
        raise NotFoundError(_("no partnership record {record_id}", record_id=record_id))
    return dict(row)


def records(conn: Connection, partnership_ids: list[int]) -> list[dict]:
    """The records of these partnerships, by date (then by when they were written)."""
    if not partnership_ids:
        return []
    return [dict(r) for r in conn.execute(
        select(s.partnership_record)
        .where(s.partnership_record.c.partnership_id.in_(partnership_ids))
        .order_by(s.partnership_record.c.partnership_id, s.partnership_record.c.dated,
                  s.partnership_record.c.id)).mappings()]


# --- learning events of the whole network ---------------------------------------------------

def save_event(conn: Connection, net_id: int, event_id: int | None, values: dict,
               topics: list[str], attendance: list[Attendance], author: str) -> int:
    """Add a network learning event (``event_id`` None) or rewrite one, with its whole
    attendance."""
    e = s.learning_event
    row = dict(held_on=dt.date.fromisoformat(values["held_on"]), kind=values["kind"],
               title=values["title"], place=values.get("place") or "",
               organiser=values.get("organiser") or "", agenda=values.get("agenda") or "",
               outputs=values.get("outputs") or "", topics=";".join(topics),
               updated_by=author, updated_at=now())
    if event_id is None:
        event_id = conn.execute(insert(e).values(
            network_id=net_id, created_by=author, created_at=row["updated_at"], **row)
        ).inserted_primary_key[0]
    else:
        conn.execute(update(e).where(e.c.id == event_id).values(**row))
        conn.execute(delete(s.event_attendance).where(s.event_attendance.c.event_id == event_id))
    if attendance:
        conn.execute(insert(s.event_attendance), [
            dict(event_id=event_id, institution_key=a.institution_id,
                 partnership_id=a.partnership_id) for a in attendance])
    return event_id


def delete_event(conn: Connection, event_id: int) -> None:
    conn.execute(delete(s.learning_event).where(s.learning_event.c.id == event_id))


def events(conn: Connection, net_id: int, event_id: int | None = None) -> list[LearningEvent]:
    """The network's learning events, by date, with their attendance."""
    e, a = s.learning_event, s.event_attendance
    where = e.c.network_id == net_id
    if event_id is not None:
        where &= e.c.id == event_id
    rows = conn.execute(select(e).where(where).order_by(e.c.held_on, e.c.id)).mappings().all()
    present: dict[int, list[Attendance]] = {}
    for r in conn.execute(select(a).where(a.c.event_id.in_([r["id"] for r in rows]))
                          .order_by(a.c.institution_key)).mappings():
        present.setdefault(r["event_id"], []).append(
            Attendance(r["institution_key"], r["partnership_id"]))
    return [LearningEvent(
        id=r["id"], held_on=r["held_on"], kind=r["kind"], title=r["title"], place=r["place"],
        topics=tuple(t for t in r["topics"].split(";") if t), organiser=r["organiser"],
        agenda=r["agenda"], outputs=r["outputs"], attendance=tuple(present.get(r["id"], ())),
        created_by=r["created_by"], created_at=r["created_at"], updated_by=r["updated_by"],
        updated_at=r["updated_at"]) for r in rows]


EDIT_ACTIONS = ("lock", "exclude", "swap")


def add_edit(conn: Connection, run_id: int, action: str, mentee: str, topic: str, mentor: str,
             author: str, note: str = "", expected_version: int | None = None) -> int:
    """Record an edit of a draft and bump its version (a second editor holding the old
    version gets a conflict, not a silent overwrite)."""
    run = get_run(conn, run_id)
    if run.status != "draft":
        raise TpnError(_("run {run_id} is {status}: only a draft can be edited", run_id=run_id,
                         status=run.status))
    if expected_version is not None and run.version != expected_version:
        raise TpnError(_("run {run_id} was changed by someone else (version {version}, you had "
                         "{expected_version}): reload it and try again", run_id=run_id,
                         version=run.version, expected_version=expected_version))
    changed = conn.execute(update(s.match_run).where(
        (s.match_run.c.id == run_id) & (s.match_run.c.version == run.version))
        .values(version=run.version + 1)).rowcount
    if changed != 1:
        raise TpnError(_("run {run_id} changed while editing it: try again", run_id=run_id))
    conn.execute(insert(s.run_edit).values(run_id=run_id, action=action, mentee_key=mentee,
                                           topic_key=topic, mentor_key=mentor, author=author,
                                           at=now(), note=note))
    return run.version + 1


def edits(conn: Connection, run_id: int) -> list[Edit]:
    e = s.run_edit
    return [Edit(r.id, r.run_id, r.action, r.mentee_key, r.topic_key, r.mentor_key, r.author,
                 r.at, r.note)
            for r in conn.execute(select(e).where(e.c.run_id == run_id).order_by(e.c.id))]


def copy_edits(conn: Connection, from_run: int, to_run: int) -> None:
    rows = edits(conn, from_run)
    if rows:
        conn.execute(insert(s.run_edit), [
            dict(run_id=to_run, action=r.action, mentee_key=r.mentee_id, topic_key=r.topic_id,
                 mentor_key=r.mentor_id, author=r.author, at=r.at, note=r.note) for r in rows])


_RUN_FIELDS = ("period", "round", "input_hash", "options", "solver", "tpn_version", "status",
               "summary", "pairs", "unmatched", "created_by", "created_at", "published_at",
               "version", "mentors_asked_at")


def export_network(conn: Connection, net_id: int) -> dict:
    """One network as plain data with its own numbering instead of database ids."""
    def rows(table, order, drop=("id", "network_id")):
        return [{k: v for k, v in r.items() if k not in drop} for r in conn.execute(
            select(table).where(table.c.network_id == net_id).order_by(*order)).mappings()]

    net = conn.execute(select(s.network).where(s.network.c.id == net_id)).mappings().one()
    inst_key = dict(conn.execute(select(s.institution.c.id, s.institution.c.key)
                                 .where(s.institution.c.network_id == net_id)).all())
    topic_key = dict(conn.execute(select(s.topic.c.id, s.topic.c.key)
                                  .where(s.topic.c.network_id == net_id)).all())
    snapshots = []
    for snap in conn.execute(select(s.snapshot).where(s.snapshot.c.network_id == net_id)
                             .order_by(s.snapshot.c.period)).mappings():
        scores = sorted([inst_key[r.institution_id], topic_key[r.topic_id], r.value] for r in
                        conn.execute(select(s.score).where(s.score.c.snapshot_id == snap["id"])))
        snapshots.append({"period": snap["period"], "source": snap["source"],
                          "imported_at": snap["imported_at"], "scores": scores})
    focus = sorted(({"round": r.round, "institution": inst_key[r.institution_id],
                     "topic": topic_key[r.topic_id], "priority": r.priority,
                     "preferred": r.preferred, "chosen_by": r.chosen_by,
                     "chosen_at": r.chosen_at}
                    for r in conn.execute(select(s.focus).where(s.focus.c.network_id == net_id))),
                   key=lambda f: (f["round"], f["institution"], f["topic"]))
    run_rows = conn.execute(select(s.match_run).where(s.match_run.c.network_id == net_id)
                            .order_by(s.match_run.c.id)).mappings().all()
    number = {r["id"]: n for n, r in enumerate(run_rows, start=1)}
    runs = []
    for r in run_rows:
        runs.append({**{k: r[k] for k in _RUN_FIELDS}, "number": number[r["id"]],
                     "parent": number.get(r["parent_id"]),
                     # The backup format names the columns (mentee_key…), as restore reads them.
                     "edits": [{"action": e.action, "mentee_key": e.mentee_id,
                                "topic_key": e.topic_id, "mentor_key": e.mentor_id,
                                "author": e.author, "at": e.at, "note": e.note}
                               for e in edits(conn, r["id"])]})
    rows_p = conn.execute(select(s.partnership).where(s.partnership.c.network_id == net_id)
                          .order_by(s.partnership.c.id)).mappings().all()
    by_partnership: dict[int, list] = {}
    for rec in records(conn, [p["id"] for p in rows_p]):
        by_partnership.setdefault(rec["partnership_id"], []).append(
            {k: rec[k] for k in ("kind", "topic_key", "dated", "fields", "created_by",
                                 "created_at", "updated_by", "updated_at")})
    t = s.partnership_topic
    topics: dict[int, list] = {}
    for r in conn.execute(select(t).where(t.c.partnership_id.in_([p["id"] for p in rows_p]))
                          .order_by(t.c.id)).mappings():
        topics.setdefault(r["partnership_id"], []).append(
            {"topic_key": r["topic_key"], "run": number[r["run_id"]], "added_at": r["added_at"],
             "ended_at": r["ended_at"], "ended_run": number.get(r["ended_run_id"])})
    partnerships = [{**{k: p[k] for k in ("mentee_key", "mentor_key", "step", "created_at",
                                          "ended_at")},
                     "run": number[p["run_id"]], "ended_run": number.get(p["ended_run_id"]),
                     "topics": topics.get(p["id"], []),
                     "records": by_partnership.get(p["id"], [])}
                    for p in rows_p]
    # What institutions answered and mentors responded; invitations stay out (their tokens
    # open pages: a restored copy must not).
    a = s.answer
    answers_ = [{k: r[k] for k in ("round", "institution_key", "focus", "capacity", "note",
                                   "answered_at", "status", "decided_by", "decided_at")}
                for r in conn.execute(select(a).where(a.c.network_id == net_id)
                                      .order_by(a.c.id)).mappings()]
    closed_rounds = [{k: r[k] for k in ("round", "closed_by", "closed_at")}
                     for r in conn.execute(select(s.answer_round).where(
                         s.answer_round.c.network_id == net_id)
                         .order_by(s.answer_round.c.round)).mappings()]
    m = s.mentor_response
    responses_ = [{**{k: r[k] for k in ("mentee_key", "topic_key", "mentor_key", "response",
                                        "reason", "at")}, "run": number[r["run_id"]]}
                  for r in conn.execute(select(m).where(m.c.run_id.in_(list(number)))
                                        .order_by(m.c.id)).mappings()]
    p_number = {p["id"]: n for n, p in enumerate(rows_p, start=1)}
    network_events = [{**{k: getattr(ev, k) for k in (
        "held_on", "kind", "title", "place", "organiser", "agenda", "outputs", "created_by",
        "created_at", "updated_by", "updated_at")}, "topics": list(ev.topics),
        "attendance": [[x.institution_id, p_number.get(x.partnership_id)] for x in ev.attendance]}
        for ev in events(conn, net_id)]
    changes = [{k: getattr(c, k) for k in ("entity", "key", "field", "old", "new", "author",
                                            "source", "at")} for c in history(conn, net_id)]
    a = s.accepted_score
    accepted = sorted(({"institution": inst_key[r.institution_id],
                        "topic": topic_key[r.topic_id], "period": r.period, "value": r.value,
                        "accepted_by": r.accepted_by, "accepted_at": r.accepted_at,
                        "note": r.note}
                       for r in conn.execute(select(a).where(a.c.network_id == net_id))),
                      key=lambda x: (x["institution"], x["topic"], x["period"]))
    return {
        "format": BACKUP_FORMAT, "network": net["name"], "created_at": net["created_at"],
        "changes": changes,
        "institutions": rows(s.institution, [s.institution.c.key]),
        "topics": rows(s.topic, [s.topic.c.key]),
        "snapshots": snapshots, "focus": focus, "runs": runs, "partnerships": partnerships,
        "accepted_scores": accepted, "events": network_events, "answers": answers_,
        "closed_rounds": closed_rounds, "mentor_responses": responses_,
    }


def _when(value):
    """A backup's time (UTC with offset) as the database stores it: SQLite keeps naive UTC."""
    if not isinstance(value, str):
        return value
    return dt.datetime.fromisoformat(value)


BACKUP_FORMAT = "tpn-backup-2"
BACKUP_FORMATS = ("tpn-backup-1", BACKUP_FORMAT)


def _two_institutions(pairs: list[dict]) -> list[dict]:
    """A tpn-backup-1 document's partnerships (one per mentee, topic and mentor) as
    partnerships of two institutions, merged as migration 0009 merges them."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for p in pairs:
        groups.setdefault((p["mentee_key"], p["mentor_key"]), []).append(p)
    merged = []
    for group in groups.values():
        under_way = [p for p in group if p.get("ended_at") is None]
        last = max(group, key=lambda p: (p.get("ended_at") is None, str(p.get("ended_at"))))
        merged.append({
            "mentee_key": group[0]["mentee_key"], "mentor_key": group[0]["mentor_key"],
            "step": max(p["step"] for p in (under_way or group)), "run": group[0]["run"],
            "created_at": min(str(p["created_at"]) for p in group),
            "ended_at": None if under_way else last.get("ended_at"),
            "ended_run": None if under_way else last.get("ended_run"),
            "topics": [{"topic_key": p["topic_key"], "run": p["run"], "added_at": p["created_at"],
                        "ended_at": p.get("ended_at"), "ended_run": p.get("ended_run")}
                       for p in group],
            "records": [{**r, "topic_key": p["topic_key"]} for p in group
                        for r in p.get("records", ())]})
    return merged


def import_network(conn: Connection, doc: dict, name: str) -> dict:
    """The inverse of :func:`export_network`, in the caller's transaction."""
    net_id = conn.execute(insert(s.network).values(name=name, created_at=_when(doc["created_at"]))
                          ).inserted_primary_key[0]
    inst_ids = _upsert(conn, s.institution, net_id, doc["institutions"])
    topic_ids = _upsert(conn, s.topic, net_id, doc["topics"])
    for snap in doc["snapshots"]:
        snap_id = conn.execute(insert(s.snapshot).values(
            network_id=net_id, period=snap["period"], source=snap["source"],
            imported_at=_when(snap["imported_at"]))).inserted_primary_key[0]
        if snap["scores"]:
            conn.execute(insert(s.score), [dict(snapshot_id=snap_id, institution_id=inst_ids[i],
                                                topic_id=topic_ids[t], value=v)
                                           for i, t, v in snap["scores"]])
    if doc["focus"]:
        conn.execute(insert(s.focus), [dict(network_id=net_id, round=f["round"],
                                            institution_id=inst_ids[f["institution"]],
                                            topic_id=topic_ids[f["topic"]],
                                            priority=f["priority"],
                                            preferred=f.get("preferred", ""),
                                            chosen_by=f["chosen_by"],
                                            chosen_at=_when(f["chosen_at"])) for f in doc["focus"]])
    run_ids: dict[int, int] = {}
    for r in doc["runs"]:
        values = {k: r.get(k) for k in _RUN_FIELDS}
        values.update(created_at=_when(r["created_at"]), published_at=_when(r["published_at"]),
                      mentors_asked_at=_when(r.get("mentors_asked_at")),
                      network_id=net_id, parent_id=run_ids.get(r["parent"]))
        run_ids[r["number"]] = conn.execute(insert(s.match_run).values(**values)
                                            ).inserted_primary_key[0]
        if r["edits"]:
            conn.execute(insert(s.run_edit), [dict(e, run_id=run_ids[r["number"]],
                                                   at=_when(e["at"])) for e in r["edits"]])
    partnerships = doc["partnerships"] if doc["format"] == BACKUP_FORMAT else \
        _two_institutions(doc["partnerships"])
    p_ids: dict[int, int] = {}
    for n, p in enumerate(partnerships, start=1):
        pid = p_ids[n] = conn.execute(insert(s.partnership).values(
            **{k: p[k] for k in ("mentee_key", "mentor_key", "step")},
            created_at=_when(p["created_at"]), network_id=net_id, run_id=run_ids[p["run"]],
            ended_at=_when(p.get("ended_at")), ended_run_id=run_ids.get(p.get("ended_run")))
        ).inserted_primary_key[0]
        if p["topics"]:
            conn.execute(insert(s.partnership_topic), [
                dict(partnership_id=pid, topic_key=x["topic_key"], run_id=run_ids[x["run"]],
                     added_at=_when(x["added_at"]), ended_at=_when(x.get("ended_at")),
                     ended_run_id=run_ids.get(x.get("ended_run"))) for x in p["topics"]])
        if p.get("records"):
            conn.execute(insert(s.partnership_record), [
                dict(r, partnership_id=pid, dated=dt.date.fromisoformat(str(r["dated"])),
                     created_at=_when(r["created_at"]), updated_at=_when(r["updated_at"]))
                for r in p["records"]])
    if doc.get("answers"):
        conn.execute(insert(s.answer), [
            dict(x, network_id=net_id, answered_at=_when(x["answered_at"]),
                 decided_at=_when(x.get("decided_at"))) for x in doc["answers"]])
    if doc.get("closed_rounds"):
        conn.execute(insert(s.answer_round), [
            dict(x, network_id=net_id, closed_at=_when(x["closed_at"]))
            for x in doc["closed_rounds"]])
    if doc.get("mentor_responses"):
        conn.execute(insert(s.mentor_response), [
            dict({k: v for k, v in x.items() if k != "run"}, run_id=run_ids[x["run"]],
                 at=_when(x["at"])) for x in doc["mentor_responses"]])
    for ev in doc.get("events", ()):
        event_id = save_event(conn, net_id, None, {**ev, "held_on": str(ev["held_on"])},
                              ev["topics"], [Attendance(i, p_ids.get(n))
                                             for i, n in ev["attendance"]], ev["updated_by"])
        conn.execute(update(s.learning_event).where(s.learning_event.c.id == event_id).values(
            created_by=ev["created_by"], updated_at=_when(ev["updated_at"]),
            created_at=_when(ev["created_at"])))
    if doc.get("accepted_scores"):
        conn.execute(insert(s.accepted_score), [
            dict(network_id=net_id, institution_id=inst_ids[x["institution"]],
                 topic_id=topic_ids[x["topic"]], period=x["period"], value=x["value"],
                 accepted_by=x["accepted_by"], accepted_at=_when(x["accepted_at"]),
                 note=x["note"]) for x in doc["accepted_scores"]])
    if doc.get("changes"):
        conn.execute(insert(s.change_log), [dict(c, network_id=net_id, at=_when(c["at"]))
                                            for c in doc["changes"]])
    return {"network": name, "institutions": len(inst_ids), "runs": len(run_ids)}



# --- accounts and share links of the workshop app -------------------------------------------

ROLES = ("admin", "facilitator", "viewer")


def add_user(conn: Connection, username: str, password_hash: str, role: str) -> None:
    if conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == username)).first():
        raise InputError(Problem("", None, None, "username",
                                 _("a user {username!r} exists already", username=username),
                                 _("choose another name")))
    conn.execute(insert(s.app_user).values(username=username, password_hash=password_hash,
                                           role=role, created_at=now()))


def set_password(conn: Connection, username: str, password_hash: str) -> int:
    return conn.execute(update(s.app_user).where(s.app_user.c.username == username)
                        .values(password_hash=password_hash)).rowcount


def get_user(conn: Connection, username: str) -> User | None:
    u = s.app_user
    row = conn.execute(select(u.c.username, u.c.role, u.c.created_at)
                       .where(u.c.username == username)).mappings().first()
    return User(**row, networks=_access(conn, username).get(username, ())) if row else None


def _access(conn: Connection, username: str | None = None) -> dict[str, tuple]:
    """{username: ((network, role), ...) by network} of the accounts given networks (of
    one account, when named)."""
    u, a, n = s.app_user, s.network_access, s.network
    query = (select(u.c.username, n.c.name, a.c.role).join(a, a.c.user_id == u.c.id)
             .join(n, n.c.id == a.c.network_id).order_by(u.c.username, n.c.name))
    if username is not None:
        query = query.where(u.c.username == username)
    out: dict[str, tuple] = {}
    for r in conn.execute(query):
        out[r.username] = out.get(r.username, ()) + ((r.name, r.role),)
    return out


def set_access(conn: Connection, username: str, net_id: int, role: str | None) -> int:
    """Give an account a network with ``role``, or take it back (``role`` None); how many
    grants changed (0 for no such account)."""
    user_id = conn.execute(select(s.app_user.c.id)
                           .where(s.app_user.c.username == username)).scalar()
    if user_id is None:
        return 0
    where = (s.network_access.c.user_id == user_id) & (s.network_access.c.network_id == net_id)
    removed = conn.execute(delete(s.network_access).where(where)).rowcount
    if role is None:
        return removed
    conn.execute(insert(s.network_access).values(user_id=user_id, network_id=net_id, role=role))
    return 1


def password_hash(conn: Connection, username: str) -> str | None:
    return conn.execute(select(s.app_user.c.password_hash)
                        .where(s.app_user.c.username == username)).scalar()


def list_users(conn: Connection) -> list[User]:
    access = _access(conn)
    return [User(**r, networks=access.get(r["username"], ())) for r in conn.execute(
        select(s.app_user.c.username, s.app_user.c.role, s.app_user.c.created_at)
        .order_by(s.app_user.c.username)).mappings()]


def add_share_link(conn: Connection, net_id: int, token: str, author: str,
                   expires_at: dt.datetime, show_contacts: bool) -> None:
    conn.execute(insert(s.share_link).values(network_id=net_id, token=token, created_by=author,
                                             created_at=now(), expires_at=expires_at,
                                             show_contacts=show_contacts))


def _live(link, at: dt.datetime):
    return link.c.revoked_at.is_(None) & (link.c.expires_at.is_(None) | (link.c.expires_at > at))


def share_links(conn: Connection, net_id: int) -> list[ShareLink]:
    """The network's links that still open it (neither revoked nor expired)."""
    link = s.share_link
    return [ShareLink(**{**r, "expires_at": _aware(r["expires_at"])}) for r in conn.execute(
        select(link.c.id, link.c.token, link.c.created_by, link.c.created_at,
               link.c.expires_at, link.c.show_contacts)
        .where((link.c.network_id == net_id) & _live(link, now()))
        .order_by(link.c.id)).mappings()]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC times, PostgreSQL aware ones."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def revoke_share_link(conn: Connection, token: str) -> int:
    return conn.execute(update(s.share_link).where((s.share_link.c.token == token)
                                                   & s.share_link.c.revoked_at.is_(None))
                        .values(revoked_at=now())).rowcount


def shared_network(conn: Connection, token: str) -> SharedNetwork | None:
    """The network a live share link opens (and whether it shows contact details)."""
    row = conn.execute(select(s.network.c.name, s.share_link.c.show_contacts)
                       .join(s.share_link)
                       .where((s.share_link.c.token == token) & _live(s.share_link, now()))
                       ).first()
    return None if row is None else SharedNetwork(row.name, bool(row.show_contacts))


# --- invitations, answers and mentors' responses --------------------------------------------

def add_invitation(conn: Connection, net_id: int, round_name: str, institution: str,
                   token: str, author: str, expires_at: dt.datetime) -> None:
    conn.execute(insert(s.invitation).values(
        network_id=net_id, round=round_name, institution_key=institution, token=token,
        created_by=author, created_at=now(), expires_at=expires_at))


def _invitation(row) -> Invitation:
    return Invitation(row["id"], row["network"], row["round"], row["institution_key"],
                      row["token"], row["created_by"], _aware(row["created_at"]),
                      _aware(row["expires_at"]), _aware(row["revoked_at"]),
                      row.get("language", "en"))


def invitations(conn: Connection, net_id: int, round_name: str) -> list[Invitation]:
    """The round's live invitations (neither revoked nor expired), by institution."""
    inv = s.invitation
    where = (inv.c.network_id == net_id) & (inv.c.round == round_name) & _live(inv, now())
    return [_invitation(r) for r in conn.execute(
        select(inv, s.network.c.name.label("network")).join(s.network).where(where)
        .order_by(inv.c.institution_key, inv.c.id)).mappings()]


def invitation(conn: Connection, token: str) -> Invitation | None:
    """The invitation of a token, live or not (None for a token that never was one)."""
    inv = s.invitation
    row = conn.execute(select(inv, s.network.c.name.label("network"), s.network.c.language)
                       .join(s.network).where(inv.c.token == token)).mappings().first()
    return None if row is None else _invitation(row)


def revoke_invitations(conn: Connection, net_id: int, round_name: str,
                       institution: str | None = None) -> int:
    inv = s.invitation
    where = (inv.c.network_id == net_id) & (inv.c.round == round_name) & inv.c.revoked_at.is_(None)
    if institution is not None:
        where &= inv.c.institution_key == institution
    return conn.execute(update(inv).where(where).values(revoked_at=now())).rowcount


def add_answer(conn: Connection, net_id: int, round_name: str, institution: str,
               invitation_id: int | None, focus: list[FocusAnswer], capacity: int | None,
               note: str) -> int:
    return conn.execute(insert(s.answer).values(
        network_id=net_id, round=round_name, institution_key=institution,
        invitation_id=invitation_id, capacity=capacity, note=note, answered_at=now(),
        status="new", focus=[{"topic": f.topic_id, "preferred": list(f.preferred)}
                             for f in focus])).inserted_primary_key[0]


def answers(conn: Connection, net_id: int, round_name: str,
            institution: str | None = None) -> list[Answer]:
    """Each institution's last answer of the round (of one institution, when named), by
    institution."""
    a = s.answer
    where = (a.c.network_id == net_id) & (a.c.round == round_name)
    if institution is not None:
        where &= a.c.institution_key == institution
    rows = conn.execute(select(a).where(where)
                        .order_by(a.c.institution_key, a.c.id)).mappings().all()
    last = {r["institution_key"]: r for r in rows}
    return [Answer(r["id"], r["round"], r["institution_key"],
                   tuple(FocusAnswer(f["topic"], tuple(f["preferred"])) for f in r["focus"]),
                   r["capacity"], r["note"], _aware(r["answered_at"]), r["status"],
                   r["decided_by"], _aware(r["decided_at"])) for r in last.values()]


def decide_answer(conn: Connection, answer_id: int, status: str, author: str) -> None:
    conn.execute(update(s.answer).where(s.answer.c.id == answer_id)
                 .values(status=status, decided_by=author, decided_at=now()))


def round_closed(conn: Connection, net_id: int, round_name: str) -> dt.datetime | None:
    r = s.answer_round
    return _aware(conn.execute(select(r.c.closed_at).where(
        (r.c.network_id == net_id) & (r.c.round == round_name))).scalar())


def close_round(conn: Connection, net_id: int, round_name: str, author: str,
                closed: bool = True) -> None:
    r = s.answer_round
    conn.execute(delete(r).where((r.c.network_id == net_id) & (r.c.round == round_name)))
    if closed:
        conn.execute(insert(r).values(network_id=net_id, round=round_name, closed_by=author,
                                      closed_at=now()))


def ask_mentors(conn: Connection, run_id: int) -> None:
    conn.execute(update(s.match_run).where(s.match_run.c.id == run_id)
                 .values(mentors_asked_at=now()))


def add_response(conn: Connection, run_id: int, mentee: str, topic: str, mentor: str,
                 response: str, reason: str, invitation_id: int | None) -> None:
    conn.execute(insert(s.mentor_response).values(
        run_id=run_id, mentee_key=mentee, topic_key=topic, mentor_key=mentor,
        response=response, reason=reason, invitation_id=invitation_id, at=now()))


def responses(conn: Connection, run_id: int) -> list[MentorResponse]:
    """Mentors' responses to a draft's pairs: the last one of each pair counts."""
    m = s.mentor_response
    rows = conn.execute(select(m).where(m.c.run_id == run_id).order_by(m.c.id)).mappings()
    last = {(r["mentee_key"], r["topic_key"], r["mentor_key"]): r for r in rows}
    return [MentorResponse(r["run_id"], r["mentee_key"], r["topic_key"], r["mentor_key"],
                           r["response"], r["reason"], _aware(r["at"]))
            for _key, r in sorted(last.items())]


def start_session(conn: Connection, token: str, username: str) -> None:
    conn.execute(insert(s.app_session).values(token=token, username=username,
                                              created_at=now()))


def session_user(conn: Connection, token: str) -> User | None:
    """The account a sign-in that has not ended belongs to."""
    u, sess = s.app_user, s.app_session
    row = conn.execute(select(u.c.username, u.c.role, u.c.created_at)
                       .join(sess, sess.c.username == u.c.username)
                       .where((sess.c.token == token) & sess.c.ended_at.is_(None))).first()
    return None if row is None else User(row.username, row.role, row.created_at,
                                         _access(conn, row.username).get(row.username, ()))


def end_sessions(conn: Connection, token: str | None = None, username: str | None = None) -> int:
    """End one sign-in (sign-out), or every sign-in of an account (a new password)."""
    where = s.app_session.c.ended_at.is_(None)
    where &= (s.app_session.c.token == token) if token else (s.app_session.c.username == username)
    return conn.execute(update(s.app_session).where(where).values(ended_at=now())).rowcount


def replace_focus(conn: Connection, net_id: int, institution: str,
                  choices: list[tuple[str, int]], author: str, round_name: str) -> None:
    """An institution's focus topics of a round become exactly ``choices`` (topic,
    priority); unchanged choices keep who chose them and when."""
    inst_id = _id_of(conn, s.institution, net_id, institution)
    where = ((s.focus.c.network_id == net_id) & (s.focus.c.round == round_name)
             & (s.focus.c.institution_id == inst_id))
    current = {r.topic_id: r.priority for r in conn.execute(
        select(s.focus.c.topic_id, s.focus.c.priority).where(where))}
    wanted = {_id_of(conn, s.topic, net_id, t): p for t, p in choices}
    stale = [t for t, p in current.items() if wanted.get(t) != p]
    if stale:
        conn.execute(delete(s.focus).where(where & s.focus.c.topic_id.in_(stale)))
    new = [t for t, p in wanted.items() if current.get(t) != p]
    if new:
        conn.execute(insert(s.focus), [dict(network_id=net_id, round=round_name,
                                            institution_id=inst_id, topic_id=t,
                                            priority=wanted[t], chosen_by=author,
                                            chosen_at=now()) for t in new])
