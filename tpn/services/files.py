"""The use case behind ``tpn match``: a network file in, its pairs and unmatched requests
out, with no database. The benchmark (``benchmarks/run.py``) runs the same function, so
what it times is what a facilitator runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from ..errors import InputError, Problem
from ..i18n import _
from ..matching import MatchOptions, Tuning, solve
from ..matching.focus import suggest_focus
from ..models import MatchProblem, MatchResult, Network
from ..quality import flagged
from ..tabular import read_network, write_csv
from ..tabular.writer import safe_cell
from ..tabular.pairs import read_exclusions, read_locks, read_previous
from ..tabular.results import (REJECTED_LOCK_COLUMNS, UNMATCHED_COLUMNS, rejected_lock_rows,
                               unmatched_rows, write_pairs_csv)


@dataclass(frozen=True)
class FileMatch:
    """A network as read (its scores flagged by the data-quality checks), the problem it
    made, the result, and the seconds spent reading and checking."""

    network: Network
    problem: MatchProblem
    result: MatchResult
    read_seconds: float
    checks_seconds: float


def prepare_file(data: str | Path, options: MatchOptions, period: str | None = None,
                 auto_focus: int | None = None, lock: str | None = None,
                 exclude: str | None = None, previous: str | None = None
                 ) -> tuple[Network, MatchProblem, float, float]:
    """The network of a file (flagged) and the problem to solve: its focus (or the
    ``auto_focus`` suggested topics per institution when it has none), locks, exclusions
    and a previous round's pairs from their files."""
    start = perf_counter()
    network = read_network(data)
    read = perf_counter() - start
    network = flagged(network, options)
    checks = perf_counter() - start - read
    snapshot = network.snapshot(period)
    focus = network.focus
    if not focus and auto_focus:
        focus = tuple(s.as_request() for s in suggest_focus(network, snapshot, options,
                                                            auto_focus))
    if not focus:
        raise InputError(Problem(str(data), "focus", None, None, _("there are no focus topics"),
                                 _("add a focus sheet, or use --auto-focus N")))
    problem = MatchProblem(
        institutions=network.institutions, topics=network.topics, snapshot=snapshot,
        requests=tuple(focus),
        locks=read_locks(lock, network) if lock else (),
        exclusions=read_exclusions(exclude, network) if exclude else (),
        previous=read_previous(previous, network) if previous else (),
    )
    return network, problem, read, checks


def match_file(data: str | Path, options: MatchOptions, period: str | None = None,
               auto_focus: int | None = None, lock: str | None = None,
               exclude: str | None = None, previous: str | None = None, progress=None,
               tuning: Tuning | None = None) -> FileMatch:
    """Read, check and match a network file (see :func:`prepare_file`).

    >>> from tpn.samples import data_dir
    >>> match = match_file(data_dir() / "rwanda", MatchOptions())
    >>> len(match.result.pairs) + len(match.result.unmatched) == len(match.problem.requests)
    True
    """
    network, problem, read, checks = prepare_file(data, options, period, auto_focus, lock,
                                                  exclude, previous)
    result = solve(problem, options, progress, tuning)
    return FileMatch(network, problem, result, read, checks)


def write_match(out: str | Path, match: FileMatch) -> list[Path]:
    """pairs.csv, unmatched.csv and (with locks) rejected_locks.csv in ``out``.

    >>> import tempfile
    >>> from tpn.samples import data_dir
    >>> match = match_file(data_dir() / "rwanda", MatchOptions())
    >>> [p.name for p in write_match(tempfile.mkdtemp(), match)]
    ['pairs.csv', 'unmatched.csv']
    """
    out = Path(out)
    written = [out / "pairs.csv", out / "unmatched.csv"]
    write_pairs_csv(written[0], match.result, match.network)
    write_csv(written[1], UNMATCHED_COLUMNS,
              _safe(unmatched_rows(match.result, match.network)))
    if match.problem.locks:
        written.append(out / "rejected_locks.csv")
        write_csv(written[2], REJECTED_LOCK_COLUMNS, _safe(rejected_lock_rows(match.result)))
    return written


def _safe(rows: list[list[str]]) -> list[list[str]]:
    """No cell of a file opened in a spreadsheet starts a formula (as in every export)."""
    return [[safe_cell(c) for c in row] for row in rows]
