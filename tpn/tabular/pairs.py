"""Pair lists: locks, exclusions and a previous round's pairs (any earlier pairs.csv works)."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

from ..errors import InputError, Problem
from ..i18n import _
from ..models import Exclusion, Lock, Network, PreviousPair
from .tables import Table, read_csv_table, read_xlsx_tables
from .workbook import _check_columns


def _table(path: Path | str) -> Table:
    path = Path(path)
    if not path.exists():
        raise InputError(Problem(str(path), None, None, None, _("no such file"),
                                 _("check the path")))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = read_xlsx_tables(path)
        if not sheets:
            raise InputError(Problem(path.name, None, None, None, _("the workbook has no sheets"),
                                     _("put the pairs on the first sheet")))
        return next(iter(sheets.values()))
    return read_csv_table(path)


def _read(path, required, network: Network, make):
    table = _table(path)
    problems = _check_columns(table, required)
    if problems:
        raise InputError(problems)
    inst = {i.id for i in network.institutions}
    topics = {t.id for t in network.topics}
    out = []
    for row, rec in table.records():
        ok = True
        for col in ("mentee_id", "mentor_id"):
            if rec[col] not in inst:
                table.problem(row, col, _("{value!r} is not a known institution", value=rec[col]),
                              _("use an id from the institutions sheet"))
                ok = False
        topic = rec.get("topic_id", "")
        if (topic or "topic_id" in required) and topic not in topics:
            table.problem(row, "topic_id", _("{topic!r} is not a known topic", topic=topic),
                          _("use an id from the topics sheet"))
            ok = False
        if ok:
            out.append(make(rec))
    if table.problems:
        raise InputError(table.problems)
    return tuple(sorted(set(out), key=lambda x: tuple("" if v is None else v for v in astuple(x))))


def read_locks(path: Path | str, network: Network) -> tuple[Lock, ...]:
    return _read(path, ("mentee_id", "topic_id", "mentor_id"), network,
                 lambda r: Lock(r["mentee_id"], r["topic_id"], r["mentor_id"]))


def read_previous(path: Path | str, network: Network) -> tuple[PreviousPair, ...]:
    return _read(path, ("mentee_id", "topic_id", "mentor_id"), network,
                 lambda r: PreviousPair(r["mentee_id"], r["topic_id"], r["mentor_id"]))


def read_exclusions(path: Path | str, network: Network) -> tuple[Exclusion, ...]:
    """mentee_id, mentor_id and an optional topic_id (empty: every topic)."""
    return _read(path, ("mentee_id", "mentor_id"), network,
                 lambda r: Exclusion(r["mentee_id"], r["mentor_id"], r.get("topic_id") or None))
