"""Steps run in a second process give the same answers as run here.

Forking is only allowed while the process has one thread, and the test session may have
others (the browser tests' server), so the forked paths are checked in a fresh Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from tpn.second_core import in_second_process

from helpers import REPO


def fresh_python(code: str) -> dict:
    """Run ``code`` in a new interpreter (one thread); its last printed line, as JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_step_runs_in_another_process_and_its_answer_or_error_comes_back():
    out = fresh_python("""
        import json, os, time
        from tpn.second_core import can_fork, in_second_process

        report = {"can_fork": can_fork(), "here": os.getpid()}
        with in_second_process(os.getpid) as job:
            report["there"] = job.result()
        with in_second_process(can_fork) as job:       # a second process starts no third
            report["can_fork_there"] = job.result()
        with in_second_process(lambda: 1 / 0) as job:
            try:
                job.result()
            except ZeroDivisionError as exc:
                report["error"] = str(exc)
        # A second process that ends without answering: the step runs here instead.
        here = os.getpid()
        with in_second_process(lambda: "here" if os.getpid() == here else os._exit(3)) as job:
            report["died"] = job.result()
            report["exitcode"] = job._process.exitcode
        with in_second_process(lambda: time.sleep(0.5) or "slept") as job:
            report["done_at_once"] = job.done()
            report["slept"] = job.result()
            report["done_after"] = job.done()
        # Leaving the block without asking stops the process instead of waiting for it.
        start = time.perf_counter()
        with in_second_process(lambda: time.sleep(60)) as job:
            child = job._process
        report["stopped_in"] = time.perf_counter() - start
        report["child_alive"] = child.is_alive()
        print(json.dumps(report))
    """)
    assert out["can_fork"] is True
    assert out["there"] != out["here"]
    assert out["can_fork_there"] is False
    assert out["error"] == "division by zero"
    assert (out["died"], out["exitcode"]) == ("here", 3)
    assert (out["done_at_once"], out["slept"], out["done_after"]) == (False, "slept", True)
    assert out["stopped_in"] < 10 and out["child_alive"] is False


def test_with_another_thread_alive_the_step_runs_here():
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with in_second_process(os.getpid) as job:
            assert job.result() == os.getpid()
    finally:
        release.set()
        other.join()


@pytest.mark.parametrize("seed", [3, 7])
def test_matching_with_a_second_process_equals_matching_without(seed):
    """The certificate's check beside the explanations (both outcomes: arcs to add, which
    stops the explaining, and none), the flow's parts solved side by side, and the
    candidates' and the certificate's groups half here, half there give the same pairs,
    explanations and objective as everything in one process."""
    out = fresh_python(f"""
        import importlib, json
        import tpn.second_core as second_core
        from tpn.matching import MatchOptions, candidates, certificate, flow, solve
        from tpn.models import MatchProblem
        from tpn.samples import generate

        S = importlib.import_module("tpn.matching.solve")   # the package shadows it
        # Small enough for a test, so the sizes that make a second process pay are lowered.
        S.OVERLAP_ARCS = flow.SECOND_PROCESS_ARCS = certificate.SECOND_PROCESS_REQUESTS = 0
        candidates.SECOND_PROCESS_REQUESTS = 0
        S.OVERLAP_SHARE = 1.0         # every warm round's check, so that some find arcs
        flow.PART_NODES = 10
        checks, part_jobs, group_jobs = [], [], []
        real_check, real_job = S._check_while_explaining, flow.in_second_process

        def spy_check(*args):
            add, explained, seconds = real_check(*args)
            checks.append([int(add[0].size), explained is not None])
            return add, explained, seconds

        def spy_job(step):
            part_jobs.append(1)
            return real_job(step)

        def spy_groups(step):
            group_jobs.append("certificate")
            return real_job(step)

        def spy_candidates(step):
            group_jobs.append("candidates")
            return real_job(step)

        S._check_while_explaining, flow.in_second_process = spy_check, spy_job
        certificate.in_second_process, candidates.in_second_process = spy_groups, spy_candidates
        problem = MatchProblem.from_network(generate(300, seed={seed}))
        options = MatchOptions(candidates=1)
        forked = solve(problem, options)
        second_core.can_fork = S.can_fork = lambda: False
        here = solve(problem, options)
        print(json.dumps({{
            "checks": checks, "part_jobs": len(part_jobs), "group_jobs": sorted(set(group_jobs)),
            "same_pairs": forked.pairs == here.pairs,
            "same_unmatched": forked.unmatched == here.unmatched,
            "objectives": [forked.objective["solver_objective"],
                           here.objective["solver_objective"]],
            "rounds": [forked.objective["certificate_rounds"],
                       here.objective["certificate_rounds"]],
            "pairs": len(here.pairs),
        }}))
    """)
    assert out["same_pairs"] and out["same_unmatched"] and out["pairs"] > 0
    assert out["objectives"][0] == out["objectives"][1]
    assert out["rounds"][0] == out["rounds"][1]
    # A warm round whose check found arcs (explanations dropped), then one that found none.
    assert any(added > 0 and not explained for added, explained in out["checks"])
    assert out["checks"][-1] == [0, True]
    assert out["part_jobs"] > 0
    assert out["group_jobs"] == ["candidates", "certificate"]


def test_pairs_csv_formatted_by_two_processes_has_the_same_bytes(tmp_path):
    out = fresh_python(f"""
        import json
        from pathlib import Path
        from tpn.matching import MatchOptions, solve
        from tpn.models import MatchProblem
        from tpn.results import PAIR_COLUMNS, pair_rows, write_pairs_csv
        from tpn.samples import generate
        from tpn.tabular import write_csv, writer

        network = generate(300, seed=4)
        result = solve(MatchProblem.from_network(network), MatchOptions())
        one, two = Path({str(tmp_path)!r}) / "one.csv", Path({str(tmp_path)!r}) / "two.csv"
        write_csv(one, PAIR_COLUMNS, pair_rows(result, network))
        writer.SPLIT_ROWS = 2              # two halves from the second pair on
        jobs = []
        real_job = writer.in_second_process
        writer.in_second_process = lambda step: jobs.append(1) or real_job(step)
        write_pairs_csv(two, result, network)
        print(json.dumps({{"pairs": len(result.pairs), "jobs": len(jobs)}}))
    """)
    assert out["pairs"] > 100 and out["jobs"] == 1
    one, two = (tmp_path / name for name in ("one.csv", "two.csv"))
    assert one.read_bytes() == two.read_bytes()
    assert one.read_text(encoding="utf-8").count("\n") == out["pairs"] + 1
