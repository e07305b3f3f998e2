"""The domain model: plain, frozen data that every layer shares.

Nothing here reads files, talks to a database or solves anything. The engine takes
these objects and returns them; the readers in ``tpn.tabular`` build them.

>>> h = Institution("kabgayi", "Kabgayi Hospital", "hospital", size=350)
>>> t = Topic("readmission", "30-day readmission", direction="lower")
>>> t.orient(4.0) > t.orient(6.0)   # lower is better: 4 % beats 6 %
True
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping

from .errors import NotFoundError
from .i18n import _

Direction = Literal["higher", "lower"]
DEFAULT_ROUND = "1"     # focus topics belong to a round; the first is "1"
DIRECTIONS: tuple[str, ...] = ("higher", "lower")


@dataclass(frozen=True, slots=True)
class Institution:
    """One node of the network: a hospital, a district health office, a health centre…

    ``capacity`` is how many mentees it may take in total; ``None`` means the match
    option ``mentor_capacity`` applies and ``0`` means it does not mentor.

    An ``external`` partner (an overseas hospital, a university: the AIHA model's
    north-south twinning) needs no scores: it mentors on the topics a facilitator offered
    it on (``mentors_on``), and there only, counting as a high performer.
    """

    id: str
    name: str
    kind: str
    region: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    size: float | None = None
    capacity: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False, compare=True)
    external: bool = False
    mentors_on: tuple[str, ...] = ()     # topic ids, sorted; an external partner's alone

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True, slots=True)
class Topic:
    """An improvement area measured by one indicator.

    ``kinds`` lists the kinds of institution the topic applies to (empty: all kinds).
    ``target``, when set, makes every institution that reaches it a high performer.
    ``minimum`` and ``maximum`` bound the values a correct score can take (a retention
    rate cannot pass 100 %); a value outside them is flagged (see ``tpn.quality``).
    """

    id: str
    name: str = ""
    direction: Direction = "higher"
    kinds: frozenset[str] = frozenset()
    target: float | None = None
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def applies_to(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds

    def plausible(self, value: float) -> bool:
        """Whether a value lies within the topic's plausible range (bounds included).

        >>> Topic("anc", minimum=0, maximum=100).plausible(119.0)
        False
        """
        return not ((self.minimum is not None and value < self.minimum)
                    or (self.maximum is not None and value > self.maximum))

    @property
    def range_text(self) -> str:
        """The plausible range for people: "0–100 %", "at least 0", "" when there is none."""
        unit = f" {self.unit}" if self.unit else ""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return _("{low:g}–{high:g}{unit}", low=low, high=high, unit=unit)
        if low is not None:
            return _("at least {low:g}{unit}", low=low, unit=unit)
        if high is not None:
            return _("at most {high:g}{unit}", high=high, unit=unit)
        return ""

    def orient(self, value: float) -> float:
        """The score turned so that higher is always better."""
        return value if self.direction == "higher" else -value

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class Flag:
    """A score that a data-quality check does not trust, and why (``tpn.quality``).

    ``check`` is ``range`` (outside the topic's plausible range), ``outlier`` (far from
    its peers of the same kind, topic and period) or ``jump`` (its change since the
    previous period is far from its peers' changes). ``statistic`` is the z-score behind
    an outlier or a jump. ``peer_median``, ``peer_low`` and ``peer_high`` describe the
    unflagged values of its peer group. An accepted flag was checked by a facilitator:
    the value is then trusted.
    """

    institution_id: str
    topic_id: str
    period: str
    value: float
    check: str
    reason: str
    statistic: float | None = None
    peer_median: float | None = None
    peer_low: float | None = None
    peer_high: float | None = None
    accepted_by: str | None = None
    accepted_at: str | None = None

    @property
    def accepted(self) -> bool:
        return self.accepted_by is not None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The scores of all institutions at one period; a missing key is a missing value.

    ``flags`` holds the scores a data-quality check does not trust: the engine treats them
    as missing (never a mentor on them; a mentee's gain is estimated) and says so.
    """

    period: str
    scores: Mapping[tuple[str, str], float] = field(default_factory=dict, hash=False)
    flags: Mapping[tuple[str, str], Flag] = field(default_factory=dict, hash=False)

    def value(self, institution_id: str, topic_id: str) -> float | None:
        return self.scores.get((institution_id, topic_id))

    def trusted(self, institution_id: str, topic_id: str) -> float | None:
        """The score, or None when it is missing or flagged."""
        if (institution_id, topic_id) in self.flags:
            return None
        return self.scores.get((institution_id, topic_id))


@dataclass(frozen=True, slots=True)
class FocusRequest:
    """An institution's choice of a topic to improve; priority 1 is the most important.
    ``preferred``: the mentors it would like to learn from, its first choice first (at most
    ``MAX_PREFERRED``); keeping one earns the preference bonus (``weight_preference``)."""

    institution_id: str
    topic_id: str
    priority: int = 1
    preferred: tuple[str, ...] = ()


MAX_PREFERRED = 3       # preferred mentors an institution may rank per topic


_WEEK_START = {"Wed": 2, "Thu": 3, "Sat": 5, "Sun": 6}      # days after ISO's Monday
_FINANCIAL = {"April": 4, "July": 7, "Oct": 10, "Nov": 11}


def period_start(period: str) -> dt.date | None:
    """The first day of a DHIS2 period id, of every period type; None for other ids.

    >>> [str(period_start(p)) for p in ["2024", "202403", "20240315", "202403B", "2024Q2",
    ...                                 "2024S2", "2024AprilS2", "2024NovS2", "2024W10",
    ...                                 "2024BiW2", "2024July", "current"]]
    ['2024-01-01', '2024-03-01', '2024-03-15', '2024-03-01', '2024-04-01', '2024-07-01', '2024-10-01', '2025-05-01', '2024-03-04', '2024-01-15', '2024-07-01', 'None']
    """
    m = re.fullmatch(r"(\d{4})(?:(\d{2})(\d{2})?B?|Q([1-4])|S([12])|(April|Nov)S([12])"
                     r"|(Wed|Thu|Sat|Sun)?W(\d{1,2})|BiW(\d{1,2})|(April|July|Oct|Nov))?",
                     period)
    if m is None:
        return None
    (year, month, day, quarter, half, half_from, half_of_that, week_day, week, biweek,
     financial) = m.groups()
    y = int(year)
    try:
        if day:
            return dt.date(y, int(month), int(day))
        if month:
            return dt.date(y, int(month), 1) if not period.endswith("B") or \
                int(month) % 2 == 1 else None
        if quarter:
            return dt.date(y, 3 * int(quarter) - 2, 1)
        if half:
            return dt.date(y, 1 if half == "1" else 7, 1)
        if half_from == "April":
            return dt.date(y, 4 if half_of_that == "1" else 10, 1)
        if half_from == "Nov":
            return dt.date(y, 11, 1) if half_of_that == "1" else dt.date(y + 1, 5, 1)
        if week:
            return dt.date.fromisocalendar(y, int(week), 1) + \
                dt.timedelta(days=_WEEK_START.get(week_day, 0))
        if biweek:
            return dt.date.fromisocalendar(y, 2 * int(biweek) - 1, 1)
        if financial:
            return dt.date(y, _FINANCIAL[financial], 1)
        return dt.date(y, 1, 1)
    except ValueError:          # month 13, week 54, day 31 of February…
        return None


def period_key(period: str) -> tuple:
    """Sort key of a period id: DHIS2's periods by their first day (2024W9 before 2024W10,
    2024Q2 before 2024Q10… across period types too); other ids after them, numbers inside
    compared as numbers.

    >>> sorted(["2024W10", "2024W9", "2023W52", "2024Q1"], key=period_key)
    ['2023W52', '2024Q1', '2024W9', '2024W10']
    >>> sorted(["2024", "2023", "current"], key=period_key)
    ['2023', '2024', 'current']
    """
    start = period_start(period)
    if start is not None:
        return (0, start.toordinal(), (), period)
    return (1, 0, tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                        for part in re.findall(r"\d+|\D+", period)), period)


