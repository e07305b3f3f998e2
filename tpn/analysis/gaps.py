"""Gap analysis as plain data: where each institution stands on each topic against the
peers of its kind, and who could mentor it. The workshop's heatmap and institution pages
are drawn from these; the numbers are the engine's own (``tpn.scoring``), so what a
participant sees is what the matching uses.

>>> from tpn.samples import rwanda
>>> from tpn.matching import MatchOptions
>>> net = rwanda()
>>> table = gap_table(net, net.snapshot("2024"), MatchOptions())
>>> len(table["rows"]) == len(net.institutions), len(table["topics"]) == len(net.topics)
(True, True)
>>> profile = institution_profile(net, net.snapshot("2024"), MatchOptions(), "gasabo")
>>> profile["institution"].name, all(t["mentors"] is not None for t in profile["topics"])
('Gasabo District', True)
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import NotFoundError
from ..i18n import _
from ..matching.candidates import build_candidates
from ..matching.focus import suggest_focus
from ..matching.options import MatchOptions
from ..models import FocusRequest, Network, Snapshot
from ..scoring import Encoded


def _value(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def gap_table(network: Network, snapshot: Snapshot, options: MatchOptions) -> dict:
    """Every institution x topic: score, percentile within kind, high performer or not, and
    the reason its score is flagged (it then has no percentile: it counts as missing).

    Rows are sorted by kind, then name, so that the peers a percentile compares sit
    together; ``cell`` is None where a topic does not apply to the institution's kind.
    """
    enc = Encoded.build(network.institutions, network.topics, snapshot)
    top = enc.high_performer(options.top_share)
    chosen = {(f.institution_id, f.topic_id) for f in network.focus}
    rows = []
    for i, inst in enumerate(enc.institutions):
        cells = []
        for t, topic in enumerate(enc.topics):
            if not enc.applies[t, enc.kind[i]]:
                cells.append(None)
                continue
            flag = enc.flags.get((i, t))
            cells.append({"score": _value(enc.score[i, t]),
                          "percentile": _value(enc.percentile[i, t]),
                          "high": bool(top[i, t]),
                          "focus": (inst.id, topic.id) in chosen,
                          "flag": flag.reason if flag else None})
        rows.append({"institution": inst, "cells": cells})
    rows.sort(key=lambda r: (r["institution"].kind, r["institution"].name.casefold(),
                             r["institution"].id))
    return {"period": snapshot.period, "periods": network.periods, "topics": list(enc.topics),
            "rows": rows}


def institution_profile(network: Network, snapshot: Snapshot, options: MatchOptions,
                        institution_id: str, mentors_per_topic: int = 5,
                        suggestions: int = 3) -> dict:
    """One institution on every topic: its score and percentile, the high-performer
    benchmark of its kind and the topic's target, whether it is itself a high performer,
    the topics suggested as its focus, and the best-placed mentors per topic (by the match
    cost, before capacity is shared out)."""
    enc = Encoded.build(network.institutions, network.topics, snapshot)
    if institution_id not in enc.inst_index:
        raise NotFoundError(_("no institution {institution_id!r} in this network",
                              institution_id=institution_id))
    i = enc.inst_index[institution_id]
    inst = enc.institutions[i]
    top = enc.high_performer(options.top_share)
    bench = enc.benchmark(options.top_share)
    applicable = [t for t in range(len(enc.topics)) if enc.applies[t, enc.kind[i]]]
    requests = [FocusRequest(inst.id, enc.topics[t].id, 1) for t in applicable
                if not top[i, t]]
    cand = build_candidates(enc, requests, MatchOptions(**{**options.as_dict(),
                                                           "candidates": 0}))
    mentors: dict[str, list[dict]] = {}
    for r, req in enumerate(cand.requests):
        arcs = np.arange(cand.arc_start[r], cand.arc_start[r + 1])
        arcs = arcs[np.lexsort((cand.arc_mentor[arcs], cand.arc_cost[arcs]))][:mentors_per_topic]
        figures = cand.figures(arcs)
        mentors[req.topic_id] = [{"institution": enc.institutions[cand.arc_mentor[a]],
                                  "gain": float(gain), "distance_km": _value(km),
                                  "cost": float(cand.arc_cost[a])}
                                 for a, gain, km in zip(arcs.tolist(), figures["arc_gain"],
                                                        figures["arc_distance"])]
    chosen = {f.topic_id: f.priority for f in network.focus if f.institution_id == inst.id}
    topics = []
    for t in applicable:
        topic = enc.topics[t]
        benchmark = bench[enc.kind[i], t]
        topics.append({
            "topic": topic,
            "score": _value(enc.score[i, t]),
            "percentile": _value(enc.percentile[i, t]),
            "benchmark": None if math.isnan(benchmark) else topic.orient(benchmark),
            "target": topic.target,
            "high": bool(top[i, t]),
            "focus_priority": chosen.get(topic.id),
            # Flagged scores are not its peers' figures (they count as missing).
            "peers": sorted(_value(v) for v in enc.oriented[enc.kind == enc.kind[i], t]
                            * (1 if topic.direction == "higher" else -1) if not math.isnan(v)),
            "flag": enc.flags.get((i, t)),
            "mentors": None if top[i, t] else mentors.get(topic.id, []),
        })
    suggested = suggest_focus(network, snapshot, options, suggestions, {inst.id})
    return {"institution": inst, "period": snapshot.period, "topics": topics,
            "suggestions": suggested}
