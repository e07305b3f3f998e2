"""Scores turned into comparable figures: orientation, percentiles within peer groups,
high performers, gaps and focus suggestions.

Definitions (the engine's contract, also in the README):

- **oriented score**: the score itself for "higher is better" topics, its negative for
  "lower is better" topics, so that higher always means better.
- **percentile** of an institution on a topic: among the institutions *of its kind* that
  have a score on the topic, the share scoring below it plus half the share scoring the
  same, in points 0–100 (the "mean" percentile rank; ties share one value).
- **high performer** on a topic: among the ``n`` institutions of its kind with a score,
  fewer than ``k = max(1, floor(top_share * n))`` score strictly better (so the top ``k``
  and everyone tied with the k-th), or it meets the topic's target.

Everything here works on NumPy arrays over an :class:`Encoded` network (sorted ids,
one row per institution, one column per topic) so it runs at national scale.

>>> from tpn.models import Institution, Topic, Snapshot
>>> insts = [Institution(f"h{i}", f"H{i}", "hospital") for i in range(5)]
>>> snap = Snapshot("2024", {(f"h{i}", "acc"): float(60 + 10 * i) for i in range(5)})
>>> enc = Encoded.build(insts, [Topic("acc")], snap)
>>> enc.percentile[:, 0].tolist()
[10.0, 30.0, 50.0, 70.0, 90.0]
>>> enc.high_performer(top_share=0.4)[:, 0].tolist()
[False, False, False, True, True]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

from .models import Institution, Snapshot, Topic


@dataclass(frozen=True)
class Encoded:
    """A network as arrays: institutions and topics sorted by id, scores as a matrix.

    Sorting ids first makes every array, and so every solver input, independent of the
    order of rows in the input files.
    """

    institutions: tuple[Institution, ...]
    topics: tuple[Topic, ...]
    inst_index: dict[str, int]
    topic_index: dict[str, int]
    kinds: tuple[str, ...]
    kind: np.ndarray            # (n,) int: index into kinds
    regions: tuple[str, ...]
    region: np.ndarray          # (n,) int: index into regions, -1 when unknown
    lat: np.ndarray             # (n,) float, nan when unknown
    lon: np.ndarray
    size: np.ndarray            # (n,) float, nan when unknown
    capacity: np.ndarray        # (n,) float, nan: use the default
    lat_filled: np.ndarray      # (n,) location for costs: a missing one is its region's centre
    lon_filled: np.ndarray
    size_filled: np.ndarray     # (n,) size for costs: a missing one is its kind's median
    score: np.ndarray           # (n, T) raw scores, nan when missing (flagged ones too)
    oriented: np.ndarray        # (n, T) higher is better; nan when missing or flagged
    percentile: np.ndarray      # (n, T) within kind, nan when missing or flagged
    applies: np.ndarray         # (T, K) bool: topic applies to kind
    flagged: np.ndarray         # (n, T) bool: a data-quality check distrusts the score
    flags: dict                 # (row, column) -> the Flag, for the flagged scores
    offered: np.ndarray         # (n, T) bool: an external partner offered as mentor on it
    mentor_percentile: np.ndarray   # (n, T) percentile as a mentor: 100 where offered

    @classmethod
    def build(
        cls,
        institutions: Sequence[Institution],
        topics: Sequence[Topic],
        snapshot: Snapshot,
    ) -> "Encoded":
        insts = tuple(sorted(institutions, key=lambda i: i.id))
        tops = tuple(sorted(topics, key=lambda t: t.id))
        inst_index = {inst.id: n for n, inst in enumerate(insts)}
        topic_index = {t.id: n for n, t in enumerate(tops)}
        kinds = tuple(sorted({i.kind for i in insts}))
        kind_of = {k: n for n, k in enumerate(kinds)}
        regions = tuple(sorted({i.region for i in insts if i.region}))
        region_of = {r: n for n, r in enumerate(regions)}

        def column(get) -> np.ndarray:
            return np.array([np.nan if get(i) is None else get(i) for i in insts], dtype=float)

        n, t_count = len(insts), len(tops)
        score = np.full((n, t_count), np.nan)
        if snapshot.scores:
            # map() over the keys rather than a generator: a national snapshot has
            # hundreds of thousands of scores, and this keeps the loop in C.
            count, keys = len(snapshot.scores), snapshot.scores.keys()
            rows = np.fromiter(map(inst_index.get, map(itemgetter(0), keys), repeat(-1)),
                               dtype=np.int64, count=count)
            cols = np.fromiter(map(topic_index.get, map(itemgetter(1), keys), repeat(-1)),
                               dtype=np.int64, count=count)
            vals = np.fromiter(snapshot.scores.values(), dtype=float, count=count)
            ok = (rows >= 0) & (cols >= 0)
            score[rows[ok], cols[ok]] = vals[ok]
        sign = np.array([1.0 if t.direction == "higher" else -1.0 for t in tops])
        oriented = score * sign
        kind = np.array([kind_of[i.kind] for i in insts], dtype=np.int64)
        region = np.array([region_of.get(i.region, -1) if i.region else -1 for i in insts],
                          dtype=np.int64)
        lat, lon, size = column(lambda i: i.latitude), column(lambda i: i.longitude), \
            column(lambda i: i.size)
        lat_filled, lon_filled = fill_locations(lat, lon, region, kind)
        applies = np.array(
            [[t.applies_to(k) for k in kinds] for t in tops], dtype=bool
        ).reshape(t_count, len(kinds))
        # A score on a topic that does not apply to the institution's kind is ignored.
        not_applicable = ~applies[:, kind].T if t_count else np.zeros((n, 0), bool)
        oriented[not_applicable] = np.nan
        score[not_applicable] = np.nan
        # A flagged score counts as missing: no percentile, never a high performer.
        flagged = np.zeros((n, t_count), bool)
        flags = {}
        for (inst_id, topic_id), flag in snapshot.flags.items():
            r, c = inst_index.get(inst_id), topic_index.get(topic_id)
            if r is not None and c is not None and not np.isnan(score[r, c]):
                flagged[r, c] = True
                flags[(r, c)] = flag
        oriented[flagged] = np.nan
        offered = np.zeros((n, t_count), bool)
        for r, inst in enumerate(insts):
            if inst.external:
                cols = [topic_index[t] for t in inst.mentors_on if t in topic_index]
                offered[r, cols] = True
        percentile = percentiles_within(oriented, kind)
        return cls(
            institutions=insts,
            topics=tops,
            inst_index=inst_index,
            topic_index=topic_index,
            kinds=kinds,
            kind=kind,
            regions=regions,
            region=region,
            lat=lat,
            lon=lon,
            size=size,
            lat_filled=lat_filled,
            lon_filled=lon_filled,
            size_filled=fill_by_group_median(size, kind),
            capacity=column(lambda i: i.capacity),
            score=score,
            oriented=oriented,
            percentile=percentile,
            applies=applies,
            flagged=flagged,
            flags=flags,
            offered=offered,
            # An external partner has no scores: where offered it counts as the best.
            mentor_percentile=np.where(offered, 100.0, percentile),
        )

    def high_performer(self, top_share: float) -> np.ndarray:
        """(n, T) bool: in the top share of its kind on the topic, or meets the target."""
        top = in_top_share(self.oriented, self.kind, top_share)
        for t, topic in enumerate(self.topics):
            if topic.target is not None:
                target = topic.orient(topic.target)
                with np.errstate(invalid="ignore"):
                    top[:, t] |= self.oriented[:, t] >= target
        return top

    def benchmark(self, top_share: float) -> np.ndarray:
        """(K, T) the oriented score an institution of each kind must reach to be a high
        performer on each topic (nan when nobody of the kind has a score)."""
        out = np.full((len(self.kinds), len(self.topics)), np.nan)
        for k in range(len(self.kinds)):
            rows = self.kind == k
            for t, topic in enumerate(self.topics):
                vals = self.oriented[rows, t]
                vals = np.sort(vals[~np.isnan(vals)])[::-1]
                if vals.size:
                    cut = vals[top_count(vals.size, top_share) - 1]
                    if topic.target is not None:
                        cut = min(cut, topic.orient(topic.target))
                    out[k, t] = cut
        return out

    def resolved_capacity(self, default: int) -> np.ndarray:
        """(n,) int: each institution's own capacity, or the default."""
        return np.where(np.isnan(self.capacity), default, self.capacity).astype(np.int64)


