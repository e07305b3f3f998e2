"""Geometry for the app's drawings, computed here and drawn as SVG by the templates (so
every label goes through the templates' escaping). No JavaScript, no outside tiles.

>>> s = score_strip(50.0, [10.0, 50.0, 90.0], benchmark=80.0, target=None, direction="higher")
>>> s["own"], s["benchmark"]        # 25 px of padding, 300 px for 10..90
(175.0, 287.5)
"""

from __future__ import annotations

import math

import networkx as nx

# Okabe-Ito's colour-blind-safe palette, then four more distinguishable colours.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#882255", "#44AA99", "#999933", "#AA4499")
WIDTH, PAD = 300.0, 25.0


def topic_colours(topic_ids) -> dict[str, str]:
    return {t: PALETTE[k % len(PALETTE)] for k, t in enumerate(sorted(set(topic_ids)))}


def score_strip(own, peers, benchmark, target, direction: str) -> dict | None:
    """x positions (0..WIDTH+2*PAD) of peers, own score, benchmark and target on one axis;
    better is always to the right (a lower-is-better topic runs right to left)."""
    values = [v for v in [own, benchmark, target, *peers] if v is not None]
    if not values:
        return None
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def x(v):
        if v is None:
            return None
        share = (v - low) / span
        if direction == "lower":
            share = 1 - share
        return round(PAD + share * WIDTH, 1)

    # One tick per pixel: thousands of peers draw the same strip in a few hundred ticks.
    ticks = sorted({round(x(v)) for v in peers if v is not None})
    return {"peers": ticks, "own": x(own), "benchmark": x(benchmark),
            "target": x(target), "width": WIDTH + 2 * PAD,
            "worst": low if direction == "higher" else high,
            "best": high if direction == "higher" else low}


def network_drawing(pairs: list[dict], names: dict[str, str], size: float = 640.0) -> dict:
    """Nodes and mentor -> mentee arrows of a run, laid out by a seeded spring layout (the
    same run always draws the same picture)."""
    graph = nx.DiGraph()
    for p in pairs:
        graph.add_edge(p["mentor_id"], p["mentee_id"])
    if not graph:
        return {"nodes": [], "edges": [], "size": size, "colours": {}}
    pos = nx.spring_layout(graph, seed=7, k=1.5 / math.sqrt(graph.number_of_nodes()))
    margin = 40.0

    def at(node):
        x, y = pos[node]
        return (round(margin + (x + 1) / 2 * (size - 2 * margin), 1),
                round(margin + (y + 1) / 2 * (size - 2 * margin), 1))

    colours = topic_colours(p["topic_id"] for p in pairs)
    nodes = [{"id": n, "name": names.get(n, n), "xy": at(n),
              "mentor": graph.out_degree(n) > 0} for n in sorted(graph)]
    edges = []
    for p in sorted(pairs, key=lambda p: (p["topic_id"], p["mentor_id"], p["mentee_id"])):
        (x1, y1), (x2, y2) = at(p["mentor_id"]), at(p["mentee_id"])
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        shorten = min(9.0, length / 3)           # stop the arrow at the node's edge
        edges.append({"x1": x1, "y1": y1, "x2": round(x2 - (x2 - x1) * shorten / length, 1),
                      "y2": round(y2 - (y2 - y1) * shorten / length, 1),
                      "colour": colours[p["topic_id"]], "topic": p["topic_id"],
                      "label": f"{names.get(p['mentor_id'])} → {names.get(p['mentee_id'])}"})
    return {"nodes": nodes, "edges": edges, "size": size, "colours": colours}


def map_drawing(institutions, pairs: list[dict], width: float = 640.0) -> dict | None:
    """Institutions with coordinates as points and pairs as lines, on an equirectangular
    projection scaled by the cosine of the mean latitude (fine at a country's scale)."""
    placed = {i.id: i for i in institutions if i.has_coordinates}
    if len(placed) < 2:
        return None
    lats = [i.latitude for i in placed.values()]
    lons = [i.longitude for i in placed.values()]
    squash = math.cos(math.radians(sum(lats) / len(lats)))
    span_x = (max(lons) - min(lons)) * squash or 1.0
    span_y = (max(lats) - min(lats)) or 1.0
    margin = 20.0
    scale = (width - 2 * margin) / max(span_x, span_y)
    height = span_y * scale + 2 * margin

    def at(inst):
        return (round(margin + (inst.longitude - min(lons)) * squash * scale, 1),
                round(margin + (max(lats) - inst.latitude) * scale, 1))

    colours = topic_colours(p["topic_id"] for p in pairs)
    lines = [{"a": at(placed[p["mentor_id"]]), "b": at(placed[p["mentee_id"]]),
              "colour": colours[p["topic_id"]], "topic": p["topic_id"]}
             for p in pairs if p["mentor_id"] in placed and p["mentee_id"] in placed]
    points = [{"xy": at(i), "name": i.name, "kind": i.kind} for _k, i in sorted(placed.items())]
    return {"points": points, "lines": lines, "width": width, "height": round(height, 1),
            "colours": colours, "missing": len(list(institutions)) - len(placed)}
