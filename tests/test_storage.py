"""The database and the service layer: nothing entered is lost, nothing half-saved."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from tpn import services
from tpn.errors import InputError, NotFoundError, TpnError
from tpn.storage import Database
from tpn.storage import repository as repo
from tpn.tabular import read_network

from helpers import REPO, dump, rows_of

SAMPLE = REPO / "data" / "rwanda"
WORKERS = str(REPO / "tests" / "storage_workers.py")     # the other processes' jobs


def test_import_and_read_back(db):
    info = services.import_file(db, SAMPLE, "rwanda")
    assert info.institutions == 40 and info.periods == ("2023", "2024")
    assert services.load(db, "rwanda") == read_network(SAMPLE)
    assert services.networks(db) == ["rwanda"]


def test_reimporting_a_period_must_be_explicit(db):
    services.import_file(db, SAMPLE, "rwanda")
    before = dump(db)
    with pytest.raises(InputError) as info:
        services.import_file(db, SAMPLE, "rwanda")
    assert "--replace" in str(info.value)
    assert dump(db) == before
    assert services.import_file(db, SAMPLE, "rwanda", replace=True).replaced == ("2023", "2024")
    assert services.load(db, "rwanda") == read_network(SAMPLE)


def test_a_bad_file_changes_nothing(db, tmp_path):
    services.import_file(db, SAMPLE, "rwanda")
    before = dump(db)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("institutions", "topics", "scores"):
        (bad / f"{name}.csv").write_text((SAMPLE / f"{name}.csv").read_text())
    (bad / "scores.csv").write_text("institution_id,topic_id,period,value\nkibuye_hospital,ipc,2025,x\n")
    with pytest.raises(InputError):
        services.import_file(db, bad, "rwanda")
    assert dump(db) == before


def test_a_failure_half_way_through_an_import_is_rolled_back(db, monkeypatch):
    services.import_file(db, SAMPLE, "rwanda")
    before = dump(db)
    real = repo._upsert
    calls = []

    def failing(conn, table, net_id, rows, log=None):
        calls.append(table.name)
        if table.name == "topic":          # institutions are already written by now
            raise RuntimeError("disk full")
        return real(conn, table, net_id, rows, log)

    monkeypatch.setattr(repo, "_upsert", failing)
    with pytest.raises(RuntimeError):
        services.import_file(db, SAMPLE, "second")
    assert calls == ["institution", "topic"]
    assert dump(db) == before


def test_runs_are_drafts_until_published_and_published_runs_never_change(db):
    services.import_file(db, SAMPLE, "rwanda")
    first = services.run_match(db, "rwanda")
    second = services.run_match(db, "rwanda", period="2023")
    assert first.id != second.id and first.matched == 58
    assert [r.status for r in services.runs(db, "rwanda")] == ["draft", "draft"]
    published_ = services.publish(db, first.id)
    assert published_.pairs == 58 and published_.partnerships == len(
        {(p["mentee_id"], p["mentor_id"]) for p in services.show_run(db, first.id).pairs})
    with pytest.raises(TpnError, match="only a draft can be published"):
        services.publish(db, first.id)
    assert services.publish(db, second.id).superseded == 1
    assert [r.status for r in services.runs(db, "rwanda")] == ["superseded", "published"]
    run = services.show_run(db, first.id)
    assert len(run.pairs) == 58 and run.tpn_version and len(run.input_hash) == 64


def test_same_inputs_same_hash(db):
    services.import_file(db, SAMPLE, "rwanda")
    a, b = services.run_match(db, "rwanda"), services.run_match(db, "rwanda")
    c = services.run_match(db, "rwanda", period="2023")
    hashes = {r.id: r.input_hash for r in services.runs(db, "rwanda")}
    assert hashes[a.id] == hashes[b.id] != hashes[c.id]
    assert services.show_run(db, a.id).pairs == services.show_run(db, b.id).pairs


def test_a_stale_version_gets_a_conflict_message(db):
    services.import_file(db, SAMPLE, "rwanda")
    run = services.run_match(db, "rwanda").id
    with pytest.raises(TpnError, match="changed by someone else"):
        services.publish(db, run, expected_version=7)


def test_unknown_network_and_run(db):
    with pytest.raises(NotFoundError, match="tpn import"):
        services.run_match(db, "nowhere")
    with pytest.raises(NotFoundError, match="tpn runs"):
        services.show_run(db, 99)


def test_exports_neutralise_formulas(db, tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    for name in ("topics", "scores", "focus"):
        (net / f"{name}.csv").write_text((SAMPLE / f"{name}.csv").read_text())
    rows = (SAMPLE / "institutions.csv").read_text().replace(
        "Kabgayi Hospital", '"=HYPERLINK(""http://x"",""Kabgayi"")"')
    (net / "institutions.csv").write_text(rows)
    services.import_file(db, net, "rwanda")
    run = services.run_match(db, "rwanda").id
    out = services.export_run(db, run, "csv", tmp_path / "csv")
    text_out = (out / "pairs.csv").read_text()
    assert "'=HYPERLINK" in text_out and ",=HYPERLINK" not in text_out
    from openpyxl import load_workbook

    book = load_workbook(services.export_run(db, run, "xlsx", tmp_path / "r.xlsx"))
    cells = [c.value for row in book["pairs"].iter_rows() for c in row]
    assert any(isinstance(v, str) and v.startswith("'=HYPERLINK") for v in cells)
    data = json.loads(services.export_run(db, run, "json", tmp_path / "r.json").read_text())
    assert data["id"] == run and len(data["pairs"]) == data["summary"]["matched"]


def test_migrated_schema_equals_the_model(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tpn.storage.schema import metadata

    with db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_from_the_oldest_schema_keeps_every_row(tmp_path):
    from alembic.script import ScriptDirectory

    from tpn.storage import MIGRATIONS

    revisions = [r.revision for r in ScriptDirectory(str(MIGRATIONS)).walk_revisions()][::-1]
    db = Database.open(f"sqlite:///{tmp_path / 'old.sqlite'}", upgrade=False, check=False)
    assert len(revisions) >= 2
    db.upgrade(revisions[0])
    _fill_as_the_first_schema(db, read_network(SAMPLE))
    before = rows_of(db)
    db.upgrade("head")
    after = rows_of(db)
    assert sum(len(r) for r in before.values()) > 400
    for table, rows in before.items():
        if table == "alembic_version":
            continue
        # Every old row is still there, column for column (new columns may be added; a
        # partnership's topic moved to its topics in 0009).
        for row in rows:
            if table == "partnership":
                row = dict(row)
                topic = row.pop("topic_key")
                assert {"partnership_id": row["id"], "topic_key": topic} in [
                    {k: t[k] for k in ("partnership_id", "topic_key")}
                    for t in after["partnership_topic"]]
            assert any(all(n.get(k) == v for k, v in row.items()) for n in after[table]), \
                (table, row)
    assert Database.open(str(db.engine.url)).revision() == db.head()
    with Database.open(str(db.engine.url)).connect() as conn:
        # The first schema had no plausible ranges: the topics come back without them.
        sample = read_network(SAMPLE)
        assert repo.load_network(conn, 1) == dataclasses.replace(sample, topics=tuple(
            dataclasses.replace(t, minimum=None, maximum=None) for t in sample.topics))
        # Partnerships of runs no longer published were over: the upgrade ends them.
        assert [(p["mentor_id"], p["topics"], p["step"]) for p in repo.partnership_rows(conn, 1)] \
            == [("gisagara", ["facility_delivery"], 4)]
        assert len(repo.partnership_rows(conn, 1, ended=True)) == 2


def _fill_as_the_first_schema(db: Database, net) -> None:
    """Rows in every table of the first schema, written through its own (reflected) tables,
    as tpn 0.1 wrote them."""
    from sqlalchemy import MetaData

    import datetime as dt

    when = dt.datetime(2026, 1, 1)
    with db.transaction() as conn:
        t = MetaData()
        t.reflect(conn)
        t = t.tables
        conn.execute(t["network"].insert().values(id=1, name="rwanda", created_at=when))
        conn.execute(t["institution"].insert(), [
            dict(id=n, network_id=1, key=i.id, name=i.name, kind=i.kind, region=i.region,
                 latitude=i.latitude, longitude=i.longitude, size=i.size, capacity=i.capacity,
                 attributes={}) for n, i in enumerate(net.institutions, start=1)])
        conn.execute(t["topic"].insert(), [
            dict(id=n, network_id=1, key=x.id, name=x.name, direction=x.direction,
                 kinds=";".join(sorted(x.kinds)), target=x.target, unit=x.unit)
            for n, x in enumerate(net.topics, start=1)])
        inst = {i.id: n for n, i in enumerate(net.institutions, start=1)}
        top = {x.id: n for n, x in enumerate(net.topics, start=1)}
        for k, snap in enumerate(net.snapshots, start=1):
            conn.execute(t["snapshot"].insert().values(id=k, network_id=1, period=snap.period,
                                                       source="rwanda", imported_at=when))
            conn.execute(t["score"].insert(), [
                dict(snapshot_id=k, institution_id=inst[i], topic_id=top[x], value=v)
                for (i, x), v in snap.scores.items()])
        conn.execute(t["focus"].insert(), [
            dict(network_id=1, round="1", institution_id=inst[f.institution_id],
                 topic_id=top[f.topic_id], priority=f.priority, chosen_by="test", chosen_at=when)
            for f in net.focus])
        conn.execute(t["match_run"].insert().values(
            id=1, network_id=1, period="2024", round="1", input_hash="x", options={},
            solver="flow", tpn_version="0.1.0", status="published", summary={}, pairs=[],
            unmatched=[], created_by="test", created_at=when, version=2))
        conn.execute(t["partnership"].insert().values(
            network_id=1, run_id=1, mentee_key="huye", mentor_key="gisagara",
            topic_key="facility_delivery", step=4, created_at=when))
        conn.execute(t["match_run"].insert().values(
            id=2, network_id=1, period="2023", round="1", input_hash="y", options={},
            solver="flow", tpn_version="0.1.0", status="superseded", summary={}, pairs=[],
            unmatched=[], created_by="test", created_at=when, version=2))
        conn.execute(t["partnership"].insert().values(
            network_id=1, run_id=2, mentee_key="huye", mentor_key="nyaruguru",
            topic_key="facility_delivery", step=2, created_at=when))


def test_pair_partnerships_of_the_same_institutions_merge_with_their_records(tmp_path):
    """Migration 0009: the partnerships of one mentee and one mentor (one per topic before)
    become one partnership with both topics; every record stays, keeping its topic; the
    partnership is at the furthest step of those under way; a downgrade splits it again."""
    import datetime as dt

    from sqlalchemy import MetaData

    db = Database.open(f"sqlite:///{tmp_path / 'old.sqlite'}", upgrade=False, check=False)
    db.upgrade("0008")
    day = lambda n: dt.datetime(2026, 1, n)
    with db.transaction() as conn:
        t = MetaData()
        t.reflect(conn)
        t = t.tables
        conn.execute(t["network"].insert().values(id=1, name="rwanda", created_at=day(1)))
        conn.execute(t["match_run"].insert(), [dict(
            id=n, network_id=1, period="2024", round="1", input_hash="x", options={},
            solver="flow", tpn_version="0.1.0", status=status, summary={}, pairs=[],
            unmatched=[], created_by="test", created_at=day(n), version=2)
            for n, status in ((1, "superseded"), (2, "published"))])
        partnership = lambda n, run, mentee, mentor, topic, step, ended=None: dict(
            id=n, network_id=1, run_id=run, mentee_key=mentee, mentor_key=mentor,
            topic_key=topic, step=step, created_at=day(n + 1), ended_at=ended and day(ended),
            ended_run_id=ended and 2)
        conn.execute(t["partnership"].insert(), [
            partnership(1, 1, "huye", "gisagara", "anc4", 5),
            partnership(2, 2, "huye", "gisagara", "delivery", 2),
            partnership(3, 1, "huye", "nyanza", "anc4", 3, ended=4),
            partnership(4, 1, "kabgayi", "gisagara", "anc4", 1)])
        record = lambda pid, kind, n: dict(
            partnership_id=pid, kind=kind, dated=dt.date(2026, 2, n), fields={"n": n},
            created_by="amina", created_at=day(n), updated_by="amina", updated_at=day(n))
        conn.execute(t["partnership_record"].insert(), [
            record(1, "agreement", 1), record(1, "action_plan", 2), record(2, "agreement", 3),
            record(2, "baseline", 4), record(3, "agreement", 5)])
    before = rows_of(db)
    db.upgrade("0009")
    with db.connect() as conn:
        rows = {(p["mentee_id"], p["mentor_id"]): p
                for p in repo.partnership_rows(conn, 1, ended=True)}
        assert sorted(rows) == [("huye", "gisagara"), ("huye", "nyanza"), ("kabgayi", "gisagara")]
        merged = rows["huye", "gisagara"]
        assert (merged["id"], merged["topics"], merged["step"], merged["ended_at"]) == \
            (1, ["anc4", "delivery"], 5, None)
        assert merged["created_at"].replace(tzinfo=None) == day(2)
        assert {h["topic_id"]: h["run_id"] for h in merged["topic_history"]} == \
            {"anc4": 1, "delivery": 2}
        assert rows["huye", "nyanza"]["ended_run_id"] == 2 and \
            rows["huye", "nyanza"]["topics"] == ["anc4"]
        recs = repo.records(conn, [1, 3, 4])
        # Every record is there, field for field, each with the topic of its partnership.
        assert sorted((r["partnership_id"], r["kind"], r["topic_key"], r["fields"]["n"])
                      for r in recs) == [
            (1, "action_plan", "anc4", 2), (1, "agreement", "anc4", 1),
            (1, "agreement", "delivery", 3), (1, "baseline", "delivery", 4),
            (3, "agreement", "anc4", 5)]
        assert repo.published_partnerships(conn, 1) == [
            ("huye", "gisagara", "anc4"), ("huye", "gisagara", "delivery"),
            ("kabgayi", "gisagara", "anc4")]
    # Down again: one partnership per topic, each with its own records.
    from alembic import command
    from alembic.config import Config

    from tpn.storage import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
    after = rows_of(db)
    pair = lambda p: (p["mentee_key"], p["mentor_key"], p["topic_key"])
    assert sorted(map(pair, after["partnership"])) == sorted(map(pair, before["partnership"]))
    topic_of = {p["id"]: p["topic_key"] for p in after["partnership"]}
    assert sorted((topic_of[r["partnership_id"]], r["kind"], r["fields"]["n"])
                  for r in after["partnership_record"]) == [
        ("anc4", "action_plan", 2), ("anc4", "agreement", 1), ("anc4", "agreement", 5),
        ("delivery", "agreement", 3), ("delivery", "baseline", 4)]


def test_an_outdated_schema_names_the_command_to_run(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with db.transaction() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(TpnError, match="tpn db upgrade"):
        Database.open(str(db.engine.url))


@pytest.fixture(scope="module")
def big_network(tmp_path_factory):
    from tpn.samples import generate
    from tpn.tabular import write_network

    return write_network(generate(20000, seed=2), tmp_path_factory.mktemp("big") / "net")


def test_a_killed_import_leaves_no_partial_data(tmp_path, big_network):
    url = f"sqlite:///{tmp_path / 'kill.sqlite'}"
    db = Database.open(url)
    services.import_file(db, SAMPLE, "rwanda")
    before = dump(db)
    proc = subprocess.Popen([sys.executable, WORKERS, "import", url, str(big_network), "big"],
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    # Kill it while it writes: once its transaction has spilled pages into the WAL file.
    wal = tmp_path / "kill.sqlite-wal"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size > 2_000_000:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the import finished before it could be killed"
    # A reader is not blocked by the writer and sees only committed data.
    with db.connect() as conn:
        names = conn.execute(text("SELECT name FROM network ORDER BY name")).scalars().all()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db.engine.dispose()
    reopened = Database.open(url)
    with reopened.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert names == ["rwanda"]
    assert dump(reopened) == before


def test_two_processes_writing_the_same_network_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'two.sqlite'}"
    db = Database.open(url)
    services.import_file(db, SAMPLE, "shared")
    districts = sorted(i.id for i in services.load(db, "shared").institutions
                       if i.kind == "district")
    halves = {"a": districts[:15], "b": districts[15:]}
    procs = [subprocess.Popen([sys.executable, WORKERS, "write", url, name, ",".join(insts)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
             for name, insts in halves.items()]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    chosen = {(f.institution_id, f.chosen_by) for f in services.focus(db, "shared")
              if f.topic_id == "cbhi" and f.priority == 3}
    regions = {i.id: i.region for i in services.load(db, "shared").institutions}
    for name, insts in halves.items():
        assert {(i, name) for i in insts} <= chosen
        assert all(regions[i] == "zone-" + name for i in insts)
    assert sorted(r.created_by for r in services.runs(db, "shared")) == ["a", "a", "b", "b"]
    assert len([c for c in services.history(db, "shared") if c.field == "region"]) == 30


def test_a_killed_run_leaves_no_partial_data(tmp_path, big_network):
    url = f"sqlite:///{tmp_path / 'killrun.sqlite'}"
    db = Database.open(url)
    services.import_file(db, big_network, "big")
    before = dump(db)
    proc = subprocess.Popen([sys.executable, WORKERS, "run", url, "big"], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == b"solving"
    time.sleep(1.0)                       # inside the solve of 20,000 institutions
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reopened = Database.open(url)
    with reopened.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert dump(reopened) == before
    assert services.runs(reopened, "big") == []


def test_a_text_longer_than_the_database_keeps_is_a_located_problem(db, tmp_path):
    """On PostgreSQL such a text was a DataError traceback; SQLite kept it whole or cut."""
    services.import_file(db, SAMPLE, "rwanda")
    before = dump(db)
    with pytest.raises(InputError) as info:
        services.set_fields(db, "rwanda", "institution", "bugesera", {"name": "B" * 501})
    [problem] = info.value.problems
    assert (problem.sheet, problem.column) == ("institution", "name")
    assert "longer than the 500 characters" in problem.message
    folder = tmp_path / "long"
    folder.mkdir()
    for file in SAMPLE.glob("*.csv"):
        text = file.read_text()
        if file.stem == "institutions":
            text = text.replace("Bugesera District", "Bugesera " + "x" * 20_000)
        (folder / file.name).write_text(text)
    with pytest.raises(InputError, match="longer than the 500 characters"):
        services.import_file(db, folder, "long")
    assert dump(db) == before