def fill_locations(lat: np.ndarray, lon: np.ndarray, region: np.ndarray,
                   kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing locations for the distance cost: the centre of the region's institutions
    that have one; else of the kind's; else of everyone's. With no location anywhere,
    every distance is 0 (no information). Centres are averaged on the unit sphere.

    >>> lat, lon = fill_locations(np.array([1.0, 3.0, np.nan]), np.array([10.0, 20.0, np.nan]),
    ...                           np.array([0, 0, 0]), np.array([0, 0, 0]))
    >>> np.round(lat, 2).tolist(), np.round(lon, 2).tolist()
    ([1.0, 3.0, 2.01], [10.0, 20.0, 15.0])
    """
    lat, lon = lat.copy(), lon.copy()
    known = ~np.isnan(lat) & ~np.isnan(lon)
    if not known.any():
        return np.zeros_like(lat), np.zeros_like(lon)
    everyone = np.zeros_like(kind)
    for groups, usable in ((region, region >= 0), (kind, np.ones_like(known)),
                           (everyone, np.ones_like(known))):
        missing = (np.isnan(lat) | np.isnan(lon)) & usable
        for g in np.unique(groups[missing]):
            have = known & (groups == g)
            if have.any():
                x, y, z = unit_vectors(lat[have], lon[have]).mean(axis=0)
                todo = missing & (groups == g)
                lat[todo] = np.degrees(np.arctan2(z, np.hypot(x, y)))
                lon[todo] = np.degrees(np.arctan2(y, x))
    return lat, lon


def fill_by_group_median(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """A missing value becomes its group's median (nan when the group has none)."""
    out = values.copy()
    for g in np.unique(groups):
        rows = groups == g
        known = values[rows & ~np.isnan(values)]
        if known.size:
            out[rows & np.isnan(values)] = np.median(known)
    return out


def unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere, for KD-trees: chord length grows with distance."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def top_count(n: int, top_share: float) -> int:
    """How many institutions of ``n`` form the top share (at least one).

    >>> top_count(10, 0.3), top_count(7, 0.3), top_count(2, 0.3)
    (3, 2, 1)
    """
    return max(1, math.floor(top_share * n + 1e-9))


def percentiles_within(oriented: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mean percentile rank (0–100) of each value within its group, per column; nan stays nan."""
    out = np.full(oriented.shape, np.nan)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        block = oriented[rows]
        for t in range(block.shape[1]):
            col = block[:, t]
            have = ~np.isnan(col)
            n = int(have.sum())
            if n:
                ranks = rankdata(col[have], method="average")
                out[rows[have], t] = 100.0 * (ranks - 0.5) / n
    return out


def in_top_share(oriented: np.ndarray, groups: np.ndarray, top_share: float) -> np.ndarray:
    """(n, T) bool: fewer than top_count(n_group) group members score strictly better."""
    out = np.zeros(oriented.shape, dtype=bool)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        block = oriented[rows]
        for t in range(block.shape[1]):
            col = block[:, t]
            have = ~np.isnan(col)
            n = int(have.sum())
            if n:
                # 'min' ranks of the negated scores = 1 + number strictly better.
                better_than = rankdata(-col[have], method="min")
                out[rows[have], t] = better_than <= top_count(n, top_share)
    return out
