"""Reading and writing domain models; the only module that writes SQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..errors import InputError, NotFoundError, Problem, TpnError
from ..models import FocusRequest, Institution, Network, Snapshot, Topic
from . import schema as s


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def network_id(conn: Connection, name: str, create: bool = False) -> int:
    found = conn.execute(select(s.network.c.id).where(s.network.c.name == name)).scalar()
    if found is not None:
        return found
    if not create:
        known = conn.execute(select(s.network.c.name).order_by(s.network.c.name)).scalars().all()
        raise NotFoundError(f"no network named {name!r}"
                            + (f"; there are: {', '.join(known)}" if known else
                               "; import one with: tpn import FILE --network NAME"))
    return conn.execute(insert(s.network).values(name=name, created_at=now())).inserted_primary_key[0]


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
                                  f"period {p} is already in this network",
                                  "import with --replace to replace its scores, or give "
                                  "another --period") for p in clash])
    inst_ids = _upsert(conn, s.institution, net_id, [
        dict(key=i.id, name=i.name, kind=i.kind, region=i.region, latitude=i.latitude,
             longitude=i.longitude, size=i.size, capacity=i.capacity,
             attributes=dict(i.attributes)) for i in network.institutions])
    topic_ids = _upsert(conn, s.topic, net_id, [
        dict(key=t.id, name=t.name, direction=t.direction, kinds=";".join(sorted(t.kinds)),
             target=t.target, unit=t.unit) for t in network.topics])
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
                 topic_id=topic_ids[f.topic_id], priority=f.priority, chosen_by=author,
                 chosen_at=now()) for f in network.focus])
    return {"institutions": len(network.institutions), "topics": len(network.topics),
            "periods": list(network.periods), "scores": scores, "focus": len(network.focus),
            "replaced": clash}


def _upsert(conn, table, net_id, rows) -> dict[str, int]:
    current = {k: i for k, i in conn.execute(
        select(table.c.key, table.c.id).where(table.c.network_id == net_id))}
    for row in rows:
        if row["key"] in current:
            conn.execute(update(table).where(table.c.id == current[row["key"]]).values(**row))
        else:
            current[row["key"]] = conn.execute(
                insert(table).values(network_id=net_id, **row)).inserted_primary_key[0]
    return current


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
    focus = [FocusRequest(inst_key[r.institution_id], topic_key[r.topic_id], r.priority)
             for r in conn.execute(select(s.focus).where((s.focus.c.network_id == net_id)
                                                         & (s.focus.c.round == round_name)))]
    return Network(
        institutions=tuple(Institution(r["key"], r["name"], r["kind"], r["region"],
                                       r["latitude"], r["longitude"], r["size"], r["capacity"],
                                       dict(r["attributes"] or {})) for r in inst),
        topics=tuple(Topic(r["key"], r["name"], r["direction"],
                           frozenset(k for k in r["kinds"].split(";") if k), r["target"],
                           r["unit"]) for r in tops),
        snapshots=tuple(snapshots),
        focus=tuple(sorted(focus, key=lambda f: (f.institution_id, f.priority, f.topic_id))),
    )


def insert_run(conn: Connection, **values) -> int:
    return conn.execute(insert(s.match_run).values(status="draft", version=1, created_at=now(),
                                                   **values)).inserted_primary_key[0]


def get_run(conn: Connection, run_id: int) -> dict:
    row = conn.execute(select(s.match_run, s.network.c.name.label("network"))
                       .join(s.network).where(s.match_run.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no match run {run_id}; list them with: tpn runs NETWORK")
    return dict(row)


def list_runs(conn: Connection, net_id: int) -> list[dict]:
    return [dict(r) for r in conn.execute(
        select(s.match_run.c.id, s.match_run.c.period, s.match_run.c.status,
               s.match_run.c.solver, s.match_run.c.created_at, s.match_run.c.created_by,
               s.match_run.c.summary, s.match_run.c.input_hash)
        .where(s.match_run.c.network_id == net_id).order_by(s.match_run.c.id)).mappings()]


def publish_run(conn: Connection, run_id: int, author: str, expected_version: int | None = None) -> dict:
    """draft -> published; the network's previously published run becomes superseded;
    the run's pairs become partnerships at step 1 of the cycle."""
    run = get_run(conn, run_id)
    if run["status"] != "draft":
        raise TpnError(f"run {run_id} is {run['status']}: only a draft can be published "
                       "(a published run is never changed; run the match again instead)")
    if expected_version is not None and run["version"] != expected_version:
        raise TpnError(f"run {run_id} was changed by someone else (version {run['version']}, "
                       f"you had {expected_version}): reload it and try again")
    superseded = conn.execute(
        update(s.match_run).where((s.match_run.c.network_id == run["network_id"])
                                  & (s.match_run.c.status == "published"))
        .values(status="superseded")).rowcount
    changed = conn.execute(
        update(s.match_run).where((s.match_run.c.id == run_id) & (s.match_run.c.status == "draft")
                                  & (s.match_run.c.version == run["version"]))
        .values(status="published", published_at=now(), version=run["version"] + 1)).rowcount
    if changed != 1:
        raise TpnError(f"run {run_id} changed while publishing it: try again")
    pairs = run["pairs"]
    if pairs:
        conn.execute(insert(s.partnership), [
            dict(network_id=run["network_id"], run_id=run_id, mentee_key=p["mentee_id"],
                 mentor_key=p["mentor_id"], topic_key=p["topic_id"], step=1, created_at=now())
            for p in pairs])
    return {"run": run_id, "partnerships": len(pairs), "superseded": superseded}


def count_rows(conn: Connection) -> dict[str, int]:
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
            for t in s.metadata.sorted_tables}
