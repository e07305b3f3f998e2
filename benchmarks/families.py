"""Networks of other shapes than the benchmark's, for ``run.py --families`` (issue 30):

- ``benchmark``: the generator's (``tpn.samples.generate``: two kinds, 200 per region);
- ``concentrated``: three kinds, every institution's two focus topics among the same three
  national priorities;
- ``scarce``: the benchmark's network with one mentee per mentor,
  so that about half the requests can be served;
- ``clusters``: three kinds in 60 tight regional clusters (0.05° spread);
- ``sierra-leone``: the real Sierra Leone DHIS2 network (ANC visits and retention, five
  facility types, no coordinates or sizes) resampled to the size asked, its scores
  jittered by 5 % (``TPN_SHARED_DATA``, else ../shared/data).

>>> network, options = family("scarce", 40)
>>> len(network.institutions), options.mentor_capacity
(40, 1)
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from tpn.matching import MatchOptions
from tpn.models import FocusRequest, Institution, Network, Snapshot, Topic
from tpn.samples import generate

SHARED = Path(os.environ.get("TPN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared"
                             / "data")) / "dhis2-sierra-leone"


def three_kinds(n: int, seed: int, clusters: int, spread: float, topics: int = 10,
                focus: int = 2, priorities: int | None = None) -> Network:
    rng = np.random.default_rng(seed)
    region = rng.integers(0, clusters, n)
    lat = rng.uniform(-12, 12, clusters)[region] + rng.normal(0, spread, n)
    lon = rng.uniform(5, 40, clusters)[region] + rng.normal(0, spread, n)
    kind = rng.choice(["hospital", "health_centre", "health_post"], n, p=[0.3, 0.35, 0.35])
    size = np.exp(rng.normal(np.select([kind == "hospital", kind == "health_centre"],
                                       [5.3, 3.0], 2.0), 0.4))
    width = len(str(n))
    ids = [f"i{k:0{width}d}" for k in range(n)]
    insts = tuple(Institution(ids[k], f"Institution {k}", str(kind[k]), f"C{region[k]:02d}",
                              round(float(lat[k]), 5), round(float(lon[k]), 5),
                              round(float(size[k]), 1)) for k in range(n))
    tops = tuple(Topic(f"t{j:02d}", f"Topic {j}", unit="%") for j in range(topics))
    latent = 0.6 * rng.normal(size=n)[:, None] + 0.8 * rng.normal(size=(n, topics))
    values = np.round(np.clip(60 + 12 * latent, 0.5, 100.0), 1)
    scores = {(ids[k], tops[j].id): float(values[k, j]) for k in range(n) for j in range(topics)}
    chosen = latent[:, :priorities] if priorities else latent
    weakest = np.argsort(chosen, axis=1, kind="stable")[:, :focus]
    requests = tuple(FocusRequest(ids[k], tops[weakest[k, p]].id, p + 1)
                     for k in range(n) for p in range(focus))
    return Network(insts, tops, (Snapshot("2024", scores),), requests)


def sierra_leone(n: int, seed: int) -> Network:
    from tpn.tabular import Dhis2Mapping, read_dhis2

    real = read_dhis2(SHARED / "analytics_anc_facilities.json", Dhis2Mapping(
        kind_pattern="(Hospital|CHC|CHP|MCHP|Clinic)$", kind_default="other", keep_items=True,
        derive=("anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100",),
        org_units=str(SHARED / "organisation_units.json")))
    rng = np.random.default_rng(seed)
    snap = real.snapshot()
    pick = rng.integers(0, len(real.institutions), n)
    width = len(str(n))
    insts, scores = [], {}
    for k, j in enumerate(pick):
        base = real.institutions[j]
        new_id = f"s{k:0{width}d}"
        insts.append(replace(base, id=new_id, name=f"{base.name} ({k})"))
        for t in real.topics:
            value = snap.scores.get((base.id, t.id))
            if value is not None:
                scores[(new_id, t.id)] = round(value * float(rng.uniform(0.95, 1.05)), 3)
    # Each facility's weakest topic among those it has, by its percentile-free raw order.
    focus = []
    for inst in insts:
        own = sorted((scores[(inst.id, t.id)], t.id) for t in real.topics
                     if (inst.id, t.id) in scores)
        focus += [FocusRequest(inst.id, tid, p + 1) for p, (_, tid) in enumerate(own[:2])]
    return Network(tuple(insts), real.topics, (Snapshot(snap.period, scores),), tuple(focus))


def family(name: str, n: int) -> tuple[Network, MatchOptions]:
    if name == "benchmark":
        return generate(n, seed=1), MatchOptions()
    if name == "concentrated":
        return three_kinds(n, 2, clusters=max(1, n // 200), spread=0.35, priorities=3), \
            MatchOptions()
    if name == "scarce":
        return generate(n, seed=3, focus_per_institution=2), MatchOptions(mentor_capacity=1)
    if name == "clusters":
        return three_kinds(n, 4, clusters=60, spread=0.05), MatchOptions()
    if name == "sierra-leone":
        return sierra_leone(n, 5), MatchOptions()
    raise SystemExit(f"no family {name!r}")
