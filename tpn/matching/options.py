"""Match options: one registry of name, default and help, used by the engine, the CLI and the docs.

>>> MatchOptions().mentor_capacity
2
>>> MatchOptions.from_mapping({"top_share": "0.25"}).top_share
0.25
>>> MatchOptions.from_mapping({"solver": "magic"})
Traceback (most recent call last):
...
tpn.matching.options.OptionsError: solver: 'magic' is not one of flow, cpsat
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..i18n import _

SOLVER_NAMES = ("flow", "cpsat")   # the registry is tpn.matching.SOLVERS
OUTLIER_METHODS = ("modified_z", "z", "none")


def _opt(default: Any, help: str, *, choices: tuple[str, ...] | None = None, group: str = "rules"):
    return field(default=default, metadata={"help": help, "choices": choices, "group": group})


class OptionsError(ValueError):
    """Options that break their rules: every problem, each a text for people."""

    def __init__(self, problems: list):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class MatchOptions:
    # -- eligibility ---------------------------------------------------------------------
    top_share: float = _opt(
        0.30,
        _("a mentor must be in this top share of its kind on the topic (or meet "
          "the topic's target)"),
    )
    min_gap: float = _opt(
        0.0,
        _("a mentor must be at least this many percentile points above the "
          "mentee (0: strictly better score is enough)"),
    )
    cross_kind: bool = _opt(False, _("allow mentors of another kind than the mentee"))
    max_distance_km: float | None = _opt(None,
                                         _("never pair institutions further apart than this"))
    same_region: bool = _opt(False, _("pair only institutions of the same region"))
    # -- capacity ------------------------------------------------------------------------
    mentor_capacity: int = _opt(
        2, _("mentees a mentor takes in total, unless its capacity column says otherwise"),
        group="capacity",
    )
    topic_capacity: int | None = _opt(
        None, _("mentees a mentor takes on any one topic (default: its total capacity)"),
        group="capacity",
    )
    # -- cost ----------------------------------------------------------------------------
    weight_gain: float = _opt(
        1.0, _("cost of a pair per 100 percentile points of gain it lacks (bigger "
               "gain is better)"),
        group="cost",
    )
    weight_distance: float = _opt(0.2, _("cost per 100 km between mentor and mentee"),
                                  group="cost")
    weight_size: float = _opt(
        0.3, _("cost per unit of |ln(size ratio)| (similar resources transfer better)"),
        group="cost"
    )
    weight_continuity: float = _opt(
        1.0, _("bonus for keeping a pair of the previous round"), group="cost"
    )
    weight_preference: float = _opt(
        0.2, _("bonus for a mentor the mentee asked for: all of it for its 1st "
               "choice, 2/3 for its 2nd, 1/3 for its 3rd (coverage always comes first)"),
               group="cost"
    )
    # -- solver --------------------------------------------------------------------------
    solver: str = _opt("flow", _("flow (min-cost flow) or cpsat (for the options below)"),
                       choices=SOLVER_NAMES, group="solver")
    max_partners: int | None = _opt(
        None, _("cpsat: at most this many distinct mentors per mentee"), group="solver"
    )
    max_changes: int | None = _opt(
        None, _("at most this many of the previous round's pairs may change, besides "
                "those that can no longer be kept (reruns)"), group="solver"
    )
    weight_same_mentor: float = _opt(
        0.0, _("cpsat: bonus per extra topic a mentee learns from the same mentor "
               "(fewer trips)"),
        group="solver",
    )
    weight_mutual: float = _opt(
        0.0, _("cpsat: bonus per mutual pair (A mentors B on one topic, B mentors A "
               "on another)"),
        group="solver",
    )
    balance_load: bool = _opt(
        False, _("cpsat: among optimal matchings prefer the smallest maximum mentor load"),
        group="solver",
    )
    time_limit: float = _opt(
        30.0, _("cpsat: limit in deterministic seconds (same limit, same answer on any "
                "machine)"),
        group="solver",
    )
    seed: int = _opt(0, _("cpsat: random seed"), group="solver")
    candidates: int = _opt(
        10, _("flow: mentors kept per request before the optimality certificate adds "
              "any others the optimum needs (0: keep every eligible mentor)"), group="solver",
    )
    # -- data quality (tpn.quality) -------------------------------------------------------
    outlier_method: str = _opt(
        "modified_z", _("how a score far from its peers (same kind, topic and period) is "
                        "found: modified_z (median-based), z (mean and standard deviation) or "
                        "none"),
        choices=OUTLIER_METHODS, group="data quality",
    )
    outlier_threshold: float | None = _opt(
        None, _("a score this many (modified) z units from its peers is flagged "
                "(default: 3.5 for modified_z, 3 for z)"), group="data quality",
    )
    jump_threshold: float | None = _opt(
        None, _("a change since the previous period this many (modified) z units from "
                "its peers' changes is flagged (default: as outlier_threshold)"), group="data "
                                                                                        "quality",
    )
    ignore_flags: bool = _opt(
        False, _("trust every score, flagged or not, in this run"), group="data quality",
    )
    # -- explanations --------------------------------------------------------------------
    alternatives: int = _opt(3, _("next-best mentors listed per pair"), group="output")

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.top_share <= 1:
            problems.append(_("top_share: {value} must be above 0 and at most 1",
                              value=self.top_share))
        for name in ("min_gap", "weight_gain", "weight_distance", "weight_size",
                     "weight_continuity", "weight_preference", "weight_same_mentor",
                     "weight_mutual", "mentor_capacity", "topic_capacity", "max_distance_km",
                     "max_changes", "candidates", "alternatives"):
            value = getattr(self, name)
            if value is not None and value < 0:
                problems.append(_("{name}: {value} must not be negative", name=name,
                                  value=value))
        if self.max_partners is not None and self.max_partners < 1:
            problems.append(_("max_partners: {value} must be at least 1",
                              value=self.max_partners))
        if self.time_limit <= 0:
            problems.append(_("time_limit: {value} must be positive", value=self.time_limit))
        for name in ("outlier_threshold", "jump_threshold"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                problems.append(_("{name}: {value} must be above 0", name=name,
                                  value=getattr(self, name)))
        for name, value, choices in (("outlier_method", self.outlier_method, OUTLIER_METHODS),
                                     ("solver", self.solver, SOLVER_NAMES)):
            if value not in choices:
                problems.append(_("{name}: {value!r} is not one of {choices}", name=name,
                                  value=value, choices=", ".join(choices)))
        if self.solver == "flow" and self.needs_cpsat:
            problems.append(_("max_partners, weight_same_mentor, weight_mutual and balance_load "
                              "need solver cpsat"))
        if problems:
            raise OptionsError(problems)

    @property
    def needs_cpsat(self) -> bool:
        return (
            self.max_partners is not None
            or self.weight_same_mentor > 0
            or self.weight_mutual > 0
            or self.balance_load
        )

    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "MatchOptions":
        """Options from text values (a form, a command line); unknown names fail loudly."""
        known = {f.name: f for f in cls.fields()}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise OptionsError([_("unknown option(s): {names}", names=", ".join(unknown))])
        parsed = {name: parse_value(known[name], raw) for name, raw in values.items()}
        return cls(**parsed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_value(f: dataclasses.Field, raw: Any) -> Any:
    """Turn a text value into the option's type, with the option's name in any error."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    kind = str(f.type)
    try:
        if "None" in kind and text.lower() in ("", "none"):
            return None
        if kind.startswith("bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            # A decimal comma, as French and many other languages write it.
            return float(text.replace(",", ".") if text.count(",") == 1 and "." not in text
                         else text)
    except ValueError:
        said = (_("{name}: {raw!r} is not yes or no", name=f.name, raw=raw)
                if kind.startswith("bool") else
                _("{name}: {raw!r} is not a whole number", name=f.name, raw=raw)
                if kind.startswith("int") else
                _("{name}: {raw!r} is not a number", name=f.name, raw=raw))
        raise OptionsError([said]) from None
    if f.metadata.get("choices") and text not in f.metadata["choices"]:
        raise OptionsError([_("{name}: {raw!r} is not one of {choices}", name=f.name, raw=raw,
                              choices=", ".join(f.metadata["choices"]))])
    return text
