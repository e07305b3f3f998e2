"""Raw tables from CSV files and Excel sheets: every cell as text, with the row number a
person sees, so that every later problem can point at file, sheet, row and column.

CSV: UTF-8 with or without a byte-order mark, else Windows-1252, else Latin-1; the
separator is whichever of ``,`` ``;`` or tab the header line uses most. With ``;`` as
separator, ``,`` is accepted as the decimal mark (``71,5``), as spreadsheets in French-
and Portuguese-speaking countries write it.

Excel: the cached value of a formula cell is used (Excel saves it); a formula with no
saved value (a file written by a script and never opened in Excel) is a problem.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
import zipfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from defusedxml import DefusedXmlException

from ..errors import InputError, Problem
from ..i18n import _
from .limits import Reading, ReadLimits

MAX_CELL_TEXT = 10_000
# What openpyxl raises on a file that is not, or no longer, a valid workbook.
_BROKEN_WORKBOOK = (zipfile.BadZipFile, ET.ParseError, KeyError, ValueError, OSError, TypeError,
                    IndexError, AttributeError, EOFError)


def normalise_header(name: object) -> str:
    """'Institution ID ' -> 'institution_id'.

    >>> normalise_header(' Institution ID'), normalise_header('Latitude (°)')
    ('institution_id', 'latitude')
    """
    text = re.sub(r"\(.*?\)", "", str(name)).strip().lower()
    return re.sub(r"[\s\-]+", "_", text).strip("_")


@dataclass
class Table:
    """One sheet or CSV file: headers as given and normalised, rows of text cells."""

    file: str
    sheet: str | None
    headers: list[str]                       # as written in the file
    rows: list[Sequence[str]]
    row_numbers: list[int]
    decimal_comma: bool = False
    problems: list[Problem] = field(default_factory=list)
    # Cells by column position, made on first use (a CSV reader hands them over): checking
    # a clean sheet column by column is several times quicker than row by row.
    _cells: dict[int, list[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def columns(self) -> list[str]:
        return [normalise_header(h) for h in self.headers]

    def column(self, name: str) -> list[str]:
        """The cells of a normalised column, one per row (the last of two with one name, as
        in :meth:`records`); empty texts if there is none.

        >>> Table("f.csv", None, ["ID", "Name"], [["a", "A"], ["b"]], [2, 3]).column("name")
        ['A', '']
        """
        columns = self.columns
        if name not in columns:
            return [""] * len(self.rows)
        k = len(columns) - 1 - columns[::-1].index(name)
        cells = self._cells.get(k)
        if cells is None:
            cells = self._cells[k] = [row[k] if len(row) > k else "" for row in self.rows]
        return cells

    def problem(self, row: int | None, column: str | None, message: str, fix: str = "") -> Problem:
        p = Problem(self.file, self.sheet, row, column, message, fix)
        self.problems.append(p)
        return p

    def records(self):
        """(row number, {normalised column: text}) for each non-empty row."""
        cols = self.columns
        width = len(cols)
        for number, cells in zip(self.row_numbers, self.rows):
            if len(cells) < width:
                cells = list(cells) + [""] * (width - len(cells))
            yield number, dict(zip(cols, cells))

    def __len__(self) -> int:
        return len(self.rows)


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")       # Excel's "Unicode text" is UTF-16


def is_text(head: bytes) -> bool:
    """Whether the first bytes of a file are text: UTF-16 with its byte-order mark, or
    bytes with no NUL among them."""
    return head.startswith(UTF16_BOMS) or b"\x00" not in head


def decode(data: bytes) -> str:
    """Text of a file in the encodings spreadsheets produce.

    >>> decode('Muhanga;72,5'.encode('cp1252')), decode(b'\\xef\\xbb\\xbfid')
    ('Muhanga;72,5', 'id')
    >>> decode('id\\tnom'.encode('utf-16'))
    'id\\tnom'
    """
    encodings = ("utf-16", "utf-8-sig", "cp1252") if data.startswith(UTF16_BOMS) else \
        ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def sniff_separator(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda s: (counts[s], s == ","))
    return best if counts[best] else ","


def read_csv_table(path: Path | str, limits: ReadLimits | None = None) -> Table:
    """A CSV file as a :class:`Table`; raises InputError for what cannot be read at all,
    or what is beyond the reading limits (:mod:`tpn.tabular.limits`)."""
    path = Path(path)
    name = path.name
    sheet = None
    limits = limits or ReadLimits.from_environ()
    limits.check_file(path, name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(Problem(str(path), sheet, None, None,
                                 _("cannot read the file: {strerror}", strerror=exc.strerror),
                                 _("check the path"))) from None
    if not is_text(data[:4096]):
        raise InputError(Problem(name, sheet, None, None, _("this is not a text (CSV) file"),
                                 _("save the sheet as CSV (comma- or semicolon-separated)")))
    text = decode(data)
    if not text.strip():
        raise InputError(Problem(name, sheet, None, None, _("the file is empty"),
                                 _("add a header row and data rows")))
    sep = sniff_separator(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, header=None, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        raise InputError(Problem(name, sheet, None, None,
                                 _("the file cannot be read as CSV ({first_line})",
                                   first_line=_first_line(exc)),
                                 _("check quotes and that every row has as many cells as the "
                                   "header"))) from None
    # The header row as written: pandas would rename a second "capacity" to "capacity.1"
    # and an empty header to "Unnamed: 7", hiding both from the checks of the columns.
    headers = [h.strip() for h in frame.iloc[0].tolist()]
    frame = frame.iloc[1:]
    limits.start(name).row(frame.shape[0] + 1, frame.shape[1], cells=frame.size)
    # Cleaned column by column in plain Python: on a national scores file (a million
    # cells) pandas' string methods take half as long again.
    columns = [list(map(str.strip, frame.iloc[:, k].tolist())) for k in range(frame.shape[1])]
    for k, cells in enumerate(columns):
        if cells and max(map(len, cells)) > MAX_CELL_TEXT:
            columns[k] = [text[:MAX_CELL_TEXT] for text in cells]
    rows = list(zip(*columns))
    numbers = list(range(2, len(rows) + 2))
    # Blank rows are skipped, and rows keep their file numbers. A column without an empty
    # cell means there are none (the usual case: a search in C, not a loop over rows).
    if all("" in cells for cells in columns):
        kept = [k for k, cells in enumerate(rows) if any(cells)]
        rows, numbers = [rows[k] for k in kept], [numbers[k] for k in kept]
        columns = [[cells[k] for k in kept] for cells in columns]
    return Table(name, sheet, headers, rows, numbers, decimal_comma=(sep == ";"),
                 _cells=dict(enumerate(columns)))


def read_xlsx_tables(path: Path | str, limits: ReadLimits | None = None) -> dict[str, Table]:
    """Every sheet of a workbook as a :class:`Table`, keyed by normalised sheet name,
    within the reading limits (:mod:`tpn.tabular.limits`)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    name = path.name
    source = path
    limits = limits or ReadLimits.from_environ()
    limits.check_workbook(path, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # openpyxl warns about styles it does not need
            book = load_workbook(source, read_only=True, data_only=False)
    except (InvalidFileException, DefusedXmlException, *_BROKEN_WORKBOOK) as exc:
        if _declares_entities(exc):
            raise _entities(name) from None
        raise InputError(Problem(name, None, None, None,
                                 _("the file cannot be opened as an Excel workbook "
                                   "({first_line})", first_line=_first_line(exc)),
                                 _("save it from Excel as .xlsx, or export the sheets "
                                   "as CSV"))) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tables = _read_sheets(book, source, name, limits.start(name))
    except DefusedXmlException:
        raise _entities(name) from None
    except _BROKEN_WORKBOOK as exc:
        raise InputError(Problem(name, None, None, None,
                                 _("the workbook is damaged ({first_line})",
                                   first_line=_first_line(exc)),
                                 _("open and save it again in Excel"))) from None
    finally:
        book.close()
    return tables


def _read_sheets(book, source, name: str, reading: Reading) -> dict[str, Table]:
    """Formula cells are read as written; their saved values come from a second,
    values-only load, made only when a sheet holds a formula."""
    from openpyxl import load_workbook

    cached = None
    tables: dict[str, Table] = {}
    titles: dict[str, str] = {}
    for title in book.sheetnames:
        key = normalise_header(title)
        if key in titles:
            raise InputError(Problem(name, title, None, None,
                                     _("two sheets are named {key}: {value!r} and {title!r}",
                                       key=key, value=titles[key], title=title),
                                     _("delete or rename the one tpn should not read")))
        titles[key] = title
    try:
        for ws in book.worksheets:
            rows = _stream_rows(ws, reading)
            if any(_is_formula(v) for row in rows.values() for v in row):
                if cached is None:
                    cached = load_workbook(source, read_only=True, data_only=True)
                values = _stream_rows(cached[ws.title], reading.limits.start(name))
                tables[normalise_header(ws.title)] = _table_from_grid(name, ws.title, rows,
                                                                     values)
            else:
                tables[normalise_header(ws.title)] = _table_from_grid(name, ws.title, rows, rows)
    finally:
        if cached is not None:
            cached.close()
    return tables


def _stream_rows(ws, reading: Reading) -> dict[int, tuple]:
    """The sheet's non-empty rows by row number, counted against the limits as they come.
    The sheet's declared dimensions are checked first, then ignored: openpyxl pads every
    row to them, and one cell at XFD1048576 would make 17 billion."""
    reading.sheet_dimensions(ws.title, ws.max_row, ws.max_column)
    ws.reset_dimensions()
    rows: dict[int, tuple] = {}
    number = 0
    for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
        while row and row[-1] is None:
            row = row[:-1]
        if row:
            reading.row(number, len(row))
            rows[number] = row
        elif number % 4096 == 0:
            reading.row(number, 0)
    return rows


def _table_from_grid(file: str, sheet: str, formulas: dict[int, tuple],
                     values: dict[int, tuple]) -> Table:
    rows_iter = [(k, f, values.get(k, ())) for k, f in sorted(formulas.items())]
    # The header is the first non-empty row.
    header_at = next((n for n, (k, f, _rest) in enumerate(rows_iter)
                      if any(c not in (None, "") for c in f)), None)
    table = Table(file, sheet, [], [], [])
    if header_at is None:
        return table
    table.headers = [_cell_text(c) for c in rows_iter[header_at][1]]
    while table.headers and not table.headers[-1]:
        table.headers.pop()
    width = len(table.headers)
    for number, f_row, v_row in rows_iter[header_at + 1:]:
        cells = []
        for k in range(width):
            f = f_row[k] if k < len(f_row) else None
            v = v_row[k] if k < len(v_row) else None
            if _is_formula(f) and v is None:
                column = table.headers[k] or _("column {n}", n=k + 1)
                table.problem(number, normalise_header(column) or column,
                              _("the cell holds the formula {value} with no saved value",
                                value=str(f)[:60]),
                              _("open the file in Excel and save it, or paste the values instead "
                                "of the formula"))
                cells.append("")
            else:
                cells.append(_cell_text(v))
        if any(cells) or any(_is_formula(f) for f in f_row[:width]):
            table.rows.append(cells)
            table.row_numbers.append(number)
    return table


def _declares_entities(exc: BaseException | None) -> bool:
    """Whether defusedxml refused an entity declaration behind ``exc`` (openpyxl wraps
    what it meets while opening a workbook in an error of its own)."""
    while exc is not None:
        if isinstance(exc, DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _entities(name: str) -> InputError:
    return InputError(Problem(name, None, None, None, _("the workbook declares XML entities, "
                                                        "which Excel never writes and tpn "
                                                        "does not expand"),
                              _("save the sheets again from Excel, or export them as CSV")))


def _is_formula(value) -> bool:
    return isinstance(value, str) and value.startswith("=") and len(value) > 1


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return _clean_text(value)


def _clean_text(value) -> str:
    return str(value).strip()[:MAX_CELL_TEXT]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
