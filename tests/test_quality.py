"""Data quality: the range, outlier and jump checks against hand-computed cases, what a flag
changes in the matching, acceptance, and the report (tpn check)."""

from __future__ import annotations

import csv
import json
import statistics

import pytest
from hypothesis import given, settings

from tpn import quality, services
from tpn.cli import main
from tpn.matching import MatchOptions, solve
from tpn.models import Flag, FocusRequest, Lock, MatchProblem, Network, Snapshot, Topic
from tpn.analysis.quality import quality_report
from tpn.quality import Checks, find_flags, with_flags

from helpers import inst, random_problems

RETENTION = "anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100"


def one_topic(values: list[float], topic: Topic = Topic("t"), period="2024",
              earlier: list[float] | None = None) -> Network:
    insts = [inst(f"h{k:02d}") for k in range(len(values))]
    snaps = [Snapshot(period, {(f"h{k:02d}", topic.id): v for k, v in enumerate(values)})]
    if earlier is not None:
        snaps.insert(0, Snapshot("2023", {(f"h{k:02d}", topic.id): v
                                          for k, v in enumerate(earlier)}))
    return Network(tuple(insts), (topic,), tuple(snaps))


def flagged(net: Network, checks: Checks = Checks()) -> dict[str, Flag]:
    return {f.institution_id: f for f in find_flags(net, checks)}


# --- the checks, by hand ---------------------------------------------------------------


def test_range_flags_values_outside_either_bound_and_bounds_are_plausible():
    values = [70.0 + k for k in range(10)] + [100.0, 100.5, -1.0, 0.0]
    only_range = Checks("none")
    found = flagged(one_topic(values, Topic("t", unit="%", minimum=0, maximum=100)), only_range)
    assert set(found) == {"h11", "h12"}
    assert found["h11"].check == "range" and found["h11"].statistic is None
    assert found["h11"].reason == "100.5 % is outside the plausible range 0–100 %"
    # Only a maximum: the text names the bound that was passed.
    found = flagged(one_topic(values, Topic("t", maximum=100)), only_range)
    assert set(found) == {"h11"} and found["h11"].reason == "100.5 is above the plausible maximum 100"


def test_modified_z_score_by_hand_and_the_outlier_hidden_from_the_plain_z_score():
    values = [10.0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 50]
    # median 15; absolute deviations 5 4 3 2 1 0 1 2 3 4 35: MAD 3; 0.6745 * 35 / 3 = 7.869
    found = flagged(one_topic(values))
    assert set(found) == {"h10"}
    assert found["h10"].check == "outlier"
    assert found["h10"].statistic == pytest.approx(0.6745 * 35 / 3, abs=1e-4)
    # Its peers' figures leave the flagged value out.
    assert found["h10"].peer_median == 14.5 and found["h10"].peer_high == 19
    # The mean and standard deviation include the outlier itself: its z-score stays under 3.
    z = (50 - statistics.mean(values)) / statistics.stdev(values)
    assert z < 3
    assert flagged(one_topic(values), Checks("z")) == {}
    assert set(flagged(one_topic(values), Checks("z", outlier_threshold=z - 0.01))) == {"h10"}


def test_z_score_by_hand():
    values = [float(v) for v in [50] * 20 + [80]]
    z = (80 - statistics.mean(values)) / statistics.stdev(values)
    found = flagged(one_topic(values), Checks("z"))
    assert set(found) == {"h20"} and found["h20"].statistic == pytest.approx(z, abs=1e-4)


def test_when_most_values_are_equal_the_mean_absolute_deviation_stands_in():
    values = [20.0] * 8 + [21.0, 30.0]
    # MAD is 0; mean absolute deviation (1 + 10) / 10 = 1.1, scaled by sqrt(pi / 2).
    found = flagged(one_topic(values))
    assert set(found) == {"h09"}
    assert found["h09"].statistic == pytest.approx(10 / (1.1 * 1.2533141), abs=1e-4)
    assert flagged(one_topic([20.0] * 12)) == {}


