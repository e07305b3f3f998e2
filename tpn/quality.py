"""Data quality: which scores not to trust, and why.

Routine data hold impossible values (a retention rate of 686 %), outliers and sudden jumps.
A score that one of the checks below flags is kept with its flag and reason, and the
engine treats it as missing: it never makes a high performer or a mentor, it is left out
of its peer group's percentiles and benchmarks, and a mentee with a flagged score is
estimated at its kind's median, as one without a score is. Each value gets the first
flag it earns, in this order:

1. **range**: outside the topic's plausible range (its ``minimum``/``maximum``);
2. **outlier**: far from its *peers* (institutions of the same kind, on the same topic, in
   the same period), by the modified z-score ``0.6745 (x - median) / MAD`` (median-based,
   so the outliers it looks for do not hide themselves; threshold 3.5, as Iglewicz and
   Hoaglin recommend) or the z-score ``(x - mean) / sd`` (threshold 3) — the two measures
   of DHIS2's outlier detection. Values outside the range are left out of the peers'
   figures;
3. **jump**: its change since the previous period is that far from its peers' changes.

A group of fewer than ``MIN_PEERS`` values is not judged (too few to say what is usual).
When more than half the values are equal the MAD is 0; the mean absolute deviation then
stands in (scaled to the same standard deviation), and when that is 0 too nothing in the
group is flagged. A facilitator who has checked a value can accept it: the flag stays on
record (who, when) and the value is trusted.

>>> from tpn.models import Institution, Network, Snapshot, Topic
>>> insts = [Institution(f"h{k}", f"H{k}", "hospital") for k in range(12)]
>>> values = {(f"h{k}", "anc"): 70.0 + k for k in range(11)} | {("h11", "anc"): 119.0}
>>> net = Network(tuple(insts), (Topic("anc", "ANC retention", unit="%", maximum=100),),
...               (Snapshot("2024", values),))
>>> [(f.institution_id, f.check, f.reason) for f in find_flags(net)]
[('h11', 'range', '119 % is above the plausible maximum 100 %')]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from .i18n import Text, _, join, number
from .models import Flag, Network, Snapshot, Topic, period_key

CHECKS = ("range", "outlier", "jump")
# Fewer peers than this and a group's spread says little (a z-score of n values cannot
# even pass 3 when n <= 10).
MIN_PEERS = 10
DEFAULT_THRESHOLD = {"modified_z": 3.5, "z": 3.0}
# MAD and mean absolute deviation scaled to a normal distribution's standard deviation.
_MAD_SCALE = 1 / 0.6745
_MEAN_AD_SCALE = math.sqrt(math.pi / 2)

# (institution, topic, period) -> (the accepted value, who, when): an acceptance holds only
# while the value is the one that was checked.
Acceptances = Mapping[tuple[str, str, str], tuple[float, str, str]]


@dataclass(frozen=True)
class Checks:
    """Which outlier measure, and the thresholds of the outlier and jump checks."""

    method: str = "modified_z"
    outlier_threshold: float | None = None
    jump_threshold: float | None = None

    @classmethod
    def from_options(cls, options) -> "Checks":
        """The checks a run's match options ask for (``outlier_method`` and thresholds)."""
        return cls(options.outlier_method, options.outlier_threshold, options.jump_threshold)

    @property
    def outlier_limit(self) -> float | None:
        if self.method == "none":
            return None
        return self.outlier_threshold or DEFAULT_THRESHOLD[self.method]

    @property
    def jump_limit(self) -> float | None:
        if self.method == "none":
            return None
        return self.jump_threshold or self.outlier_limit

    @property
    def measure(self) -> Text:
        return _("modified z-score") if self.method == "modified_z" else _("z-score")


