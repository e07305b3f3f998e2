"""Evaluation (step 6 of the cycle): did institutions improve more on the topics they chose?

For each topic and each kind it applies to, between two snapshots:

- **change** of an institution = oriented score at the later period minus at the earlier
  one (so a positive change is an improvement also for "lower is better" topics), in the
  topic's units; institutions without a score at both periods are left out;
- the **chose** group: institutions of the kind that chose the topic (the focus set); the
  **other** group: the rest of the kind;
- **difference** = mean change of *chose* minus mean change of *other*, with a confidence
  interval: Welch's t interval (unequal variances, Welch–Satterthwaite degrees of freedom),
  or a percentile bootstrap (resampling each group, with a seed). Fewer than 2 institutions
  in a group gives no interval.

>>> from tpn.samples import rwanda
>>> effects = evaluate(rwanda(), "2023", "2024")
>>> cbhi = next(e for e in effects if e.topic_id == "cbhi")
>>> cbhi.kind, cbhi.n_chose + cbhi.n_other
('district', 30)
>>> cbhi.ci_low < cbhi.difference < cbhi.ci_high
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
from scipy import stats

from .errors import InputError, Problem
from .models import FocusRequest, Network

METHODS = ("welch", "bootstrap")


@dataclass(frozen=True)
class TopicEffect:
    topic_id: str
    kind: str
    n_chose: int
    n_other: int
    mean_change_chose: float | None
    mean_change_other: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    method: str
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairChange:
    mentee_id: str
    mentor_id: str
    topic_id: str
    mentee_before: float | None
    mentee_after: float | None
    mentor_before: float | None
    mentor_after: float | None

    @property
    def mentee_change(self) -> float | None:
        if self.mentee_before is None or self.mentee_after is None:
            return None
        return self.mentee_after - self.mentee_before


def difference_interval(chose: np.ndarray, other: np.ndarray, confidence: float = 0.95,
                        method: str = "welch", bootstrap: int = 4000,
                        seed: int = 0) -> tuple[float, float, float]:
    """(difference of means, low, high).

    >>> diff, low, high = difference_interval(np.array([5.0, 6, 7, 8]), np.array([1.0, 2, 3, 4]))
    >>> diff, round(low, 2), round(high, 2)
    (4.0, 1.77, 6.23)
    """
    diff = float(chose.mean() - other.mean())
    if method == "welch":
        v1, v2 = chose.var(ddof=1) / chose.size, other.var(ddof=1) / other.size
        se = math.sqrt(v1 + v2)
        if se == 0:
            return diff, diff, diff
        df = (v1 + v2) ** 2 / (v1 ** 2 / (chose.size - 1) + v2 ** 2 / (other.size - 1))
        half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
        return diff, diff - half, diff + half
    rng = np.random.default_rng(seed)
    a = rng.choice(chose, size=(bootstrap, chose.size), replace=True).mean(axis=1)
    b = rng.choice(other, size=(bootstrap, other.size), replace=True).mean(axis=1)
    low, high = np.quantile(a - b, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return diff, float(low), float(high)


def evaluate(network: Network, from_period: str, to_period: str,
             focus: Iterable[FocusRequest] | None = None, method: str = "welch",
             confidence: float = 0.95, bootstrap: int = 4000, seed: int = 0) -> list[TopicEffect]:
    if method not in METHODS:
        raise InputError(Problem("", None, None, "--method", f"{method!r} is not a method",
                                 f"use one of {', '.join(METHODS)}"))
    if not 0 < confidence < 1:
        raise InputError(Problem("", None, None, "--confidence", f"{confidence} is not between "
                                 "0 and 1", "for example 0.95"))
    before, after = network.snapshot(from_period), network.snapshot(to_period)
    chosen = {(f.institution_id, f.topic_id) for f in (network.focus if focus is None else focus)}
    out = []
    for topic in sorted(network.topics, key=lambda t: t.id):
        kinds = sorted({i.kind for i in network.institutions if topic.applies_to(i.kind)})
        for kind in kinds:
            groups: dict[bool, list[float]] = {True: [], False: []}
            for inst in network.institutions:
                if inst.kind != kind:
                    continue
                a, b = before.value(inst.id, topic.id), after.value(inst.id, topic.id)
                if a is None or b is None:
                    continue
                groups[(inst.id, topic.id) in chosen].append(topic.orient(b) - topic.orient(a))
            chose, other = np.array(groups[True]), np.array(groups[False])
            means = (float(chose.mean()) if chose.size else None,
                     float(other.mean()) if other.size else None)
            if chose.size < 2 or other.size < 2:
                out.append(TopicEffect(topic.id, kind, chose.size, other.size, *means, None,
                                       None, None, confidence, method,
                                       "fewer than 2 institutions in a group: no interval"))
                continue
            diff, low, high = difference_interval(chose, other, confidence, method, bootstrap,
                                                   seed)
            out.append(TopicEffect(topic.id, kind, chose.size, other.size, *means, diff, low,
                                   high, confidence, method))
    return out


def pair_changes(network: Network, from_period: str, to_period: str,
                 pairs: Iterable[tuple[str, str, str]]) -> list[PairChange]:
    """Mentee and mentor before and after, for each (mentee, mentor, topic) partnership."""
    before, after = network.snapshot(from_period), network.snapshot(to_period)
    return [PairChange(mentee, mentor, topic, before.value(mentee, topic),
                       after.value(mentee, topic), before.value(mentor, topic),
                       after.value(mentor, topic))
            for mentee, mentor, topic in sorted(pairs)]
