"""Writing networks and results: a workbook (.xlsx) or a folder of CSV files, and the
empty template facilitators start from. Output is deterministic: rows sorted by id,
numbers in their shortest exact form, so the same network gives the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

from ..i18n import say
from ..models import Network, period_key
from .labels import with_labels
from .workbook import EXTERNAL_COLUMNS, INSTITUTION_COLUMNS, TOPIC_COLUMNS

# Cells starting with these are formulas to a spreadsheet; exports prefix them with ' so a
# name like "=HYPERLINK(...)" stays text (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
T = TypeVar("T")


def number_text(value: float | int | None) -> str:
    """Shortest exact text of a number; integers without a decimal point.

    >>> number_text(72.0), number_text(0.1 + 0.2), number_text(None)
    ('72', '0.30000000000000004', '')
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def safe_cell(text: str) -> str:
    """Neutralise spreadsheet formulas in text cells of exports.

    >>> safe_cell("=1+1"), safe_cell("Kabgayi"), safe_cell("-3")
    ("'=1+1", 'Kabgayi', '-3')
    """
    text = str(text)            # a tpn.i18n.Text as its English, a plain string
    if text and text.startswith(FORMULA_STARTS):
        try:
            float(text)
            return text          # a plain negative number stays a number
        except ValueError:
            return "'" + text
    return text


