from tpn.graph import network_metrics, twinning_graph
from tpn.matching import MatchOptions, solve
from tpn.matching.focus import suggest_focus
from tpn.models import MatchProblem, Topic

from helpers import inst, network


def test_metrics_on_a_small_network():
    insts = [inst("a"), inst("b"), inst("c"), inst("d")]
    topics = [Topic("x"), Topic("y")]
    scores = {("a", "x"): 9.0, ("b", "x"): 1.0, ("c", "x"): 2.0, ("d", "x"): 3.0,
              ("a", "y"): 1.0, ("b", "y"): 9.0, ("c", "y"): 2.0, ("d", "y"): 3.0}
    net = network(insts, topics, scores, [("b", "x", 1), ("a", "y", 1), ("c", "x", 1),
                                          ("d", "x", 2)])
    result = solve(MatchProblem.from_network(net), MatchOptions(top_share=0.25))
    g = twinning_graph(net.institutions, [(p.mentee_id, p.mentor_id, p.topic_id)
                                          for p in result.pairs])
    m = network_metrics(g, [(u.institution_id, u.topic_id) for u in result.unmatched])
    assert m.mutual_pairs == (("a", "b"),)
    assert m.mentor_and_learner == ("a", "b")
    assert m.coverage_by_topic["y"] == {"requests": 1, "matched": 1, "share": 1.0}
    assert m.coverage_by_topic["x"]["requests"] == 3
    assert m.left_out == ("d",)
    assert m.mentor_load == {1: 1, 2: 1}
    assert m.components == (3,)
    assert (m.institutions, m.institutions_reached) == (4, 3)


def test_regions_linked():
    insts = [inst("a", region="north"), inst("b", region="north"), inst("c", region="south"),
             inst("d", region="south")]
    g = twinning_graph(insts, [("b", "a", "x"), ("c", "a", "y"), ("d", "c", "x")])
    m = network_metrics(g)
    assert m.regions_linked == {"north / south": 1} and m.within_region == 2
    assert m.components == (4,) and m.mentor_load == {1: 1, 2: 1}


def test_focus_suggestions_rank_by_gap_and_flag_unservable(rwanda):
    snap = rwanda.snapshot("2023")
    s = suggest_focus(rwanda, snap, MatchOptions(), per_institution=3)
    by_inst = {}
    for x in s:
        by_inst.setdefault(x.institution_id, []).append(x)
    for items in by_inst.values():
        assert [x.rank for x in items] == list(range(1, len(items) + 1))
        gaps = [x.percentile_gap for x in items]
        assert gaps == sorted(gaps, reverse=True)
        assert all(x.gap > 0 for x in items)
    # With a default capacity of 0, districts (none has its own capacity but Gasabo's 0)
    # have nobody who could mentor them: every district suggestion is flagged.
    kind = {i.id: i.kind for i in rwanda.institutions}
    none = suggest_focus(rwanda, snap, MatchOptions(mentor_capacity=0), per_institution=1)
    districts = [x for x in none if kind[x.institution_id] == "district"]
    assert districts and all(x.mentors_available == 0 for x in districts)
    assert any(x.mentors_available > 0 for x in none if kind[x.institution_id] == "hospital")
