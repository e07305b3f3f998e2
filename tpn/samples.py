"""Sample networks: the Rwanda-like network shipped in ``data/rwanda`` and a generator of
synthetic networks of any size.

The names of Rwanda's 30 districts and of ten of its hospitals are public facts; their
coordinates and sizes are approximate. **Every score is synthetic**, made by
:func:`build_rwanda` from a fixed seed; ``data/rwanda`` is its output, and a test checks
that the shipped files still equal it.

>>> net = generate(200, seed=1)
>>> len(net.institutions), len(net.topics), len(net.focus)
(200, 10, 400)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .models import FocusRequest, Institution, Network, Snapshot, Topic

# id, name, province, latitude, longitude, beds (approximate)
RWANDA_HOSPITALS = [
    ("kabgayi_hospital", "Kabgayi Hospital", "South", -2.097, 29.757, 300),
    ("ruhengeri_hospital", "Ruhengeri Referral Hospital", "North", -1.499, 29.634, 330),
    ("butaro_hospital", "Butaro Hospital", "North", -1.408, 29.835, 150),
    ("kibungo_hospital", "Kibungo Referral Hospital", "East", -2.159, 30.543, 220),
    ("nyagatare_hospital", "Nyagatare Hospital", "East", -1.297, 30.327, 200),
    ("gisenyi_hospital", "Gisenyi Hospital", "West", -1.702, 29.258, 250),
    ("kibuye_hospital", "Kibuye Referral Hospital", "West", -2.060, 29.348, 200),
    ("byumba_hospital", "Byumba Hospital", "North", -1.577, 30.063, 230),
    ("rwamagana_hospital", "Rwamagana Hospital", "East", -1.949, 30.435, 200),
    ("gihundwe_hospital", "Gihundwe Hospital", "West", -2.475, 28.910, 180),
]

# name, province, latitude, longitude of the district seat, population in thousands (approximate)
RWANDA_DISTRICTS = [
    ("Nyarugenge", "Kigali", -1.950, 30.059, 374), ("Gasabo", "Kigali", -1.897, 30.118, 880),
    ("Kicukiro", "Kigali", -1.990, 30.103, 492), ("Nyanza", "South", -2.352, 29.751, 366),
    ("Gisagara", "South", -2.590, 29.830, 397), ("Nyaruguru", "South", -2.703, 29.520, 318),
    ("Huye", "South", -2.597, 29.739, 381), ("Nyamagabe", "South", -2.478, 29.572, 372),
    ("Ruhango", "South", -2.224, 29.778, 359), ("Muhanga", "South", -2.084, 29.755, 358),
    ("Kamonyi", "South", -2.026, 29.903, 451), ("Karongi", "West", -2.060, 29.350, 373),
    ("Rutsiro", "West", -1.933, 29.330, 368), ("Rubavu", "West", -1.680, 29.260, 546),
    ("Nyabihu", "West", -1.650, 29.510, 319), ("Ngororero", "West", -1.865, 29.623, 367),
    ("Rusizi", "West", -2.480, 28.907, 485), ("Nyamasheke", "West", -2.330, 29.120, 434),
    ("Rulindo", "North", -1.722, 29.994, 350), ("Gakenke", "North", -1.702, 29.785, 347),
    ("Musanze", "North", -1.500, 29.633, 476), ("Burera", "North", -1.472, 29.832, 387),
    ("Gicumbi", "North", -1.578, 30.068, 448), ("Rwamagana", "East", -1.949, 30.434, 484),
    ("Nyagatare", "East", -1.298, 30.327, 653), ("Gatsibo", "East", -1.583, 30.448, 551),
    ("Kayonza", "East", -1.900, 30.504, 457), ("Kirehe", "East", -2.264, 30.652, 460),
    ("Ngoma", "East", -2.157, 30.543, 404), ("Bugesera", "East", -2.150, 30.100, 551),
]

# id, name, direction, kind, unit, target, typical mean, spread
RWANDA_TOPICS = [
    ("accreditation", "Accreditation score", "higher", "hospital", "%", 90.0, 72.0, 10.0),
    ("ipc", "Infection prevention and control compliance", "higher", "hospital", "%", None,
     78.0, 9.0),
    ("neonatal_mortality", "Institutional neonatal mortality", "lower", "hospital",
     "per 1,000 live births", None, 18.0, 5.0),
    ("data_quality", "Report completeness and timeliness", "higher", "hospital", "%", None,
     88.0, 6.0),
    ("readmission", "30-day readmission ratio", "lower", "hospital", "%", None, 6.0, 2.0),
    ("cbhi", "Community-based health insurance coverage", "higher", "district", "%", None,
     82.0, 6.0),
    ("anc4", "ANC4 coverage", "higher", "district", "%", None, 47.0, 8.0),
    ("facility_delivery", "Facility deliveries", "higher", "district", "%", None, 91.0, 4.0),
    ("stockout", "Essential medicine stock-out rate", "lower", "district", "%", None, 9.0, 3.5),
    ("family_planning", "Modern family planning uptake", "higher", "district", "%", None,
     58.0, 7.0),
]

RWANDA_PERIODS = ("2023", "2024")
RWANDA_SEED = 20241029


def build_rwanda() -> Network:
    """The Rwanda-like sample: 10 hospitals, 30 districts, 10 topics, 2 snapshots, focus."""
    rng = np.random.default_rng(RWANDA_SEED)
    institutions = [
        Institution(hid, name, "hospital", region, lat, lon, float(beds),
                    capacity=(1 if hid == "butaro_hospital" else 3 if hid == "kabgayi_hospital" else None))
        for hid, name, region, lat, lon, beds in RWANDA_HOSPITALS
    ] + [
        Institution(name.lower(), f"{name} District", "district", region, lat, lon, float(pop),
                    capacity=(0 if name == "Gasabo" else None))
        for name, region, lat, lon, pop in RWANDA_DISTRICTS
    ]
    # Plausible ranges: a share cannot pass 100 %, a rate per 1,000 cannot pass 1,000.
    topics = [Topic(tid, name, direction, frozenset([kind]), target, unit, 0.0,
                    100.0 if unit == "%" else 1000.0)
              for tid, name, direction, kind, unit, target, _m, _s in RWANDA_TOPICS]

    baseline: dict[tuple[str, str], float] = {}
    quality = {inst.id: rng.normal() for inst in institutions}
    for tid, _n, direction, kind, _u, _t, mean, spread in RWANDA_TOPICS:
        sign = 1 if direction == "higher" else -1
        for inst in institutions:
            if inst.kind != kind:
                continue
            z = 0.6 * quality[inst.id] + 0.8 * rng.normal()
            baseline[(inst.id, tid)] = _clip(mean + sign * spread * z, direction)
    # Two hospitals did not report data quality at baseline: missing values are normal.
    for hid in ("gihundwe_hospital", "nyagatare_hospital"):
        del baseline[(hid, "data_quality")]

    focus = _weakest_topics(institutions, topics, baseline, per_institution=2)
    # Two institutions chose a topic they already lead on: the engine must say why
    # nobody can mentor them there.
    for inst_id, kind in (("ruhengeri_hospital", "hospital"), ("huye", "district")):
        best = max((t for t in topics if kind in t.kinds and (inst_id, t.id) in baseline),
                   key=lambda t: _rank_of(inst_id, t, institutions, baseline))
        if all(f.topic_id != best.id or f.institution_id != inst_id for f in focus):
            focus.append(FocusRequest(inst_id, best.id, 3))

    chosen = {(f.institution_id, f.topic_id) for f in focus}
    follow_up = {}
    for (inst_id, tid), value in baseline.items():
        topic = next(t for t in topics if t.id == tid)
        sign = 1 if topic.direction == "higher" else -1
        spread = next(s for t_id, *_rest, s in RWANDA_TOPICS if t_id == tid)
        effect = 0.45 if (inst_id, tid) in chosen else 0.1
        follow_up[(inst_id, tid)] = _clip(value + sign * spread * (effect + 0.25 * rng.normal()),
                                          topic.direction)
    return Network(
        institutions=tuple(sorted(institutions, key=lambda i: i.id)),
        topics=tuple(sorted(topics, key=lambda t: t.id)),
        snapshots=(Snapshot(RWANDA_PERIODS[0], baseline), Snapshot(RWANDA_PERIODS[1], follow_up)),
        focus=tuple(sorted(focus, key=lambda f: (f.institution_id, f.priority, f.topic_id))),
    )


def _clip(value: float, direction: str) -> float:
    return round(float(min(100.0, max(0.5, value))), 1)


def _rank_of(inst_id, topic, institutions, scores) -> float:
    """How far ahead of its kind the institution is on the topic (higher: better)."""
    own = topic.orient(scores[(inst_id, topic.id)])
    peers = [topic.orient(v) for (i, t), v in scores.items() if t == topic.id]
    return sum(own > p for p in peers) / len(peers)


def _weakest_topics(institutions, topics, scores, per_institution) -> list[FocusRequest]:
    focus = []
    for inst in institutions:
        mine = [t for t in topics if inst.kind in t.kinds and (inst.id, t.id) in scores]
        mine.sort(key=lambda t: (_rank_of(inst.id, t, institutions, scores), t.id))
        focus += [FocusRequest(inst.id, t.id, p + 1) for p, t in enumerate(mine[:per_institution])]
    return focus


def data_dir() -> Path:
    """The folder of the shipped sample networks (``data/`` in the repository)."""
    return Path(str(resources.files("tpn.data")))


def rwanda() -> Network:
    """The shipped Rwanda-like sample network, read from ``data/rwanda``."""
    from .tabular import read_network

    return read_network(data_dir() / "rwanda")


def generate(
    institutions: int,
    seed: int = 0,
    topics: int = 10,
    focus_per_institution: int = 2,
    hospital_share: float = 0.15,
    institutions_per_region: int = 200,
) -> Network:
    """A synthetic network: two kinds, clustered regions with coordinates, sizes, scores
    (5 % missing), and each institution's weakest topics as its focus. Vectorised, so a
    100,000-institution network takes a few seconds.
    """
    rng = np.random.default_rng(seed)
    n = int(institutions)
    n_regions = max(1, n // institutions_per_region)
    centre_lat = rng.uniform(-12.0, 12.0, n_regions)
    centre_lon = rng.uniform(5.0, 40.0, n_regions)
    region = rng.integers(0, n_regions, n)
    lat = np.clip(centre_lat[region] + rng.normal(0, 0.35, n), -89.0, 89.0)
    lon = centre_lon[region] + rng.normal(0, 0.35, n)
    is_hospital = rng.random(n) < hospital_share
    size = np.where(is_hospital, rng.lognormal(5.3, 0.4, n), rng.lognormal(2.5, 0.5, n))
    width = len(str(n))
    ids = [f"i{k:0{width}d}" for k in range(n)]
    insts = tuple(
        Institution(ids[k], f"Institution {k}", "hospital" if is_hospital[k] else "health_centre",
                    f"R{region[k]:03d}", round(float(lat[k]), 5), round(float(lon[k]), 5),
                    round(float(size[k]), 1))
        for k in range(n)
    )
    tops = tuple(Topic(f"t{j:02d}", f"Topic {j}", "lower" if j % 4 == 3 else "higher",
                       unit="%") for j in range(topics))
    quality = rng.normal(size=n)[:, None]
    latent = 0.6 * quality + 0.8 * rng.normal(size=(n, topics))
    sign = np.array([1.0 if t.direction == "higher" else -1.0 for t in tops])
    values = np.round(np.clip(60 + 12 * latent * sign, 0.5, 100.0), 1)
    present = rng.random((n, topics)) >= 0.05
    scores = {(ids[k], tops[j].id): float(values[k, j]) for k, j in zip(*np.nonzero(present))}
    # Focus: each institution's weakest measured topics (by oriented score), priority 1, 2, …
    oriented = np.where(present, latent, np.inf)
    weakest = np.argsort(oriented, axis=1, kind="stable")[:, :focus_per_institution]
    focus = tuple(
        FocusRequest(ids[k], tops[weakest[k, p]].id, p + 1)
        for k in range(n) for p in range(min(focus_per_institution, topics))
        if present[k, weakest[k, p]]
    )
    return Network(insts, tops, (Snapshot("2024", scores),), focus)


def perturb(network: Network, share: float = 0.10, points: float = 5.0, seed: int = 0,
            period: str | None = None) -> Network:
    """The network with a new snapshot: ``share`` of the latest scores moved by up to
    ``points`` percentile points (uniformly, up or down) within their kind and topic —
    what a quarter's new data looks like to a rerun. Other scores stay as they were.

    >>> net = perturb(generate(50, seed=1), seed=2)
    >>> net.periods, len(net.snapshot("2024").scores) == len(net.snapshot("2024-next").scores)
    (['2024', '2024-next'], True)
    """
    rng = np.random.default_rng(seed)
    last = network.snapshot()
    kind = {i.id: i.kind for i in network.institutions}
    groups: dict[tuple[str, str], list[float]] = {}
    for (inst, topic), value in last.scores.items():
        groups.setdefault((kind[inst], topic), []).append(value)
    sorted_groups = {k: np.sort(np.array(v)) for k, v in groups.items()}
    keys = sorted(last.scores)
    moved = rng.random(len(keys)) < share
    shift = rng.uniform(-points, points, len(keys))
    scores = dict(last.scores)
    for k in np.flatnonzero(moved).tolist():
        inst, topic = keys[k]
        values = sorted_groups[(kind[inst], topic)]
        if values.size < 2:
            continue
        # The score's percentile within its group, moved, and read back as a score.
        rank = np.searchsorted(values, last.scores[keys[k]], side="left")
        pct = min(100.0, max(0.0, 100.0 * rank / (values.size - 1) + shift[k]))
        scores[keys[k]] = round(float(np.percentile(values, pct)), 3)
    return Network(network.institutions, network.topics,
                   network.snapshots + (Snapshot(period or f"{last.period}-next", scores),),
                   network.focus)
