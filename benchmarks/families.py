"""Networks unlike the benchmark's, to see where the engine's time goes on them (issue 30):

- ``benchmark``: the generator benchmarks/run.py uses (two kinds, 200 per region);
- ``concentrated``: three kinds, every institution's two focus topics among the same three
  national priorities;
- ``scarce``: the benchmark's network with one mentee per mentor,
  so that about half the requests can be served;
- ``clusters``: three kinds in 60 tight regional clusters (0.05° spread);
- ``sierra-leone``: the real Sierra Leone DHIS2 network (ANC visits and retention, five
  facility types) resampled to the size asked, its scores jittered by 5 %.

    python benchmarks/families.py --sizes M,L [--families concentrated,scarce]

Each row: the requests, the share served, and the end-to-end time of what ``tpn match``
runs (read, checks, engine with two workers, write), with the engine's parts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tpn.matching import MatchOptions, solve
from tpn.models import FocusRequest, Institution, Network, Snapshot, Topic
from tpn.runtime.parallel import workers
from tpn.samples import generate
from tpn.services.files import FileMatch, prepare_file, write_match
from tpn.tabular import write_network

SIZES = {"S": 400, "M": 2000, "L": 30000, "XL": 100000}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dhis2-sierra-leone"


def three_kinds(n: int, seed: int, clusters: int, spread: float, topics: int = 10,
                focus: int = 2, priorities: int | None = None) -> Network:
    rng = np.random.default_rng(seed)
    region = rng.integers(0, clusters, n)
    lat = rng.uniform(-12, 12, clusters)[region] + rng.normal(0, spread, n)
    lon = rng.uniform(5, 40, clusters)[region] + rng.normal(0, spread, n)
    kind = rng.choice(["hospital", "health_centre", "health_post"], n, p=[0.3, 0.35, 0.35])
    size = np.exp(rng.normal(np.select([kind == "hospital", kind == "health_centre"],
                                       [5.3, 3.0], 2.0), 0.4))
    width = len(str(n))
    ids = [f"i{k:0{width}d}" for k in range(n)]
    insts = tuple(Institution(ids[k], f"Institution {k}", str(kind[k]), f"C{region[k]:02d}",
                              round(float(lat[k]), 5), round(float(lon[k]), 5),
                              round(float(size[k]), 1)) for k in range(n))
    tops = tuple(Topic(f"t{j:02d}", f"Topic {j}", unit="%") for j in range(topics))
    latent = 0.6 * rng.normal(size=n)[:, None] + 0.8 * rng.normal(size=(n, topics))
    values = np.round(np.clip(60 + 12 * latent, 0.5, 100.0), 1)
    scores = {(ids[k], tops[j].id): float(values[k, j]) for k in range(n) for j in range(topics)}
    chosen = latent[:, :priorities] if priorities else latent
    weakest = np.argsort(chosen, axis=1, kind="stable")[:, :focus]
    requests = tuple(FocusRequest(ids[k], tops[weakest[k, p]].id, p + 1)
                     for k in range(n) for p in range(focus))
    return Network(insts, tops, (Snapshot("2024", scores),), requests)


def sierra_leone(n: int, seed: int) -> Network:
    from tpn.tabular import Dhis2Mapping, read_dhis2

    real = read_dhis2(SHARED / "analytics_anc_facilities.json", Dhis2Mapping(
        kind_pattern="(Hospital|CHC|CHP|MCHP|Clinic)$", kind_default="other", keep_items=True,
        derive=("anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100",),
        org_units=str(SHARED / "organisation_units.json")))
    rng = np.random.default_rng(seed)
    snap = real.snapshot()
    pick = rng.integers(0, len(real.institutions), n)
    width = len(str(n))
    insts, scores = [], {}
    for k, j in enumerate(pick):
        base = real.institutions[j]
        new_id = f"s{k:0{width}d}"
        insts.append(replace(base, id=new_id, name=f"{base.name} ({k})"))
        for t in real.topics:
            value = snap.scores.get((base.id, t.id))
            if value is not None:
                scores[(new_id, t.id)] = round(value * float(rng.uniform(0.95, 1.05)), 3)
    # Each facility's weakest topic among those it has, by its percentile-free raw order.
    focus = []
    for inst in insts:
        own = sorted((scores[(inst.id, t.id)], t.id) for t in real.topics
                     if (inst.id, t.id) in scores)
        focus += [FocusRequest(inst.id, tid, p + 1) for p, (_, tid) in enumerate(own[:2])]
    return Network(tuple(insts), real.topics, (Snapshot(snap.period, scores),), tuple(focus))


def family(name: str, n: int) -> tuple[Network, MatchOptions]:
    if name == "benchmark":
        return generate(n, seed=1), MatchOptions()
    if name == "concentrated":
        return three_kinds(n, 2, clusters=max(1, n // 200), spread=0.35, priorities=3), \
            MatchOptions()
    if name == "scarce":
        return generate(n, seed=3, focus_per_institution=2), MatchOptions(mentor_capacity=1)
    if name == "clusters":
        return three_kinds(n, 4, clusters=60, spread=0.05), MatchOptions()
    if name == "sierra-leone":
        return sierra_leone(n, 5), MatchOptions()
    raise SystemExit(f"no family {name!r}")


def run(name: str, size: str) -> dict:
    network, options = family(name, SIZES[size])
    folder = Path(tempfile.mkdtemp(prefix=f"tpn-family-{name}-{size}-"))
    write_network(network, folder / "net")
    start = time.perf_counter()
    net, problem, load, checks = prepare_file(folder / "net", options)
    with workers(2):
        t = time.perf_counter()
        result = solve(problem, options)
        engine = time.perf_counter() - t
    write_match(folder / "out", FileMatch(net, problem, result, load, checks))
    total = time.perf_counter() - start
    return {"family": name, "size": size, "requests": result.request_count,
            "served": len(result.pairs) / max(1, result.request_count), "total": total,
            "engine": engine, "rounds": result.objective["certificate_rounds"],
            **{k: result.timings.get(k, 0.0) for k in ("candidates", "solve", "certificate",
                                                       "explain")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="M,L")
    parser.add_argument("--families", default="benchmark,concentrated,scarce,clusters,"
                                              "sierra-leone")
    args = parser.parse_args()
    print("| family | size | requests | served | end to end s | engine s | candidates | "
          "solve | certificate (rounds) | explain |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        for name in args.families.split(","):
            print(f"running {name} at {size}…", file=sys.stderr, flush=True)
            r = run(name, size)
            print(f"| {r['family']} | {r['size']} | {r['requests']:,} | {r['served']:.0%} | "
                  f"{r['total']:.2f} | {r['engine']:.2f} | {r['candidates']:.2f} | "
                  f"{r['solve']:.2f} | {r['certificate']:.2f} ({r['rounds']}) | "
                  f"{r['explain']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
