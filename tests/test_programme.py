"""The partnership cycle after publishing: partnerships last across runs, dated records of
each step, the programme dashboard, exports, backups."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from openpyxl import load_workbook

from tpn import services
from tpn.services import programme
from tpn.cli import main
from tpn.errors import InputError, NotFoundError, TpnError
from tpn.matching import MatchOptions
from tpn.samples import data_dir

TODAY = dt.date(2026, 6, 1)
PLAN = {"agreed_on": "2026-02-01", "objectives": "Raise facility deliveries to 90%",
        "activity-0-what": "Audit delivery registers", "activity-0-owner": "Dr Uwase",
        "activity-0-due": "2026-03-01",
        "activity-1-what": "Train two midwives", "activity-1-owner": "Matron",
        "activity-1-due": "2026-05-20", "activity-1-done": "2026-05-18",
        "activity-2-what": "Community meetings", "activity-2-owner": "", "activity-2-due":
        "2026-09-01",
        "activity-3-what": "", "activity-3-due": "",
        "short_term_targets": "80% by June", "long_term_targets": "90% by December",
        "communication_plan": "Monthly call", "spread_plan": "Share at the district meeting",
        "budget": "1,500", "budget_notes": "transport"}


@pytest.fixture
def published(db):
    services.import_file(db, data_dir() / "rwanda", "rwanda")
    run = services.run_match(db, "rwanda", "2023").id
    services.publish(db, run)
    return db, run


def first(db) -> dict:
    return programme.partnerships(db, "rwanda")[0]


def test_records_of_each_step_are_kept_with_their_dates(published):
    db, _run = published
    p = first(db)
    info = programme.add_record(db, p["id"], "agreement",
                                {"signed_on": "2026-01-15", "scope": "Facility deliveries",
                                 "mentor_contact": "Dr A", "mentee_contact": "Dr B"}, "amina")
    assert info["moved_to"] is None
    programme.add_record(db, p["id"], "baseline", {"assessed_on": "2026-01-20",
                                                   "findings": "Registers incomplete"}, "amina")
    info = programme.add_record(db, p["id"], "action_plan", PLAN, "amina")
    assert info["moved_to"] == 4          # an action plan means action planning has begun
    detail = programme.partnership(db, p["id"], today=TODAY)
    assert detail["step"] == 4 and detail["step_name"] == "action planning"
    assert [r["kind"] for r in detail["records"]] == ["agreement", "baseline", "action_plan"]
    assert [str(r["dated"]) for r in detail["records"]] == ["2026-01-15", "2026-01-20",
                                                            "2026-02-01"]
    plan = detail["records"][2]["fields"]
    assert plan["budget"] == 1500.0 and len(plan["activities"]) == 3   # the empty row dropped
    assert [a["what"] for a in detail["overdue"]] == ["Audit delivery registers"]
    assert detail["missing"] == ["Gap analysis: priority areas"]
    assert [t["topic_id"] for t in detail["scores"]] == p["topics"]
    assert [s["period"] for s in detail["scores"][0]["periods"]] == ["2023", "2024"]
    assert detail["scores"][0]["periods"][0]["mentee"] is not None
    moves = [h for h in services.history(db, "rwanda") if h.entity == "partnership"]
    assert [(h.old, h.new, h.source) for h in moves] == \
        [("1", "2", "record baseline"), ("2", "4", "record action_plan")]


def test_bad_records_list_every_problem_and_save_nothing(published):
    db, _run = published
    p = first(db)
    with pytest.raises(InputError) as caught:
        programme.add_record(db, p["id"], "visit", {
            "visit_type": "holiday", "purpose": "", "starts_on": "2026-04-10",
            "ends_on": "2026-04-01", "cost": "a lot"}, "amina")
    fields = sorted(pr.column for pr in caught.value.problems)
    assert fields == ["cost", "ends_on", "purpose", "visit_type"]
    with pytest.raises(InputError) as caught:
        programme.add_record(db, p["id"], "action_plan",
                             {**PLAN, "activity-0-due": "", "activity-1-done": "soon"}, "amina")
    assert sorted(pr.column for pr in caught.value.problems) == ["activity-0-due",
                                                                 "activity-1-done"]
    with pytest.raises(InputError, match="not a record of the cycle"):
        programme.add_record(db, p["id"], "diary", {}, "amina")
    assert programme.partnership(db, p["id"])["records"] == []
    assert first(db)["step"] == 1


def test_one_agreement_many_visits_edit_and_delete(published):
    db, _run = published
    p = first(db)
    rid = programme.add_record(db, p["id"], "agreement", {"signed_on": "2026-01-15"}, "a")["record"]
    with pytest.raises(InputError, match="has its partnership agreement already"):
        programme.add_record(db, p["id"], "agreement", {"signed_on": "2026-01-16"}, "a")
    visit = {"visit_type": "exchange visit", "purpose": "See the triage", "starts_on": "2026-03-02"}
    v1 = programme.add_record(db, p["id"], "visit", visit, "a")["record"]
    programme.add_record(db, p["id"], "visit", {**visit, "starts_on": "2026-04-06"}, "a")
    assert first(db)["step"] == 5
    programme.update_record(db, v1, {**visit, "reported_on": "2026-03-10",
                                     "what_was_done": "Two days on the ward"}, "bea")
    rec = programme.record(db, v1)
    assert rec["updated_by"] == "bea" and rec["fields"]["what_was_done"] == "Two days on the ward"
    programme.update_record(db, rid, {"signed_on": "2026-01-14"}, "bea")
    assert str(programme.record(db, rid)["dated"]) == "2026-01-14"
    with pytest.raises(InputError):
        programme.update_record(db, rid, {"signed_on": ""}, "bea")
    programme.delete_record(db, rid)
    with pytest.raises(NotFoundError):
        programme.record(db, rid)


def test_the_dashboard_counts_steps_overdue_work_and_visits(published):
    db, _run = published
    rows = programme.partnerships(db, "rwanda")
    a, b = rows[0]["id"], rows[1]["id"]
    programme.add_record(db, a, "action_plan", PLAN, "amina")
    visit = {"visit_type": "coaching visit", "purpose": "Coach", "starts_on": "2026-03-02"}
    programme.add_record(db, b, "visit", {**visit, "reported_on": "2026-03-05"}, "amina")
    programme.add_record(db, b, "visit", visit, "amina")
    programme.add_record(db, b, "learning_event", {
        "held_on": "2026-03-20", "format": "virtual learning event", "title": "Triage",
        "attendees": "Nurse A\nNurse B\n"}, "amina")
    board = programme.dashboard(db, "rwanda", today=TODAY)
    assert board["by_step"] == {1: len(rows) - 2, 2: 0, 3: 0, 4: 1, 5: 1, 6: 0}
    assert board["active"] == len(rows) and board["ended"] == 0
    assert [(o["what"], o["days_late"], o["partnership"]["id"]) for o in board["overdue"]] == \
        [("Audit delivery registers", 92, a)]
    line = {p["id"]: p for p in board["partnerships"]}
    assert (line[b]["visits_done"], line[b]["visits_proposed"], line[b]["learning_events"]) == \
        (1, 1, 1)
    assert board["visits_done"] == 1 and board["learning_events"] == 1
    assert "Partnership agreement" in line[a]["missing"]
    # Later, the second activity's due date passes too; the done one never does.
    late = programme.dashboard(db, "rwanda", today=dt.date(2026, 9, 2))["overdue"]
    assert [o["what"] for o in late] == ["Audit delivery registers", "Community meetings"]


def test_a_partnership_lasts_across_published_runs(published):
    """Publishing a rerun continues the partnerships of the institutions it pairs again
    (same id, step and records, with the run's topics), starts the new ones at step 1 and
    ends those whose institutions it no longer pairs, keeping their records."""
    db, run = published
    rows = programme.partnerships(db, "rwanda")
    for p in rows[:2]:
        programme.add_record(db, p["id"], "action_plan", PLAN, "amina")    # step 4: locked
    rows = programme.partnerships(db, "rwanda")
    new_run = services.rerun_round(db, "rwanda", "2024", MatchOptions(weight_continuity=0.0))
    info = services.publish(db, new_run.id)
    before = {(p["mentee_id"], p["mentor_id"]): p for p in rows}
    after = {(p["mentee_id"], p["mentor_id"]): p for p in programme.partnerships(db, "rwanda")}
    pairs = services.show_run(db, new_run.id).pairs
    for (mentee, mentor), p in after.items():
        assert p["topics"] == sorted(x["topic_id"] for x in pairs
                                     if (x["mentee_id"], x["mentor_id"]) == (mentee, mentor))
    assert info.pairs == len(pairs) and info.partnerships == len(after)
    kept, new, ended = before.keys() & after.keys(), after.keys() - before.keys(), \
        before.keys() - after.keys()
    assert ended and new, "the 2024 scores should move some pairs"
    assert (info.continued, info.new, info.ended) == (len(kept), len(new), len(ended))
    for k in kept:
        assert after[k]["id"] == before[k]["id"] and after[k]["step"] == before[k]["step"]
    assert all(after[k]["step"] == 1 and after[k]["run_id"] == new_run.id for k in new)
    for p in rows[:2]:
        assert programme.partnership(db, p["id"])["step"] == 4     # locked, so kept
    gone = before[sorted(ended)[0]]
    all_rows = {p["id"]: p for p in programme.partnerships(db, "rwanda", ended=True)}
    assert all_rows[gone["id"]]["ended_run_id"] == new_run.id
    board = programme.dashboard(db, "rwanda", today=TODAY)
    assert board["ended"] == len(ended) and board["active"] == len(after)
    assert {p["id"] for p in board["ended_partnerships"]} == {before[k]["id"] for k in ended}
    with pytest.raises(TpnError, match="ended"):
        programme.set_step(db, gone["id"], 2)
    with pytest.raises(InputError, match="has ended"):
        programme.add_record(db, gone["id"], "agreement", {"signed_on": "2026-01-01"})
    # The next rerun starts from the published run, not from the first one.
    again = services.rerun_round(db, "rwanda", "2024")
    assert services.show_run(db, again.id).parent_id == new_run.id


def test_exports_have_a_sheet_per_record_and_neutralise_formulas(published, tmp_path):
    db, _run = published
    p = first(db)
    programme.add_record(db, p["id"], "action_plan",
                         {**PLAN, "objectives": "=HYPERLINK(\"http://x\")"}, "amina")
    programme.add_record(db, p["id"], "learning_event", {
        "held_on": "2026-03-20", "format": "in-person learning event", "title": "Day",
        "attendees": "A\nB"}, "amina")
    out = programme.export_records(db, "rwanda", "xlsx", tmp_path / "records.xlsx")
    book = load_workbook(out)
    assert book.sheetnames == ["partnerships", "agreement", "baseline", "priorities",
                               "action_plan", "visit", "learning_event", "review", "activities",
                               "events", "attendance"]
    plan = list(book["action_plan"].values)
    assert plan[1][plan[0].index("objectives")] == "'=HYPERLINK(\"http://x\")"
    activities = list(book["activities"].values)
    what, record = activities[0].index("what"), activities[0].index("record")
    assert [r[what] for r in activities[1:]] == [
        "Audit delivery registers", "Train two midwives", "Community meetings"]
    assert {r[record] for r in activities[1:]} == {plan[1][plan[0].index("record")]}
    events = list(book["learning_event"].values)
    assert events[1][events[0].index("attendees")] == "A\nB"      # a line each
    folder = programme.export_records(db, "rwanda", "csv", tmp_path / "csv")
    assert (folder / "activities.csv").read_text().count("\n") == 4
    with pytest.raises(InputError):
        programme.export_records(db, "rwanda", "pdf", tmp_path / "x")


def with_records(db) -> list[dict]:
    rows = programme.partnerships(db, "rwanda")
    programme.add_record(db, rows[0]["id"], "agreement", {
        "signed_on": "2026-01-15", "scope": "=1+1 deliveries", "review_by": "2026-12-01"},
        "amina")
    programme.add_record(db, rows[0]["id"], "action_plan", PLAN, "amina")
    programme.add_record(db, rows[1]["id"], "priorities", {
        "decided_on": "2026-02-02", "priorities": "Registers\nTriage"}, "amina")
    return rows


def set_cell(book, sheet: str, row: int, column: str, value) -> None:
    """A cell of a sheet, found by its header, set as a spreadsheet user would."""
    header = [c.value for c in book[sheet][1]]
    book[sheet].cell(row, header.index(column) + 1, value)


def test_the_records_workbook_round_trips(published, tmp_path):
    """Exported, imported unedited: nothing changes and the next export is the same bytes;
    edited in a spreadsheet: the edited record is updated, a new row added as a record."""
    db, _run = published
    rows = with_records(db)
    first_out = programme.export_records(db, "rwanda", "xlsx", tmp_path / "a.xlsx")
    before = [programme.partnership(db, r["id"])["records"] for r in rows[:2]]
    assert programme.import_records(db, "rwanda", first_out, "amina") == \
        {"updated": 0, "added": 0, "unchanged": 3}
    assert [programme.partnership(db, r["id"])["records"] for r in rows[:2]] == before
    again = programme.export_records(db, "rwanda", "xlsx", tmp_path / "b.xlsx")
    assert again.read_bytes() == first_out.read_bytes()
    # Edited as a facilitator would in Excel: a field, an activity done, a new baseline.
    book = load_workbook(first_out)
    set_cell(book, "action_plan", 2, "objectives", "Raise deliveries to 95%")
    set_cell(book, "activities", 2, "done", dt.datetime(2026, 2, 27))      # Excel's own date
    base = book["baseline"]
    bhead = [c.value for c in base[1]]
    base.append([{"partnership": rows[0]["id"], "assessed_on": "2026-01-20",
                  "findings": "Registers incomplete"}.get(h) for h in bhead])
    book.save(tmp_path / "edited.xlsx")
    done = programme.import_records(db, "rwanda", tmp_path / "edited.xlsx", "amina")
    assert done == {"updated": 1, "added": 1, "unchanged": 2}
    records = programme.partnership(db, rows[0]["id"])["records"]
    plan_now = next(r for r in records if r["kind"] == "action_plan")["fields"]
    assert plan_now["objectives"] == "Raise deliveries to 95%"
    assert plan_now["activities"][0]["done"] == "2026-02-27"
    assert [r["kind"] for r in records].count("baseline") == 1
    assert next(r for r in records if r["kind"] == "agreement")["fields"]["scope"] == \
        "=1+1 deliveries"           # the export's quote taken off again


def test_a_records_workbook_with_mistakes_saves_nothing(published, tmp_path):
    from helpers import dump

    db, _run = published
    rows = with_records(db)
    out = programme.export_records(db, "rwanda", "xlsx", tmp_path / "a.xlsx")
    book = load_workbook(out)
    set_cell(book, "action_plan", 2, "agreed_on", "next week")
    set_cell(book, "priorities", 2, "partnership", 99999)
    set_cell(book, "agreement", 2, "record", 424242)
    book.save(tmp_path / "bad.xlsx")
    before = dump(db)
    with pytest.raises(InputError) as caught:
        programme.import_records(db, "rwanda", tmp_path / "bad.xlsx", "amina")
    where = {(p.sheet, p.row, p.column) for p in caught.value.problems}
    assert ("action_plan", 2, "agreed_on") in where
    assert ("priorities", 2, "partnership") in where
    assert ("agreement", 2, "record") in where
    assert all(p.file == "bad.xlsx" for p in caught.value.problems)
    assert dump(db) == before
    assert rows


def test_cli_records_add_list_show_and_import(published, capsys, tmp_path):
    db, _run = published
    url = db.engine.url.render_as_string(hide_password=False)
    pid = str(first(db)["id"])
    assert main(["record", "add", pid, "priorities", "decided_on=2026-02-02",
                 "priorities=Registers", "priorities=Triage", "--db", url]) == 0
    assert "the partnership moved to step 3: priorities" in capsys.readouterr().out
    assert main(["record", "add", pid, "action_plan", "agreed_on=2026-02-03",
                 "objectives=Fewer readmissions", "activity=Audit|Dr A|2026-03-01|",
                 "activity=Train|Matron|2026-04-01|2026-03-30", "--db", url]) == 0
    out = capsys.readouterr().out
    record = out.split(":")[0].removeprefix("record ")
    assert main(["record", "list", pid, "--db", url]) == 0
    listed = capsys.readouterr().out
    assert "Gap analysis: priority areas" in listed and "Action plan" in listed
    assert main(["record", "show", record, "--db", url]) == 0
    shown = capsys.readouterr().out
    assert "activity: Train | Matron | 2026-04-01 | 2026-03-30" in shown
    assert "Objectives: Fewer readmissions" in shown
    assert main(["record", "add", pid, "visit", "purpose=x", "colour=red", "--db", url]) == 2
    assert "visit has no field 'colour'" in capsys.readouterr().err
    assert main(["record", "fields", "review"]) == 0
    assert "decision" in capsys.readouterr().out
    out_file = tmp_path / "r.xlsx"
    assert main(["partnership", "export", "rwanda", "--out", str(out_file), "--db", url]) == 0
    assert main(["partnership", "import", "rwanda", str(out_file), "--db", url]) == 0
    assert "0 records updated, 0 added, 2 unchanged" in capsys.readouterr().out


def test_backup_carries_records_and_ended_partnerships(published):
    db, _run = published
    p = first(db)
    programme.add_record(db, p["id"], "action_plan", PLAN, "amina")
    services.publish(db, services.rerun_round(db, "rwanda", "2024",
                                              MatchOptions(weight_continuity=0.0)).id)
    first_backup = services.backup(db, "rwanda")
    doc = json.loads(first_backup)
    assert any(x["ended_at"] for x in doc["partnerships"])
    assert sum(len(x["records"]) for x in doc["partnerships"]) == 1
    services.restore(db, first_backup, "copy")
    assert services.backup(db, "copy").replace(b'"network": "copy"', b'"network": "rwanda"') \
        == first_backup


def test_a_backup_of_pair_partnerships_restores_them_merged(db):
    """A tpn-backup-1 file (a partnership per mentee, topic and mentor, before 0009)
    restores as partnerships of two institutions, each record keeping its topic."""
    services.import_file(db, data_dir() / "rwanda", "rwanda")
    services.publish(db, services.run_match(db, "rwanda", "2024").id)
    p = next(p for p in programme.partnerships(db, "rwanda") if len(p["topics"]) == 2)
    for topic in p["topics"]:
        programme.add_record(db, p["id"], "action_plan", PLAN, "amina", topic=topic)
    doc = json.loads(services.backup(db, "rwanda"))
    old = []
    for x in doc["partnerships"]:
        for t in x["topics"]:
            old.append({**{k: x[k] for k in ("mentee_key", "mentor_key", "step")},
                        "topic_key": t["topic_key"], "run": t["run"], "ended_run": t["ended_run"],
                        "created_at": t["added_at"], "ended_at": t["ended_at"],
                        "records": [{k: v for k, v in r.items() if k != "topic_key"}
                                    for r in x["records"] if r["topic_key"] == t["topic_key"]]})
    assert len(old) == len(doc["partnerships"]) + 1
    services.restore(db, json.dumps({**doc, "format": "tpn-backup-1",
                                      "partnerships": old}).encode(), "old")
    assert json.loads(services.backup(db, "old"))["partnerships"] == doc["partnerships"]


def test_cli_show_list_and_export(published, capsys, tmp_path):
    db, _run = published
    url = db.engine.url.render_as_string(hide_password=False)
    p = first(db)
    programme.add_record(db, p["id"], "action_plan", PLAN, "amina")
    assert main(["partnership", "show", str(p["id"]), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "step 4: action planning" in out and "Action plan (record" in out
    assert "overdue since 2026-03-01: Audit delivery registers (Dr Uwase)" in out
    assert main(["partnership", "show", "99999", "--db", url]) == 3
    capsys.readouterr()
    assert main(["partnership", "export", "rwanda", "--out", str(tmp_path / "r.xlsx"),
                 "--db", url]) == 0
    assert (tmp_path / "r.xlsx").exists()
    assert main(["partnership", "list", "rwanda", "--ended", "--json", "--db", url]) == 0
    assert len(json.loads(capsys.readouterr().out.splitlines()[-1])) == \
        len(programme.partnerships(db, "rwanda"))


def test_two_institutions_on_two_topics_are_one_partnership(db, tmp_path):
    """The pairs of one mentee and one mentor are one partnership: one agreement for both
    topics, an action plan per topic, both topics' scores; a rerun that drops one topic
    keeps the partnership with the other."""
    services.import_file(db, data_dir() / "rwanda", "rwanda")
    run = services.run_match(db, "rwanda", "2024")
    services.publish(db, run.id)
    two = [p for p in programme.partnerships(db, "rwanda") if len(p["topics"]) == 2]
    assert len(two) == 1, "the sample's 2024 match pairs one mentee with one mentor twice"
    p = two[0]
    topics = p["topics"]
    assert sorted((x["topic_id"] for x in services.show_run(db, run.id).pairs
                   if (x["mentee_id"], x["mentor_id"]) == (p["mentee_id"], p["mentor_id"]))) \
        == topics
    programme.add_record(db, p["id"], "agreement", {"signed_on": "2026-01-15"}, "amina")
    with pytest.raises(InputError, match="has its partnership agreement already"):
        programme.add_record(db, p["id"], "agreement", {"signed_on": "2026-01-16"}, "amina")
    with pytest.raises(InputError, match="whole partnership's"):
        programme.add_record(db, p["id"], "baseline", {"assessed_on": "2026-01-20"}, "amina",
                             topic=topics[0])
    with pytest.raises(InputError, match="does not work on 'hand_hygiene'"):
        programme.add_record(db, p["id"], "action_plan", PLAN, "amina", topic="hand_hygiene")
    for topic in topics:
        programme.add_record(db, p["id"], "action_plan", PLAN, "amina", topic=topic)
    with pytest.raises(InputError, match=f"action plan on {topics[1]} already"):
        programme.add_record(db, p["id"], "action_plan", PLAN, "amina", topic=topics[1])
    with pytest.raises(InputError, match="action plan already"):     # the whole partnership's
        programme.add_record(db, p["id"], "action_plan", PLAN, "amina")
    detail = programme.partnership(db, p["id"], today=TODAY)
    assert [(r["kind"], r["topic_key"]) for r in detail["records"]] == \
        [("agreement", None), ("action_plan", topics[0]), ("action_plan", topics[1])]
    assert [t["topic_id"] for t in detail["scores"]] == topics and detail["step"] == 4
    # The export carries each record's topic, and reads back unchanged.
    out = programme.export_records(db, "rwanda", "xlsx", tmp_path / "records.xlsx")
    plans = list(load_workbook(out)["action_plan"].values)
    assert sorted(r[plans[0].index("topic_id")] for r in plans[1:]) == topics
    assert programme.import_records(db, "rwanda", out) == {"updated": 0, "added": 0,
                                                           "unchanged": 3}
    # A publish that pairs them on one topic only: the same partnership, one topic left.
    kept = next(x for x in services.show_run(db, run.id).pairs
                if (x["mentee_id"], x["topic_id"]) == (p["mentee_id"], topics[1]))
    draft = services.rerun_round(db, "rwanda", "2024", keep_from_step=6)
    services.edit_draft(db, draft.id, "exclude", p["mentee_id"], topics[0], p["mentor_id"])
    services.edit_draft(db, draft.id, "lock", p["mentee_id"], topics[1], kept["mentor_id"])
    info = services.publish(db, services.rerun(db, draft.id).id)
    after = programme.partnership(db, p["id"])
    assert after["topics"] == [topics[1]] and after["ended_at"] is None and after["step"] == 4
    assert [t["under_way"] for t in after["scores"]] == [False, True]
    assert info.continued >= 1
    assert (p["mentee_id"], topics[0], p["mentor_id"]) not in {
        (x["mentee_id"], x["topic_id"], x["mentor_id"]) for x in programme.pairs(db, "rwanda")}
