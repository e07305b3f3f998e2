"""The analyses of a stored network (or a workbook): the gap analysis, one institution's
standing, and the evaluation of what improved."""

from __future__ import annotations

from pathlib import Path

from .. import quality
from ..matching import MatchOptions
from ..models import DEFAULT_ROUND, Network
from ..storage import Database
from ..storage import repository as repo
from ..tabular import read_network
from .networks import load


def evaluate_network(db: Database | None, network: str, from_period: str, to_period: str,
                     confidence: float = 0.95, by_region: bool = False,
                     round_name: str = DEFAULT_ROUND, pairs_file: str | None = None
                     ):
    """Effects per topic and kind (adjusted for the baseline; see :mod:`tpn.evaluation`) and
    the partnerships' before and after, for a stored network, or for a workbook when
    ``network`` is a path to one (its pairs from ``pairs_file``, a pairs.csv). Flagged scores
    are left out and counted."""
    from ..analysis.evaluation import Evaluation, evaluate, pair_changes

    if Path(network).exists():
        data, title = quality.flagged(read_network(network), MatchOptions()), Path(network).name
        under_way = all_pairs = _pairs_file(pairs_file, data) if pairs_file else []
    else:
        with db.connect() as conn:
            net_id = repo.network_id(conn, network)
            under_way = repo.published_partnerships(conn, net_id)
            all_pairs = [(p["mentee_id"], p["mentor_id"], p["topic_id"])
                         for p in repo.pair_rows(conn, net_id, ended=True)]
        data, title = load(db, network, round_name), network
    effects = evaluate(data, from_period, to_period, partnerships=all_pairs,
                       confidence=confidence, by_region=by_region)
    return Evaluation(title, from_period, to_period, confidence, tuple(effects),
                      tuple(pair_changes(data, from_period, to_period, under_way)))


def _pairs_file(path: str, network: Network) -> list[tuple[str, str, str]]:
    """(mentee, mentor, topic) of a pairs.csv that tpn match wrote."""
    from ..tabular.pairs import read_previous

    return [(p.mentee_id, p.mentor_id, p.topic_id) for p in read_previous(path, network)]


def gap_table(db: Database, network: str, period: str | None = None,
              options: MatchOptions | None = None, round_name: str = DEFAULT_ROUND) -> dict:
    from ..analysis import gaps

    data = load(db, network, round_name, options)
    return gaps.gap_table(data, data.snapshot(period), options or MatchOptions())


def institution_profile(db: Database, network: str, institution: str,
                        period: str | None = None, options: MatchOptions | None = None,
                        round_name: str = DEFAULT_ROUND, mentors_per_topic: int = 5) -> dict:
    from ..analysis import gaps

    data = load(db, network, round_name, options)
    return gaps.institution_profile(data, data.snapshot(period), options or MatchOptions(),
                                    institution, mentors_per_topic)
