"""The network workbook: sheets (or CSV files) ``institutions``, ``topics``, ``scores`` and
``focus``, read into a :class:`~tpn.models.Network` with every problem reported at once.

The README's "Input formats" section documents the columns; this module is the contract.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Callable, Iterable

from ..errors import InputError, Problem
from ..i18n import N_, _
from ..runtime.gc_pause import gc_paused
from ..models import (DIRECTIONS, FocusRequest, Institution, Network, Snapshot, Topic,
                      period_key)
from .tables import Table, read_csv_table, read_xlsx_tables

SHEETS = ("institutions", "topics", "scores", "focus")
OPTIONAL_SHEETS = ("focus",)
INSTITUTION_COLUMNS = ("id", "name", "kind", "region", "latitude", "longitude", "size", "capacity")
# Optional columns of external partners: written only when the network has one.
EXTERNAL_COLUMNS = ("external", "mentors_on")
_YES, _NO = ("yes", "y", "true", "1", "x"), ("no", "n", "false", "0", "")
TOPIC_COLUMNS = ("id", "name", "direction", "kinds", "target", "unit", "min", "max")
REQUIRED = {
    "institutions": ("id", "name", "kind"),
    "topics": ("id",),
    "scores": ("institution_id",),
    "focus": ("institution_id", "topic_id"),
}
# The longest text the database keeps per column (tpn.storage.schema; a test keeps them
# equal): a longer cell is a problem here, not a cut or a database error later.
MAX_LENGTH = {
    "institutions": {"id": 200, "name": 500, "kind": 200, "region": 200},
    "topics": {"id": 200, "name": 500, "unit": 100},
    "scores": {"institution_id": 200, "topic_id": 200, "period": 100},
    "focus": {"institution_id": 200, "topic_id": 200},
}
MISSING_MARKERS = {"", "na", "n/a", "null", "none"}
DEFAULT_PERIOD = "current"


def read_network(path: Path | str, default_period: str = DEFAULT_PERIOD,
                 columns: dict[str, dict[str, str]] | None = None) -> Network:
    """A network from a workbook (.xlsx), a folder of CSV files, or a DHIS2 export
    (.json or .csv, read with the default DHIS2 mapping).

    ``columns`` maps, per sheet, a header as written in the file to the column tpn expects
    (for files whose headers differ, e.g. ``{"institutions": {"Facility": "name"}}``).

    >>> from tpn.samples import data_dir
    >>> net = read_network(data_dir() / "rwanda")
    >>> len(net.institutions), net.periods
    (40, ['2023', '2024'])
    """
    path = Path(path)
    if path.suffix.lower() in (".json", ".csv") and path.is_file():
        from .dhis2 import Dhis2Mapping, read_dhis2

        return read_dhis2(path, Dhis2Mapping())
    with gc_paused():
        tables = read_tables(path)
        for sheet, renames in (columns or {}).items():
            if sheet in tables and renames:
                table = tables[sheet]
                table.headers = [renames.get(h, h) for h in table.headers]
        source = str(path) if path.is_dir() else path.name
        return parse_network(tables, source, default_period)


def read_tables(path: Path | str) -> dict[str, Table]:
    """The sheets of a workbook (.xlsx) or folder of CSV files, unchecked, by sheet name."""
    path = Path(path)
    if path.is_dir():
        tables = {}
        for sheet in SHEETS:
            file = _find_csv(path, sheet)
            if file is not None:
                tables[sheet] = read_csv_table(file)
        return tables
    if not path.exists():
        raise InputError(Problem(str(path), None, None, None, _("no such file or folder"),
                                 _("check the path")))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx_tables(path)
    raise InputError(Problem(path.name, None, None, None,
                             _("tpn does not read {suffix} files",
                               suffix=path.suffix.lower()) if path.suffix
                             else _("tpn does not read files without an extension"),
                             _("give a .xlsx workbook, a folder of CSV files, or a DHIS2 "
                               ".json/.csv export")))


def missing_columns(tables: dict[str, Table]) -> dict[str, list[str]]:
    """Per sheet, the required columns its headers lack (what a column mapping must name)."""
    return {sheet: [c for c in REQUIRED[sheet] if c not in table.columns]
            for sheet, table in tables.items()
            if sheet in REQUIRED and table.headers
            and any(c not in table.columns for c in REQUIRED[sheet])}


def _find_csv(folder: Path, sheet: str) -> Path | None:
    found = [file for file in sorted(folder.iterdir())
             if file.suffix.lower() == ".csv" and file.stem.strip().lower() == sheet]
    if len(found) > 1:
        raise InputError(Problem(str(folder), sheet, None, None,
                                 _("two files hold the {sheet} sheet: {name} and {name2}",
                                   sheet=sheet, name=found[0].name, name2=found[1].name),
                                 _("delete or rename the one tpn should not read")))
    return found[0] if found else None


def parse_network(tables: dict[str, Table], source: str,
                  default_period: str = DEFAULT_PERIOD) -> Network:
    """Check every sheet, then raise one InputError listing every problem, or return the network."""
    problems: list[Problem] = []
    for table in tables.values():
        problems += table.problems
    for sheet in SHEETS:
        if sheet not in tables and sheet not in OPTIONAL_SHEETS:
            problems.append(Problem(source, sheet, None, None,
                                    _("the {sheet} sheet is missing", sheet=sheet),
                                    _("add a sheet (or a file {sheet}.csv) named {sheet}",
                                      sheet=sheet)))
    for sheet, table in tables.items():
        if sheet in REQUIRED:
            problems += _check_columns(table, REQUIRED[sheet])
    if problems:
        raise InputError(problems)
    for sheet, table in tables.items():
        _check_lengths(table, MAX_LENGTH.get(sheet, {}))

    institutions = _institutions(tables["institutions"])
    inst_kind = {i.id: i.kind for i in institutions}
    topics = _topics(tables["topics"], set(inst_kind.values()))
    topic_by_id = {t.id: t for t in topics}
    _check_offers(tables["institutions"], institutions, topic_by_id)
    snapshots = _scores(tables["scores"], inst_kind, topic_by_id, default_period)
    focus = _focus(tables["focus"], inst_kind, topic_by_id) if "focus" in tables else []
    for table in tables.values():
        problems += table.problems
    if problems:
        raise InputError(problems)
    return Network(tuple(institutions), tuple(topics), tuple(snapshots), tuple(focus))


def _check_columns(table: Table, required: tuple[str, ...]) -> list[Problem]:
    problems = []
    if not table.headers:
        return [Problem(table.file, table.sheet, None, None, _("the sheet is empty"),
                        _("add a header row with the columns {columns}",
                          columns=", ".join(required)))]
    columns = table.columns
    for col in required:
        if col not in columns:
            near = difflib.get_close_matches(col, columns, n=1)
            problems.append(Problem(
                table.file, table.sheet, 1, col,
                _("the required column {col} is missing; is '{near}' meant to be '{col}'?",
                  col=col, near=near[0]) if near else
                _("the required column {col} is missing", col=col),
                _("add a column named {col}", col=col)))
    seen: dict[str, int] = {}
    for k, col in enumerate(columns):
        if not col:
            if any(len(r) > k and r[k] for r in table.rows):
                problems.append(Problem(table.file, table.sheet, 1, _("column {n}", n=k + 1),
                                        _("a column with data has no header"),
                                        _("give the column a name or delete it")))
            continue
        if col in seen:
            problems.append(Problem(table.file, table.sheet, 1, col,
                                    _("the column {col} appears twice", col=col),
                                    _("delete or rename one of them")))
        seen[col] = k
    return problems


# --- cells ---------------------------------------------------------------------------


def parse_number(text: str, decimal_comma: bool = False) -> float:
    """A finite number from a cell; ValueError with a message a person can act on.

    >>> parse_number("72.5"), parse_number("72,5", decimal_comma=True), parse_number("80%")
    (72.5, 72.5, 80.0)
    >>> parse_number("NaN")
    Traceback (most recent call last):
    ...
    ValueError: 'NaN' is not a number
    """
    if "_" in text:     # Python reads 1_000 as 1000; no spreadsheet writes it
        raise ValueError(_("{text!r} is not a number", text=text.strip()))
    try:
        # What float() reads as a finite number is read the same way below; a national
        # sheet is mostly such numbers, so they skip the cleaning.
        value = float(text)
        if math.isfinite(value):
            return value
    except ValueError:
        pass
    raw = text.strip()
    cleaned = raw.replace("\u00a0", "").replace(" ", "")
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    if decimal_comma and "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(_("{text!r} is not a number", text=raw)) from None
    if math.isnan(value) or not cleaned or cleaned.lower().lstrip("+-") in ("nan", "inf",
                                                                           "infinity"):
        raise ValueError(_("{text!r} is not a number", text=raw))
    if math.isinf(value):
        raise ValueError(_("{text!r} is not a finite number", text=raw))
    return value


def _number(table: Table, row: int, column: str, text: str, *, low=None, high=None,
            positive=False, integer=False, fix: str | None = None) -> float | None:
    fix = fix or _("type a number")
    if text.strip().lower() in MISSING_MARKERS:
        return None
    try:
        value = parse_number(text, table.decimal_comma)
    except ValueError as exc:
        table.problem(row, column, exc.args[0], fix)
        return None
    if integer and not float(value).is_integer():
        table.problem(row, column, _("{text!r} is not a whole number", text=text), fix)
        return None
    if positive and value <= 0:
        table.problem(row, column, _("{text!r} must be above 0", text=text), fix)
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        table.problem(row, column, _("{text!r} is outside {low:g} to {high:g}", text=text, low=low,
                                     high=high), fix)
        return None
    return value


# What is said of an institution's or a topic's id, one sentence each (never a word put in).
SAID = {
    "institution": {
        "empty": N_("the institution id is empty"), "give": N_("give every institution an id"),
        "name": N_("name an institution from the institutions sheet"),
        "unknown": N_("{value!r} is not a known institution"),
        "one_of": N_("use one of {known}, or add it to the institutions sheet"),
        "add": N_("add it to the institutions sheet"),
        "new": N_("a new institution needs the institutions sheet too: import a workbook with "
                  "the institutions and these scores")},
    "topic": {
        "empty": N_("the topic id is empty"), "give": N_("give every topic an id"),
        "name": N_("name a topic from the topics sheet"),
        "unknown": N_("{value!r} is not a known topic"),
        "one_of": N_("use one of {known}, or add it to the topics sheet"),
        "add": N_("add it to the topics sheet"),
        "new": N_("a new topic needs the topics sheet too: import a workbook with the topics "
                  "and these scores")},
}


def _unique_id(table: Table, row: int, column: str, value: str, seen: dict[str, int],
               what: str) -> bool:
    if not value:
        table.problem(row, column, _(SAID[what]["empty"]), _(SAID[what]["give"]))
        return False
    if value in seen:
        table.problem(row, column, _("the id {value!r} is used twice (first at row {first})",
                                     value=value, first=seen[value]),
                      _("give each one its own id"))
        return False
    seen[value] = row
    return True


def _unknown(table: Table, row: int, column: str, value: str, known, what: str) -> None:
    if not value:
        table.problem(row, column, _(SAID[what]["empty"]), _(SAID[what]["name"]))
        return
    near = difflib.get_close_matches(value, list(known), n=1)
    if near:
        hint = _("did you mean {near!r}?", near=near[0])
    elif 0 < len(known) <= 12:
        hint = _(SAID[what]["one_of"], known=", ".join(sorted(known)))
    else:
        hint = _(SAID[what]["add"])
    table.problem(row, column, _(SAID[what]["unknown"], value=value), hint)


# --- sheets --------------------------------------------------------------------------


def _check_lengths(table: Table, limits: dict[str, int]) -> None:
    for column, limit in limits.items():
        cells = table.column(column)
        if not cells or max(map(len, cells)) <= limit:
            continue
        for row, text in zip(table.row_numbers, cells):
            if len(text) > limit:
                table.problem(row, column, _("the text is longer than the {limit} characters tpn "
                                             "keeps", limit=limit), _("shorten it"))


def _external(table: Table, row: int, rec: dict) -> dict:
    """An institution's external-partner columns, checked: {} when not external."""
    text = rec.get("external", "").strip().lower()
    if text not in _YES + _NO:
        table.problem(row, "external", _("{external!r} is not yes or no",
                                         external=rec['external']),
                      _("write yes for an external partner, or leave it empty"))
        return {}
    offers = tuple(sorted({t.strip() for t in rec.get("mentors_on", "").replace(",", ";")
                           .split(";") if t.strip()}))
    if text in _YES:
        return {"external": True, "mentors_on": offers}
    if offers:
        table.problem(row, "mentors_on",
                      _("only an external partner is offered as a mentor on named topics"),
                      _("write yes in its external column, or clear mentors_on"))
    return {}


