"""On arbitrary bytes every reader raises tpn's InputError, and nothing else."""

from __future__ import annotations

import io
import zipfile

from hypothesis import given, settings, strategies as st

from tpn.errors import InputError
from tpn.tabular import read_network

from test_tabular_workbook import FOCUS, INSTITUTIONS, SCORES, TOPICS

SHEET_TEXT = {"institutions": INSTITUTIONS, "topics": TOPICS, "scores": SCORES, "focus": FOCUS}


def read_or_input_error(path) -> None:
    try:
        read_network(path)
    except InputError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


@settings(max_examples=150)
@given(data=st.binary(max_size=600), sheet=st.sampled_from(sorted(SHEET_TEXT)))
def test_random_bytes_in_a_csv_sheet(tmp_path_factory, data, sheet):
    folder = tmp_path_factory.mktemp("csv")
    for name, text in SHEET_TEXT.items():
        (folder / f"{name}.csv").write_text(text)
    (folder / f"{sheet}.csv").write_bytes(data)
    read_or_input_error(folder)


@settings(max_examples=150)
@given(text=st.text(alphabet=st.sampled_from(list(",;\t\n\"'=+-.eE0123456789 abchNIinf%")),
                    max_size=300),
       sheet=st.sampled_from(sorted(SHEET_TEXT)), keep_header=st.booleans())
def test_random_csv_like_text(tmp_path_factory, text, sheet, keep_header):
    folder = tmp_path_factory.mktemp("csvtext")
    for name, body in SHEET_TEXT.items():
        (folder / f"{name}.csv").write_text(body)
    header = SHEET_TEXT[sheet].splitlines()[0] + "\n" if keep_header else ""
    (folder / f"{sheet}.csv").write_text(header + text)
    read_or_input_error(folder)


@settings(max_examples=100)
@given(data=st.binary(max_size=2000))
def test_random_bytes_as_xlsx(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("x") / "net.xlsx"
    path.write_bytes(data)
    read_or_input_error(path)


@settings(max_examples=60)
@given(member=st.sampled_from(["xl/workbook.xml", "xl/worksheets/sheet1.xml",
                               "[Content_Types].xml", "xl/sharedStrings.xml"]),
       junk=st.binary(max_size=300))
def test_damaged_xlsx_members(tmp_path_factory, member, junk):
    from tpn.tabular import write_network

    folder = tmp_path_factory.mktemp("xd")
    for name, text in SHEET_TEXT.items():
        (folder / f"{name}.csv").write_text(text)
    good = write_network(read_network(folder), folder / "good.xlsx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(buffer, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, junk if item.filename == member else src.read(item.filename))
    bad = folder / "bad.xlsx"
    bad.write_bytes(buffer.getvalue())
    read_or_input_error(bad)


@settings(max_examples=150)
@given(data=st.one_of(st.binary(max_size=400),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                   lambda c: st.lists(c, max_size=4)
                                   | st.dictionaries(st.sampled_from(
                                       ["headers", "rows", "metaData", "name", "items",
                                        "ouHierarchy", "dx", "pe", "ou", "value"]), c, max_size=5),
                                   max_leaves=20).map(lambda v: __import__("json").dumps(v).encode())))
def test_random_dhis2_json(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("j") / "analytics.json"
    path.write_bytes(data)
    read_or_input_error(path)
