"""Steps run in a second process give the same answers as run here, and only when the
caller asked for two workers."""

from __future__ import annotations

import os
import time

import pytest

from tpn.runtime import parallel
from tpn.matching import MatchOptions, Tuning, native, solve
from tpn.runtime.parallel import can_fork, in_second_process, workers

from helpers import best_choose_too


def test_a_step_runs_in_another_process_and_its_answer_or_error_comes_back():
    here = os.getpid()
    with workers(2):
        assert can_fork()
        with in_second_process(os.getpid) as job:
            assert job.result() != here
        with in_second_process(can_fork) as job:       # a second process starts no third...
            while not job.done():                       # ... while this one works
                pass
            assert job.result() is False
        with in_second_process(lambda: 1 / 0) as job:
            with pytest.raises(ZeroDivisionError, match="division by zero"):
                job.result()
        # A second process that ends without answering: the step runs here instead.
        with in_second_process(lambda: "here" if os.getpid() == here else os._exit(3)) as job:
            assert job.result() == "here" and job._process.exitcode == 3
        with in_second_process(lambda: time.sleep(0.5) or "slept") as job:
            assert job.done() is False
            assert job.result() == "slept" and job.done() is True
        # Leaving the block without asking stops the process instead of waiting for it.
        start = time.perf_counter()
        with in_second_process(lambda: time.sleep(60)) as job:
            child = job._process
        assert time.perf_counter() - start < 10 and not child.is_alive()


def test_with_one_worker_the_step_runs_here():
    with in_second_process(os.getpid) as job:
        assert job.result() == os.getpid() and job._process is None


EVERY_STEP_BESIDE = Tuning(overlap_arcs=0, second_process_arcs=0, second_process_checks=0,
                           second_process_candidates=0, second_process_explain=0,
                           overlap_share=1.0, part_nodes=10,
                           overlap_wasted=1000)


@pytest.mark.skipif(not native.ACCELERATED, reason="the check overlaps warm rounds only")
def test_explanations_thrown_away_twice_stop_the_overlap(monkeypatch):
    """Rounds that go on (each check finding arcs) would throw an explanation away every
    round: after overlap_wasted of them, the check runs first; the answer is the same."""
    import dataclasses

    from tpn.matching import engine
    from tpn.models import MatchProblem
    from tpn.samples import generate

    checks = []
    real_check = engine._check_while_explaining

    def spy_check(*args):
        add, explained, seconds, served = real_check(*args)
        checks.append((int(add[0].size), explained is not None))
        return add, explained, seconds, served

    monkeypatch.setattr(engine, "_check_while_explaining", spy_check)
    problem = MatchProblem.from_network(generate(300, seed=3))
    options = MatchOptions(candidates=1)
    with parallel.workers(2):
        limited = solve(problem, options,
                        tuning=dataclasses.replace(EVERY_STEP_BESIDE, overlap_wasted=2))
    assert len(checks) == 2 and all(added > 0 and not kept for added, kept in checks)
    assert limited.objective["certificate_rounds"] > 3        # the rounds went on after
    alone = solve(problem, options, tuning=EVERY_STEP_BESIDE)
    assert limited.pairs == alone.pairs and limited.unmatched == alone.unmatched


