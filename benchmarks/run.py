"""Benchmarks: tpn's engine end to end, side by side with peers measured in the same run.

    python benchmarks/run.py                 # sizes S and M with every peer, L without dense peers
    python benchmarks/run.py --sizes S,M,L,XL
    python benchmarks/run.py --sizes M,L --families benchmark,concentrated,scarce
    python benchmarks/run.py --one M --network DIR   # one size, JSON on stdout (internal)

Networks come from the generator (``tpn generate``): coordinates, 10 topics, 2 focus topics
per institution; top_share 0.3, mentor capacity 2 (the ``benchmark`` family); the other
families (``benchmarks/families.py``) are networks of other shapes, with their own options.
Each size runs in its own process so its
peak memory is its own (with the engine's second process's, counted in full). The table goes to benchmarks/README.md with the machine it ran on.
Just before a size's process starts, about its peak memory is touched in a throwaway process
(``warm_memory``): some virtual machines make the first touch of memory very slow.

Peers, on the same requests, rules and integer costs:
- ``ortools_unpruned``: OR-Tools min-cost flow over every eligible arc (tpn with candidates=0);
- ``scipy_dense``: SciPy ``linear_sum_assignment`` on the slot-expanded dense matrix
  (one column per unit of mentor capacity, one "unmatched" column per request);
- ``networkx``: networkx ``min_cost_flow`` (network simplex) on the same flow graph;
- ``greedy``: requests in priority order take the cheapest eligible mentor with room.
Exact peers must reach tpn's objective; the greedy's coverage and cost show what
optimisation buys.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from readme_section import write_section

SIZES = {"S": 40, "M": 2000, "L": 30000, "XL": 100000}
# Memory touched and freed just before each size's timed runs: about its peak.
WARM_GB = {"S": 0.25, "M": 0.25, "L": 1.0, "XL": 2.5}
REPEATS = 3                   # engine runs for S and M; the fastest is reported
REPEATS_LARGE = 2             # for L and XL (one run of L varied from 17 s to 25 s)
PEER_SECONDS = 120            # a peer still running after this is reported as a timeout
                              # (--peer-seconds)
DENSE_LIMIT_GB = 4.0
HERE = Path(__file__).resolve().parent
START, END = "<!-- results -->", "<!-- /results -->"   # the table's place in README.md
FAMILIES_START, FAMILIES_END = "<!-- families -->", "<!-- /families -->"


def prepare(size: str, name: str = "benchmark") -> Path:
    """The family's network at that size, written where ``run_one`` reads it (as `tpn
    match` would), with its options beside it."""
    from families import family
    from tpn.tabular import write_network

    folder = Path(tempfile.mkdtemp(prefix=f"tpn-bench-{name}-{size}-"))
    network, options = family(name, SIZES[size])
    write_network(network, folder / "net")
    (folder / "options.json").write_text(json.dumps({"family": name,
                                                     "options": options.as_dict()}))
    return folder


def family_options(folder: Path):
    """(family name, MatchOptions) that ``prepare`` wrote beside the network."""
    from tpn.matching import MatchOptions

    saved = json.loads((folder / "options.json").read_text())
    return saved["family"], MatchOptions(**saved["options"])


def run_one(size: str, folder: Path, with_peers: bool = True) -> dict:
    """Its own process, started right after the memory was warmed: its children are only
    the engine's second processes (``tpn/runtime/parallel.py``), so their peak is the
    children's. Runs what ``tpn match`` runs (``tpn.services.files``), with two workers as
    the command line on Linux."""
    from tpn.matching import solve
    from tpn.runtime.parallel import workers
    from tpn.services.files import prepare_file, write_match, FileMatch

    n = SIZES[size]
    name, options = family_options(folder)
    network, problem, load, checks = prepare_file(folder / "net", options)
    # Timings on a shared 2-core machine vary by a third between runs: the engine is run
    # several times and its fastest run's timings are reported, as timeit does. Same input,
    # same result; each run's result is let go before the next, so the peak is one run's.
    engine, timings, result = None, {}, None
    with workers(2):
        for _ in range(REPEATS if n <= 5000 else REPEATS_LARGE):
            result = None
            t1 = time.perf_counter()
            result = solve(problem, options)
            seconds = time.perf_counter() - t1
            if engine is None or seconds < engine:
                engine, timings = seconds, result.timings
    t3 = time.perf_counter()
    written = write_match(folder / "out", FileMatch(network, problem, result, load, checks))
    write = time.perf_counter() - t3
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in written)).hexdigest()[:16]
    row = {
        "family": name, "size": size, "institutions": n, "requests": result.request_count,
        "matched": len(result.pairs), "arcs": result.objective["arcs"],
        "rounds": result.objective["certificate_rounds"],
        "load": load, "checks": checks,
        "flagged": result.objective.get("flagged_scores", 0),
        **{k: timings.get(k, 0.0) for k in ("encode", "candidates", "solve", "certificate",
                                            "explain")},
        "write": write, "engine": engine, "total": load + checks + engine + write,
        "objective": result.objective["solver_objective"],
        "coverage": result.objective["coverage_weight"], "cost": result.objective["cost"],
        # An upper bound: a second process shares the pages it did not write with this one,
        # and both are counted in full.
        "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                    + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024,
        "path": native_path(), "digest": digest,
    }
    row["peers"] = peers(problem, options, size) if with_peers else {}
    return row


def run_path(size: str, folder: Path, path: str, before: Path | None,
             with_peers: bool = True, peer_seconds: float = PEER_SECONDS,
             limit: float | None = None) -> dict:
    """One size on one path in a fresh process: ``c``, ``numpy`` (no C core, no peers) or
    ``before`` (the ``--before`` commit's own benchmark, with its own C core). A process
    still running after ``limit`` seconds is stopped: its row says so."""
    touch = warm_memory(WARM_GB[size])
    env = {**os.environ, "TPN_NO_C_CORE": "1" if path == "numpy" else ""}
    script = [sys.executable, str(__file__), "--one", size, "--network", str(folder),
              "--peer-seconds", str(peer_seconds)]
    if path == "numpy" or not with_peers:
        script.append("--no-peers")
    if path == "before":
        script += ["--tree", str(before)]
    try:
        proc = subprocess.run(script, capture_output=True, text=True, check=False, env=env,
                              timeout=limit)
    except subprocess.TimeoutExpired:
        return {"family": family_options(folder)[0], "size": size, "stopped": limit,
                "path": "before" if path == "before" else path, "touch_s_per_gb": touch}
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"size {size} failed on {path}")
    row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "touch_s_per_gb": touch}
    if path == "before":
        row.update(path=f"before ({before.name})", digest=None, peers={})
    return row


def run_one_before(size: str, folder: Path, tree: Path) -> dict:
    """The earlier commit's own ``run_one`` with its own ``tpn``, without its peers, on
    the family's options (it reads them beside the network, or, before the families,
    as ``MatchOptions()``)."""
    import importlib.util

    # The earlier tpn first on the path, before anything imports tpn (reading the options
    # did, and every "before" row timed this tree's tpn).
    if "tpn" in sys.modules:
        raise SystemExit("--before: tpn was imported before the earlier tree's")
    sys.path.insert(0, str(tree))
    import tpn

    if not Path(tpn.__file__).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"--before: tpn comes from {tpn.__file__}, not {tree}")
    name, options = family_options(folder)
    spec = importlib.util.spec_from_file_location("run_before", tree / "benchmarks" / "run.py")
    earlier = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(earlier)
    earlier.peers = lambda *args, **kwargs: {}
    if not hasattr(earlier, "family_options"):
        # Before the families, run_one read the options as MatchOptions().
        import tpn.matching

        chosen = tpn.matching.MatchOptions(**options.as_dict())
        tpn.matching.MatchOptions = lambda: chosen
    return {**earlier.run_one(size, folder), "family": name}


def checkout(commit: str) -> Path:
    """An earlier tpn, its C core built in place, to time against in the same run."""
    repo = HERE.parent
    name = subprocess.run(["git", "rev-parse", "--short", commit], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()
    folder = Path(tempfile.gettempdir()) / f"tpn-before-{name}" / name
    if not folder.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(folder), commit], cwd=repo,
                       check=True, capture_output=True)
    # Built as pip builds it (an isolated, current setuptools), then put beside its sources.
    wheels = folder.parent / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(folder)], check=True, capture_output=True)
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.endswith((".so", ".pyd")):
                    (folder / member).write_bytes(archive.read(member))
    return folder


def native_path() -> str:
    from tpn.matching.native import path

    return path()


def peers(problem, options, size) -> dict:
    """Each peer's seconds and objective on the same instance (or why it did not run)."""
    from tpn.matching import solve
    from tpn.matching.candidates import build_candidates
    from tpn.matching.encoding import priority_weights
    from tpn.matching.engine import solver_input
    from tpn.scoring import Encoded
    import dataclasses

    out = {}
    enc = Encoded.build(problem.institutions, problem.topics, problem.snapshot)
    full = dataclasses.replace(options, candidates=0)
    n_req = len(problem.requests)
    estimated_arcs = n_req * len(problem.institutions) * 0.3 * 0.5
    if estimated_arcs > 3e7:
        for name in ("ortools_unpruned", "scipy_dense", "networkx"):
            out[name] = {"skipped": f"~{estimated_arcs / 1e6:.0f}M eligible arcs"}
        cand = build_candidates(enc, problem.requests, options, per_request=64)
        out["greedy"] = greedy(enc, cand, solver_input(enc, cand, np.full(n_req, -1), options))
        out["greedy"]["note"] = "over 64 candidates per request"
        return out
    t = time.perf_counter()
    unpruned = solve(problem, full)
    out["ortools_unpruned"] = {"seconds": time.perf_counter() - t,
                               "objective": unpruned.objective["solver_objective"]}
    cand = build_candidates(enc, problem.requests, full)
    inp = solver_input(enc, cand, np.full(len(cand.requests), -1), full)
    out["greedy"] = greedy(enc, cand, inp)
    slots = int(inp.mentor_capacity[np.unique(inp.arc_mentor)].sum()) if inp.arc_mentor.size else 0
    gb = n_req * (slots + n_req) * 8 / 1e9
    if gb > DENSE_LIMIT_GB:
        out["scipy_dense"] = {"skipped": f"dense matrix of {gb:.0f} GB"}
    else:
        out["scipy_dense"] = timed(scipy_dense, inp, priority_weights)
    out["networkx"] = timed(networkx_flow, inp)
    return out


def timed(fn, *args) -> dict:
    """Run a peer in a child process with a time budget."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    queue = ctx.Queue()

    def target():
        t = time.perf_counter()
        objective = fn(*args)
        queue.put({"seconds": time.perf_counter() - t, "objective": int(objective)})

    proc = ctx.Process(target=target)
    proc.start()
    proc.join(PEER_SECONDS)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"skipped": f"timeout after {PEER_SECONDS:g} s", "limit": PEER_SECONDS}
    return queue.get() if not queue.empty() else {"skipped": "failed"}


def scipy_dense(inp, _weights) -> int:
    from scipy.optimize import linear_sum_assignment

    n = inp.n_requests
    mentors = np.unique(inp.arc_mentor)
    caps = inp.mentor_capacity[mentors]
    start = np.r_[0, np.cumsum(caps)]
    big = float(inp.penalty.max()) * 10 + 1
    matrix = np.full((n, int(start[-1]) + n), big)
    matrix[np.arange(n), start[-1] + np.arange(n)] = inp.penalty
    pos = np.searchsorted(mentors, inp.arc_mentor)
    for k in range(int(caps.max(initial=0))):
        ok = caps[pos] > k
        matrix[inp.arc_request[ok], start[pos[ok]] + k] = inp.arc_cost[ok]
    rows, cols = linear_sum_assignment(matrix)
    return int(matrix[rows, cols].sum())


def networkx_flow(inp) -> int:
    import networkx as nx

    g = nx.DiGraph()
    n = inp.n_requests
    g.add_node("sink", demand=n)
    for r in range(n):
        g.add_node(("r", r), demand=-1)
        g.add_edge(("r", r), "sink", capacity=1, weight=int(inp.penalty[r]))
    for a in range(inp.arc_request.size):
        m = int(inp.arc_mentor[a])
        g.add_edge(("r", int(inp.arc_request[a])), ("m", m), capacity=1,
                   weight=int(inp.arc_cost[a]))
    for m in np.unique(inp.arc_mentor).tolist():
        g.add_edge(("m", m), "sink", capacity=int(inp.mentor_capacity[m]), weight=0)
    return int(nx.min_cost_flow_cost(g))


def greedy(enc, cand, inp) -> dict:
    """Requests by priority (then id) take the cheapest eligible mentor with room left."""
    from tpn.matching.encoding import COST_SCALE, priority_weights

    t = time.perf_counter()
    left = inp.mentor_capacity.copy()
    start = cand.arc_start
    total = 0
    covered = 0
    cost = 0
    coverage = 0
    weights = inp.penalty
    priority = priority_weights(cand.req_priority)
    for r in np.lexsort((np.arange(len(cand.requests)), cand.req_priority)).tolist():
        arcs = np.arange(start[r], start[r + 1])
        arcs = arcs[left[cand.arc_mentor[arcs]] > 0]
        if arcs.size:
            a = arcs[np.argmin(inp.arc_cost[arcs])]
            left[cand.arc_mentor[a]] -= 1
            total += int(inp.arc_cost[a])
            cost += int(inp.arc_cost[a])
            covered += 1
            coverage += int(priority[r])
        else:
            total += int(weights[r])
    return {"seconds": time.perf_counter() - t, "objective": total, "matched": covered,
            "coverage": coverage, "cost": cost / COST_SCALE}


def warm_memory(gb: float) -> float:
    """Touch ``gb`` of memory in a throwaway process; its seconds per GB.

    On some virtual machines (this benchmark's among them) the host takes back memory the
    guest has not used for a few seconds, and the first touch of each page then costs tens
    of microseconds: 1 GB took 10-13 s to touch there, and 0.2 s when touched again right
    after. Without this warm-up a size's timings would include seconds of the host's work,
    varying from run to run; on ordinary hardware it changes nothing.
    """
    code = ("import time, numpy as np; t = time.perf_counter(); "
            f"np.ones(int({gb} * 2**30 // 8)); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout) / gb


def machine() -> str:
    import ortools

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"OR-Tools {ortools.__version__}, {platform.system()} {platform.release()}")


def table(rows: list[dict]) -> str:
    families = list(dict.fromkeys(r["family"] for r in rows))
    several = families != ["benchmark"]
    lines = [
        "| size | " + ("family | " if several else "") + "path | institutions | requests "
        "| arcs kept | rounds | load s | checks s (flagged) "
        "| candidates s | solve s | certificate s | explain s | write s | total s | peak MB "
        "| matched | objective |",
        "| --- | " + ("--- | " if several else "") + "--- | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    stopped = [r for r in rows if "stopped" in r]
    rows = [r for r in rows if "stopped" not in r]
    for r in rows:
        lines.append(
            f"| {r['size']} | " + (f"{r['family']} | " if several else "")
            + f"{r.get('path', 'c')} | {r['institutions']:,} | {r['requests']:,} | {r['arcs']:,} | "
            f"{r['rounds']} | {r['load']:.2f} | {r['checks']:.2f} ({r['flagged']:,}) | "
            f"{r['candidates']:.2f} | {r['solve']:.2f} | "
            f"{r['certificate']:.2f} | {r['explain']:.2f} | {r['write']:.2f} | {r['total']:.2f} | "
            f"{r['peak_mb']:,.0f} | {r['matched']:,} | {r['objective']:,} |")
    by_size: dict[str, set] = {}

    def where(r: dict) -> str:
        return f"{r['family']} {r['size']}" if several else r["size"]

    for r in rows:
        if r.get("digest"):
            by_size.setdefault(where(r), set()).add(r["digest"])
    compared = [size for size, digests in by_size.items()
                if sum(where(r) == size and bool(r.get("digest")) for r in rows) > 1]
    if compared:
        same = [size for size in compared if len(by_size[size]) == 1]
        differ = [size for size in compared if len(by_size[size]) > 1]
        lines += ["", "pairs.csv and unmatched.csv, byte for byte on every path: "
                  + (f"the same at {', '.join(same)}" if same else "")
                  + ("; " if same and differ else "")
                  + (f"DIFFERENT at {', '.join(differ)}" if differ else "") + "."]
    lines += ["", f"Engine times are the fastest of {REPEATS} runs for S and M, of "
                  f"{REPEATS_LARGE} for L and XL; load and write are single runs. Peak memory "
                  "adds the peak of the engine's second process (L and XL), counted in full "
                  "though it shares most of its pages with the first: an upper bound.", "",
              "Peers on the same instance (ratio = peer seconds / tpn engine seconds; "
                  "same = the exact optimum is reached):", "",
              "| size | peer | seconds | ratio | objective | note |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        for name, p in r["peers"].items():
            at = where(r)
            if "skipped" in p:
                ratio = (f"> {p.get('limit', PEER_SECONDS) / max(r['engine'], 1e-9):.0f}×"
                         if "timeout" in p["skipped"] else "–")
                lines.append(f"| {at} | {name} | – | {ratio} | – | {p['skipped']} |")
                continue
            ratio = p["seconds"] / max(r["engine"], 1e-9)
            if name == "greedy":
                note = (f"serves {p['matched']:,} requests (weight {p['coverage']:,}) vs "
                        f"{r['matched']:,} (weight {r['coverage']:,}); cost {p['cost']:,.1f} vs "
                        f"{r['cost']:,.1f} points"
                        + (f"; {p['note']}" if p.get("note") else ""))
            else:
                note = "same" if p["objective"] == r["objective"] else \
                    f"DIFFERENT ({p['objective']:,})"
            lines.append(f"| {at} | {name} | {p['seconds']:.2f} | {ratio:.1f}× | "
                         f"{p['objective']:,} | {note} |")
    lines += [f"\n{r['family']} at {r['size']} ({r['path']}): stopped after {r['stopped']:g} s."
              for r in stopped]
    if several:
        lines += ["", *family_summary(rows + stopped)]
    return "\n".join(lines)


def family_summary(rows: list[dict]) -> list[str]:
    """Each family's fastest end-to-end time with the C core per size, and at each size
    its ratio to the benchmark family's (the issue-30 target: at most 1.5×)."""
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.get("path") in ("C core", "c"):
            key = (r["family"], r["size"])
            best[key] = min(best.get(key, float("inf")), r.get("total", float("inf")))
            if "stopped" in r:
                best.setdefault(("stopped", *key), r["stopped"])
    out = ["End to end with the C core, s (the fastest run), and the ratio to the benchmark "
           "family at the same size:", "",
           "| family | " + " | ".join(sizes) + " |", "| --- |" + " ---: |" * len(sizes)]
    for name in dict.fromkeys(r["family"] for r in rows):
        cells = []
        for size in sizes:
            total, base = best.get((name, size)), best.get(("benchmark", size))
            if ("stopped", name, size) in best:
                cells.append(f"> {best[('stopped', name, size)]:g} (stopped)")
                continue
            cells.append("–" if total is None else f"{total:.2f}" + (
                f" ({total / base:.2f}×)" if base and name != "benchmark" else ""))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    global PEER_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--network", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--paths", default="c,numpy",
                        help="with the C core (c) and without it (numpy): each size runs on "
                             "each, in its own process (default: c,numpy)")
    parser.add_argument("--no-peers", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--before", metavar="COMMIT",
                        help="also time this earlier commit's engine (its own benchmark script "
                             "and C core, on the same network, in the same run)")
    parser.add_argument("--alternate", type=int, default=1, metavar="N",
                        help="run the paths in turn N times per size (default: 1)")
    parser.add_argument("--families", default="benchmark",
                        help="networks of these shapes (benchmarks/families.py), each at "
                             "each size; other than benchmark alone, the table goes to its "
                             "own section of the README (default: benchmark)")
    parser.add_argument("--peer-seconds", type=float, default=PEER_SECONDS, metavar="S",
                        help=f"stop a peer after this long (default: {PEER_SECONDS})")
    parser.add_argument("--limit", type=float, metavar="S",
                        help="stop a size's process after this long, peers included (the "
                             "row says so; default: none)")
    args = parser.parse_args()
    PEER_SECONDS = args.peer_seconds
    if args.one and args.tree:
        print(json.dumps(run_one_before(args.one, Path(args.network), Path(args.tree))))
        return
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.network), not args.no_peers)))
        return
    before = checkout(args.before) if args.before else None
    paths = args.paths.split(",") + (["before"] if before else [])
    rows = []
    families = args.families.split(",")
    for size in args.sizes.split(","):
        for name in families:
            print(f"running {name} at {size} ({SIZES[size]:,} institutions)…", file=sys.stderr,
                  flush=True)
            folder = prepare(size, name)
            for turn in range(args.alternate):
                for path in paths:
                    rows.append(run_path(size, folder, path, before, with_peers=turn == 0,
                                         peer_seconds=args.peer_seconds, limit=args.limit))
    text = table(rows)
    print(text)
    touch = max(r["touch_s_per_gb"] for r in rows)
    warmed = (f"Just before each size's process started, about its peak memory was touched "
              f"and freed in another process (see `warm_memory`): that first touch took up to "
              f"{touch:.1f} s per GB in this run, a touch again right after about 0.2 s.")
    if not args.no_write:
        start, end, heading = (START, END, "## Latest run") if families == ["benchmark"] \
            else (FAMILIES_START, FAMILIES_END, "## Other families")
        write_section(HERE / "README.md", start, end,
                      f"Run on {time.strftime('%Y-%m-%d')}: {machine()}. {warmed}\n\n{text}",
                      heading)


if __name__ == "__main__":
    main()
