"""New scores for a network tpn already holds: a scores sheet alone (long or wide; a CSV
file, a folder holding only scores.csv, or a workbook without the institutions sheet),
read against the stored institutions and topics.

>>> from tpn.samples import rwanda
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "scores_2025.csv"
>>> _ = path.write_text("institution_id,topic_id,value\\nkibuye_hospital,ipc,81.5\\n")
>>> is_scores_only(path)
True
>>> new = read_scores(path, rwanda(), "2025")
>>> new.periods, new.snapshot("2025").scores
(['2025'], {('kibuye_hospital', 'ipc'): 81.5})
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from ..i18n import _
from ..models import Network
from .tables import Table, decode, normalise_header, read_csv_table, sniff_separator
from .workbook import (MAX_LENGTH, REQUIRED, SAID, _check_columns, _check_lengths, _find_csv,
                       _scores, read_tables)


def is_scores_only(path: Path | str) -> bool:
    """Whether the file holds scores and no institutions: a CSV file whose header names
    institution_id (a DHIS2 export names dx or Data instead), a folder with scores.csv and
    no institutions.csv, a workbook with a scores sheet and no institutions sheet."""
    path = Path(path)
    if path.is_dir():
        return _find_csv(path, "scores") is not None and _find_csv(path, "institutions") is None
    if path.suffix.lower() == ".csv" and path.is_file():
        with open(path, "rb") as f:
            first = decode(f.read(4096)).split("\n", 1)[0]
        columns = {normalise_header(c.strip().strip('"'))
                   for c in first.split(sniff_separator(first))}
        return "institution_id" in columns
    if path.suffix.lower() in (".xlsx", ".xlsm") and path.is_file():
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True)
        except Exception:       # noqa: BLE001 — the full reader says what is wrong
            return False
        sheets = {normalise_header(t) for t in book.sheetnames}
        book.close()
        return "scores" in sheets and "institutions" not in sheets
    return False


def read_scores(path: Path | str, network: Network, default_period: str) -> Network:
    """The scores of ``path`` as a network holding ``network``'s institutions and topics and
    the new snapshots only; every unknown id, with the nearest known one, is a problem."""
    path = Path(path)
    table = _scores_table(path)
    problems = list(table.problems) + _check_columns(table, REQUIRED["scores"])
    if problems:
        raise InputError(problems)
    _check_lengths(table, MAX_LENGTH["scores"])
    snapshots = _scores(table, {i.id: i.kind for i in network.institutions},
                        {t.id: t for t in network.topics}, default_period)
    if table.problems:
        raise InputError([_for_new_ids(p) for p in table.problems])
    return replace(network, snapshots=tuple(snapshots), focus=())


def _scores_table(path: Path) -> Table:
    if path.suffix.lower() == ".csv" and path.is_file():
        return read_csv_table(path)
    return read_tables(path)["scores"]


def _for_new_ids(problem):
    """An unknown id here may be a new institution or topic: say how to add one."""
    for said in SAID.values():
        if problem.fix == said["add"]:
            return replace(problem, fix=_(said["new"]))
    return problem