def test_groups_too_small_to_say_what_is_usual_are_not_judged():
    values = [10.0, 11, 12, 13, 14, 15, 16, 17, 50]       # 9 peers
    assert flagged(one_topic(values)) == {}
    assert flagged(one_topic(values + [18.0])) != {}


def test_peers_are_of_the_same_kind_and_out_of_range_values_do_not_count():
    # Twelve hospitals around 60 and twelve health centres around 95: 95 is usual for a
    # health centre and would be an outlier among hospitals.
    insts = [inst(f"h{k:02d}") for k in range(12)] + [inst(f"c{k:02d}", "centre")
                                                      for k in range(12)]
    scores = {(f"h{k:02d}", "t"): 60.0 + k % 3 for k in range(12)}
    scores |= {(f"c{k:02d}", "t"): 94.0 + k % 3 for k in range(12)}
    net = Network(tuple(insts), (Topic("t"),), (Snapshot("p", scores),))
    assert find_flags(net) == []
    # Impossible values do not widen the spread that would hide an outlier.
    scores |= {("c00", "t"): 400.0, ("c01", "t"): 500.0, ("c02", "t"): 20.0}
    net = Network(tuple(insts), (Topic("t", maximum=100),), (Snapshot("p", scores),))
    assert {(f.institution_id, f.check) for f in find_flags(net)} == {
        ("c00", "range"), ("c01", "range"), ("c02", "outlier")}


def test_a_jump_against_the_peers_changes_flags_the_later_value():
    earlier = [10.0 * k for k in range(1, 13)]
    later = [v + 1.0 + (k % 3) * 0.5 for k, v in enumerate(earlier)]
    later[4] = earlier[4] + 30          # 50 -> 80: still an ordinary value among its peers
    net = one_topic(later, earlier=earlier)
    found = find_flags(net)
    assert [(f.institution_id, f.period, f.check) for f in found] == [("h04", "2024", "jump")]
    # Changes: eleven of 1, 1.5, 2 (median 1.5) and one of 30.
    changes = sorted(b - a for a, b in zip(earlier, later))
    median = statistics.median(changes)
    mad = statistics.median(abs(c - median) for c in changes)
    assert found[0].statistic == pytest.approx(0.6745 * (30 - median) / mad, abs=1e-4)
    assert "changed by +30 since 2023 (from 50)" in found[0].reason
    assert find_flags(net, Checks("none")) == []
    assert find_flags(net, Checks(jump_threshold=100)) == []


def test_an_acceptance_holds_for_the_value_that_was_checked():
    net = one_topic([70.0 + k for k in range(10)] + [119.0], Topic("t", maximum=100))
    accepted = {("h10", "t", "2024"): (119.0, "amina", "2026-12-05T10:00:00+00:00")}
    flag = find_flags(net, accepted=accepted)[0]
    assert flag.accepted and flag.accepted_by == "amina"
    assert with_flags(net, [flag]).snapshot().flags == {}
    moved = {("h10", "t", "2024"): (118.0, "amina", "2026-12-05T10:00:00+00:00")}
    assert not find_flags(net, accepted=moved)[0].accepted


# --- what a flag changes ----------------------------------------------------------------


def _sierra_like() -> Network:
    """Ten clinics with plausible retention and two above 100 %: the impossible ones would
    be the best performers."""
    topic = Topic("anc", "ANC retention", unit="%", minimum=0, maximum=100)
    values = [55.0, 60, 62, 65, 70, 72, 75, 80, 85, 90, 150, 240]
    insts = [inst(f"c{k:02d}", "clinic", capacity=3) for k in range(len(values))]
    scores = {(f"c{k:02d}", "anc"): v for k, v in enumerate(values)}
    focus = [FocusRequest(f"c{k:02d}", "anc") for k in range(5)] + [FocusRequest("c11", "anc")]
    return Network(tuple(insts), (topic,), (Snapshot("2024", scores),), tuple(focus))


