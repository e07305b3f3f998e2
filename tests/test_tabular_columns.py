"""Clean sheets are read column by column, for speed; the result must be the row-by-row
reading's, and any sheet with something to report must go the row-by-row way, which names
every problem with its row."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from tpn.models import Topic
from tpn.tabular import workbook as wb
from tpn.tabular.tables import Table

# Cells drawn from small alphabets, so that clean sheets are common and every kind of
# problem (unknown id, bad or out-of-range number, duplicate, half a location) turns up.
IDS = ["h1", "h2", "h3", "c1", "", "zz"]
NUMBERS = ["", "NA", "72.5", "72,5", "80%", "0", "-3", "1", "2", "1.5", "200", "abc", "NaN",
           "1e400", " 4 "]
KIND = {"h1": "hospital", "h2": "hospital", "h3": "hospital", "c1": "centre"}
TOPICS = {"acc": Topic("acc", "Accreditation", "higher", frozenset({"hospital"}), None, "%"),
          "readm": Topic("readm", "Readmissions", "lower", frozenset(), None, "%")}


def table(headers: list[str], rows: list[list[str]], decimal_comma: bool) -> Table:
    """A fresh table each time: readers record their problems on it."""
    return Table("t.csv", None, list(headers), [list(r) for r in rows],
                 list(range(2, len(rows) + 2)), decimal_comma=decimal_comma)


def same_reading(by_column, by_row, row_table: Table) -> None:
    assert (by_column is None) == bool(row_table.problems)
    if by_column is not None:
        assert by_column == by_row


cells = st.sampled_from(NUMBERS)


@settings(max_examples=300)
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(["H", ""]),
                               st.sampled_from(["hospital", "centre", ""]), cells, cells,
                               cells, cells, st.sampled_from(["", "x"])), max_size=6),
       decimal_comma=st.booleans())
def test_institutions(rows, decimal_comma):
    headers = ["id", "name", "kind", "latitude", "longitude", "size", "capacity", "note"]
    by_column = wb._clean_institutions(table(headers, rows, decimal_comma), ["note"])
    row_table = table(headers, rows, decimal_comma)
    same_reading(by_column, wb._institutions(row_table, by_column=False), row_table)


def same_scores(headers: list[str], rows, decimal_comma: bool, topic_columns: list[str]):
    long = not topic_columns
    by_column = wb._clean_scores(table(headers, rows, decimal_comma), KIND, TOPICS, "current",
                                 long, topic_columns)
    row_table = table(headers, rows, decimal_comma)
    by_row = wb._scores(row_table, KIND, TOPICS, "current", by_column=False)
    same_reading(by_column, by_row, row_table)
    if by_column is not None:
        # Same snapshots, and their scores in the same order (the order rows were read).
        assert [list(s.scores.items()) for s in by_column] == \
               [list(s.scores.items()) for s in by_row]


@settings(max_examples=300)
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(["acc", "readm", "x"]),
                               st.sampled_from(["2023", "2024", ""]), cells), max_size=8),
       decimal_comma=st.booleans())
def test_long_scores(rows, decimal_comma):
    same_scores(["institution_id", "topic_id", "period", "value"], rows, decimal_comma, [])


@settings(max_examples=300)
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(["2024", ""]), cells,
                               cells), max_size=6),
       decimal_comma=st.booleans())
def test_wide_scores(rows, decimal_comma):
    same_scores(["institution_id", "period", "acc", "readm"], rows, decimal_comma,
                ["acc", "readm"])


@settings(max_examples=300)
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(["acc", "readm", "x"]),
                               st.sampled_from(["", "1", "2", "0", "1.5", "1001", "NA", "b"])),
                     max_size=6),
       decimal_comma=st.booleans())
def test_focus(rows, decimal_comma):
    headers = ["institution_id", "topic_id", "priority"]
    by_column = wb._clean_focus(table(headers, rows, decimal_comma), KIND, TOPICS)
    row_table = table(headers, rows, decimal_comma)
    same_reading(by_column, wb._focus(row_table, KIND, TOPICS, by_column=False), row_table)


def test_a_clean_national_sheet_is_read_column_by_column(monkeypatch):
    """The fast way is taken on clean input (else the tests above would prove little)."""
    rows = [["h1", "acc", "2024", "80"], ["h2", "acc", "2024", "70"]]
    headers = ["institution_id", "topic_id", "period", "value"]
    calls = []
    monkeypatch.setattr(wb, "_number", lambda *a, **k: calls.append(a))
    snapshots = wb._scores(table(headers, rows, False), KIND, TOPICS, "current")
    assert calls == [] and snapshots[0].scores == {("h1", "acc"): 80.0, ("h2", "acc"): 70.0}
