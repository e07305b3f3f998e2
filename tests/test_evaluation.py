"""Evaluation statistics on generated data: planted effects are recovered, absent ones are
not claimed more often than the nominal rate."""

from __future__ import annotations

import numpy as np
import pytest

from tpn.evaluation import evaluate, pair_changes
from tpn.models import FocusRequest, Institution, Network, Snapshot, Topic


def planted(seed: int, effect: float, n: int = 40, direction: str = "higher",
            sd: float = 3.0) -> Network:
    """n institutions; the first half chose the topic and improved by `effect` more."""
    rng = np.random.default_rng(seed)
    topic = Topic("t", direction=direction)
    sign = 1 if direction == "higher" else -1
    insts = [Institution(f"i{k:03d}", f"I{k}", "district") for k in range(n)]
    base = rng.normal(60, 10, n)
    change = rng.normal(1.0, sd, n) + np.where(np.arange(n) < n // 2, effect, 0.0)
    return Network(
        tuple(insts), (topic,),
        (Snapshot("before", {(i.id, "t"): float(b) for i, b in zip(insts, base)}),
         Snapshot("after", {(i.id, "t"): float(b + sign * c)
                            for i, b, c in zip(insts, base, change)})),
        tuple(FocusRequest(i.id, "t", 1) for i in insts[: n // 2]),
    )


@pytest.mark.parametrize("method", ["welch", "bootstrap"])
def test_a_planted_effect_is_recovered_within_its_interval(method):
    [e] = evaluate(planted(seed=1, effect=5.0), "before", "after", method=method)
    assert (e.n_chose, e.n_other) == (20, 20)
    assert e.ci_low < 5.0 < e.ci_high and e.ci_low > 0
    # Over many networks the 95 % interval covers the true effect about 95 % of the time.
    covered = sum(
        (lambda x: x.ci_low < 5.0 < x.ci_high)(
            evaluate(planted(seed, 5.0), "before", "after", method=method, bootstrap=1000)[0])
        for seed in range(200))
    assert covered >= 180


@pytest.mark.parametrize("method", ["welch", "bootstrap"])
def test_with_no_effect_zero_is_excluded_no_more_often_than_the_nominal_rate(method):
    trials = 400
    excluded = 0
    for seed in range(trials):
        [e] = evaluate(planted(seed + 1000, 0.0), "before", "after", method=method,
                       bootstrap=1000, seed=seed)
        excluded += not (e.ci_low <= 0.0 <= e.ci_high)
    # Nominal 5 % (20 of 400); the binomial spread is about 4.4, so 32 is ~ +2.7 sd.
    # (The percentile bootstrap is a little liberal with 20 per group; Welch is exact here.)
    assert excluded <= (32 if method == "welch" else 40), excluded


def test_lower_is_better_counts_a_decrease_as_improvement():
    [e] = evaluate(planted(seed=2, effect=5.0, direction="lower"), "before", "after")
    assert e.difference > 0 and e.ci_low > 0


def test_small_groups_get_no_interval_and_say_why():
    net = planted(seed=3, effect=1.0, n=3)
    [e] = evaluate(net, "before", "after")
    assert e.ci_low is None and "fewer than 2" in e.note


def test_pair_changes():
    net = planted(seed=4, effect=2.0, n=6)
    [c] = pair_changes(net, "before", "after", [("i000", "i005", "t")])
    assert c.mentee_change == pytest.approx(c.mentee_after - c.mentee_before)
    assert c.mentor_before == net.snapshot("before").value("i005", "t")


def test_unknown_method_and_period_are_clear_errors():
    from tpn.errors import InputError, NotFoundError

    with pytest.raises(InputError):
        evaluate(planted(1, 0.0), "before", "after", method="magic")
    with pytest.raises(NotFoundError):
        evaluate(planted(1, 0.0), "before", "2030")


def test_evaluate_command_and_report(tmp_path, capsys):
    import json
    import re

    from tpn.cli import main

    from helpers import REPO

    sample = str(REPO / "data" / "rwanda")
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    assert main(["evaluate", sample, "--from", "2023", "--to", "2024", "--json"]) == 0
    effects = json.loads(capsys.readouterr().out)
    assert {e["topic_id"] for e in effects} >= {"accreditation", "cbhi"}
    assert all({"n_chose", "n_other", "mean_change_chose", "mean_change_other", "difference",
                "ci_low", "ci_high"} <= set(e) for e in effects)
    assert main(["import", sample, "--network", "rwanda", "--db", url]) == 0
    assert main(["run", "rwanda", "--period", "2023", "--db", url]) == 0
    assert main(["publish", "1", "--db", url]) == 0
    report = tmp_path / "report.html"
    assert main(["evaluate", "rwanda", "--from", "2023", "--to", "2024", "--db", url,
                 "--out", str(report), "--method", "bootstrap"]) == 0
    html = report.read_text()
    assert "<svg" in html and "Partnerships" in html and "@media print" in html
    assert not re.search(r"(src|href)=\"https?://", html)      # nothing fetched from outside
    assert html.count("<td>") > 58 * 7


def test_report_escapes_names():
    from tpn.evaluation import TopicEffect
    from tpn.report import evaluation_html

    e = TopicEffect("<script>x</script>", "k&k", 2, 2, 1.0, 0.0, 1.0, 0.5, 1.5, 0.95, "welch")
    html = evaluation_html("<b>net</b>", "a", "b", [e], [])
    assert "<script>x" not in html and "&lt;script&gt;" in html and "&lt;b&gt;net" in html
