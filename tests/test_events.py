"""Learning events of the whole network: attendance by institution and partnership, shown
on the programme, each partnership and institution, exported and backed up."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from openpyxl import load_workbook

from tpn import services
from tpn.cli import main
from tpn.errors import InputError, NotFoundError
from tpn.services import events, programme
from tpn.samples import data_dir

SESSION = {"held_on": "2026-04-10", "kind": "in-person learning session",
           "title": "Maternal health day", "place": "Huye", "organiser": "Southern Province",
           "agenda": "Registers\nPartograph", "outputs": "A shared audit form"}


@pytest.fixture
def published(db):
    services.import_file(db, data_dir() / "rwanda", "rwanda")
    services.publish(db, services.run_match(db, "rwanda", "2024").id)
    return db


def test_an_event_attended_by_three_partnerships_and_an_institution(published):
    db = published
    three = programme.partnerships(db, "rwanda")[:3]
    pair_institutions = {k for p in three for k in (p["mentee_id"], p["mentor_id"])}
    other = next(i for i in services.load(db, "rwanda").institutions
                 if i.id not in pair_institutions)
    saved = events.save_event(db, "rwanda", SESSION, [other.name.upper()],
                              [p["id"] for p in three], ["ANC4", "facility_delivery"], "amina")
    assert saved.partnerships == sorted(p["id"] for p in three)
    assert saved.institutions == sorted(pair_institutions | {other.id})
    assert saved.topics == ("anc4", "facility_delivery") and saved.agenda == SESSION["agenda"]
    assert {a.institution_id: a.partnership_id for a in saved.attendance}[other.id] is None
    # Each partnership's and each institution's events; the dashboard counts them.
    for p in three:
        assert [e.id for e in events.attended_by(events.events(db, "rwanda"), partnership=p)] \
            == [saved.id]
    assert [e.id for e in events.attended_by(events.events(db, "rwanda"),
                                             institution=other.id)] == [saved.id]
    board = programme.dashboard(db, "rwanda")
    assert [e.id for e in board["network_events"]] == [saved.id]
    counts = {p["id"]: p["learning_events"] for p in board["partnerships"]}
    assert all(counts[p["id"]] == 1 for p in three)
    assert sum(counts.values()) >= 3
    # Rewritten: one partnership fewer, no institution alone.
    again = events.save_event(db, "rwanda", {**SESSION, "title": "Maternal health day 1"}, [],
                              [three[0]["id"]], [], "amina", event_id=saved.id)
    assert again.id == saved.id and again.partnerships == [three[0]["id"]]
    assert again.institutions == sorted({three[0]["mentee_id"], three[0]["mentor_id"]})
    assert events.delete_event(db, "rwanda", saved.id).title == "Maternal health day 1"
    assert events.events(db, "rwanda") == []


def test_every_problem_of_an_event_in_one_report_and_nothing_saved(published):
    db = published
    with pytest.raises(InputError) as caught:
        events.save_event(db, "rwanda", {**SESSION, "held_on": "10 April", "kind": "party"},
                          ["Nowhere hospital"], [99999], ["hand washing"], "amina")
    said = {(p.column, p.message) for p in caught.value.problems}
    assert ("held_on", "'10 April' is not a date") in said
    assert any(c == "kind" and "'party' is not one of" in m for c, m in said)
    assert ("institutions", "'Nowhere hospital' is not an institution of the network") in said
    assert ("partnerships", "99999 is not a partnership of rwanda") in said
    assert ("topics", "'hand washing' is not a topic of the network") in said
    assert events.events(db, "rwanda") == []
    with pytest.raises(NotFoundError):
        events.save_event(db, "rwanda", SESSION, event_id=12345)
    with pytest.raises(NotFoundError):
        events.event(db, "rwanda", 12345)


def test_events_are_exported_and_backed_up(published, tmp_path):
    db = published
    three = programme.partnerships(db, "rwanda")[:3]
    saved = events.save_event(db, "rwanda", SESSION, ["gasabo"], [p["id"] for p in three],
                              ["anc4"], "amina")
    book = load_workbook(programme.export_records(db, "rwanda", "xlsx", tmp_path / "r.xlsx"))
    rows = list(book["events"].values)
    assert rows[1][rows[0].index("title")] == "Maternal health day"
    assert rows[1][rows[0].index("partnerships")] == 3
    attendance = list(book["attendance"].values)
    assert len(attendance) - 1 == len(saved.attendance)
    # The records workbook still reads back unchanged (events are read, not imported).
    assert programme.import_records(db, "rwanda", tmp_path / "r.xlsx")["updated"] == 0
    first = services.backup(db, "rwanda")
    assert json.loads(first)["events"][0]["attendance"]
    services.restore(db, first, "copy")
    assert services.backup(db, "copy").replace(b'"network": "copy"', b'"network": "rwanda"') \
        == first
    assert events.events(db, "copy")[0].partnerships != []


def test_cli_event_add_and_list(published, capsys):
    db = published
    url = str(db.engine.url)
    pid = programme.partnerships(db, "rwanda")[0]["id"]
    assert main(["event", "add", "rwanda", "--date", "2026-04-10", "--kind", "coaching visit",
                 "--title", "Coaching at Huye", "--partnership", str(pid), "--institution",
                 "gasabo", "--topic", "anc4", "--db", url]) == 0
    assert "3 institutions, 1 partnerships attending" in capsys.readouterr().out
    assert main(["event", "list", "rwanda", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "2026-04-10  coaching visit" in out and "Coaching at Huye: 1 partnerships" in out
    assert main(["event", "add", "rwanda", "--date", "tomorrow", "--kind", "coaching visit",
                 "--title", "x", "--db", url]) == 2
    assert "'tomorrow' is not a date" in capsys.readouterr().err
    assert dt.date(2026, 4, 10) == events.events(db, "rwanda")[0].held_on
