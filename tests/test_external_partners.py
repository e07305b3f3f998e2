"""External partners: no scores needed, mentors only on the topics a facilitator offered
them on (of any kind), counted as the best there, explained as such; the optimum agrees
with the oracle, pruned or not."""

from __future__ import annotations

import dataclasses

import pytest

from tpn.matching import MatchOptions, solve
from tpn.models import FocusRequest, Institution, Lock, MatchProblem, Topic
from tpn.samples import generate

from helpers import inst, network, problem
from oracle import assignment_optimum, oracle_arcs

OVERSEAS = Institution("overseas", "Overseas Teaching Hospital", "partner", external=True,
                       mentors_on=("t1",), capacity=2)


def clinics() -> list[Institution]:
    return [inst("c1", "clinic"), inst("c2", "clinic"), inst("h1", "hospital"),
            inst("h2", "hospital")]


def small(with_partner: bool = True, **focus):
    insts = clinics() + ([OVERSEAS] if with_partner else [])
    # Only hospitals have scores on t1: no clinic can mentor another on it.
    scores = {("h1", "t1"): 80.0, ("h2", "t1"): 40.0, ("c1", "t2"): 50.0, ("c2", "t2"): 90.0}
    requests = [("c1", "t1", 1), ("c2", "t1", 1), ("h2", "t1", 1), ("c1", "t2", 2)]
    return network(insts, [Topic("t1"), Topic("t2")], scores, requests)


def test_an_external_partner_mentors_where_offered_and_says_why():
    alone = solve(problem(small(with_partner=False)), MatchOptions())
    assert {(u.institution_id, u.topic_id): u.reason for u in alone.unmatched}[("c1", "t1")] \
        == "no_scores"
    result = solve(problem(small()), MatchOptions(top_share=0.5))
    pairs = {(p.mentee_id, p.topic_id): p for p in result.pairs}
    # Both clinics learn t1 from the partner (capacity 2); it counts as the best.
    assert pairs[("c1", "t1")].mentor_id == "overseas" == pairs[("c2", "t1")].mentor_id
    p = pairs[("c1", "t1")]
    assert p.mentor_score is None and p.mentor_percentile == 100.0 and p.gain_estimated
    assert "Overseas Teaching Hospital is an external partner the facilitator offered as a " \
           "mentor on t1: it has no scores and counts as the best (percentile 100)" in p.why
    # Not offered on t2: c1 learns t2 from its peer c2 there.
    assert pairs[("c1", "t2")].mentor_id == "c2"
    # The hospital h2 (percentile 25) has a peer h1 and the partner is full.
    assert pairs[("h2", "t1")].mentor_id == "h1"


def test_a_lock_on_a_topic_the_partner_is_not_offered_on_says_so():
    locked = dataclasses.replace(problem(small()), locks=(Lock("c1", "t2", "overseas"),))
    result = solve(locked, MatchOptions())
    assert [r.reason for r in result.rejected_locks] == [
        "breaks a rule (not_offered): the mentor is an external partner, offered on other "
        "topics: offer it on this one too (its mentors_on)"]
    ok = solve(dataclasses.replace(problem(small()), locks=(Lock("h2", "t1", "overseas"),)),
               MatchOptions())
    assert not ok.rejected_locks
    assert {(p.mentee_id, p.topic_id): p.mentor_id for p in ok.pairs}[("h2", "t1")] == "overseas"


def test_exclusions_capacity_and_distance_still_hold_for_a_partner():
    options = MatchOptions(max_distance_km=100)
    far = dataclasses.replace(OVERSEAS, latitude=50.0, longitude=4.0)
    net = small()
    net = dataclasses.replace(net, institutions=tuple(
        far if i.id == "overseas" else dataclasses.replace(i, latitude=-2.0, longitude=30.0)
        for i in net.institutions))
    result = solve(problem(net), options)
    assert "overseas" not in {p.mentor_id for p in result.pairs}
    none = dataclasses.replace(OVERSEAS, capacity=0)
    net = dataclasses.replace(small(), institutions=tuple(
        none if i.id == "overseas" else i for i in small().institutions))
    assert "overseas" not in {p.mentor_id for p in solve(problem(net), MatchOptions()).pairs}


