"""The matching engine: eligibility, costs, solvers behind one ``solve()``, explanations."""

from .engine import SOLVERS, solve
from .options import MatchOptions
from .tuning import Tuning

__all__ = ["MatchOptions", "SOLVERS", "Tuning", "solve"]
