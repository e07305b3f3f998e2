"""Limits on what a file may make tpn read, checked before reading (file size, a workbook's
zip directory and sheet dimensions) and while rows stream in (rows, columns, cells, time).

A 6 KB workbook whose one cell sits at XFD1048576, or a 5 MB zip that unpacks to
gigabytes, must be refused in a moment with one clear problem, not take the memory of the
facilitator's laptop or of the server. Each limit can be set in the environment
(``TPN_MAX_FILE_MB``, ``TPN_MAX_UNPACKED_MB``, ``TPN_MAX_RATIO``, ``TPN_MAX_ROWS``,
``TPN_MAX_COLUMNS``, ``TPN_MAX_CELLS``, ``TPN_MAX_READ_SECONDS``); the defaults leave room
for a national network's 50 MB workbook.

>>> limits = ReadLimits(max_rows=10)
>>> reading = limits.start("scores.csv", "scores")
>>> reading.row(11, 3)
Traceback (most recent call last):
...
tpn.errors.InputError: 1 problem found; nothing was saved:
  - scores.csv, sheet scores, row 11: the sheet has more than 10 rows, the most tpn reads (TPN_MAX_ROWS). Fix: split the file, or raise the limit.
"""

from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import InputError, Problem
from ..i18n import _

_MB = 1024 * 1024
# Below this many unpacked bytes a member's compression ratio is not looked at: small
# XML parts of a workbook (styles, shared strings of a short sheet) compress very well.
_RATIO_FLOOR = 10 * _MB


@dataclass(frozen=True)
class ReadLimits:
    max_file_mb: float = 200            # a file on disk or uploaded
    max_unpacked_mb: float = 2000       # all the parts of a workbook, unpacked
    max_ratio: float = 200              # unpacked / packed size of one part of a workbook
    max_rows: int = 2_000_000           # rows of one sheet or CSV file
    max_columns: int = 2_000            # columns of one sheet
    max_cells: int = 40_000_000         # cells of one file, every sheet together
    max_seconds: float = 600            # to read one file

    _ENV = {"max_file_mb": "TPN_MAX_FILE_MB", "max_unpacked_mb": "TPN_MAX_UNPACKED_MB",
            "max_ratio": "TPN_MAX_RATIO", "max_rows": "TPN_MAX_ROWS",
            "max_columns": "TPN_MAX_COLUMNS", "max_cells": "TPN_MAX_CELLS",
            "max_seconds": "TPN_MAX_READ_SECONDS"}

    @classmethod
    def from_environ(cls) -> "ReadLimits":
        """The defaults, with what the environment sets; a value that is not a positive
        number is a problem naming the variable."""
        values, problems = {}, []
        for f in fields(cls):
            name = cls._ENV[f.name]
            raw = os.environ.get(name, "").strip()
            if not raw:
                continue
            try:
                value = float(raw) if f.type == "float" else int(raw)
                if value <= 0:
                    raise ValueError
            except ValueError:
                problems.append(Problem(
                    name, None, None, None,
                    _("{raw!r} is not a positive number", raw=raw) if f.type == "float" else
                    _("{raw!r} is not a positive whole number", raw=raw),
                    _("set {name} to a positive number, or unset it", name=name)))
                continue
            values[f.name] = value
        if problems:
            raise InputError(problems)
        return cls(**values)

    def check_file(self, path: Path, name: str) -> None:
        """Refuse a file larger than ``max_file_mb`` before reading a byte of it."""
        try:
            size = path.stat().st_size
        except OSError:
            return          # the reader says what is wrong with the path
        if size > self.max_file_mb * _MB:
            raise InputError(Problem(name, None, None, None,
                                     _("the file is {mb}; tpn reads files up to {mb2} "
                                       "(TPN_MAX_FILE_MB)", mb=_mb(size),
                                       mb2=_mb(self.max_file_mb * _MB)),
                                     _("split the file, or raise the limit")))

    def check_workbook(self, path: Path, name: str) -> None:
        """Refuse a workbook whose zip directory says it unpacks to too much, in total or
        at a suspicious ratio (a zip bomb). Python's zip reader stops at the sizes the
        directory states, so the sizes checked here bound what is read later."""
        self.check_file(path, name)
        try:
            with zipfile.ZipFile(path) as zf:
                members = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return          # not a zip: the workbook reader says so
        total = sum(m.file_size for m in members)
        if total > self.max_unpacked_mb * _MB:
            biggest = max(members, key=lambda m: m.file_size)
            raise InputError(Problem(name, None, None, None,
                                     _("the workbook would unpack to {mb} (the largest part, "
                                       "{filename}, to {mb2}); the limit is {mb3} "
                                       "(TPN_MAX_UNPACKED_MB)", mb=_mb(total),
                                       filename=biggest.filename, mb2=_mb(biggest.file_size),
                                       mb3=_mb(self.max_unpacked_mb * _MB)),
                                     _("remove what the network does not need (other sheets, "
                                       "images), or raise the limit")))
        for m in members:
            packed = max(m.compress_size, 1)
            if m.file_size > _RATIO_FLOOR and m.file_size > self.max_ratio * packed:
                raise InputError(Problem(
                    name, None, None, None,
                    _("the part {filename} would unpack from {mb} to {mb2}, {value:,.0f} "
                      "times its size; tpn refuses more than {max_ratio:,.0f} "
                      "(TPN_MAX_RATIO), as such a file is made to exhaust memory",
                      filename=m.filename, mb=_mb(m.compress_size), mb2=_mb(m.file_size),
                      value=m.file_size / max(m.compress_size, 1), max_ratio=self.max_ratio),
                      _("save the sheets again from Excel, or export them as CSV")))

    def start(self, file: str, sheet: str | None = None) -> "Reading":
        """A counter for one file, checked as its rows stream in."""
        return Reading(self, file, time.monotonic(), sheet)


