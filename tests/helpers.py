"""Small builders for hand-made networks and a Hypothesis strategy for random ones."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from tpn.models import Flag, FocusRequest, Institution, MatchProblem, Network, Snapshot, Topic
from tpn.matching import MatchOptions

if TYPE_CHECKING:
    from tpn.storage import Database

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TPN_SHARED_DATA", REPO.parent / "shared" / "data"))


def inst(id, kind="hospital", *, region=None, lat=None, lon=None, size=None, capacity=None,
         name=None):
    return Institution(id, name or id.upper(), kind, region, lat, lon, size, capacity)


def network(institutions, topics, scores, focus, period="2024") -> Network:
    """scores: {(institution, topic): value}; focus: [(institution, topic[, priority])]."""
    return Network(
        tuple(institutions),
        tuple(topics),
        (Snapshot(period, dict(scores)),),
        tuple(FocusRequest(*f) for f in focus),
    )


def problem(net: Network, **kw) -> MatchProblem:
    return MatchProblem.from_network(net, **kw)


@st.composite
def random_problems(draw, max_institutions=7, max_requests=7, with_coordinates=True):
    """A small valid network with its requests and options (brute-force sized)."""
    n = draw(st.integers(2, max_institutions))
    kinds = draw(st.sampled_from([("a",), ("a", "b")]))
    institutions = []
    for k in range(n):
        coords = draw(st.booleans()) if with_coordinates else False
        institutions.append(Institution(
            f"i{k}", f"I{k}", draw(st.sampled_from(kinds)),
            region=draw(st.sampled_from([None, "north", "south"])),
            latitude=draw(st.floats(-3, 3, allow_nan=False)) if coords else None,
            longitude=draw(st.floats(28, 31, allow_nan=False)) if coords else None,
            size=draw(st.one_of(st.none(), st.floats(1, 500, allow_nan=False))),
            capacity=draw(st.one_of(st.none(), st.integers(0, 3))),
        ))
    n_topics = draw(st.integers(1, 3))
    topics = [Topic(f"t{j}", direction=draw(st.sampled_from(["higher", "lower"])),
                    target=draw(st.one_of(st.none(), st.integers(5, 15).map(float))),
                    kinds=draw(st.sampled_from([frozenset(), frozenset(kinds[:1])])))
              for j in range(n_topics)]
    # Sometimes an external partner of a kind of its own, without scores, offered as a
    # mentor on some topics (it asks for nothing).
    if draw(st.integers(0, 3)) == 0:
        institutions.append(Institution(
            "x0", "X0", "external partner", region=draw(st.sampled_from([None, "north"])),
            latitude=draw(st.floats(-3, 3, allow_nan=False)) if with_coordinates else None,
            longitude=draw(st.floats(28, 31, allow_nan=False)) if with_coordinates else None,
            capacity=draw(st.one_of(st.none(), st.integers(0, 3))), external=True,
            mentors_on=tuple(sorted(draw(st.sets(st.sampled_from([t.id for t in topics]),
                                                 max_size=n_topics))))))
    scores = {}
    for i in institutions:
        for t in topics:
            if not i.external and t.applies_to(i.kind) and draw(st.integers(0, 5)) > 0:
                scores[(i.id, t.id)] = float(draw(st.integers(0, 20)))
    pairs = [(i.id, t.id) for i in institutions for t in topics if not i.external]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1,
                           max_size=min(max_requests, len(pairs))))
    # Some requests rank up to three mentors they would like (eligible or not).
    everyone = [i.id for i in institutions]
    focus = [FocusRequest(i, t, draw(st.integers(1, 3)), tuple(draw(st.lists(
        st.sampled_from([x for x in everyone if x != i]), unique=True, max_size=3))
        if draw(st.integers(0, 2)) == 0 else ()))
        for i, t in chosen]
    options = MatchOptions(
        top_share=draw(st.sampled_from([0.3, 0.5, 1.0])),
        mentor_capacity=draw(st.integers(1, 3)),
        topic_capacity=draw(st.sampled_from([None, None, 1])),
        min_gap=draw(st.sampled_from([0.0, 0.0, 20.0])),
        max_distance_km=draw(st.sampled_from([None, None, 150.0])),
        same_region=draw(st.sampled_from([False, False, True])),
        cross_kind=draw(st.sampled_from([False, False, True])),
        weight_preference=draw(st.sampled_from([0.2, 0.2, 0.0, 1.5])),
    )
    # Some scores flagged by a data-quality check (the engine must treat them as missing).
    flagged = draw(st.lists(st.sampled_from(sorted(scores)), unique=True, max_size=3)) \
        if scores and draw(st.booleans()) else []
    flags = {key: Flag(key[0], key[1], "p", scores[key], "range", "test") for key in flagged}
    options = dataclasses.replace(options, ignore_flags=draw(st.sampled_from([False] * 4 + [True])))
    net = Network(tuple(institutions), tuple(topics), (Snapshot("p", scores, flags),),
                  tuple(focus))
    return MatchProblem.from_network(net), options


# --- the database, before and after ------------------------------------------------------


def dump(db: Database) -> dict:
    """Every row of every table as the database has it (reflected, so an older schema
    reads too), to compare a database before and after."""
    from sqlalchemy import MetaData

    with db.connect() as conn:
        tables = MetaData()
        tables.reflect(conn)
        return {t.name: sorted(repr(tuple(r._mapping.items())) for r in conn.execute(t.select()))
                for t in tables.sorted_tables}


def rows_of(db: Database) -> dict[str, list[dict]]:
    from sqlalchemy import MetaData

    with db.connect() as conn:
        tables = MetaData()
        tables.reflect(conn)
        return {t.name: [dict(r._mapping) for r in conn.execute(t.select())]
                for t in tables.sorted_tables}


def shared_draft_elsewhere(db: Database):
    """With the sample as "rwanda" already stored: the same sample as "other", invitation
    links for both, and a draft of "other" shared with its mentors. Returns (run id, its
    first pair): what an invitation of "rwanda" must not reach."""
    from tpn import services
    from tpn.samples import data_dir

    services.import_file(db, data_dir() / "rwanda", "other")
    services.invitations.create(db, "rwanda")
    services.invitations.create(db, "other")
    run = services.run_match(db, "other", "2024")
    services.invitations.ask_mentors(db, run.id)
    return run.id, services.show_run(db, run.id).pairs[0]


def best_choose_too(net):
    """The network with the best institution of each kind also asking for help on each
    topic (its requests are "no_better_peer": only another kind could mentor it)."""
    scores = net.snapshot().scores
    extra = []
    for kind in sorted({i.kind for i in net.institutions}):
        for topic in net.topics:
            scored = [(scores[(i.id, topic.id)], i.id) for i in net.institutions
                      if i.kind == kind and (i.id, topic.id) in scores]
            best = max(scored)[1] if topic.direction == "higher" else min(scored)[1]
            if not any(f.institution_id == best and f.topic_id == topic.id for f in net.focus):
                extra.append(FocusRequest(best, topic.id, 1))
    return dataclasses.replace(net, focus=net.focus + tuple(extra))


def second_processes(monkeypatch, module) -> list:
    """The jobs ``module`` starts with ``in_second_process`` from now on (each with its
    ``_process``: None when it ran in this process)."""
    jobs, real = [], module.in_second_process

    def spy(step):
        jobs.append(real(step))
        return jobs[-1]

    monkeypatch.setattr(module, "in_second_process", spy)
    return jobs