def find_flags(network: Network, checks: Checks = Checks(),
               accepted: Acceptances | None = None) -> list[Flag]:
    """Every flagged score of every period, sorted by period, topic and institution;
    accepted ones carry who accepted them and when."""
    accepted = accepted or {}
    insts = sorted(network.institutions, key=lambda i: i.id)
    topics = sorted(network.topics, key=lambda t: t.id)
    if not insts or not topics:
        return []
    kinds = sorted({i.kind for i in insts})
    kind = np.array([kinds.index(i.kind) for i in insts])
    applies = np.array([[t.applies_to(i.kind) for t in topics] for i in insts], bool)
    low = np.array([-np.inf if t.minimum is None else t.minimum for t in topics])
    high = np.array([np.inf if t.maximum is None else t.maximum for t in topics])
    flags: list[Flag] = []
    previous: tuple[str, np.ndarray, np.ndarray] | None = None   # period, values, trusted
    for snap in sorted(network.snapshots, key=lambda s: period_key(s.period)):
        values = _matrix(snap, insts, topics, applies)
        ok = _accepted_mask(snap.period, values, insts, topics, accepted)
        present = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            in_range = ~((values < low) | (values > high))
        checked = {"range": present & ~in_range}
        # Peers' figures leave out impossible values, unless someone vouched for them.
        usable = present & (in_range | ok)
        stat = np.full(values.shape, np.nan)
        if checks.outlier_limit is not None:
            stat = _scores(np.where(usable, values, np.nan), kind, checks.method)
        checked["outlier"] = present & in_range & _beyond(stat, checks.outlier_limit)
        jump_stat = change = np.full(values.shape, np.nan)
        if previous is not None and checks.jump_limit is not None:
            change = np.where(usable & previous[2], values - previous[1], np.nan)
            jump_stat = _scores(change, kind, checks.method)
        checked["jump"] = present & in_range & ~checked["outlier"] \
            & _beyond(jump_stat, checks.jump_limit)
        flagged = checked["range"] | checked["outlier"] | checked["jump"]
        trusted = present & (~flagged | ok)
        median, peer_low, peer_high = _peer_figures(values, trusted, kind)
        for check, mask in checked.items():
            for i, t in zip(*np.nonzero(mask)):
                inst, topic = insts[i], topics[t]
                value = float(values[i, t])
                figure = {"range": np.nan, "outlier": stat[i, t], "jump": jump_stat[i, t]}[check]
                jump = None
                if check == "jump":
                    with _quiet():
                        peers = float(np.nanmedian(change[kind == kind[i], t]))
                    jump = (float(previous[1][i, t]), previous[0], peers)
                reason = _reason(check, value, topic, checks, figure, jump,
                                 float(median[kind[i], t]), inst.kind)
                who = accepted.get((inst.id, topic.id, snap.period)) if ok[i, t] else None
                flags.append(Flag(
                    inst.id, topic.id, snap.period, value, check, reason,
                    None if np.isnan(figure) else round(float(figure), 4),
                    *(_opt(a[kind[i], t]) for a in (median, peer_low, peer_high)),
                    accepted_by=who[1] if who else None, accepted_at=who[2] if who else None))
        previous = (snap.period, values, trusted)
    return sorted(flags, key=lambda f: (f.period, f.topic_id, f.institution_id))


def with_flags(network: Network, flags: Iterable[Flag]) -> Network:
    """The network whose snapshots carry their flags that nobody accepted."""
    by_period: dict[str, dict[tuple[str, str], Flag]] = {}
    for f in flags:
        if not f.accepted:
            by_period.setdefault(f.period, {})[(f.institution_id, f.topic_id)] = f
    return dataclasses.replace(network, snapshots=tuple(
        dataclasses.replace(s, flags=by_period.get(s.period, {})) for s in network.snapshots))


def flagged(network: Network, options, accepted: Acceptances | None = None) -> Network:
    """The network as a run with these match options sees it: flagged scores marked, or,
    with ``ignore_flags``, every score trusted."""
    if options.ignore_flags:
        return with_flags(network, ())
    return with_flags(network, find_flags(network, Checks.from_options(options), accepted))


# --- the arithmetic ----------------------------------------------------------------------


def _matrix(snap: Snapshot, insts, topics, applies) -> np.ndarray:
    """(n, T) the period's values; nan when missing or the topic does not apply."""
    row = {inst.id: k for k, inst in enumerate(insts)}
    col = {t.id: k for k, t in enumerate(topics)}
    values = np.full((len(insts), len(topics)), np.nan)
    for (i, t), v in snap.scores.items():
        if i in row and t in col:
            values[row[i], col[t]] = v
    values[~applies] = np.nan
    return values


def _accepted_mask(period, values, insts, topics, accepted: Acceptances) -> np.ndarray:
    ok = np.zeros(values.shape, bool)
    if not accepted:
        return ok
    row = {inst.id: k for k, inst in enumerate(insts)}
    col = {t.id: k for k, t in enumerate(topics)}
    for (i, t, p), (value, _by, _at) in accepted.items():
        if p == period and i in row and t in col and values[row[i], col[t]] == value:
            ok[row[i], col[t]] = True
    return ok