@pytest.mark.parametrize("seed", [3, 7])
def test_matching_with_a_second_process_equals_matching_without(seed, monkeypatch):
    """The certificate's check beside the explanations (both outcomes: arcs to add, which
    stops the explaining, and none), the flow's parts solved side by side, the
    candidates' and the certificate's groups half here, half there, and the unmatched
    requests counted and explained beside the pairs (with the last pairs) give the same
    pairs, explanations and objective as everything in one process. The tuning makes
    every step that can run beside another do so, even on a network this small."""
    from tpn.matching import candidates, certificate, engine, explain, flow, native
    from tpn.models import MatchProblem
    from tpn.samples import generate

    checks, jobs = [], []
    real_check, real_job = engine._check_while_explaining, parallel.in_second_process

    def spy_check(*args):
        add, explained, seconds, served = real_check(*args)
        checks.append((int(add[0].size), explained is not None))
        return add, explained, seconds, served

    def spy(where):
        def start(step):
            jobs.append(where)
            return real_job(step)
        return start

    sent, real_there = [], explain.pairs_there

    def spy_there(served, unserved, tuning):
        sent.append((real_there(served, unserved, tuning), served))
        return sent[-1][0]

    monkeypatch.setattr(engine, "_check_while_explaining", spy_check)
    monkeypatch.setattr(explain, "pairs_there", spy_there)
    for module in (flow, certificate, candidates, explain, engine):
        monkeypatch.setattr(module, "in_second_process", spy(module.__name__.split(".")[-1]))
    problem = MatchProblem.from_network(generate(300, seed=seed))
    options = MatchOptions(candidates=1)
    with parallel.workers(2):
        forked = solve(problem, options, tuning=EVERY_STEP_BESIDE)
    assert set(jobs) == {"flow", "certificate", "candidates", "explain", "engine"}
    # The last explanations' pairs, some there and some here (earlier ones were dropped).
    assert 0 < sent[-1][0] < sent[-1][1]
    if native.ACCELERATED:
        # A warm round whose check found arcs (explanations dropped), then one that found none.
        assert any(added > 0 and not explained for added, explained in checks)
        assert checks[-1] == (0, True)
    else:       # the check overlaps only warm rounds, which need the C core
        assert checks == []
    here = solve(problem, options, tuning=EVERY_STEP_BESIDE)       # one worker: no fork
    assert forked.pairs == here.pairs and forked.unmatched == here.unmatched
    assert len(here.pairs) > 0 and len(here.unmatched) > 0
    assert forked.objective["solver_objective"] == here.objective["solver_objective"]
    assert forked.objective["certificate_rounds"] == here.objective["certificate_rounds"]


@pytest.mark.parametrize("share", ["all", "none", "one", "as tuned"])
def test_any_share_of_the_pairs_explained_there_gives_the_pairs_made_here(share, monkeypatch):
    """Every pair explained in the second process, none, one, or as many as the tuning
    says (with ``pair_there`` 0, one pair for each served request beyond the unserved
    ones): the pairs, in their order, and the unmatched requests are those of one
    process."""
    from tpn.matching import explain
    from tpn.models import MatchProblem
    from tpn.samples import generate

    problem = MatchProblem.from_network(generate(300, seed=5))
    tuning = Tuning(second_process_explain=0, pair_there=0.0)
    here = solve(problem, MatchOptions(), tuning=tuning)
    assert len(here.pairs) > len(here.unmatched) > 0
    tuned, asked = explain.pairs_there, []
    chosen = {"all": lambda served, unserved, tuning: served,
              "none": lambda served, unserved, tuning: 0,
              "one": lambda served, unserved, tuning: 1, "as tuned": tuned}[share]

    def there(served, unserved, tuning):
        asked.append((served, chosen(served, unserved, tuning)))
        return asked[-1][1]

    monkeypatch.setattr(explain, "pairs_there", there)
    with parallel.workers(2):
        forked = solve(problem, MatchOptions(), tuning=tuning)
    assert forked.pairs == here.pairs and forked.unmatched == here.unmatched
    assert asked[-1][0] == len(here.pairs)
    if share == "as tuned":
        assert asked[-1][1] == len(here.pairs) - len(here.unmatched)


def _forks_once_free() -> tuple[bool, bool]:
    """In a second process: wait (up to 20 s) until it may fork, then run a step in a
    third; (whether it might, whether the step ran elsewhere)."""
    deadline = time.monotonic() + 20
    while not can_fork() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not can_fork():
        return False, False
    with in_second_process(os.getpid) as job:
        return True, job.result() != os.getpid()


def test_a_second_process_may_fork_once_the_first_only_waits_for_it():
    """Two cores: while the first process waits for the second's answer, its core is
    free, and the second may run a step beside its own."""
    with workers(2), in_second_process(_forks_once_free) as job:
        assert job.result() == (True, True)


