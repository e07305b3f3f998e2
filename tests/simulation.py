"""Simulated networks for evaluation studies, where the truth is known: institutions focus
on their weakest topics and scores regress to the mean. Written apart from tpn's own
generator on purpose (the tests check tpn against it); used by tests/test_evaluation.py and
benchmarks/evaluation_study.py."""

from __future__ import annotations

import numpy as np

from tpn.models import FocusRequest, Institution, Network, Snapshot, Topic


def simulated(seed: int, effect: float = 0.0, focus: str = "weakest", n: int = 120,
              topics: int = 4, reliability: float = 0.7, common: float = 0.6,
              mentored_only: bool = False) -> Network:
    """n districts, ``topics`` topics. Each has a true level per topic (partly shared across
    its topics: ``common``), measured with error so that ``reliability`` of the baseline's
    variance is true; the follow-up is a new measurement of the same level, so low
    baselines rise by themselves. Focus: each institution's two lowest-ranked topics, or
    two at random. Chosen topics improve by ``effect`` (in score points); with
    ``mentored_only`` only the chosen requests that got a mentor do (lower baselines are
    likelier to get one), and the partnerships are returned in the network's ``focus``
    priorities: priority 1 = mentored, 2 = not."""
    rng = np.random.default_rng(seed)
    insts = [Institution(f"d{k:03d}", f"D{k}", "district") for k in range(n)]
    tops = [Topic(f"t{j}", direction="higher") for j in range(topics)]
    shared = rng.normal(size=(n, 1))
    level = common * shared + np.sqrt(1 - common ** 2) * rng.normal(size=(n, topics))
    noise = np.sqrt((1 - reliability) / reliability)
    base = level + noise * rng.normal(size=(n, topics))
    if focus == "weakest":
        rank = np.argsort(np.argsort(base, axis=0), axis=0)      # rank among peers per topic
        picks = np.argsort(rank, axis=1, kind="stable")[:, :2]
    else:
        picks = np.array([rng.choice(topics, 2, replace=False) for _ in range(n)])
    chose = np.zeros((n, topics), bool)
    chose[np.arange(n)[:, None], picks] = True
    mentored = chose & (rng.random((n, topics)) < 1 / (1 + np.exp(base)))
    gets = mentored if mentored_only else chose
    follow = level + noise * rng.normal(size=(n, topics)) + np.where(gets, effect / 10, 0.0)

    def scores(m):
        return {(insts[i].id, tops[j].id): float(60 + 10 * m[i, j])
                for i in range(n) for j in range(topics)}

    focus_rows = tuple(FocusRequest(insts[i].id, tops[j].id, 1 if mentored[i, j] else 2)
                       for i in range(n) for j in range(topics) if chose[i, j])
    return Network(tuple(insts), tuple(tops), (Snapshot("before", scores(base)),
                                               Snapshot("after", scores(follow))), focus_rows)


def partners(net: Network) -> list[tuple[str, str, str]]:
    return [(f.institution_id, "mentor", f.topic_id) for f in net.focus if f.priority == 1]
