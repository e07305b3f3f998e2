"""Focus suggestions, the gap-analysis step: for each institution, the topics where it is
furthest below the high-performer benchmark of its kind.

The **benchmark** of a kind on a topic is the score of its lowest-ranked high performer
(see ``tpn.scoring``). Topics are ranked by the percentile gap (benchmark percentile
minus own percentile), which is comparable across topics of different units. Topics where
the institution has no score (the need is not measured) or is itself a high performer are
not suggested. Each suggestion says how many mentors could serve it under the match
rules; 0 flags a topic where nobody could.

>>> from tpn.samples import rwanda
>>> net = rwanda()
>>> s = suggest_focus(net, net.snapshot("2023"), MatchOptions(), per_institution=2)
>>> {x.rank for x in s} == {1, 2}, all(x.percentile_gap > 0 for x in s)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np

from ..models import FocusRequest, Network, Snapshot
from ..scoring import Encoded
from .candidates import build_candidates
from .options import MatchOptions


@dataclass(frozen=True)
class FocusSuggestion:
    institution_id: str
    topic_id: str
    rank: int
    score: float
    percentile: float
    benchmark: float            # the score that makes a high performer, in topic units
    gap: float                  # how far below the benchmark, in topic units (>= 0)
    percentile_gap: float
    mentors_available: int

    def as_request(self) -> FocusRequest:
        return FocusRequest(self.institution_id, self.topic_id, self.rank)


def suggest_focus(network: Network, snapshot: Snapshot, options: MatchOptions,
                  per_institution: int,
                  institutions: Collection[str] | None = None) -> list[FocusSuggestion]:
    enc = Encoded.build(network.institutions, network.topics, snapshot)
    top = enc.high_performer(options.top_share)
    bench = enc.benchmark(options.top_share)
    bench_pct = np.full(bench.shape, np.nan)
    for k in range(len(enc.kinds)):
        rows = enc.kind == k
        for t in range(len(enc.topics)):
            p = enc.percentile[rows & top[:, t], t]
            if p.size:
                bench_pct[k, t] = p.min()
    inst_idx, topic_idx = np.nonzero(~np.isnan(enc.oriented) & ~top)
    kind = enc.kind[inst_idx]
    pct_gap = bench_pct[kind, topic_idx] - enc.percentile[inst_idx, topic_idx]
    raw_gap = bench[kind, topic_idx] - enc.oriented[inst_idx, topic_idx]
    # Rank within each institution: largest percentile gap first, then topic id.
    order = np.lexsort((topic_idx, -pct_gap, inst_idx))
    inst_idx, topic_idx, pct_gap, raw_gap = (a[order] for a in (inst_idx, topic_idx, pct_gap,
                                                                raw_gap))
    first = np.r_[0, np.flatnonzero(np.diff(inst_idx)) + 1] if inst_idx.size else np.zeros(0, int)
    rank = np.arange(inst_idx.size) - np.repeat(first, np.diff(np.r_[first, inst_idx.size])) + 1
    keep = rank <= per_institution
    if institutions is not None:        # only these (a page of the focus form)
        wanted = np.array([i.id in institutions for i in enc.institutions], bool)
        keep &= wanted[inst_idx]
    inst_idx, topic_idx, pct_gap, raw_gap, rank = (a[keep] for a in (inst_idx, topic_idx,
                                                                     pct_gap, raw_gap, rank))
    requests = [FocusRequest(enc.institutions[i].id, enc.topics[t].id, 1)
                for i, t in zip(inst_idx.tolist(), topic_idx.tolist())]
    cands = build_candidates(enc, requests, options)
    available = np.bincount(cands.arc_request, minlength=len(requests))
    out = []
    for j, (i, t) in enumerate(zip(inst_idx.tolist(), topic_idx.tolist())):
        topic = enc.topics[t]
        out.append(FocusSuggestion(
            institution_id=enc.institutions[i].id,
            topic_id=topic.id,
            rank=int(rank[j]),
            score=float(enc.score[i, t]),
            percentile=round(float(enc.percentile[i, t]), 4),
            benchmark=float(topic.orient(bench[enc.kind[i], t])),
            gap=round(float(raw_gap[j]), 6),
            percentile_gap=round(float(pct_gap[j]), 4),
            mentors_available=int(available[cands.request_position(enc.institutions[i].id,
                                                                    topic.id)]),
        ))
    return out
