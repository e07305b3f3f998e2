"""Use cases shared by the CLI and the web app; each is one transaction.

No SQL here (that is ``tpn.storage.repository``) and no argument parsing or printing (that
is ``tpn.cli``). Files are read and checked completely before the database is touched, so a
bad file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace as dc_replace
from pathlib import Path

from . import __version__
from .errors import InputError, Problem
from .matching import MatchOptions, solve
from .models import MatchProblem, Network
from .results import PAIR_COLUMNS, UNMATCHED_COLUMNS, pair_rows, summary, unmatched_rows
from .storage import Database
from .storage import repository as repo
from .tabular import DEFAULT_PERIOD, network_rows, read_network, write_csv, write_xlsx
from .tabular.writer import safe_cell

EXPORT_FORMATS = ("csv", "xlsx", "json")


def import_file(db: Database, path: str | Path, network: str, period: str | None = None,
                replace: bool = False, author: str = "cli") -> dict:
    """Add a workbook (or DHIS2 export) to a network: all of it, or nothing."""
    data = read_network(path, default_period=period or DEFAULT_PERIOD)
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network, create=True)
        return repo.save_network(conn, net_id, data, Path(path).name, replace, author)


def networks(db: Database) -> list[str]:
    with db.connect() as conn:
        return repo.network_names(conn)


def load(db: Database, network: str) -> Network:
    with db.connect() as conn:
        return repo.load_network(conn, repo.network_id(conn, network))


def input_hash(network: Network, period: str, options: MatchOptions) -> str:
    """What a run depends on, hashed: the same inputs always give the same hash."""
    used = dc_replace(network, snapshots=(network.snapshot(period),))
    blob = json.dumps({"network": network_rows(used), "options": options.as_dict()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_match(db: Database, network: str, period: str | None = None,
              options: MatchOptions | None = None, author: str = "cli", progress=None) -> dict:
    """Match a stored network and keep the run, as a draft, with its inputs' hash."""
    options = options or MatchOptions()
    data = load(db, network)
    if not data.focus:
        raise InputError(Problem(network, "focus", None, None, "the network has no focus topics",
                                 "import a workbook with a focus sheet"))
    snap = data.snapshot(period)
    result = solve(MatchProblem.from_network(data, snap.period), options, progress)
    pairs = [dict(zip(PAIR_COLUMNS, row)) for row in pair_rows(result, data)]
    unmatched = [dict(zip(UNMATCHED_COLUMNS, row)) for row in unmatched_rows(result, data)]
    info = summary(result, data, sum(result.timings.values()))
    with db.transaction() as conn:
        run_id = repo.insert_run(
            conn, network_id=repo.network_id(conn, network), period=snap.period, round="1",
            input_hash=input_hash(data, snap.period, options), options=options.as_dict(),
            solver=result.solver, tpn_version=__version__, summary=info, pairs=pairs,
            unmatched=unmatched, created_by=author)
    return {"run": run_id, "period": snap.period, **info}


def runs(db: Database, network: str) -> list[dict]:
    with db.connect() as conn:
        return repo.list_runs(conn, repo.network_id(conn, network))


def show_run(db: Database, run_id: int) -> dict:
    with db.connect() as conn:
        return repo.get_run(conn, run_id)


def publish(db: Database, run_id: int, author: str = "cli",
            expected_version: int | None = None) -> dict:
    with db.transaction() as conn:
        return repo.publish_run(conn, run_id, author, expected_version)


def export_run(db: Database, run_id: int, fmt: str, out: str | Path) -> Path:
    """csv: a folder with pairs.csv and unmatched.csv; xlsx: one workbook; json: one file.
    Text cells that a spreadsheet would read as a formula are neutralised."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(Problem("", None, None, "--format", f"{fmt!r} is not a format",
                                 f"use one of {', '.join(EXPORT_FORMATS)}"))
    run = show_run(db, run_id)
    out = Path(out)
    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        keep = ("id", "network", "period", "status", "solver", "tpn_version", "input_hash",
                "options", "summary", "pairs", "unmatched")
        out.write_text(json.dumps({k: run[k] for k in keep}, indent=2, sort_keys=True,
                                  default=str) + "\n", encoding="utf-8")
        return out
    sheets = {
        "pairs": (PAIR_COLUMNS, [[safe_cell(str(p[c])) for c in PAIR_COLUMNS] for p in run["pairs"]]),
        "unmatched": (UNMATCHED_COLUMNS, [[safe_cell(str(u[c])) for c in UNMATCHED_COLUMNS]
                                          for u in run["unmatched"]]),
    }
    if fmt == "xlsx":
        write_xlsx(out, sheets)
    else:
        for name, (header, rows) in sheets.items():
            write_csv(out / f"{name}.csv", header, rows)
    return out
