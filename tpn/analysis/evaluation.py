"""Evaluation (step 6 of the cycle): did institutions improve more on the topics they chose,
beyond what regression to the mean gives for free?

Why adjust. Institutions choose — and tpn suggests — their *weakest* topics, and routine
scores carry measurement error: a score that was low partly by chance is higher next time
with no help at all. The chose group then improves more even when the network did
nothing, so a comparison of raw changes reports an effect that is not there.

For each topic and each kind it applies to, between two snapshots, over the institutions of
the kind with a trusted (unflagged) score at both periods, oriented so that a positive
figure is an improvement also for "lower is better" topics, in the topic's units:

- **estimate** (the primary result, ANCOVA): the coefficient of *chose* in the regression of
  the follow-up score on the baseline score, the institution's *standing* (its mean z-score
  within its kind over its other topics at baseline: choosing one's weakest topics depends on
  how the others compare) and *chose* (and, with ``by_region``, a fixed effect per region),
  with a heteroskedasticity-robust (HC3) standard error and a t interval. It is unbiased when
  the choice depends on the observed baselines, as tpn's suggestions do; it cannot remove a
  choice made for reasons that also drive improvement (a new manager, a funded project).
- **unadjusted**: the difference of mean changes with Welch's interval, kept visible and
  labelled; ``regression_to_mean`` is set when it differs from the estimate by more than its
  own standard error.
- **mentored**: among the institutions that chose the topic, those with a partnership on it
  against those without (mentors' places ran out), with the same adjustment: the comparison
  closest to "did the partnership help". Those mentored by an external partner (no scores,
  another kind of help) are counted apart (``n_external``), in neither group.
- **mde**: the smallest effect each comparison could detect with 80 % power at the chosen
  confidence, ``(t(1 - α/2) + t(0.8)) × standard error`` (Bloom 1995), so that "no clear
  difference" can be read for what it is worth.

Fewer than ``MIN_GROUP`` institutions in a group gives no interval, and says so.

>>> from tpn.samples import rwanda
>>> effects = evaluate(rwanda(), "2023", "2024")
>>> cbhi = next(e for e in effects if e.topic_id == "cbhi")
>>> cbhi.kind, cbhi.method, cbhi.n_chose + cbhi.n_other
('district', 'ancova', 30)
>>> cbhi.ci_low < cbhi.estimate < cbhi.ci_high
True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
from scipy import stats

from ..errors import InputError, Problem
from ..i18n import _, join
from ..models import FocusRequest, Network, Snapshot, Topic

METHOD = "ancova"
MIN_GROUP = 3       # institutions per group below which no interval is given
POWER = 0.8


@dataclass(frozen=True)
class TopicEffect:
    topic_id: str
    kind: str
    confidence: float
    method: str
    adjusted_for: str
    n_chose: int
    n_other: int
    n_flagged: int                      # left out: a flagged score at either period
    estimate: float | None              # adjusted effect of choosing the topic
    ci_low: float | None
    ci_high: float | None
    se: float | None
    p_value: float | None
    mde: float | None                   # smallest effect detectable with 80 % power
    mean_change_chose: float | None
    mean_change_other: float | None
    unadjusted_difference: float | None
    unadjusted_ci_low: float | None
    unadjusted_ci_high: float | None
    unadjusted_se: float | None
    regression_to_mean: bool            # the unadjusted figure is off by more than its se
    n_mentored: int
    n_unmentored: int
    mentored_estimate: float | None
    mentored_ci_low: float | None
    mentored_ci_high: float | None
    mentored_se: float | None
    mentored_mde: float | None
    note: str = ""
    mentored_note: str = ""
    n_external: int = 0                 # chose it and learnt from an external partner

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def warning(self) -> str:
        """What a reader of the unadjusted difference must know, or ""."""
        if not self.regression_to_mean:
            return ""
        excess = self.unadjusted_difference - self.estimate
        if excess > 0:
            return _("the unadjusted difference ({difference:+.2f}) overstates the effect by "
                     "{excess:.2f}: the institutions that chose the topic started lower and "
                     "would have risen anyway (regression to the mean); read the adjusted "
                     "estimate", difference=self.unadjusted_difference, excess=excess)
        return _("the unadjusted difference ({difference:+.2f}) understates the effect by "
                 "{excess:.2f}: the groups started at different levels; read the adjusted "
                 "estimate", difference=self.unadjusted_difference, excess=-excess)


@dataclass(frozen=True)
class PairChange:
    mentee_id: str
    mentor_id: str
    topic_id: str
    mentee_before: float | None
    mentee_after: float | None
    mentor_before: float | None
    mentor_after: float | None

    @property
    def mentee_change(self) -> float | None:
        if self.mentee_before is None or self.mentee_after is None:
            return None
        return self.mentee_after - self.mentee_before


@dataclass(frozen=True)
class Evaluation:
    """An evaluation as the CLI, the report, the app and the API show it."""

    title: str
    from_period: str
    to_period: str
    confidence: float
    effects: tuple[TopicEffect, ...]
    pairs: tuple[PairChange, ...]

    def as_dict(self) -> dict:
        return {"title": self.title, "from": self.from_period, "to": self.to_period,
                "confidence": self.confidence,
                "effects": [e.as_dict() for e in self.effects],
                "pairs": [asdict(p) for p in self.pairs]}


@dataclass(frozen=True)
class _Fit:
    estimate: float
    low: float
    high: float
    se: float
    p_value: float
    mde: float


def difference_interval(chose: np.ndarray, other: np.ndarray,
                        confidence: float = 0.95) -> tuple[float, float, float, float]:
    """(difference of means, low, high, standard error) with Welch's t interval.

    >>> diff, low, high, se = difference_interval(np.array([5.0, 6, 7, 8]), np.array([1.0, 2, 3, 4]))
    >>> diff, round(low, 2), round(high, 2)
    (4.0, 1.77, 6.23)
    """
    diff = float(chose.mean() - other.mean())
    v1, v2 = chose.var(ddof=1) / chose.size, other.var(ddof=1) / other.size
    se = math.sqrt(v1 + v2)
    if se == 0:
        return diff, diff, diff, 0.0
    df = (v1 + v2) ** 2 / (v1 ** 2 / (chose.size - 1) + v2 ** 2 / (other.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return diff, diff - half, diff + half, se


def adjusted_effect(after: np.ndarray, covariates: np.ndarray, treated: np.ndarray,
                    confidence: float = 0.95) -> _Fit | None:
    """The coefficient of ``treated`` in the OLS of ``after`` on an intercept, the
    ``covariates`` columns and ``treated``, with an HC3 robust interval; None when the design
    cannot identify it."""
    import statsmodels.api as sm

    design = np.column_stack([np.ones(after.size), covariates, treated.astype(float)])
    # Drop covariates that do not vary or repeat others: they add nothing and break the fit.
    keep = [0]
    for k in range(1, design.shape[1]):
        trial = design[:, keep + [k]]
        if np.linalg.matrix_rank(trial) == len(keep) + 1:
            keep.append(k)
    if keep[-1] != design.shape[1] - 1 or after.size - len(keep) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = sm.OLS(after, design[:, keep]).fit(cov_type="HC3", use_t=True)
    se = float(fit.bse[-1])
    if not math.isfinite(se):
        return None
    low, high = fit.conf_int(alpha=1 - confidence)[-1]
    df = float(fit.df_resid)
    mde = (stats.t.ppf(0.5 + confidence / 2, df) + stats.t.ppf(POWER, df)) * se
    return _Fit(float(fit.params[-1]), float(low), float(high), se, float(fit.pvalues[-1]),
                float(mde))


def evaluate(network: Network, from_period: str, to_period: str,
             focus: Iterable[FocusRequest] | None = None,
             partnerships: Iterable[tuple[str, str, str]] = (), confidence: float = 0.95,
             by_region: bool = False) -> list[TopicEffect]:
    """One effect per topic and kind. ``focus`` defaults to the network's focus topics;
    ``partnerships`` are (mentee, mentor, topic) of the round, for the mentored contrast.
    Flagged scores (``Snapshot.flags``) are left out and counted."""
    if not 0 < confidence < 1:
        raise InputError(Problem("", None, None, "--confidence",
                                 _("{confidence} is not between 0 and 1", confidence=confidence),
                                 _("for example 0.95")))
    before, after = network.snapshot(from_period), network.snapshot(to_period)
    chosen = {(f.institution_id, f.topic_id) for f in (network.focus if focus is None else focus)}
    externals = {i.id for i in network.institutions if i.external}
    partnerships = list(partnerships)
    mentored = {(mentee, topic) for mentee, mentor, topic in partnerships
                if mentor not in externals}
    by_partner = {(mentee, topic) for mentee, mentor, topic in partnerships if mentor in externals}
    standing = _standing(network, before)
    adjusted_for = (_("baseline, standing on its other topics, region") if by_region else
                    _("baseline, standing on its other topics"))
    out = []
    for topic in sorted(network.topics, key=lambda t: t.id):
        kinds = sorted({i.kind for i in network.institutions if topic.applies_to(i.kind)})
        for kind in kinds:
            rows, flagged = [], 0
            for inst in sorted(network.institutions, key=lambda i: i.id):
                if inst.kind != kind:
                    continue
                a, b = before.value(inst.id, topic.id), after.value(inst.id, topic.id)
                if a is None or b is None:
                    continue
                if (inst.id, topic.id) in before.flags or (inst.id, topic.id) in after.flags:
                    flagged += 1
                    continue
                rows.append((topic.orient(a), topic.orient(b), standing.get((inst.id, topic.id),
                                                                             0.0),
                             inst.region or "", (inst.id, topic.id) in chosen,
                             (inst.id, topic.id) in mentored,
                             (inst.id, topic.id) in by_partner and (inst.id, topic.id)
                             not in mentored))
            out.append(_effect(topic, kind, rows, flagged, confidence, by_region, adjusted_for))
    return out


def _effect(topic: Topic, kind: str, rows, flagged: int, confidence: float, by_region: bool,
            adjusted_for: str) -> TopicEffect:
    base = np.array([r[0] for r in rows], float)
    follow = np.array([r[1] for r in rows], float)
    standing = np.array([r[2] for r in rows], float)
    regions = [r[3] for r in rows]
    chose = np.array([r[4] for r in rows], bool)
    mentor = np.array([r[5] for r in rows], bool)
    external = np.array([r[6] for r in rows], bool)
    change = follow - base
    n_chose, n_other = int(chose.sum()), int((~chose).sum())
    covariates = np.column_stack([base, standing] + (_region_columns(regions) if by_region
                                                     else []))
    blank = dict(estimate=None, ci_low=None, ci_high=None, se=None, p_value=None, mde=None,
                 unadjusted_difference=None, unadjusted_ci_low=None, unadjusted_ci_high=None,
                 unadjusted_se=None)
    figures, note = dict(blank), ""
    if n_chose < MIN_GROUP or n_other < MIN_GROUP:
        note = _("too few institutions to estimate: {chose} chose the topic, {other} did not "
                 "(at least {minimum} in each group)", chose=n_chose, other=n_other,
                 minimum=MIN_GROUP)
    else:
        fit = adjusted_effect(follow, covariates, chose, confidence)
        diff, low, high, se = difference_interval(change[chose], change[~chose], confidence)
        figures.update(unadjusted_difference=diff, unadjusted_ci_low=low,
                       unadjusted_ci_high=high, unadjusted_se=se)
        if fit is None:
            note = _("the groups cannot be told apart from the baseline and region: no estimate")
        else:
            figures.update(estimate=fit.estimate, ci_low=fit.low, ci_high=fit.high, se=fit.se,
                           p_value=fit.p_value, mde=fit.mde)
    among = chose & ~external
    n_mentored, n_unmentored = int((mentor & among).sum()), int((~mentor & among).sum())
    n_external = int((chose & external).sum())
    mentored, mentored_note = dict(estimate=None, low=None, high=None, se=None, mde=None), ""
    if n_mentored < MIN_GROUP or n_unmentored < MIN_GROUP:
        mentored_note = _("too few to compare: {mentored} of those that chose it had a mentor, "
                          "{unmentored} did not (at least {minimum} in each group)",
                          mentored=n_mentored, unmentored=n_unmentored, minimum=MIN_GROUP)
    else:
        fit = adjusted_effect(follow[among], covariates[among], mentor[among], confidence)
        if fit is not None:
            mentored = dict(estimate=fit.estimate, low=fit.low, high=fit.high, se=fit.se,
                            mde=fit.mde)
        mentored_note = _("those without a mentor are the requests left when mentors' places "
                          "ran out: often further from, or less like, the high performers, or "
                          "on the most demanded topics; the adjustment covers their baseline "
                          "only")
    if n_external:
        mentored_note = join([mentored_note, _("{n} that learnt from an external partner are "
                                               "counted apart, in neither group", n=n_external)])
    regression = (figures["estimate"] is not None and figures["unadjusted_se"] is not None
                  and abs(figures["unadjusted_difference"] - figures["estimate"])
                  > figures["unadjusted_se"])
    return TopicEffect(
        topic.id, kind, confidence, METHOD, adjusted_for, n_chose, n_other, flagged,
        figures["estimate"], figures["ci_low"], figures["ci_high"], figures["se"],
        figures["p_value"], figures["mde"],
        float(change[chose].mean()) if n_chose else None,
        float(change[~chose].mean()) if n_other else None,
        figures["unadjusted_difference"], figures["unadjusted_ci_low"],
        figures["unadjusted_ci_high"], figures["unadjusted_se"], bool(regression),
        n_mentored, n_unmentored, mentored["estimate"], mentored["low"], mentored["high"],
        mentored["se"], mentored["mde"], note, mentored_note, n_external)


def _standing(network: Network, snapshot: Snapshot) -> dict[tuple[str, str], float]:
    """(institution, topic) -> the institution's mean z-score within its kind over its
    *other* topics with a trusted score at ``snapshot`` (0 when it has none)."""
    z: dict[str, dict[str, float]] = {}
    for topic in network.topics:
        by_kind: dict[str, list[tuple[str, float]]] = {}
        for inst in network.institutions:
            v = snapshot.trusted(inst.id, topic.id)
            if v is not None and topic.applies_to(inst.kind):
                by_kind.setdefault(inst.kind, []).append((inst.id, topic.orient(v)))
        for members in by_kind.values():
            values = np.array([v for _i, v in members])
            sd = values.std(ddof=1) if values.size > 1 else 0.0
            for inst_id, v in members:
                z.setdefault(inst_id, {})[topic.id] = (v - values.mean()) / sd if sd > 0 else 0.0
    out = {}
    for inst_id, scores in z.items():
        total, count = sum(scores.values()), len(scores)
        for topic_id, own in scores.items():
            out[(inst_id, topic_id)] = (total - own) / (count - 1) if count > 1 else 0.0
    return out


def _region_columns(regions: list[str]) -> list[np.ndarray]:
    """One 0/1 column per region but the first; regions of one institution are pooled (a
    lone member would have leverage 1, and no robust standard error)."""
    counts: dict[str, int] = {}
    for r in regions:
        counts[r] = counts.get(r, 0) + 1
    named = sorted(r for r, n in counts.items() if n >= 2)
    return [np.array([r == name for r in regions], float) for name in named[1:]]


def pair_changes(network: Network, from_period: str, to_period: str,
                 pairs: Iterable[tuple[str, str, str]]) -> list[PairChange]:
    """Mentee and mentor before and after (trusted scores), for each (mentee, mentor, topic)."""
    before, after = network.snapshot(from_period), network.snapshot(to_period)
    return [PairChange(mentee, mentor, topic, before.trusted(mentee, topic),
                       after.trusted(mentee, topic), before.trusted(mentor, topic),
                       after.trusted(mentor, topic))
            for mentee, mentor, topic in sorted(pairs)]
