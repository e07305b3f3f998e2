"""The one exception tree of tpn.

Every error a user can cause is a :class:`TpnError`. The CLI maps them to exit codes
in one place (``tpn.cli``), the web app to HTTP codes in one place. Nothing else
catches broad exceptions. An invariant of tpn's own that fails is a :class:`TpnBug`: not
something the user can fix (exit code 70, HTTP 500 with a reference to report).
"""

from __future__ import annotations

from dataclasses import dataclass


class TpnError(Exception):
    """Root of every error tpn reports to a user."""

    exit_code = 1

    @property
    def text(self) -> str:
        """The message as made (a :class:`tpn.i18n.Text` a page says in its language)."""
        given = self.args[0] if self.args else ""
        return given if isinstance(given, str) and str(given) == str(self) else str(self)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, what is wrong and what to do.

    ``row`` is the row number a person sees in a spreadsheet or text editor
    (the header is row 1, the first data row is row 2).

    >>> str(Problem("net.xlsx", "scores", 7, "value", "'abc' is not a number", "type a number or leave the cell empty"))
    "net.xlsx, sheet scores, row 7, column value: 'abc' is not a number. Fix: type a number or leave the cell empty."
    """

    file: str
    sheet: str | None
    row: int | None
    column: str | None
    message: str
    fix: str = ""

    def location(self) -> str:
        parts = [self.file] if self.file else []
        if self.sheet:
            parts.append(f"sheet {self.sheet}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.fix:
            text += f". Fix: {self.fix}."
        return text

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "fix": self.fix,
        }


class InputError(TpnError):
    """Bad input: carries every problem found, not just the first one."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", None, None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found; nothing was saved:"
        return "\n".join([head] + [f"  - {p}" for p in self.problems])


class NotFoundError(TpnError):
    """A named thing (network, period, run, institution) does not exist."""

    exit_code = 3


class SourceError(TpnError):
    """A data source (a DHIS2 server) could not be reached, refused, or failed."""

    exit_code = 5


class InfeasibleError(TpnError):
    """The rules given cannot all hold at once (e.g. locks that exceed a capacity)."""

    exit_code = 4


class TpnBug(Exception):
    """An invariant of tpn's own failed (a solver status that valid input cannot give, a
    negative cycle in an optimum's residual graph): a bug to report, not the user's error.
    Deliberately not a TpnError, so that nothing reports it as bad input.

    >>> str(TpnBug("min-cost flow ended with status 3"))
    'min-cost flow ended with status 3: this is a bug in tpn, please report it'
    """

    exit_code = 70      # EX_SOFTWARE

    def __init__(self, what: str):
        super().__init__(f"{what}: this is a bug in tpn, please report it")
