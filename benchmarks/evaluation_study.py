"""The evaluation study behind tests/test_evaluation.py, larger: how often each interval
misses the truth on simulated networks (institutions focus on their weakest topics, scores
regress to the mean; see tests/simulation.py).

    python benchmarks/evaluation_study.py --trials 2000

A 95 % interval should miss about 5 % of the time. The unadjusted comparison of raw changes
misses far more often when there is no effect: it reports regression to the mean as one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from simulation import partners, simulated  # noqa: E402

from tpn.analysis.evaluation import evaluate  # noqa: E402

SCENARIOS = [
    # name, effect planted, focus, only on the mentored
    ("no effect, weakest topics", 0.0, "weakest", False),
    ("no effect, random topics", 0.0, "random", False),
    ("+4 on chosen, weakest topics", 4.0, "weakest", False),
    ("+4 on chosen, random topics", 4.0, "random", False),
    ("+4 on mentored only, weakest topics", 4.0, "weakest", True),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    print("| scenario | adjusted misses | unadjusted misses | mentored contrast misses |")
    print("| --- | ---: | ---: | ---: |")
    for name, effect, focus, mentored_only in SCENARIOS:
        adjusted = raw = mentored = counted = 0
        truth = 0.0 if mentored_only else effect
        for seed in range(args.trials):
            net = simulated(seed + 50_000, effect=effect, focus=focus,
                            mentored_only=mentored_only)
            e = evaluate(net, "before", "after", partnerships=partners(net))[0]
            adjusted += not (e.ci_low <= truth <= e.ci_high) if not mentored_only else 0
            raw += not (e.unadjusted_ci_low <= truth <= e.unadjusted_ci_high) \
                if not mentored_only else 0
            if e.mentored_estimate is not None:
                counted += 1
                # Mentored and not differ only when the effect is the mentors' own.
                mentored += not (e.mentored_ci_low <= (effect if mentored_only else 0.0)
                                 <= e.mentored_ci_high)
        share = lambda k, n: f"{k / n:.1%}" if n else "–"
        print(f"| {name} | {share(adjusted, args.trials) if not mentored_only else '–'} | "
              f"{share(raw, args.trials) if not mentored_only else '–'} | "
              f"{share(mentored, counted)} |")


if __name__ == "__main__":
    main()