def unknown_periods(periods) -> list[str]:
    """The period ids that are none of DHIS2's period types (ordered as text among
    themselves, after the others)."""
    return [p for p in periods if period_start(p) is None]


@dataclass(frozen=True, slots=True)
class Network:
    """Everything a workbook holds: institutions, topics, score snapshots and focus topics."""

    institutions: tuple[Institution, ...]
    topics: tuple[Topic, ...]
    snapshots: tuple[Snapshot, ...] = ()
    focus: tuple[FocusRequest, ...] = ()

    @property
    def periods(self) -> list[str]:
        return [s.period for s in self.snapshots]

    def snapshot(self, period: str | None = None) -> Snapshot:
        """The snapshot of ``period``, or the latest one (in time order, ``period_key``)."""
        if not self.snapshots:
            raise NotFoundError(_("the network has no scores: add a scores sheet"))
        if period is None:
            return max(self.snapshots, key=lambda s: period_key(s.period))
        for s in self.snapshots:
            if s.period == period:
                return s
        raise NotFoundError(
            _("no scores for period {period!r}; the network has: {join}", period=period,
              join=', '.join(self.periods))
        )


# --- matching input --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lock:
    """A pair that must stay (a partnership under way)."""

    mentee_id: str
    topic_id: str
    mentor_id: str


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A pair never to make; ``topic_id`` None excludes the pair on every topic."""

    mentee_id: str
    mentor_id: str
    topic_id: str | None = None


@dataclass(frozen=True, slots=True)
class PreviousPair:
    """A pair of an earlier round; keeping it earns the continuity bonus."""

    mentee_id: str
    topic_id: str
    mentor_id: str


@dataclass(frozen=True, slots=True)
class MatchProblem:
    """What one match run needs: the network at one period, its requests and the fixed rules."""

    institutions: tuple[Institution, ...]
    topics: tuple[Topic, ...]
    snapshot: Snapshot
    requests: tuple[FocusRequest, ...]
    locks: tuple[Lock, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    previous: tuple[PreviousPair, ...] = ()

    @classmethod
    def from_network(
        cls,
        network: Network,
        period: str | None = None,
        focus: tuple[FocusRequest, ...] | None = None,
        locks: tuple[Lock, ...] = (),
        exclusions: tuple[Exclusion, ...] = (),
        previous: tuple[PreviousPair, ...] = (),
    ) -> "MatchProblem":
        return cls(
            institutions=network.institutions,
            topics=network.topics,
            snapshot=network.snapshot(period),
            requests=tuple(network.focus if focus is None else focus),
            locks=tuple(locks),
            exclusions=tuple(exclusions),
            previous=tuple(previous),
        )


# --- matching output -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostTerms:
    """The parts of a pair's cost, in cost points (lower is better)."""

    gain: float
    distance: float
    size: float
    continuity: float
    preference: float = 0.0

    @property
    def total(self) -> float:
        return self.gain + self.distance + self.size + self.continuity + self.preference


