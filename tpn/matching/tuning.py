"""How the engine spends its time: every setting here changes how fast an answer comes,
never the answer (the tests run the engine with extreme values and compare). Passed
explicitly (``solve(..., tuning=Tuning(...))``); the defaults are in one place, each with
a line of why. The measurements behind them are in ``benchmarks/NOTES.md``.

>>> Tuning().margin, Tuning(part_nodes=10).part_nodes
(0.1, 10)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    # -- candidates ----------------------------------------------------------------------
    # Largest (requests x pool) block evaluated at once: bounds memory on national networks.
    block_cells: int = 2_000_000
    # A mentor kept by at most this many requests per unit of capacity is "underused": the
    # optimum often needs it for requests further away, so each pruned request also gets
    # its nearest few (fewer certificate rounds than a larger K would need).
    underused_load: int = 3
    underused_nearest: int = 4
    # A mentor that even then stays below underused_load is far from the demand (no
    # request has it among its nearest): its own nearest requests of each group get it, or
    # the first round leaves its places out and the certificate finds every request of the
    # group could use them (at 100,000 institutions, 409,000 such arcs; a round more).
    lonely_nearest: int = 8
    # -- the certificate -------------------------------------------------------------------
    # Once an arc violates, arcs within this many cost points of violating are added too
    # (no further than the deepest violation): the next round's prices move, and these
    # are the arcs it would find next.
    margin: float = 0.1
    # Rounds after this many add twice the arcs each (per request and margin), up to
    # widen_max times the first round's: where many mentors cost nearly the same, each
    # round's prices uncover a few more, and rounds would otherwise go on by the dozen;
    # unbounded, the arcs added would grow towards every eligible pair.
    widen_after: int = 2
    widen_max: int = 64
    # Bands of the mentors' lower bound searched each with its own radius, and the pool size
    # below which one band is quicker (small trees).
    bands: int = 8
    banded_pool: int = 2000
    # A request whose search ball holds more than wide_ball times the arcs it keeps plus
    # those it may add gets its most negative arcs from its nearest pairs first, and its
    # ball shrinks to them (where capacity is scarce, an unserved request's ball is its
    # pool). Only balls wider than 1/wide_radius of the pool's box are counted: counting
    # every ball would cost about what searching the small ones does.
    wide_ball: int = 4
    wide_radius: float = 4.0
    # Ball queries at once from which two threads pay off.
    threaded_queries: int = 1000
    # Where costs are the gain alone (tpn.matching.separable), blocks of the pool of fewer
    # than 2 ** separable_direct mentors are reached by an arc per pair, not by chains:
    # fewer nodes for the simplex (Sierra Leone at 6,000: 0.84 s at 0, 0.62 s at 3).
    separable_direct: int = 3
    # -- rounds ------------------------------------------------------------------------------
    # With the C core, a round that adds at most this share of the arcs, or any round of a
    # network under warm_arcs arcs, is solved from the last optimum (the optimum moves
    # little); a round that moves it far is quicker with OR-Tools' cost scaling.
    warm_share: float = 0.25
    warm_arcs: int = 100_000
    # A warm round gives up after this many pivots per arc (counting at least warm_arcs),
    # and OR-Tools solves it (a later round may go warm again from that optimum): where
    # capacity is scarce, a round can move the optimum far in small steps (at 100,000
    # institutions, 4.2 million pivots and 49 s for a round OR-Tools solves in 11 s; the
    # rounds that pay took 0.1-0.35).
    warm_pivots: float = 0.4
    # With a second worker, from this many arcs OR-Tools solves each warm round beside the
    # pivots (a fork costs about 20 ms at 1.5 GB): if they give up, its optimum is ready,
    # so a round goes warm when it adds up to warm_share_beside of the arcs, and gives up
    # about when OR-Tools would be done.
    cold_beside_arcs: int = 500_000
    warm_pivots_beside: float = 0.15
    warm_share_beside: float = 0.34
    # With a second worker, a warm round's check runs beside the explanations when the
    # round added at most this share of the arcs (it most likely finds nothing) and the
    # network has at least overlap_arcs arcs (below, the check is too quick to pay).
    overlap_share: float = 0.2
    overlap_arcs: int = 100_000
    # After this many explanations thrown away (their round was not the last), the rounds
    # are going on: each check runs first and only the proven optimum is explained.
    overlap_wasted: int = 2
    # -- flow ----------------------------------------------------------------------------
    # Parts of the network that meet only at the sink are solved one by one from this many
    # nodes (a solve's time grows faster than its size); with a second worker, the smaller
    # parts beside the largest from about this many arcs.
    part_nodes: int = 1000
    second_process_arcs: int = 100_000
    # -- a second worker: from this many requests half the groups go to it --------------
    second_process_candidates: int = 100_000
    second_process_checks: int = 20_000
    # ... and from this many requests the unmatched ones are counted and explained there
    # (below, a fork costs about what it saves).
    second_process_explain: int = 20_000
    # A pair explained there costs about this many times one explained here (its fields
    # pickled there, the pair made again here): the second process takes the last pairs
    # only as far as both processes then end together.
    pair_there: float = 1.2
    # -- explanations ----------------------------------------------------------------------
    # Up to this many alternatives per pair, one linear pass per alternative beats a sort.
    next_best_passes: int = 8