def _scores(values: np.ndarray, kind: np.ndarray, method: str) -> np.ndarray:
    """(n, T) each value's (modified) z-score within its kind and topic; nan where the value
    is nan or its group is too small or has no spread."""
    out = np.full(values.shape, np.nan)
    for k in np.unique(kind):
        rows = kind == k
        block = values[rows]
        count = np.sum(~np.isnan(block), axis=0)
        judged = count >= MIN_PEERS
        if not judged.any():
            continue
        # Only the columns with enough peers: the others would warn (all-NaN slices), and
        # silencing warnings is not safe in the threads of the web server.
        sub = block[:, judged]
        centre = np.full(block.shape[1], np.nan)
        scale = np.full(block.shape[1], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            if method == "z":
                centre[judged] = np.nanmean(sub, axis=0)
                scale[judged] = np.nanstd(sub, axis=0, ddof=1)
            else:
                centre[judged] = np.nanmedian(sub, axis=0)
                deviation = np.abs(sub - centre[judged])
                mad = _MAD_SCALE * np.nanmedian(deviation, axis=0)
                scale[judged] = np.where(mad > 0, mad,
                                         _MEAN_AD_SCALE * np.nanmean(deviation, axis=0))
            stat = (block - centre) / scale
        stat[:, ~judged | ~(scale > 0)] = np.nan
        out[rows] = stat
    return out


def _peer_figures(values, trusted, kind) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, T) median, lowest and highest trusted value of each kind on each topic."""
    n_kinds = int(kind.max()) + 1 if kind.size else 0
    shape = (n_kinds, values.shape[1])
    median, low, high = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    kept = np.where(trusted, values, np.nan)
    for k in range(n_kinds):
        block = kept[kind == k]
        have = np.any(~np.isnan(block), axis=0)
        if have.any():
            with _quiet():
                median[k, have] = np.nanmedian(block[:, have], axis=0)
                low[k, have] = np.nanmin(block[:, have], axis=0)
                high[k, have] = np.nanmax(block[:, have], axis=0)
    return median, low, high


def _beyond(stat: np.ndarray, limit: float | None) -> np.ndarray:
    if limit is None:
        return np.zeros(stat.shape, bool)
    with np.errstate(invalid="ignore"):
        return np.abs(stat) > limit


class _quiet:
    """nanmedian and friends warn on all-nan columns, which are expected here."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def _opt(x) -> float | None:
    return None if np.isnan(x) else round(float(x), 6)


def value_text(value: float, topic: Topic) -> Text:
    """A score with its unit, for people: "119 %", "4.27".

    >>> value_text(119.04561, Topic("anc", unit="%")), value_text(4.2, Topic("r"))
    ('119.046 %', '4.2')
    """
    shown = number(round(float(value), 3))
    return join([shown, topic.unit], " ") if topic.unit else shown


def _reason(check, value, topic, checks: Checks, stat, jump, median, kind) -> Text:
    shown = value_text(value, topic)
    if check == "range":
        if topic.minimum is not None and topic.maximum is not None:
            return _("{value} is outside the plausible range {range}", value=shown,
                     range=topic.range_text)
        if topic.maximum is not None and value > topic.maximum:
            return _("{value} is above the plausible maximum {maximum}", value=shown,
                     maximum=value_text(topic.maximum, topic))
        return _("{value} is below the plausible minimum {minimum}", value=shown,
                 minimum=value_text(topic.minimum, topic))
    if check == "outlier":
        return _("{value} is far from its peers ({kind} institutions: median {median}; "
                 "{measure} {statistic:.1f}, beyond {limit:g})", value=shown, kind=kind,
                 median=value_text(median, topic), measure=checks.measure,
                 statistic=float(stat), limit=checks.outlier_limit)
    before, period, peers = jump
    return _("{value} changed by {change:+.3g} since {period} (from {before}) while its peers "
             "changed by {peers:+.3g} (median); {measure} of the change {statistic:.1f}, beyond "
             "{limit:g}", value=shown, change=float(value - before), period=period,
             before=value_text(before, topic), peers=float(peers), measure=checks.measure,
             statistic=float(stat), limit=checks.jump_limit)
