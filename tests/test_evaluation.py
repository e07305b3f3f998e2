"""Evaluation on simulated networks where the truth is known: institutions focus on their
weakest topics and scores regress to the mean, so raw changes show an "effect" that is not
there; the adjusted estimate must not. Seeded, and quick enough for every run (the larger
study is benchmarks/evaluation_study.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tpn.analysis.evaluation import evaluate, pair_changes
from tpn.models import Flag, FocusRequest, Institution, Network, Snapshot, Topic

from simulation import partners, simulated

TRIALS = 400
# Out of 400 intervals at 95 %, about 20 miss; 2.5 binomial standard deviations above is 31.
MISSES_ALLOWED = 31


def misses(effects, truth: float, low="ci_low", high="ci_high") -> bool:
    e = effects[0]
    return not (getattr(e, low) <= truth <= getattr(e, high))


@pytest.mark.parametrize("focus", ["weakest", "random"])
def test_with_no_effect_zero_is_excluded_at_no_more_than_the_nominal_rate(focus):
    adjusted = raw = 0
    for seed in range(TRIALS):
        effects = evaluate(simulated(seed, focus=focus), "before", "after")
        adjusted += misses(effects, 0.0)
        raw += misses(effects, 0.0, "unadjusted_ci_low", "unadjusted_ci_high")
    assert adjusted <= MISSES_ALLOWED, adjusted
    if focus == "weakest":
        # What the unadjusted comparison of raw changes says on the same networks: "it
        # worked", nearly every time.
        assert raw > TRIALS * 0.8, raw


@pytest.mark.parametrize("focus", ["weakest", "random"])
def test_a_planted_effect_is_covered_at_the_nominal_rate(focus):
    missed = sum(misses(evaluate(simulated(seed + 10_000, effect=4.0, focus=focus), "before",
                                 "after"), 4.0) for seed in range(TRIALS))
    assert missed <= MISSES_ALLOWED, missed


def test_the_mentored_contrast_recovers_an_effect_planted_only_on_the_mentored():
    missed, estimates = 0, []
    for seed in range(TRIALS):
        net = simulated(seed + 20_000, effect=4.0, mentored_only=True)
        [e, *_] = evaluate(net, "before", "after", partnerships=partners(net))
        missed += not (e.mentored_ci_low <= 4.0 <= e.mentored_ci_high)
        estimates.append(e.mentored_estimate)
    assert missed <= MISSES_ALLOWED, missed
    assert abs(np.mean(estimates) - 4.0) < 0.5


def test_the_unadjusted_difference_is_kept_labelled_with_a_warning():
    [e, *_] = evaluate(simulated(7, n=400), "before", "after")
    assert e.method == "ancova" and e.adjusted_for.startswith("baseline")
    assert e.unadjusted_difference > 3 and e.regression_to_mean
    assert "regression to the mean" in e.warning and "overstates" in e.warning
    assert e.ci_low <= 0 <= e.ci_high
    assert e.mde is not None and e.mde > 0


def test_the_detectable_effect_shrinks_with_more_institutions():
    small = evaluate(simulated(1, n=60), "before", "after")[0].mde
    large = evaluate(simulated(1, n=600), "before", "after")[0].mde
    assert large < small / 2.5


def test_lower_is_better_counts_a_decrease_as_improvement():
    net = simulated(3, effect=8.0, focus="random", n=300)
    flipped = Network(net.institutions, tuple(Topic(t.id, direction="lower") for t in net.topics),
                      tuple(Snapshot(s.period, {k: -v for k, v in s.scores.items()})
                            for s in net.snapshots), net.focus)
    up, down = evaluate(net, "before", "after")[0], evaluate(flipped, "before", "after")[0]
    assert up.estimate == pytest.approx(down.estimate) and up.ci_low > 0


def test_small_groups_get_no_interval_and_say_why():
    net = simulated(3, n=5)
    [e, *_] = evaluate(net, "before", "after")
    assert e.estimate is None and e.ci_low is None and "too few institutions" in e.note


def test_flagged_scores_are_left_out_and_counted():
    net = simulated(4)
    before = net.snapshot("before")
    key = ("d000", "t0")
    flagged = Snapshot("before", before.scores,
                       {key: Flag(*key, "before", before.scores[key], "range", "test")})
    net = Network(net.institutions, net.topics, (flagged, net.snapshot("after")), net.focus)
    [e, *_] = evaluate(net, "before", "after")
    assert e.n_flagged == 1 and e.n_chose + e.n_other == 119


def test_region_fixed_effects():
    net = simulated(5)
    regional = Network(tuple(Institution(i.id, i.name, i.kind, region=f"r{k % 4}")
                             for k, i in enumerate(net.institutions)), net.topics,
                       net.snapshots, net.focus)
    [plain, *_] = evaluate(regional, "before", "after")
    [by_region, *_] = evaluate(regional, "before", "after", by_region=True)
    assert by_region.adjusted_for.endswith("region") and by_region.estimate != plain.estimate


def test_pair_changes():
    net = simulated(4, n=6)
    [c] = pair_changes(net, "before", "after", [("d000", "d005", "t0")])
    assert c.mentee_change == pytest.approx(c.mentee_after - c.mentee_before)
    assert c.mentor_before == net.snapshot("before").value("d005", "t0")


def test_bad_confidence_and_unknown_period_are_clear_errors():
    from tpn.errors import InputError, NotFoundError

    with pytest.raises(InputError):
        evaluate(simulated(1, n=10), "before", "after", confidence=1.5)
    with pytest.raises(NotFoundError):
        evaluate(simulated(1, n=10), "before", "2030")


def test_evaluate_command_and_report(tmp_path, capsys):
    from tpn.cli import main

    from helpers import REPO

    sample = str(REPO / "data" / "rwanda")
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    assert main(["evaluate", sample, "--from", "2023", "--to", "2024", "--json"]) == 0
    effects = json.loads(capsys.readouterr().out)
    assert {e["topic_id"] for e in effects} >= {"accreditation", "cbhi"}
    for e in effects:
        assert {"method", "estimate", "ci_low", "ci_high", "n_chose", "n_other", "topic_id",
                "kind", "mde", "unadjusted_difference", "unadjusted_ci_low",
                "unadjusted_ci_high", "mentored_estimate", "mentored_ci_low",
                "mentored_ci_high", "n_mentored", "n_unmentored", "n_flagged"} <= set(e)
        assert e["method"] == "ancova"
    assert main(["evaluate", sample, "--from", "2023", "--to", "2024"]) == 0
    text = capsys.readouterr().out
    assert "adjusted for the baseline" in text and "unadjusted" in text
    assert main(["import", sample, "--network", "rwanda", "--db", url]) == 0
    assert main(["run", "rwanda", "--period", "2023", "--db", url]) == 0
    assert main(["publish", "1", "--db", url]) == 0
    report = tmp_path / "report.html"
    assert main(["evaluate", "rwanda", "--from", "2023", "--to", "2024", "--db", url,
                 "--out", str(report), "--by-region"]) == 0
    html = report.read_text()
    assert "<svg" in html and "Partnerships" in html and "@media print" in html
    assert "What these figures cannot tell" in html and "Adjusted effect" in html
    assert not re.search(r"(src|href)=\"https?://", html)      # nothing fetched from outside
    assert html.count("<td>") > 58 * 7
    # A workbook with the pairs of its round: the mentored contrast has its groups.
    assert main(["match", sample, "--period", "2023", "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["evaluate", sample, "--from", "2023", "--to", "2024", "--json", "--pairs",
                 str(tmp_path / "m" / "pairs.csv")]) == 0
    effects = json.loads(capsys.readouterr().out)
    assert sum(e["n_mentored"] for e in effects) > 30


def test_report_escapes_names():
    from tpn.analysis.evaluation import Evaluation, evaluate
    from tpn.analysis.report import evaluation_html

    net = simulated(1, n=30)
    hostile = Network(net.institutions, (Topic("<script>x</script>"),) + net.topics[1:],
                      tuple(Snapshot(s.period, {(i, "<script>x</script>" if t == "t0" else t): v
                                                for (i, t), v in s.scores.items()})
                            for s in net.snapshots),
                      tuple(FocusRequest(f.institution_id, "<script>x</script>"
                                         if f.topic_id == "t0" else f.topic_id, f.priority)
                            for f in net.focus))
    result = Evaluation("<b>net</b>", "before", "after", 0.95,
                        tuple(evaluate(hostile, "before", "after")), ())
    html = evaluation_html(result)
    assert "<script>x" not in html and "&lt;script&gt;" in html and "&lt;b&gt;net" in html
