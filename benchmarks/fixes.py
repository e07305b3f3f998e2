"""Are the printed fixes true at scale? Match a generated network (the benchmark's sizes),
then apply a sample of its "what would fix it" lines, one at a time, and re-solve with tpn:
each request must then be served.

    python benchmarks/fixes.py --size M --sample 0     # every fix (M: a few hundred solves)
    python benchmarks/fixes.py --size L --sample 20

The fixes are applied as the tests apply them (tests/test_explanation_truth.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_explanation_truth import CAPACITY, LOCK, applied  # noqa: E402

from tpn.matching import MatchOptions, solve  # noqa: E402
from tpn.models import MatchProblem  # noqa: E402
from tpn.quality import flagged  # noqa: E402
from tpn.samples import generate  # noqa: E402

SIZES = {"S": 40, "M": 2000, "L": 30000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="M", choices=sorted(SIZES))
    parser.add_argument("--sample", type=int, default=20, help="fixes to check (0: all)")
    args = parser.parse_args()
    network = flagged(generate(SIZES[args.size], seed=1), MatchOptions())   # as tpn match
    problem = MatchProblem.from_network(network)
    start = time.perf_counter()
    result = solve(problem)
    print(f"{args.size}: {len(result.pairs):,} pairs, {len(result.unmatched):,} unserved, "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    kinds = Counter("capacity" if CAPACITY.match(u.fix) else "lock" if LOCK.search(u.fix)
                    else "other" for u in result.unmatched)
    print(f"fixes: {dict(kinds)}")
    names = {i.name: i.id for i in network.institutions}
    todo = list(result.unmatched)
    if args.sample:
        random.Random(1).shuffle(todo)
        todo = todo[:args.sample]
    served = failed = 0
    for u in todo:
        key = (u.institution_id, u.topic_id)
        changed, options = applied(problem, MatchOptions(), u.fix, key, names)
        again = solve(changed, options)
        if key in {(p.mentee_id, p.topic_id) for p in again.pairs}:
            served += 1
        else:
            failed += 1
            print(f"NOT SERVED: {u.institution_id} {u.topic_id}: {u.fix}")
    print(f"checked {served + failed} fixes by re-solving: {served} served the request, "
          f"{failed} did not")


if __name__ == "__main__":
    main()