def _check_offers(table: Table, institutions: list[Institution], topics: dict) -> None:
    """The topics an external partner is offered on are topics of the network."""
    rows = dict(zip(table.column("id"), table.row_numbers))
    for inst in institutions:
        for topic in inst.mentors_on:
            if topic not in topics:
                _unknown(table, rows.get(inst.id, 0), "mentors_on", topic, topics, "topic")


def _institutions(table: Table, by_column: bool = True) -> list[Institution]:
    extra = [c for c in table.columns
             if c and c not in INSTITUTION_COLUMNS and c not in EXTERNAL_COLUMNS]
    if by_column and not table.problems:
        clean = _clean_institutions(table, extra)
        if clean is not None:
            return clean
    out, seen = [], {}
    for row, rec in table.records():
        ok = _unique_id(table, row, "id", rec["id"], seen, "institution")
        for col in ("name", "kind"):
            if not rec[col]:
                table.problem(row, col, _("the {col} is empty", col=col),
                              _("type the institution's {col}", col=col))
        lat = _number(table, row, "latitude", rec.get("latitude", ""), low=-90, high=90,
                      fix="type the latitude in decimal degrees (-90 to 90)")
        lon = _number(table, row, "longitude", rec.get("longitude", ""), low=-180, high=180,
                      fix="type the longitude in decimal degrees (-180 to 180)")
        if (lat is None) != (lon is None) and (rec.get("latitude") or rec.get("longitude")):
            missing = "longitude" if lon is None else "latitude"
            if not rec.get(missing):
                table.problem(row, missing, _("a location needs both latitude and longitude"),
                              _("fill in the {missing} or clear the other one", missing=missing))
        size = _number(table, row, "size", rec.get("size", ""), positive=True,
                       fix="type a size above 0 (beds, staff or population), or leave it empty")
        capacity = _number(table, row, "capacity", rec.get("capacity", ""), low=0, high=10_000,
                           integer=True, fix="type how many mentees it can take (0: none)")
        if ok:
            out.append(Institution(
                id=rec["id"], name=rec["name"] or rec["id"], kind=rec["kind"] or "?",
                region=rec.get("region") or None,
                latitude=lat if lon is not None else None,
                longitude=lon if lat is not None else None,
                size=size, capacity=None if capacity is None else int(capacity),
                attributes={c: rec[c] for c in extra if rec.get(c)},
                **_external(table, row, rec),
            ))
    if not table.rows:
        table.problem(None, None, _("there are no institutions"), _("add one row per institution"))
    return out