@dataclass(frozen=True, slots=True)
class Alternative:
    """A next-best eligible mentor for a request, and why it was not chosen."""

    mentor_id: str
    cost: float
    gain: float
    distance_km: float | None
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Pair:
    """One twinning pair on one topic, with the figures that explain it."""

    mentee_id: str
    mentor_id: str
    topic_id: str
    priority: int
    mentee_score: float | None
    mentor_score: float | None          # None: an external partner, without scores
    mentee_percentile: float | None
    mentor_percentile: float
    gain: float
    gain_estimated: bool
    distance_km: float | None
    size_ratio: float | None
    cost: CostTerms
    locked: bool = False
    continued: bool = False
    alternatives: tuple[Alternative, ...] = ()
    why: str = ""
    preferred: int = 0          # the mentor's rank among the mentee's choices (0: none)


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A request nobody could serve, why not, and what would fix it."""

    institution_id: str
    topic_id: str
    priority: int
    reason: str
    detail: str
    fix: str
    eligible_mentors: int = 0       # mentors every rule allows: all of them are taken


@dataclass(frozen=True, slots=True)
class RejectedLock:
    """A lock that could not be honoured, and why."""

    lock: Lock
    reason: str


@dataclass(frozen=True)
class MatchResult:
    pairs: tuple[Pair, ...]
    unmatched: tuple[Unmatched, ...]
    rejected_locks: tuple[RejectedLock, ...]
    solver: str
    optimal: bool
    objective: Mapping[str, float]
    timings: Mapping[str, float]
    options: Mapping[str, object]

    @property
    def request_count(self) -> int:
        return len(self.pairs) + len(self.unmatched)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres.

    >>> round(haversine_km(-1.95, 30.06, -2.60, 29.74))   # Kigali to Huye, straight line
    81
    """
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
