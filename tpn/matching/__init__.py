"""The matching engine: eligibility, costs, solvers behind one ``solve()``, explanations."""

from .options import MatchOptions
from .solve import SOLVERS, solve

__all__ = ["MatchOptions", "SOLVERS", "solve"]
