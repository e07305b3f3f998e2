"""What the data and the matches say, as plain data: the gap analysis, the data-quality
report, why pairs changed between runs, the evaluation of what improved, and its report."""
