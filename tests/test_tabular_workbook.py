"""Reading network workbooks: every problem in one report, with file, sheet, row and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from tpn.errors import InputError
from tpn.samples import build_rwanda, data_dir
from tpn.tabular import read_network, write_network, write_template

INSTITUTIONS = "id,name,kind,region,latitude,longitude,size,capacity\n" \
               "h1,Hospital One,hospital,North,-1.5,29.6,300,\n" \
               "h2,Hospital Two,hospital,South,-2.5,29.7,200,1\n" \
               "h3,Hospital Three,hospital,South,,,150,\n"
TOPICS = "id,name,direction,kinds,target,unit\nacc,Accreditation,higher,hospital,,%\n" \
         "readm,Readmissions,lower,,,%\n"
SCORES = "institution_id,topic_id,period,value\nh1,acc,2024,80\nh2,acc,2024,70\nh3,acc,2024,60\n" \
         "h1,readm,2024,5\n"
FOCUS = "institution_id,topic_id,priority\nh3,acc,1\n"


def write_dir(tmp_path: Path, **sheets: str | bytes) -> Path:
    files = {"institutions": INSTITUTIONS, "topics": TOPICS, "scores": SCORES, "focus": FOCUS}
    files.update(sheets)
    for name, text in files.items():
        if text is None:
            continue
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (tmp_path / f"{name}.csv").write_bytes(data)
    return tmp_path


def problems_of(path) -> list:
    with pytest.raises(InputError) as info:
        read_network(path)
    return info.value.problems


def test_valid_folder(tmp_path):
    net = read_network(write_dir(tmp_path))
    assert [i.id for i in net.institutions] == ["h1", "h2", "h3"]
    assert net.institutions[1].capacity == 1 and net.institutions[2].latitude is None
    assert {t.id: t.direction for t in net.topics} == {"acc": "higher", "readm": "lower"}
    assert net.snapshot("2024").value("h1", "readm") == 5.0
    assert net.focus[0].priority == 1


def test_shipped_sample_equals_its_builder():
    """data/rwanda is the output of tpn.samples.build_rwanda (synthetic scores)."""
    assert read_network(data_dir() / "rwanda") == build_rwanda()


def test_sample_has_the_promised_shape(rwanda):
    kinds = {}
    for i in rwanda.institutions:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    assert kinds == {"hospital": 10, "district": 30}
    assert rwanda.periods == ["2023", "2024"]
    assert {t.direction for t in rwanda.topics} == {"higher", "lower"}
    assert len(rwanda.focus) >= 80


@pytest.mark.parametrize("suffix", ["", ".xlsx"])
def test_round_trip_is_lossless_and_byte_stable(tmp_path, rwanda, suffix):
    out = write_network(rwanda, tmp_path / f"net{suffix}")
    assert read_network(out) == rwanda
    if not suffix:
        again = write_network(read_network(out), tmp_path / "again")
        for name in ("institutions", "topics", "scores", "focus"):
            assert (again / f"{name}.csv").read_bytes() == (out / f"{name}.csv").read_bytes()


def test_a_broken_workbook_lists_every_problem_with_row_and_column(tmp_path):
    path = write_dir(
        tmp_path,
        institutions="id,name,kind,latitude,longitude,size,capacity\n"
                     "h1,One,hospital,95,29,300,\n"          # latitude out of range
                     "h1,Dup,hospital,-2,29,200,\n"          # duplicate id
                     "h3,,hospital,-2,200,-5,x\n",           # no name, longitude, size, capacity
        topics="id,direction\nacc,upwards\n",              # unknown direction
        scores="institution_id,topic_id,value\nh1,acc,abc\nh9,acc,5\nh3,acc,NaN\nh3,acc,inf\n",
        focus="institution_id,topic_id,priority\nh3,zzz,0\n",
    )
    found = {(p.file, p.row, p.column) for p in problems_of(path)}
    assert found >= {
        ("institutions.csv", 2, "latitude"),
        ("institutions.csv", 3, "id"),
        ("institutions.csv", 4, "name"),
        ("institutions.csv", 4, "longitude"),
        ("institutions.csv", 4, "size"),
        ("institutions.csv", 4, "capacity"),
        ("topics.csv", 2, "direction"),
    }
    # The scores and focus sheets are checked against the other sheets in the same pass
    # only when those are readable; fix the first batch and the rest is reported.
    path = write_dir(tmp_path, scores="institution_id,topic_id,value\nh1,acc,abc\nh9,acc,5\n"
                                      "h3,acc,NaN\nh2,acc,inf\nh1,acc,1\nh1,acc,2\n",
                     focus="institution_id,topic_id,priority\nh3,zzz,0\nh3,acc,\nh3,acc,2\n")
    problems = problems_of(path)
    found = {(p.file, p.row, p.column) for p in problems}
    assert found == {
        ("scores.csv", 2, "value"), ("scores.csv", 3, "institution_id"),
        ("scores.csv", 4, "value"), ("scores.csv", 5, "value"), ("scores.csv", 7, "value"),
        ("focus.csv", 2, "topic_id"), ("focus.csv", 2, "priority"), ("focus.csv", 4, "topic_id"),
    }
    assert all(p.fix for p in problems)
    assert "h9" in str(InputError(problems))


def test_missing_columns_and_sheets(tmp_path):
    path = write_dir(tmp_path, institutions="id,nmae,kind\nh1,One,hospital\n", scores=None)
    (tmp_path / "scores.csv").unlink(missing_ok=True)
    problems = problems_of(path)
    text = [str(p) for p in problems]
    assert any("required column name is missing; is 'nmae' meant to be 'name'?" in t for t in text)
    assert any("the scores sheet is missing" in t for t in text)


def test_unknown_ids_across_sheets_suggest_the_near_one(tmp_path):
    path = write_dir(tmp_path, focus="institution_id,topic_id\nh_3,acc\n")
    [problem] = problems_of(path)
    assert (problem.row, problem.column) == (2, "institution_id")
    assert "did you mean 'h3'" in problem.fix


def test_topic_kinds_must_name_real_kinds(tmp_path):
    path = write_dir(tmp_path, topics="id,kinds\nacc,hospitals\nreadm,\n")
    [problem] = problems_of(path)
    assert problem.column == "kinds" and "hospitals" in problem.message


def test_empty_file(tmp_path):
    path = write_dir(tmp_path, topics="")
    [problem] = problems_of(path)
    assert problem.file == "topics.csv" and "empty" in problem.message


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_encodings(tmp_path, encoding):
    text = INSTITUTIONS.replace("Hospital One", "Hôpital Régional de Butaré")
    net = read_network(write_dir(tmp_path, institutions=text.encode(encoding)))
    assert net.institutions[0].name == "Hôpital Régional de Butaré"


def test_semicolons_with_decimal_commas(tmp_path):
    path = write_dir(
        tmp_path,
        institutions="id;name;kind;latitude;longitude;size\n"
                     "h1;Un;hospital;-1,5;29,6;300\nh2;Deux;hospital;-2,5;29,7;200\n"
                     "h3;Trois;hospital;;;150\n",
        scores="institution_id;topic_id;value\nh1;acc;80,5\nh2;acc;70,25\nh3;acc;60\n",
    )
    net = read_network(path)
    assert net.institutions[0].latitude == -1.5
    assert net.snapshot().value("h2", "acc") == 70.25


def test_wide_scores(tmp_path):
    path = write_dir(tmp_path, scores="institution_id,period,acc,readm\nh1,2024,80,5\n"
                                      "h2,2024,70,\nh3,2024,60,7.5\n")
    snap = read_network(path).snapshot("2024")
    assert snap.value("h3", "readm") == 7.5 and snap.value("h2", "readm") is None


def test_a_short_row_reads_its_missing_cells_as_empty(tmp_path):
    # A spreadsheet saved as CSV drops trailing empty cells: h2 has no readm score.
    path = write_dir(tmp_path, scores="institution_id,period,acc,readm\nh1,2024,80,5\n"
                                      "h2,2024,70\nh3,2024,60,7.5\n")
    snap = read_network(path).snapshot("2024")
    assert snap.value("h2", "acc") == 70.0 and snap.value("h2", "readm") is None


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(tmp_path):
    # Both readings: the clean sheet column by column, the one with a problem row by row.
    clean = "institution_id,topic_id,period,value\nh1,acc,2024,80\n,,,\n\n h2 ,acc,2024, 70 \n"
    snap = read_network(write_dir(tmp_path, scores=clean)).snapshot("2024")
    assert snap.scores == {("h1", "acc"): 80.0, ("h2", "acc"): 70.0}
    [problem] = problems_of(write_dir(tmp_path, scores=clean + "h3,acc,2024,lots\n"))
    assert (problem.row, problem.column) == (6, "value")


def test_wide_scores_with_an_unknown_topic_column(tmp_path):
    path = write_dir(tmp_path, scores="institution_id,acc,acreditation\nh1,80,5\n")
    [problem] = problems_of(path)
    assert problem.column == "acreditation" and "use one of acc, readm" in problem.fix


def test_scores_without_a_period_go_to_the_default_period(tmp_path):
    path = write_dir(tmp_path, scores="institution_id,topic_id,value\nh1,acc,80\n")
    assert read_network(path).periods == ["current"]


def _workbook(path: Path, formula_cell: str | None = None, cached: bool = False) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, text in (("institutions", INSTITUTIONS), ("topics", TOPICS), ("scores", SCORES),
                       ("focus", FOCUS)):
        ws = book.create_sheet(name)
        for line in text.strip().splitlines():
            ws.append([float(c) if c.replace(".", "").replace("-", "").isdigit() else c
                       for c in line.split(",")])
    if formula_cell:
        book["scores"][formula_cell] = "=40*2"
    book.save(path)
    if cached:
        # Simulate Excel having saved the value next to the formula.
        import zipfile
        import shutil
        tmp = path.with_suffix(".tmp")
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename.startswith("xl/worksheets/") and b"<f>40*2</f>" in data:
                    data = data.replace(b"<f>40*2</f><v></v>", b"<f>40*2</f><v>80</v>")
                    data = data.replace(b"<f>40*2</f>", b"<f>40*2</f><v>80</v>") \
                        if b"<v>80</v>" not in data else data
                dst.writestr(item, data)
        shutil.move(tmp, path)
    return path


def test_xlsx_workbook(tmp_path):
    net = read_network(_workbook(tmp_path / "net.xlsx"))
    assert net.snapshot("2024").value("h1", "acc") == 80.0


def test_xlsx_formula_without_saved_value_is_a_problem(tmp_path):
    path = _workbook(tmp_path / "net.xlsx", formula_cell="D2")
    [problem] = problems_of(path)
    assert (problem.sheet, problem.row, problem.column) == ("scores", 2, "value")
    assert "=40*2" in problem.message and "paste the values" in problem.fix


def test_xlsx_formula_with_saved_value_is_read(tmp_path):
    path = _workbook(tmp_path / "net.xlsx", formula_cell="D2", cached=True)
    assert read_network(path).snapshot("2024").value("h1", "acc") == 80.0


def test_template_has_instructions_and_reads_back(tmp_path):
    path = write_template(tmp_path / "template.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["instructions", "institutions", "topics", "scores", "focus"]
    net = read_network(path)
    assert len(net.institutions) == 1 and len(net.focus) == 1


def test_not_a_workbook(tmp_path):
    path = tmp_path / "net.xlsx"
    path.write_bytes(b"this is not a zip file")
    [problem] = problems_of(path)
    assert "cannot be opened as an Excel workbook" in problem.message


def test_unsupported_extension(tmp_path):
    path = tmp_path / "net.ods"
    path.write_bytes(b"x")
    [problem] = problems_of(path)
    assert ".ods" in problem.message


# --- wrong data that used to be read silently ------------------------------------------------


def test_a_repeated_or_missing_header_in_a_csv_file_is_a_problem(tmp_path):
    twice = INSTITUTIONS.replace("size,capacity", "capacity,capacity")
    found = problems_of(write_dir(tmp_path, institutions=twice))
    assert any(p.column == "capacity" and p.row == 1 and "appears twice" in p.message
               for p in found), found
    headless = tmp_path / "headless"
    headless.mkdir()
    unnamed = INSTITUTIONS.replace(",capacity\n", ",capacity,\n", 1).replace("300,\n", "300,,x\n")
    found = problems_of(write_dir(headless, institutions=unnamed))
    assert any("a column with data has no header" in p.message and p.column == "column 9"
               for p in found), found


def test_an_underscore_in_a_number_is_a_problem(tmp_path):
    found = problems_of(write_dir(tmp_path, institutions=INSTITUTIONS.replace(",300,", ",1_000,")))
    assert [(p.row, p.column, p.message) for p in found] == [(2, "size", "'1_000' is not a number")]


def test_two_sheets_or_files_for_one_sheet_are_a_problem(tmp_path):
    book = write_network(build_rwanda(), tmp_path / "net.xlsx")
    wb = load_workbook(book)
    wb.copy_worksheet(wb["institutions"]).title = "Institutions (old)"
    wb.save(book)
    with pytest.raises(InputError, match=r"two sheets are named institutions: 'institutions' "
                                         r"and 'Institutions \(old\)'"):
        read_network(book)
    folder = tmp_path / "csv"
    folder.mkdir()
    write_dir(folder)
    (folder / "Institutions.CSV").write_text(INSTITUTIONS)
    with pytest.raises(InputError, match="two files hold the institutions sheet"):
        read_network(folder)


def test_texts_longer_than_the_database_keeps_are_located_problems(tmp_path):
    long_name = "Hospital " + "x" * 600
    long_id = "h" * 201
    text = INSTITUTIONS.replace("Hospital Two", long_name).replace("h3,", f"{long_id},")
    found = problems_of(write_dir(tmp_path, institutions=text))
    assert sorted((p.row, p.column, p.message) for p in found if "longer" in p.message) == [
        (3, "name", "the text is longer than the 500 characters tpn keeps"),
        (4, "id", "the text is longer than the 200 characters tpn keeps")]


def test_the_lengths_checked_are_the_database_columns():
    from tpn.storage import schema
    from tpn.tabular.workbook import MAX_LENGTH

    tables = {"institutions": schema.institution, "topics": schema.topic}
    for sheet, table in tables.items():
        for column, limit in MAX_LENGTH[sheet].items():
            name = {"id": "key"}.get(column, column)
            if name in table.c:
                assert table.c[name].type.length == limit, (sheet, column)
    assert schema.snapshot.c.period.type.length == MAX_LENGTH["scores"]["period"]


def test_dhis2_periods_are_in_time_order_not_text_order(tmp_path):
    """With weekly periods 2024W9 and 2024W10, the latest is 2024W10 (as text it is W9)."""
    from tpn import services
    from tpn.storage import Database

    scores = ("institution_id,topic_id,period,value\n"
              + "".join(f"h{k},acc,{p},{v}\n" for p, v in (("2024W9", 60), ("2024W10", 70))
                        for k in (1, 2, 3)))
    folder = write_dir(tmp_path, scores=scores)
    network = read_network(folder)
    assert network.periods == ["2024W9", "2024W10"] and network.snapshot().period == "2024W10"
    db = Database.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    services.import_file(db, folder, "weekly")
    assert services.load(db, "weekly").snapshot().period == "2024W10"


def test_a_workbook_written_twice_is_the_same_bytes(tmp_path):
    """Same input, same bytes, for workbooks too: neither the workbook's own dates nor its
    zip entries' times follow the clock (written a second apart)."""
    import time

    from tpn.samples import rwanda
    from tpn.tabular import write_network

    first = write_network(rwanda(), tmp_path / "a.xlsx").read_bytes()
    time.sleep(1.1)
    assert write_network(rwanda(), tmp_path / "b.xlsx").read_bytes() == first