def unsafe_cell(text: str) -> str:
    """A cell as it was before :func:`safe_cell` (reading back an export).

    >>> unsafe_cell(safe_cell("=1+1")), unsafe_cell("'quoted")
    ('=1+1', "'quoted")
    """
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def network_rows(network: Network) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The network as sheets of text rows: {sheet: (header, rows)}."""
    attrs = sorted({k for i in network.institutions for k in i.attributes})
    external = list(EXTERNAL_COLUMNS) if any(i.external for i in network.institutions) else []
    inst_rows = [
        [i.id, i.name, i.kind, i.region or "", number_text(i.latitude), number_text(i.longitude),
         number_text(i.size), number_text(i.capacity)]
        + (["yes" if i.external else "", ";".join(i.mentors_on)] if external else [])
        + [i.attributes.get(a, "") for a in attrs]
        for i in sorted(network.institutions, key=lambda i: i.id)
    ]
    topic_rows = [
        [t.id, t.name, t.direction, ";".join(sorted(t.kinds)), number_text(t.target), t.unit,
         number_text(t.minimum), number_text(t.maximum)]
        for t in sorted(network.topics, key=lambda t: t.id)
    ]
    score_rows = [
        [inst, topic, snap.period, number_text(value)]
        for snap in sorted(network.snapshots, key=lambda s: period_key(s.period))
        for (inst, topic), value in sorted(snap.scores.items())
    ]
    # The preferred mentors' column only when a request ranks some: other files keep their bytes.
    preferred = any(f.preferred for f in network.focus)
    focus_rows = [
        [f.institution_id, f.topic_id, str(f.priority)]
        + ([";".join(f.preferred)] if preferred else [])
        for f in sorted(network.focus, key=lambda f: (f.institution_id, f.priority, f.topic_id))
    ]
    return {
        "institutions": (list(INSTITUTION_COLUMNS) + external + attrs, inst_rows),
        "topics": (list(TOPIC_COLUMNS), topic_rows),
        "scores": (["institution_id", "topic_id", "period", "value"], score_rows),
        "focus": (["institution_id", "topic_id", "priority"]
                  + (["preferred_mentors"] if preferred else []), focus_rows),
    }


def write_network(network: Network, out: Path | str) -> Path:
    """Write a network as ``out.xlsx`` or as a folder of CSV files; returns the path."""
    out = Path(out)
    sheets = network_rows(network)
    if out.suffix.lower() == ".xlsx":
        write_xlsx(out, sheets)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, (header, rows) in sheets.items():
            write_csv(out / f"{name}.csv", header, rows)
    return out


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_csv_text(header, rows), encoding="utf-8")


def write_csv_of(path: Path, header: Sequence[str], items: Sequence[T],
                 row: Callable[[T], Sequence[str]]) -> None:
    """``write_csv(path, header, map(row, items))``."""
    write_csv(path, header, map(row, items))


def _csv_text(header: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_xlsx(path: Path, sheets: dict[str, tuple[list[str], list[list[str]]]],
               numeric: bool = True) -> None:
    """One sheet per entry; cells that are numbers are written as numbers. The same sheets
    give the same bytes: the workbook's dates and its zip entries' times are fixed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    book.remove(book.active)
    for name, (header, rows) in sheets.items():
        ws = book.create_sheet(name[:31])
        ws.append(list(header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([_xlsx_value(v) if numeric else v for v in row])
        for k, title in enumerate(header, start=1):
            ws.column_dimensions[ws.cell(1, k).column_letter].width = max(10, min(40, len(title) + 4))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.properties.created = book.properties.modified = _FIXED_TIME
    ExcelWriter(book, _FixedTimeZip(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()


_FIXED_TIME = dt.datetime(2000, 1, 1)


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry one fixed time (openpyxl stamps them with the clock)."""

    def writestr(self, name, data, *args, **kwargs):
        if isinstance(name, str):
            name = zipfile.ZipInfo(name, date_time=_FIXED_TIME.timetuple()[:6])
            name.compress_type = self.compression
        return super().writestr(name, data, *args, **kwargs)

    def write(self, filename, arcname=None, *args, **kwargs):
        with open(filename, "rb") as f:
            return self.writestr(arcname or Path(filename).name, f.read())


def write_sheets(out: Path, sheets: dict[str, tuple[list[str], list[list[str]]]],
                 fmt: str) -> Path:
    """``xlsx``: one workbook at ``out``; ``csv``: a folder ``out`` with a file per sheet."""
    out = Path(out)
    if fmt == "xlsx":
        write_xlsx(out, sheets)
    else:
        for name, (header, rows) in sheets.items():
            write_csv(out / f"{name}.csv", header, rows)
    return out


def _xlsx_value(text: str):
    if text == "" or not isinstance(text, str):
        return text if text != "" else None
    try:
        value = float(text)
    except ValueError:
        return safe_cell(text)
    if text.strip().lower() in ("nan", "inf", "-inf", "infinity"):
        return text
    return int(value) if value.is_integer() and "." not in text else value


INSTRUCTIONS = [
    ("How to fill this workbook", ""),
    ("institutions", "One row per institution. id, name and kind are required. kind is the "
                     "peer group (hospital, district…): institutions are matched within their "
                     "kind. region, latitude and longitude (decimal degrees), size (beds, staff "
                     "or population) and capacity (mentees it can take; 0 = does not mentor) "
                     "are optional. An external partner (an overseas hospital, a university) "
                     "has yes in an external column and, in mentors_on, the topic ids it is "
                     "offered as a mentor on (separated by ;): it needs no scores. Other "
                     "columns are kept as attributes."),
    ("topics", "One row per topic. id is required. direction is higher (higher is better) or "
               "lower (lower is better, e.g. mortality); kinds lists the kinds it applies to, "
               "separated by ; (blank = all); target, when set, makes every institution that "
               "reaches it a high performer. min and max (optional, either may be blank) are "
               "the range a correct score can take (a coverage or retention rate: 0 and "
               "100): a score outside it is flagged and never makes a mentor."),
    ("scores", "Either long (institution_id, topic_id, value, optional period) or wide "
               "(institution_id, optional period, then one column per topic id). Leave a cell "
               "empty when there is no score."),
    ("focus", "Optional. The topics each institution chose to improve: institution_id, "
              "topic_id, priority (1 = most important), and optionally preferred_mentors: up "
              "to 3 institution ids it would like to learn from, first choice first, "
              "separated by ;."),
    ("Check", "Run: tpn check this-file.xlsx  — every problem is listed with sheet, row and "
              "column, then the scores that look implausible (outside min-max, far from "
              "their peers, or a sudden jump since the previous period)."),
]


def write_template(path: Path | str) -> Path:
    """An empty network workbook with headers, one example row per sheet and instructions."""
    path = Path(path)
    sheets = {
        "instructions": (["sheet", "what to write"], [list(r) for r in INSTRUCTIONS]),
        "institutions": (list(INSTITUTION_COLUMNS),
                         [["kabgayi", "Kabgayi Hospital", "hospital", "South", "-2.097",
                           "29.757", "300", "2"]]),
        "topics": (list(TOPIC_COLUMNS),
                   [["accreditation", "Accreditation score", "higher", "hospital", "90", "%",
                     "0", "100"]]),
        "scores": (["institution_id", "topic_id", "period", "value"],
                   [["kabgayi", "accreditation", "2024", "78.5"]]),
        "focus": (["institution_id", "topic_id", "priority"],
                  [["kabgayi", "accreditation", "1"]]),
    }
    write_xlsx(path, sheets)
    return path


QUALITY_COUNT_COLUMNS = ["topic_id", "period", "institutions", "values", "missing",
                         "out_of_range", "outliers", "jumps", "accepted"]
FLAG_COLUMNS = ["institution_id", "institution_name", "kind", "region", "topic_id",
                "topic_name", "period", "value", "check", "reason", "statistic",
                "peer_median", "peer_lowest", "peer_highest", "accepted_by", "accepted_at"]


def quality_sheets(report, network: Network,
                   language: str | None = None) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The data-quality report (``tpn.analysis.quality.QualityReport``) as sheets: a summary per topic
    and period, the same per region, and every flagged score with its peers' figures, for
    the data officers who can correct the source; each flag's reason in ``language``
    (default: English), with a ``labels`` sheet in another language."""
    def counts(c) -> list[str]:
        return [c.topic_id, c.period] + [str(v) for v in (
            c.institutions, c.values, c.missing, c.out_of_range, c.outliers, c.jumps,
            c.accepted)]

    insts = {i.id: i for i in network.institutions}
    topics = {t.id: t for t in network.topics}
    flagged = []
    for f in report.flags:
        inst, topic = insts.get(f.institution_id), topics.get(f.topic_id)
        flagged.append([safe_cell(x) for x in (
            f.institution_id, inst.name if inst else "", inst.kind if inst else "",
            (inst.region or "") if inst else "", f.topic_id, topic.label if topic else "",
            f.period, number_text(f.value), f.check, say(f.reason, language),
            number_text(f.statistic),
            number_text(f.peer_median), number_text(f.peer_low), number_text(f.peer_high),
            f.accepted_by or "", f.accepted_at or "")])
    return with_labels({
        "summary": (QUALITY_COUNT_COLUMNS, [counts(c) for c in report.counts]),
        "by_region": (["region"] + QUALITY_COUNT_COLUMNS,
                      [[safe_cell(c.region or "")] + counts(c) for c in report.by_region]),
        "flagged": (FLAG_COLUMNS, flagged),
    }, language)