def test_a_flagged_score_never_makes_a_mentor_and_a_flagged_mentee_is_estimated():
    raw = _sierra_like()
    trusting = solve(MatchProblem.from_network(raw))
    assert {p.mentor_id for p in trusting.pairs} & {"c10", "c11"}
    net = quality.flagged(raw, MatchOptions())
    result = solve(MatchProblem.from_network(net))
    assert not {p.mentor_id for p in result.pairs} & {"c10", "c11"}
    assert result.objective["flagged_scores"] == 2
    mentee = next(p for p in result.pairs if p.mentee_id == "c11")
    assert mentee.gain_estimated and mentee.mentee_score is None
    assert mentee.mentee_percentile is None
    assert "score is flagged (240 % is outside the plausible range 0–100 %)" in mentee.why
    # Percentiles leave the flagged values out: c09 (90 %) is the best of ten.
    assert next(p for p in result.pairs if p.mentor_id == "c09").mentor_percentile == 95.0
    # --ignore-flags trusts them again.
    again = solve(MatchProblem.from_network(net), MatchOptions(ignore_flags=True))
    assert again.pairs == trusting.pairs


def test_a_lock_on_a_flagged_mentor_is_refused_with_the_flag():
    net = quality.flagged(_sierra_like(), MatchOptions())
    result = solve(MatchProblem.from_network(net, locks=(Lock("c00", "anc", "c10"),)))
    [rejected] = result.rejected_locks
    assert "flagged_score" in rejected.reason and "150 %" in rejected.reason


def test_an_unserved_request_names_the_flagged_peers_it_did_not_consider():
    topic = Topic("anc", "ANC retention", unit="%", maximum=100)
    values = [60.0 + k for k in range(11)] + [130.0]
    insts = [inst(f"c{k:02d}", "clinic") for k in range(12)]
    scores = {(f"c{k:02d}", "anc"): v for k, v in enumerate(values)}
    net = quality.flagged(Network(tuple(insts), (topic,), (Snapshot("p", scores),),
                                  (FocusRequest("c10", "anc"),)), MatchOptions())
    [unmatched] = solve(MatchProblem.from_network(net)).unmatched
    assert unmatched.reason == "no_better_peer"
    assert "1 peer score(s) that are flagged were not considered (e.g. C11: 130 % is above " \
           "the plausible maximum 100 %" in unmatched.detail


@settings(max_examples=80)
@given(case=random_problems())
def test_no_flagged_score_ever_produces_a_mentor(case):
    problem, options = case
    result = solve(problem, options)
    if options.ignore_flags:
        return
    for p in result.pairs:
        assert (p.mentor_id, p.topic_id) not in problem.snapshot.flags
        if (p.mentee_id, p.topic_id) in problem.snapshot.flags:
            assert p.gain_estimated and p.mentee_score is None


def test_focus_suggestions_skip_flagged_scores(rwanda):
    from tpn.matching.focus import suggest_focus

    snap = rwanda.snapshot("2024")
    key = next(iter(sorted(snap.scores)))
    flags = {key: Flag(*key, "2024", snap.scores[key], "range", "test")}
    net = with_flags(rwanda, [flags[key]])
    suggested = {(s.institution_id, s.topic_id)
                 for s in suggest_focus(net, net.snapshot("2024"), MatchOptions(), 10)}
    assert key not in suggested


# --- the report --------------------------------------------------------------------------