def _clean_institutions(table: Table, extra: list[str]) -> list[Institution] | None:
    """The institutions of a sheet with nothing to report, read column by column; None as
    soon as a row needs a problem (the row-by-row reading then names them all)."""
    ids, names, kinds = table.column("id"), table.column("name"), table.column("kind")
    if not ids or "" in ids or len(set(ids)) < len(ids) or not all(names) or not all(kinds):
        return None
    figures = {}
    for column, ok in (("latitude", lambda v: -90 <= v <= 90),
                       ("longitude", lambda v: -180 <= v <= 180),
                       ("size", lambda v: v > 0),
                       ("capacity", lambda v: 0 <= v <= 10_000 and v.is_integer())):
        texts = table.column(column)
        numbers = _clean_numbers(set(texts), table.decimal_comma, ok)
        if numbers is None:
            return None
        figures[column] = [numbers[text] for text in texts]
    lat_texts, lon_texts = table.column("latitude"), table.column("longitude")
    for lat, lon, lat_text, lon_text in zip(figures["latitude"], figures["longitude"],
                                            lat_texts, lon_texts):
        if (lat is None) != (lon is None) and not (lat_text if lat is None else lon_text):
            return None     # half a location
    extras = [(c, table.column(c)) for c in extra]
    externals: dict[int, dict] = {}
    marks, offers = table.column("external"), table.column("mentors_on")
    for r in (r for r in range(len(ids)) if (marks and marks[r]) or (offers and offers[r])):
        mark = marks[r].strip().lower() if marks else ""
        if mark not in _YES + _NO or (mark not in _YES and offers and offers[r].strip()):
            return None     # the row-by-row reading says what is wrong
        externals[r] = _external(table, table.row_numbers[r], {
            "external": mark, "mentors_on": offers[r] if offers else ""})
    return [
        Institution(id=i, name=name, kind=kind, region=region or None,
                    latitude=lat if lon is not None else None,
                    longitude=lon if lat is not None else None,
                    size=size, capacity=None if capacity is None else int(capacity),
                    attributes={c: cells[r] for c, cells in extras if cells[r]},
                    **externals.get(r, {}))
        for r, (i, name, kind, region, lat, lon, size, capacity) in enumerate(zip(
            ids, names, kinds, table.column("region"), figures["latitude"],
            figures["longitude"], figures["size"], figures["capacity"]))
    ]


