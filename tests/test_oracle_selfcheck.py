"""The oracle itself on a case worked by hand, so that agreeing with it means something."""

from tpn.models import Topic
from tpn.matching import MatchOptions

from helpers import inst, network, problem
from oracle import assignment_optimum, brute_force, oracle_arcs


def test_oracle_by_hand():
    # Four hospitals on one topic; top 50 % are h3 (40) and h2 (30).
    net = network([inst(f"h{k}", size=100) for k in range(4)], [Topic("acc")],
                  {("h0", "acc"): 10.0, ("h1", "acc"): 20.0, ("h2", "acc"): 30.0,
                   ("h3", "acc"): 40.0},
                  [("h0", "acc", 1), ("h1", "acc", 1)])
    opts = MatchOptions(top_share=0.5, mentor_capacity=1)
    arcs = oracle_arcs(problem(net), opts)
    # Percentiles 12.5, 37.5, 62.5, 87.5: h0 gains 75 from h3 (cost 0.25), 50 from h2 (0.5).
    assert arcs[("h0", "acc")] == {"h2": 0.5, "h3": 0.25}
    assert arcs[("h1", "acc")] == {"h2": 0.75, "h3": 0.5}
    # Both served; the cheapest total is h0<-h3 + h1<-h2 (1.0) or h0<-h2 + h1<-h3 (1.0): tie.
    assert brute_force(problem(net), opts) == (2, 1.0)
    assert assignment_optimum(problem(net), opts) == (2, 1.0)