def test_report_counts_per_topic_period_and_region():
    topic = Topic("t", maximum=100)
    insts = [inst(f"h{k:02d}", region="north" if k < 6 else "south") for k in range(12)]
    scores = {(f"h{k:02d}", "t"): 60.0 + k for k in range(10)} | {("h10", "t"): 140.0}
    net = Network(tuple(insts), (topic,), (Snapshot("p", scores),))
    report = quality_report(net)
    [count] = report.counts
    assert (count.institutions, count.values, count.missing, count.out_of_range,
            count.outliers, count.jumps) == (12, 11, 1, 1, 0, 0)
    by_region = {c.region: c for c in report.by_region}
    assert by_region["north"].values == 6 and by_region["south"].out_of_range == 1
    assert by_region["south"].missing == 1
    assert report.summary() == "1 score(s) flagged (1 out of range, 0 outlier(s), 0 jump(s))"


def test_tpn_check_on_the_sierra_leone_export(sierra_leone_dir, tmp_path, capsys):
    export = sierra_leone_dir / "analytics_anc_facilities.json"
    book = tmp_path / "sl.xlsx"
    assert main(["convert", str(export), "--out", str(book), "--org-units",
                 str(sierra_leone_dir / "organisation_units.json"), "--kind-pattern",
                 r"(Hospital|CHC|CHP|MCHP|Clinic)$", "--kind-default", "other",
                 "--derive", RETENTION, "--range", "anc_retention=0:100"]) == 0
    capsys.readouterr()
    assert main(["check", str(book), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    counts = {c["period"]: c for c in report["counts"]}
    # 394 of 1,098 facilities report more 2nd than 1st ANC visits, in each year.
    assert counts["2022"]["out_of_range"] == counts["2023"]["out_of_range"] == 394
    assert counts["2023"]["values"] == 1098 and counts["2023"]["missing"] == 1
    assert all(f["value"] > 100 for f in report["flags"] if f["check"] == "range")
    # The report for the district's DHIS2 focal person, as a workbook and as CSV files.
    assert main(["check", str(book), "--out", str(tmp_path / "quality.xlsx")]) == 0
    from openpyxl import load_workbook

    sheets = load_workbook(tmp_path / "quality.xlsx").sheetnames
    assert sheets == ["summary", "by_region", "flagged"]
    assert main(["check", str(book), "--out", str(tmp_path / "quality")]) == 0
    with open(tmp_path / "quality" / "flagged.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report["flags"]) and rows[0]["peer_median"]

    # Then the workshop: focus suggested, and no mentor chosen on an implausible value.
    focus = tmp_path / "focus.csv"
    assert main(["focus", "suggest", str(book), "--out", str(focus)]) == 0
    folder = tmp_path / "net"
    assert main(["convert", str(book), "--out", str(folder)]) == 0
    (folder / "focus.csv").write_bytes(focus.read_bytes())
    assert main(["match", str(folder), "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "pairs.csv", newline="", encoding="utf-8") as f:
        pairs = list(csv.DictReader(f))
    flagged_keys = {(f["institution_id"], f["topic_id"]) for f in report["flags"]
                    if f["period"] == "2023"}
    for p in pairs:
        assert 0 <= float(p["mentor_score"]) <= 100
        assert (p["mentor_id"], p["topic_id"]) not in flagged_keys
    # The README's figures: 495 suggested topics and 416 pairs, none out of range. Trusting
    # every score, as before, 646 of 654 mentors were above 100 %; without the range the
    # outlier check alone leaves 598 of 614.
    assert len(focus.read_text().splitlines()) - 1 == 495 and len(pairs) == 416
    assert main(["focus", "suggest", str(book), "--ignore-flags", "--out",
                 str(tmp_path / "all.csv")]) == 0
    assert len((tmp_path / "all.csv").read_text().splitlines()) - 1 == 771
    assert round(max(f["value"] for f in report["flags"])) == 686
    bare = tmp_path / "bare"
    assert main(["convert", str(book), "--out", str(bare)]) == 0
    unranged = tmp_path / "unranged"
    assert main(["convert", str(export), "--out", str(unranged), "--org-units",
                 str(sierra_leone_dir / "organisation_units.json"), "--kind-pattern",
                 r"(Hospital|CHC|CHP|MCHP|Clinic)$", "--kind-default", "other",
                 "--derive", RETENTION]) == 0
    for data, options, expected in ((bare, ["--ignore-flags"], (654, 646)),
                                    (unranged, [], (614, 598))):
        assert main(["match", str(data), "--auto-focus", "2", "--out", str(tmp_path / "again"),
                     *options]) == 0
        with open(tmp_path / "again" / "pairs.csv", newline="", encoding="utf-8") as f:
            again = list(csv.DictReader(f))
        assert (len(again), sum(float(p["mentor_score"]) > 100 for p in again)) == expected


def test_tpn_check_exit_codes(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.xlsx")]) == 2
    assert main(["check"]) == 2
    capsys.readouterr()
    assert main(["convert", "data/rwanda", "--out", str(tmp_path / "x.xlsx"),
                 "--range", "nope=0:1"]) == 2
    assert "'nope' is not a topic" in capsys.readouterr().err
    assert main(["convert", "data/rwanda", "--out", str(tmp_path / "x.xlsx"),
                 "--range", "cbhi=100:0"]) == 2


# --- stored networks: acceptance, history, backups ---------------------------------------


def _stored(db, tmp_path) -> None:
    from tpn.tabular import write_network

    folder = tmp_path / "net"
    write_network(_sierra_like(), folder)
    services.import_file(db, folder, "sl")


def test_accepting_a_checked_value_is_honoured_logged_and_backed_up(db, tmp_path):
    _stored(db, tmp_path)
    assert services.quality_report(db, "sl").untrusted == 2
    first = services.run_match(db, "sl")
    mentors = {p["mentor_id"] for p in services.show_run(db, first.id).pairs}
    assert "c10" not in mentors and first.summary["flagged_scores"] == 2
    with pytest.raises(Exception, match="not flagged"):
        services.accept_score(db, "sl", "c00", "anc", "2024", author="amina")
    services.accept_score(db, "sl", "c10", "anc", "2024", author="amina",
                          note="register checked: 150 is right for a catch-up campaign")
    report = services.quality_report(db, "sl")
    accepted = next(f for f in report.flags if f.institution_id == "c10")
    assert accepted.accepted_by == "amina" and accepted.accepted_at
    assert report.untrusted == 1
    assert any(h.key == "c10" and "accepted" in h.field and h.author == "amina"
               for h in services.history(db, "sl"))
    # The accepted value counts again: c10 is the best clinic now and mentors.
    second = services.run_match(db, "sl")
    assert second.summary["flagged_scores"] == 1
    assert "c10" in {p["mentor_id"] for p in services.show_run(db, second.id).pairs}
    # Flags and acceptances survive backup -> restore byte for byte.
    blob = services.backup(db, "sl")
    services.restore(db, blob, "sl-copy")
    assert services.backup(db, "sl-copy") == blob.replace(b'"network": "sl"',
                                                          b'"network": "sl-copy"')
    assert services.quality_report(db, "sl-copy").flags == report.flags
    services.withdraw_acceptance(db, "sl", "c10", "anc", "2024", author="amina")
    assert services.quality_report(db, "sl").untrusted == 2


def test_import_reports_flags_in_one_line_and_never_blocks(db, tmp_path, capsys):
    from tpn.tabular import write_network

    folder = tmp_path / "net"
    write_network(_sierra_like(), folder)
    url = db.engine.url.render_as_string(hide_password=False)
    assert main(["import", str(folder), "--network", "sl", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "data quality: 2 score(s) flagged (2 out of range" in out
    assert "tpn check --network sl" in out
    assert main(["check", "--network", "sl", "--db", url]) == 0
    assert main(["accept", "sl", "c11", "anc", "--period", "2024", "--db", url,
                 "--author", "amina"]) == 0
    assert "accepted by amina" in capsys.readouterr().out