def _direction(text: str) -> str | None:
    word = text.strip().lower().replace("_", " ")
    if not word:
        return "higher"
    for d in DIRECTIONS:
        if word in (d, f"{d} is better", f"{d} better"):
            return d
    return None


def _topics(table: Table, kinds: set[str]) -> list[Topic]:
    out, seen = [], {}
    for row, rec in table.records():
        ok = _unique_id(table, row, "id", rec["id"], seen, "topic")
        direction = _direction(rec.get("direction", ""))
        # A row with a bad cell is still kept (the import fails anyway) so that the other
        # sheets are not flooded with "unknown topic" problems about it.
        if direction is None:
            table.problem(row, "direction", _("{direction!r} is not a direction",
                                              direction=rec['direction']),
                          _("write higher (higher is better) or lower (lower is better)"))
            direction = "higher"
        topic_kinds = frozenset(k.strip() for k in rec.get("kinds", "").split(";") if k.strip())
        for k in sorted(topic_kinds - kinds):
            table.problem(row, "kinds", _("{k!r} is not the kind of any institution", k=k),
                          _("use one of: {join}; separate kinds with ;",
                            join=', '.join(sorted(kinds))))
        topic_kinds &= kinds
        target = _number(table, row, "target", rec.get("target", ""),
                         fix="type the target value, or leave it empty")
        low, high = (_number(table, row, col, rec.get(col, ""), fix=f"type the {word} value "
                             "a correct score can take, or leave it empty")
                     for col, word in (("min", "lowest"), ("max", "highest")))
        if low is not None and high is not None and low > high:
            table.problem(row, "max",
                          _("the plausible range {low:g} to {high:g} is empty (max is below min)",
                            low=low, high=high), _("swap the two, or correct one of them"))
        if ok:
            out.append(Topic(rec["id"], rec.get("name", ""), direction, topic_kinds, target,
                             rec.get("unit", ""), low, high))
    if not table.rows:
        table.problem(None, None, _("there are no topics"), _("add one row per topic"))
    return out