def test_one_worker_unless_asked():
    assert not parallel.can_fork()
    with parallel.workers(2):
        assert parallel.can_fork()
        with parallel.workers(1):
            assert not parallel.can_fork()
    assert not parallel.can_fork()
    with pytest.raises(ValueError):
        with parallel.workers(0):
            pass


def _processes_naming(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        with open(f"/proc/{entry}/stat") as stat:
                            if stat.read().split(") ", 1)[1][0] != "Z":
                                found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux's /proc")
def test_a_killed_match_leaves_no_second_process_behind(tmp_path):
    """Killed while its second process works, ``tpn match`` leaves nothing running (the
    second process used to wait for ever, with its memory, to send an answer)."""
    import signal
    import subprocess
    import sys

    from tpn.samples import generate
    from tpn.tabular import write_network

    from helpers import REPO

    write_network(generate(12_000, seed=2), tmp_path / "net")
    marker = str(tmp_path / "out-marker")
    for _attempt in range(3):
        command = subprocess.Popen([sys.executable, "-m", "tpn.cli", "--workers", "2", "match",
                                    str(tmp_path / "net"), "--out", marker], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(_processes_naming(marker)) < 2 and command.poll() is None:
            time.sleep(0.01)
        if command.poll() is not None:
            continue                # ended before we saw its second process: again
        command.send_signal(signal.SIGKILL)
        command.wait()
        deadline = time.monotonic() + 5
        while _processes_naming(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_naming(marker) == []
        return
    pytest.fail("the match never had a second process to kill")


def test_the_cross_kind_check_starts_from_the_match_beside_the_explanations(monkeypatch):
    """The re-solve with cross_kind that checks the fixes of requests among the best of
    their kind starts from the match's optimum, in a second process beside the
    explanations (or, when the last check runs beside them, after it in its process);
    the fixes are those of a re-solve from nothing."""
    from tpn.matching import engine
    from tpn.models import MatchProblem
    from tpn.samples import generate

    problem = MatchProblem.from_network(best_choose_too(generate(300, seed=2)))
    beside, warm, last_checks = [], [], []
    real_beside, real_lean, real_check = (engine._served_beside, engine._lean_start,
                                          engine._check_while_explaining)

    def spy_beside(start, stack):
        jobs = real_beside(start, stack)
        beside.extend((o.cross_kind, job._process is not None) for o, job in jobs.items())
        return jobs

    def spy_lean(problem, options, start):
        run = real_lean(problem, options, start)
        if run is not None:
            warm.append(options.cross_kind and not start.options.cross_kind)
        return run

    def spy_check(*args):
        answer = real_check(*args)
        last_checks.append(answer[3])
        return answer

    monkeypatch.setattr(engine, "_served_beside", spy_beside)
    monkeypatch.setattr(engine, "_lean_start", spy_lean)
    with parallel.workers(2):
        forked = solve(problem, MatchOptions())
    assert beside == [(True, True)]
    checked = [u for u in forked.unmatched if "allow cross_kind (checked" in u.fix]
    assert checked, "no fix of this network was checked with cross_kind"
    here = solve(problem, MatchOptions())          # one worker: it runs when asked for
    assert warm == [True]
    assert forked.unmatched == here.unmatched and forked.pairs == here.pairs
    if native.ACCELERATED:      # the last check beside the explanations: the re-solve after it
        monkeypatch.setattr(engine, "_check_while_explaining", spy_check)
        with parallel.workers(2):
            overlapped = solve(problem, MatchOptions(), tuning=EVERY_STEP_BESIDE)
        assert last_checks and last_checks[-1] is not None
        assert overlapped.unmatched == here.unmatched
    monkeypatch.setattr(engine, "_relaxes", lambda old, new: False)
    cold = solve(problem, MatchOptions())
    assert cold.unmatched == here.unmatched and warm == [True]
