"""New scores into a network tpn holds: a scores sheet alone (long or wide, CSV, a folder
or a workbook), matched by id to the stored institutions and topics."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from tpn import services
from tpn.cli import main
from tpn.errors import InputError
from tpn.samples import data_dir

from helpers import dump

SAMPLE = data_dir() / "rwanda"


@pytest.fixture
def held(db):
    services.import_file(db, SAMPLE, "rwanda")
    return db


def long_scores(rows: list[tuple[str, str, float]]) -> str:
    return "institution_id,topic_id,value\n" + "".join(f"{i},{t},{v}\n" for i, t, v in rows)


def test_a_long_scores_file_adds_a_period(held, tmp_path):
    before = services.load(held, "rwanda")
    path = tmp_path / "scores_2025.csv"
    path.write_text(long_scores([("kibuye_hospital", "ipc", 81.5), ("gasabo", "cbhi", 77)]))
    added = services.import_file(held, path, "rwanda", period="2025")
    after = services.load(held, "rwanda")
    assert added.periods == ("2025",) and added.scores == 2
    assert after.periods == before.periods + ["2025"] and after.snapshot().period == "2025"
    assert after.snapshot("2025").scores == {("kibuye_hospital", "ipc"): 81.5,
                                             ("gasabo", "cbhi"): 77.0}
    assert after.institutions == before.institutions and after.focus == before.focus
    assert [h for h in services.history(held, "rwanda") if h.field != "created"] == []
    # The same period again needs --replace, like any import.
    with pytest.raises(InputError, match="period 2025 is already in this network"):
        services.import_file(held, path, "rwanda", period="2025")


def test_a_wide_workbook_or_a_folder_with_scores_alone(held, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "Scores"
    sheet.append(["institution_id", "period", "ipc", "readmission"])
    sheet.append(["kibuye_hospital", "2025Q1", 80, 7.5])
    sheet.append(["kibuye_hospital", "2025Q2", 84, 6.0])
    book.save(tmp_path / "quarters.xlsx")
    services.import_file(held, tmp_path / "quarters.xlsx", "rwanda")
    assert services.load(held, "rwanda").periods[-2:] == ["2025Q1", "2025Q2"]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "scores.csv").write_text(long_scores([("gasabo", "cbhi", 70)]))
    services.import_file(held, folder, "rwanda", period="2026")
    assert services.load(held, "rwanda").snapshot().period == "2026"


def test_unknown_ids_are_problems_that_say_how_to_add_them(held, tmp_path):
    before = dump(held)
    path = tmp_path / "scores.csv"
    path.write_text(long_scores([("kibuye_hospitl", "ipc", 80), ("new_clinic", "ipc", 60),
                                 ("gasabo", "cbhii", 70)]))
    with pytest.raises(InputError) as info:
        services.import_file(held, path, "rwanda", period="2025")
    found = {(p.row, p.column): (p.message, p.fix) for p in info.value.problems}
    assert found[(2, "institution_id")] == ("'kibuye_hospitl' is not a known institution",
                                            "did you mean 'kibuye_hospital'?")
    assert "a new institution needs the institutions sheet too" in found[(3, "institution_id")][1]
    assert found[(4, "topic_id")][1] == "did you mean 'cbhi'?"
    assert dump(held) == before


def test_a_scores_file_for_a_new_network_says_what_is_needed(db, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text(long_scores([("kibuye_hospital", "ipc", 80)]))
    with pytest.raises(InputError, match="a scores sheet alone adds scores to a network tpn "
                                         "holds, and 'fresh' is new"):
        services.import_file(db, path, "fresh")


def test_the_cli_imports_a_scores_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["import", str(SAMPLE), "--network", "rwanda", "--db", url]) == 0
    path = tmp_path / "scores_P2.csv"
    path.write_text(long_scores([("kibuye_hospital", "ipc", 81.5)]))
    assert main(["import", str(path), "--network", "rwanda", "--period", "P2", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "P2: scores per topic: ipc 1; 39 of 40 institutions have none" in out


def test_the_planners_loop_new_scores_rerun_diff_publish(tmp_path, capsys):
    """The sequence the README documents: scores of a new period into the stored network,
    a rerun on them keeping the partnerships under way, the diff, the publication, and the
    evaluation from the first period to the new one."""
    url = f"sqlite:///{tmp_path / 'loop.sqlite'}"
    run = lambda *a: main([*a, "--db", url])
    assert run("import", str(SAMPLE), "--network", "rwanda") == 0
    assert run("run", "rwanda", "--period", "2024") == 0 and run("publish", "1") == 0
    from tpn.samples import rwanda

    net = rwanda()
    rows = [(i, t, round(v * 1.05, 2)) for (i, t), v in sorted(net.snapshot("2024").scores.items())]
    path = tmp_path / "scores_2025.csv"
    path.write_text(long_scores(rows))
    capsys.readouterr()
    assert run("import", str(path), "--network", "rwanda", "--period", "2025") == 0
    assert run("rerun", "--network", "rwanda", "--period", "2025") == 0
    rerun = capsys.readouterr().out
    assert "run 2 (draft, new scores" in rerun and "since run 1:" in rerun
    assert run("diff", "1", "2") == 0 and run("publish", "2") == 0
    assert run("evaluate", "rwanda", "--from", "2024", "--to", "2025") == 0
    assert "2025" in capsys.readouterr().out


def test_the_import_says_when_periods_are_not_dhis2_ids(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["import", str(SAMPLE), "--network", "rwanda", "--db", url]) == 0
    assert "not a DHIS2 period id" not in capsys.readouterr().out
    path = tmp_path / "scores.csv"
    path.write_text(long_scores([("kibuye_hospital", "ipc", 81.5)]))
    assert main(["import", str(path), "--network", "rwanda", "--period", "after-visit",
                 "--db", url]) == 0
    assert ("note: after-visit is not a DHIS2 period id: ordered as text, after the dated "
            "periods (the latest is after-visit)") in capsys.readouterr().out
