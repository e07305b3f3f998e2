"""The data-quality report, for the data officers who can fix the source: per topic and
period (and region) the values, the missing ones and the flags by check, then every flagged
score (the checks are ``tpn.quality``'s)."""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import Text, _
from ..models import Flag, Network, period_key
from ..quality import CHECKS, MIN_PEERS, Acceptances, Checks, find_flags


@dataclass(frozen=True)
class QualityCount:
    """Scores of one topic in one period (and one region, or all): how many there are, how
    many are missing, and how many each check flagged (accepted ones included)."""

    topic_id: str
    period: str
    region: str | None
    institutions: int           # of the kinds the topic applies to
    values: int
    out_of_range: int
    outliers: int
    jumps: int
    accepted: int

    @property
    def missing(self) -> int:
        return self.institutions - self.values

    @property
    def flagged(self) -> int:
        return self.out_of_range + self.outliers + self.jumps


@dataclass(frozen=True)
class QualityReport:
    checks: Checks
    counts: tuple[QualityCount, ...]        # per topic and period, all regions
    by_region: tuple[QualityCount, ...]     # per topic, period and region
    flags: tuple[Flag, ...]

    @property
    def untrusted(self) -> int:
        """Flagged scores nobody accepted: the engine treats them as missing."""
        return sum(not f.accepted for f in self.flags)

    def summary(self) -> Text:
        """One line for an import or a match: how many scores are flagged, and by which check.

        >>> QualityReport(Checks(), (), (), ()).summary()
        'no score flagged'
        """
        if not self.flags:
            return _("no score flagged")
        by_check = {c: sum(f.check == c for f in self.flags) for c in CHECKS}
        accepted = len(self.flags) - self.untrusted
        said = dict(n=len(self.flags), range=by_check["range"], outliers=by_check["outlier"],
                    jumps=by_check["jump"])
        if accepted:
            return _("{n} score(s) flagged ({range} out of range, {outliers} outlier(s), "
                     "{jumps} jump(s); {accepted} accepted)", accepted=accepted, **said)
        return _("{n} score(s) flagged ({range} out of range, {outliers} outlier(s), {jumps} "
                 "jump(s))", **said)

    def describe(self) -> Text:
        """The checks that ran, for people."""
        if self.checks.outlier_limit is None:
            return _("plausible ranges (groups of at least {n} peers)", n=MIN_PEERS)
        return _("plausible ranges; outliers: {measure} beyond {outlier:g}; jumps: {measure} "
                 "of the change beyond {jump:g} (groups of at least {n} peers)",
                 measure=self.checks.measure, outlier=self.checks.outlier_limit,
                 jump=self.checks.jump_limit, n=MIN_PEERS)


def quality_report(network: Network, checks: Checks = Checks(),
                   accepted: Acceptances | None = None) -> QualityReport:
    """Every topic and period (and region): values, missing, and flags by check.

    >>> from tpn.samples import rwanda
    >>> report = quality_report(rwanda())
    >>> report.summary(), len(report.counts) == 2 * len(rwanda().topics)
    ('no score flagged', True)
    """
    flags = find_flags(network, checks, accepted)
    flagged_by = {(f.institution_id, f.topic_id, f.period): f for f in flags}
    region_of = {i.id: i.region or "" for i in network.institutions}
    counts: list[QualityCount] = []
    by_region: list[QualityCount] = []
    for snap in sorted(network.snapshots, key=lambda s: period_key(s.period)):
        for topic in sorted(network.topics, key=lambda t: t.id):
            # Per region: institutions, values, out of range, outliers, jumps, accepted.
            tally: dict[str, list[int]] = {}
            for inst in network.institutions:
                # An external partner has no scores to miss.
                if not topic.applies_to(inst.kind) or inst.external:
                    continue
                row = tally.setdefault(region_of[inst.id], [0] * 6)
                row[0] += 1
                row[1] += (inst.id, topic.id) in snap.scores
                flag = flagged_by.get((inst.id, topic.id, snap.period))
                if flag is not None:
                    row[2 + CHECKS.index(flag.check)] += 1
                    row[5] += flag.accepted
            for region in sorted(tally):
                by_region.append(QualityCount(topic.id, snap.period, region, *tally[region]))
            total = [sum(column) for column in zip(*tally.values())] or [0] * 6
            counts.append(QualityCount(topic.id, snap.period, None, *total))
    return QualityReport(checks, tuple(counts), tuple(by_region), tuple(flags))