@pytest.mark.parametrize("candidates", [0, 4])
def test_the_optimum_with_partners_equals_the_oracle(candidates):
    """On a generated network with two partners offered on busy topics, pruned or not, the
    optimum is the independent assignment optimum."""
    net = generate(120, seed=5, topics=4)
    topics = sorted(t.id for t in net.topics)
    partners = (Institution("p1", "Partner 1", "partner", external=True,
                            mentors_on=tuple(topics[:2]), capacity=3),
                Institution("p2", "Partner 2", "partner", latitude=0.0, longitude=20.0,
                            external=True, mentors_on=(topics[1],), capacity=2))
    net = dataclasses.replace(net, institutions=net.institutions + partners)
    prob = MatchProblem.from_network(net)
    options = MatchOptions(candidates=candidates)
    result = solve(prob, options)
    cover, cost = assignment_optimum(prob, options)
    assert result.objective["coverage_weight"] == cover
    assert result.objective["cost"] == pytest.approx(cost, abs=1e-4 * len(prob.requests))
    used = [p for p in result.pairs if p.mentor_id in ("p1", "p2")]
    assert used and all(p.topic_id in dict((x.id, x.mentors_on) for x in partners)[p.mentor_id]
                        for p in used)
    arcs = oracle_arcs(prob, options)
    assert any("p2" in ms for ms in arcs.values())


def test_a_partner_asks_for_nothing_and_needs_no_scores_in_a_workbook(tmp_path):
    from tpn.tabular import read_network, write_network

    net = small()
    back = read_network(write_network(net, tmp_path / "n.xlsx"))
    assert [i for i in back.institutions if i.external] == [OVERSEAS]
    assert FocusRequest("c1", "t1", 1) in back.focus


def test_the_evaluation_counts_a_partners_mentees_apart():
    from tpn.analysis.evaluation import evaluate
    from tpn.samples import rwanda

    net = rwanda()
    partner = Institution("overseas", "Overseas", "partner", external=True,
                          mentors_on=("cbhi",))
    net = dataclasses.replace(net, institutions=net.institutions + (partner,))
    chose = sorted(f.institution_id for f in net.focus if f.topic_id == "cbhi")
    peers = [(m, "kabgayi", "cbhi") for m in chose[:4]]
    external = [(m, "overseas", "cbhi") for m in chose[4:6]]
    plain = {(e.topic_id, e.kind): e for e in evaluate(net, "2023", "2024", partnerships=peers)}
    both = {(e.topic_id, e.kind): e
            for e in evaluate(net, "2023", "2024", partnerships=peers + external)}
    before, after = plain[("cbhi", "district")], both[("cbhi", "district")]
    assert (after.n_external, after.n_mentored) == (2, before.n_mentored)
    assert after.n_unmentored == before.n_unmentored - 2
    assert "2 that learnt from an external partner are counted apart" in after.mentored_note
    # Choosing the topic is estimated as before: the partner's mentees chose it too.
    assert after.estimate == before.estimate and after.n_chose == before.n_chose


def test_bad_partner_columns_are_located_problems(tmp_path):
    from tpn.errors import InputError
    from tpn.tabular import read_network, write_network

    folder = write_network(small(), tmp_path / "net")
    text = (folder / "institutions.csv").read_text()
    lines = text.splitlines()
    header = lines[0].split(",")
    col = header.index("external")
    rows = [line.split(",") for line in lines[1:]]
    rows[0][col], rows[0][col + 1] = "maybe", ""
    rows[1][col + 1] = "t1"                                 # offered, not external
    rows[-1][col + 1] = "t1;t9"                             # the partner: an unknown topic
    (folder / "institutions.csv").write_text("\n".join([lines[0]] + [",".join(r) for r in rows])
                                             + "\n")
    with pytest.raises(InputError) as caught:
        read_network(folder)
    said = {(p.file, p.row, p.column, p.message) for p in caught.value.problems}
    where = "institutions.csv"
    assert (where, 2, "external", "'maybe' is not yes or no") in said
    assert (where, 3, "mentors_on", "only an external partner is offered as a mentor on named "
            "topics") in said
    assert (where, len(rows) + 1, "mentors_on", "'t9' is not a known topic") in said
