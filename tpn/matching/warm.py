"""Certificate rounds solved from the last optimum.

Each certificate round only adds arcs to the flow before it. Once a round adds few
(``Tuning.warm_share``), :class:`WarmRounds` stands a
:class:`~tpn.matching.simplex.WarmFlow` on the last optimum (OR-Tools') and pivots from
there, for that round and the ones after: a round that adds few arcs moves the optimum
little, so a few pivots reach it where OR-Tools would start again from nothing. A round
that needs more pivots than ``Tuning.warm_pivots`` allows is OR-Tools' after all, and the
next round may stand on that optimum.

With a second worker, OR-Tools solves a large round beside the pivots from the start
(``Tuning.cold_beside_arcs``): a round that gives up then costs little more than OR-Tools
alone would, so such a round goes warm when it adds up to ``Tuning.warm_share_beside`` of
the arcs, and gives up sooner (``Tuning.warm_pivots_beside``). Which answer a round uses
depends on its pivots, never on which process finishes first. (In a second process, a
round races only once the first process waits for it, so a re-solve's rounds there may
differ from run to run; what it answers, a canonical optimum, does not.)

Network (fixed across rounds)::

    request ──(cap 1, arc cost)──► mentor ──(cap capacity)──► sink
       └──────────(cap 1, unmatched penalty)──────────────────► sink

Every institution with capacity is a mentor node from the start, so an arc added later
never needs a new node. This is ``flow.solve_flow``'s network when the (mentor, topic)
layer is not needed and no request is locked; otherwise rounds stay with OR-Tools.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..runtime.parallel import can_fork, in_second_process
from .candidates import is_member
from .encoding import SolverInput, SolverOutput
from .flow import NodePotentials, residual_distances, solve_flow
from .native import ACCELERATED
from .simplex import PivotLimit, WarmFlow
from .tuning import Tuning


class WarmRounds:
    """The flow of the rounds so far, kept warm. ``first``: the optimum of ``inp``, with
    its potentials (``flow.solve_flow(inp, potentials=True)``). A round gives up after
    ``tuning.warm_pivots`` pivots per arc, counting at least ``tuning.warm_arcs`` arcs."""

    def __init__(self, inp: SolverInput, first: SolverOutput, tuning: Tuning):
        n_req, n_inst = inp.n_requests, inp.mentor_capacity.size
        self._n_req, self._n_inst = n_req, n_inst
        self._sink = n_req + n_inst
        requests = np.arange(n_req)
        mentors = np.flatnonzero(inp.mentor_capacity > 0)
        supply = np.zeros(self._sink + 1, np.int64)
        supply[:n_req] = 1
        supply[self._sink] = -n_req
        keys = self._keys(inp)
        chosen = first.chosen
        served = chosen >= 0
        arc_flow = np.zeros(keys.size, np.int64)
        arc_flow[chosen[served]] = 1
        load = np.bincount(inp.arc_mentor[chosen[served]], minlength=n_inst)
        tails = np.concatenate([requests, n_req + mentors, inp.arc_request])
        heads = np.concatenate([np.full(n_req, self._sink), np.full(mentors.size, self._sink),
                                n_req + inp.arc_mentor])
        caps = np.concatenate([np.ones(n_req, np.int64), inp.mentor_capacity[mentors],
                               np.ones(keys.size, np.int64)])
        costs = np.concatenate([inp.penalty, np.zeros(mentors.size, np.int64), inp.arc_cost])
        flow = np.concatenate([(~served).astype(np.int64), load[mentors], arc_flow])
        pot = first.potentials
        d = np.concatenate([pot.request, pot.target(np.arange(n_inst), 0), [pot.sink]])
        # The penalties outweigh any arc's cost (encoding.coverage_penalties).
        self._flow = WarmFlow.from_optimum(supply, tails, heads, caps, costs, flow, d,
                                           top=self._sink,
                                           cost_bound=int(inp.penalty.max(initial=1)))
        self._first_arc = n_req + mentors.size      # where the request arcs start
        self._arc_keys = keys                       # request arcs, in the flow's order
        self._known = keys                          # the same, sorted (as candidates are)
        self._n_topics = inp.n_topics
        self._tuning = tuning
        self.gave_up = False

    @staticmethod
    def applies(inp: SolverInput) -> bool:
        """Whether the network above is the problem (no lock, no binding topic capacity)
        and the C core that pivots is there."""
        return bool(ACCELERATED and (inp.forced < 0).all()
                    and (inp.topic_capacity >= inp.mentor_capacity).all())

    @staticmethod
    def races(arcs: int, tuning: Tuning) -> bool:
        """Whether a round of ``arcs`` arcs is solved by OR-Tools beside its pivots (then
        a round that adds more arcs may go warm: giving up costs little more than OR-Tools
        takes anyway)."""
        return arcs >= tuning.cold_beside_arcs and can_fork()

    def _keys(self, inp: SolverInput) -> np.ndarray:
        return inp.arc_request * self._n_inst + inp.arc_mentor

    def solve(self, inp: SolverInput) -> SolverOutput:
        """The optimum over ``inp``'s arcs (those of the last round and more); OR-Tools'
        when the pivots pass their limit (then ``gave_up``: the flow kept here is no
        longer an optimum to go on from)."""
        if self.gave_up:
            raise RuntimeError("a WarmRounds that gave up cannot solve again")
        keys = self._keys(inp)
        # A round's candidates are the last round's and more.
        new = np.flatnonzero(~is_member(keys, self._known))
        self._flow.add_arcs(inp.arc_request[new], self._n_req + inp.arc_mentor[new],
                            np.ones(new.size, np.int64), inp.arc_cost[new])
        self._arc_keys = np.concatenate([self._arc_keys, keys[new]])
        self._known = keys
        before = self._flow.pivots
        tuning = self._tuning

        def cold() -> SolverOutput:
            return solve_flow(inp, potentials=True)

        beside = self.races(keys.size, tuning)
        per_arc = tuning.warm_pivots_beside if beside else tuning.warm_pivots
        with contextlib.ExitStack() as stack:
            # Leaving the block stops OR-Tools when the pivots got there first.
            job = stack.enter_context(in_second_process(cold)) if beside else None
            try:
                self._flow.solve(max_pivots=int(per_arc * max(keys.size, tuning.warm_arcs)))
            except PivotLimit:
                self.gave_up = True
                return job.result() if job is not None else cold()
        flow = self._flow.flow
        arc_flow = flow[self._first_arc:]
        used = np.searchsorted(keys, self._arc_keys[arc_flow > 0])
        chosen = np.full(self._n_req, -1, np.int64)
        chosen[inp.arc_request[used]] = used
        objective = self._flow.objective()
        # Bellman-Ford's potentials, as after the first round, not the tree's: with them
        # the certificate finds fewer arcs to add and needs fewer rounds. They are found
        # when the certificate first reads them, which may be in a second process
        # (engine._check_while_explaining), off the main line.
        arcs, at_optimum = self._flow.arcs(), flow.copy()   # the next solve changes flow

        def potentials() -> NodePotentials:
            pi = residual_distances(self._sink + 1, *arcs, at_optimum)
            return NodePotentials(
                request=pi[:self._n_req], slot_keys=np.zeros(0, np.int64),
                slot=np.zeros(0, np.int64), mentor_ids=np.arange(self._n_inst),
                mentor=pi[self._n_req:self._sink],
                sink=int(pi[self._sink]), n_topics=self._n_topics)

        return SolverOutput(chosen=chosen, optimal=True, objective=objective, bound=objective,
                            stats={"arcs": int(keys.size), "nodes": int(self._sink + 1),
                                   "pivots": int(self._flow.pivots - before)},
                            potentials=_WhenRead(potentials))


class _WhenRead:
    """Node potentials computed the first time one of their attributes is read."""

    def __init__(self, compute):
        self._compute, self._value = compute, None

    def __getattr__(self, name):
        if name in ("_compute", "_value"):       # not set yet (a copy): no recursion
            raise AttributeError(name)
        if self._value is None:
            self._value = self._compute()
        return getattr(self._value, name)