def _scores(table: Table, inst_kind: dict[str, str], topics: dict[str, Topic],
            default_period: str, by_column: bool = True) -> list[Snapshot]:
    columns = table.columns
    long = "topic_id" in columns or "value" in columns
    if long:
        for col in ("topic_id", "value"):
            if col not in columns:
                table.problem(1, col,
                              _("the column {col} is missing (a long scores sheet has "
                                "institution_id, topic_id, value)", col=col),
                              _("add the column {col}, or use one column per topic id", col=col))
        if table.problems:
            return []
        topic_columns: list[str] = []
    else:
        ignored = {"institution_id", "period", "institution_name", "name", "institution"}
        topic_columns = [c for c in columns if c and c not in ignored]
        for col in topic_columns:
            if col not in topics:
                _unknown(table, 1, col, col, topics, "topic")
        if not topic_columns:
            table.problem(1, None, _("the scores sheet has no topic columns"),
                          _("add institution_id, topic_id, value columns, or one column per topic "
                            "id"))
    if by_column and not table.problems:
        clean = _clean_scores(table, inst_kind, topics, default_period, long, topic_columns)
        if clean is not None:
            return clean
    by_period: dict[str, dict[tuple[str, str], float]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    # Scores repeat (one decimal, a few hundred values): each text is parsed once. Only
    # numbers are remembered, so every bad cell is still reported with its own row.
    parsed: dict[str, float] = {}
    for row, rec in table.records():
        inst = rec["institution_id"]
        if inst not in inst_kind:
            _unknown(table, row, "institution_id", inst, inst_kind, "institution")
            continue
        period = rec.get("period") or default_period
        cells = [(rec["topic_id"], "value", rec["value"])] if long else \
            [(c, c, rec[c]) for c in topic_columns if c in topics]
        for topic_id, column, text in cells:
            if topic_id not in topics:
                _unknown(table, row, "topic_id", topic_id, topics, "topic")
                continue
            value = parsed.get(text)
            if value is None:
                value = _number(table, row, column, text, fix="type a number, or leave the "
                                "cell empty when there is no score")
                if value is None:
                    continue
                parsed[text] = value
            topic = topics[topic_id]
            if not topic.applies_to(inst_kind[inst]):
                table.problem(row, column, _("{topic_id} applies to {join}, and {inst} is a "
                                             "{value}", topic_id=topic_id,
                                             join=', '.join(sorted(topic.kinds)), inst=inst,
                                             value=inst_kind[inst]),
                              _("delete the score, or add the kind to the topic's kinds"))
                continue
            key = (inst, topic_id, period)
            if key in seen:
                table.problem(row, column, _("a second score for {inst} on {topic_id} in period "
                                             "{period} (first at "
                                             "row {value})", inst=inst, topic_id=topic_id,
                                             period=period, value=seen[key]),
                                             _("keep one of them"))
                continue
            seen[key] = row
            by_period.setdefault(period, {})[(inst, topic_id)] = value
    return [Snapshot(p, by_period[p]) for p in sorted(by_period, key=period_key)]


def _clean_scores(table: Table, inst_kind: dict[str, str], topics: dict[str, Topic],
                  default_period: str, long: bool,
                  topic_columns: list[str]) -> list[Snapshot] | None:
    """The snapshots of a scores sheet with nothing to report, read column by column; None
    as soon as any cell needs a problem, and the row-by-row reading then names them all.

    Same result as the row-by-row reading, in the same order: a national scores sheet has
    hundreds of thousands of rows, and this way each distinct text is parsed once and no
    row becomes a dict.
    """
    institutions = table.column("institution_id")
    if not inst_kind.keys() >= set(institutions):
        return None
    kinds = [inst_kind[i] for i in institutions]
    periods = [p or default_period for p in table.column("period")]
    if long:
        topic_ids, texts = table.column("topic_id"), table.column("value")
        if not topics.keys() >= set(topic_ids):
            return None
        cells = zip(institutions, kinds, periods, topic_ids, texts)
        distinct = set(texts)
    else:
        wide = [(t, table.column(t)) for t in topic_columns]
        cells = ((i, k, p, t, column[r])
                 for r, (i, k, p) in enumerate(zip(institutions, kinds, periods))
                 for t, column in wide)
        distinct = set().union(*(column for _kind, column in wide))
    value = _clean_numbers(distinct, table.decimal_comma)
    if value is None:
        return None
    applies = {(t, k) for t in topics for k in set(kinds) if topics[t].applies_to(k)}
    by_period: dict[str, dict[tuple[str, str], float]] = {}
    for inst, kind, period, topic, text in cells:
        number = value[text]
        if number is None:
            continue
        if (topic, kind) not in applies:
            return None
        scores = by_period.get(period)
        if scores is None:
            scores = by_period[period] = {}
        key = (inst, topic)
        if key in scores:
            return None
        scores[key] = number
    return [Snapshot(p, by_period[p]) for p in sorted(by_period, key=period_key)]


def _focus(table: Table, inst_kind: dict[str, str], topics: dict[str, Topic],
           by_column: bool = True) -> list[FocusRequest]:
    if by_column and not table.problems:
        clean = _clean_focus(table, inst_kind, topics)
        if clean is not None:
            return clean
    out, seen = [], {}
    for row, rec in table.records():
        inst, topic = rec["institution_id"], rec["topic_id"]
        ok = True
        if inst not in inst_kind:
            _unknown(table, row, "institution_id", inst, inst_kind, "institution")
            ok = False
        if topic not in topics:
            _unknown(table, row, "topic_id", topic, topics, "topic")
            ok = False
        priority = _number(table, row, "priority", rec.get("priority", ""), low=1, high=1000,
                           integer=True, fix="type 1 for the most important topic, 2 for the "
                                             "next, …")
        if (inst, topic) in seen:
            table.problem(row, "topic_id", _("{inst} chose {topic} twice (first at row {value})",
                                             inst=inst, topic=topic, value=seen[(inst, topic)]),
                                             _("keep one row"))
            ok = False
        seen[(inst, topic)] = row
        preferred = _preferred(table, row, rec.get("preferred_mentors", ""), inst, inst_kind)
        if ok:
            out.append(FocusRequest(inst, topic, 1 if priority is None else int(priority),
                                    preferred))
    return out


def _preferred(table: Table, row: int, text: str, inst: str, inst_kind) -> tuple[str, ...]:
    """The mentors a request ranks, first choice first (ids separated by ;), checked."""
    from ..models import MAX_PREFERRED

    ids = [x.strip() for x in text.replace(",", ";").split(";") if x.strip()]
    problems = 0
    for x in ids:
        if x not in inst_kind:
            _unknown(table, row, "preferred_mentors", x, inst_kind, "institution")
            problems += 1
    if len(ids) > MAX_PREFERRED:
        table.problem(row, "preferred_mentors",
                      _("{n} mentors are ranked; at most {MAX_PREFERRED} may be", n=len(ids),
                        MAX_PREFERRED=MAX_PREFERRED), _("keep the first choices"))
    elif len(set(ids)) < len(ids) or inst in ids:
        table.problem(row, "preferred_mentors",
                      _("a mentor is named twice, or the institution itself"),
                      _("name each preferred mentor once, never the institution"))
    elif not problems:
        return tuple(ids)
    return ()


def _clean_focus(table: Table, inst_kind: dict[str, str],
                 topics: dict[str, Topic]) -> list[FocusRequest] | None:
    """The requests of a focus sheet with nothing to report, read column by column; None as
    soon as a row needs a problem (the row-by-row reading then names them all)."""
    institutions, topic_ids = table.column("institution_id"), table.column("topic_id")
    if not (inst_kind.keys() >= set(institutions) and topics.keys() >= set(topic_ids)):
        return None
    texts = table.column("priority")
    priority = _clean_numbers(set(texts), table.decimal_comma,
                              lambda v: 1 <= v <= 1000 and v.is_integer())
    if priority is None or len(set(zip(institutions, topic_ids))) < len(institutions):
        return None
    if any(table.column("preferred_mentors")):
        return None         # checked row by row
    return [FocusRequest(i, t, 1 if priority[p] is None else int(priority[p]))
            for i, t, p in zip(institutions, topic_ids, texts)]


def _clean_numbers(texts: Iterable[str], decimal_comma: bool,
                   ok: Callable[[float], bool] = lambda v: True) -> dict[str, float | None] | None:
    """Each distinct text's number (None for an empty cell), or None if any is not a number
    that passes ``ok``.

    >>> sorted(_clean_numbers({"72,5", "NA"}, decimal_comma=True).items())
    [('72,5', 72.5), ('NA', None)]
    >>> _clean_numbers({"7", "abc"}, decimal_comma=False) is None
    True
    """
    numbers: dict[str, float | None] = {}
    for text in texts:
        if text.strip().lower() in MISSING_MARKERS:
            numbers[text] = None
            continue
        try:
            value = parse_number(text, decimal_comma)
        except ValueError:
            return None
        if not ok(value):
            return None
        numbers[text] = value
    return numbers