@dataclass
class Reading:
    """Rows, columns, cells and time of one file being read, against its limits."""

    limits: ReadLimits
    file: str
    started: float
    sheet: str | None = None
    cells: int = 0

    def sheet_dimensions(self, sheet: str, rows: int | None, columns: int | None) -> None:
        """Refuse a sheet whose declared size is beyond the limits, before reading it."""
        self.sheet = sheet
        if rows is not None and rows > self.limits.max_rows:
            self._refuse(rows, None, f"the sheet says it has {rows:,} rows; tpn reads at "
                         f"most {self.limits.max_rows:,} (TPN_MAX_ROWS)")
        if columns is not None and columns > self.limits.max_columns:
            self._refuse(None, None, f"the sheet says it reaches column {_letters(columns)} "
                         f"({columns:,} columns); tpn reads at most "
                         f"{self.limits.max_columns:,} (TPN_MAX_COLUMNS)")

    def row(self, number: int, width: int, cells: int | None = None) -> None:
        """Count a row that was read (its number as the file shows it, its width), or with
        ``cells`` a whole table up to that row."""
        limits = self.limits
        if number > limits.max_rows:
            self._refuse(number, None, f"the sheet has more than {limits.max_rows:,} rows, "
                         "the most tpn reads (TPN_MAX_ROWS)")
        if width > limits.max_columns:
            self._refuse(number, _letters(width), f"a cell in column {_letters(width)} "
                         f"({width:,} columns); tpn reads at most {limits.max_columns:,} "
                         "(TPN_MAX_COLUMNS)")
        self.cells += width if cells is None else cells
        if self.cells > limits.max_cells:
            self._refuse(number, None, f"the file has more than {limits.max_cells:,} cells, "
                         "the most tpn reads (TPN_MAX_CELLS)")
        if number % 4096 == 0 and time.monotonic() - self.started > limits.max_seconds:
            self._refuse(number, None, f"reading took more than {limits.max_seconds:,.0f} s "
                         "(TPN_MAX_READ_SECONDS)")

    def _refuse(self, row: int | None, column: str | None, message: str):
        raise InputError(Problem(self.file, self.sheet, row, column, message,
                                 _("split the file, or raise the limit")))


def _mb(size: float) -> str:
    return f"{size / 1024 ** 3:,.1f} GB" if size >= 1024 ** 3 else f"{size / _MB:,.1f} MB"


def _letters(column: int) -> str:
    """Excel's letters for a column number: 1 → A, 16384 → XFD."""
    out = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        out = chr(65 + rest) + out
    return out
