"""The tpn command: files written, exit codes, reports on stderr, --json."""

from __future__ import annotations

import csv
import json

from tpn.cli import main
from tpn.tabular.results import PAIR_COLUMNS, UNMATCHED_COLUMNS

from helpers import REPO

SAMPLE = str(REPO / "data" / "rwanda")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_match_writes_pairs_and_unmatched(tmp_path, capsys):
    assert main(["match", SAMPLE, "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) >= {"institutions", "requests", "matched", "unmatched", "objective",
                            "seconds"}
    pairs, unmatched = read_csv(tmp_path / "pairs.csv"), read_csv(tmp_path / "unmatched.csv")
    assert pairs[0] == PAIR_COLUMNS and unmatched[0] == UNMATCHED_COLUMNS
    assert len(pairs) - 1 == summary["matched"] and len(unmatched) - 1 == summary["unmatched"]
    assert summary["institutions"] == 40 and summary["requests"] == 82


def test_match_output_is_byte_identical(tmp_path):
    for run in ("a", "b"):
        assert main(["match", SAMPLE, "--out", str(tmp_path / run)]) == 0
    for name in ("pairs.csv", "unmatched.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_bad_input_exits_2_with_the_whole_report(tmp_path, capsys):
    (tmp_path / "institutions.csv").write_text("id,name,kind\nh1,,hospital\nh1,X,hospital\n")
    (tmp_path / "topics.csv").write_text("id,direction\nacc,sideways\n")
    (tmp_path / "scores.csv").write_text("institution_id,topic_id,value\nh1,acc,1\n")
    assert main(["match", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "3 problems found; nothing was saved" in err
    assert "row 2, column name" in err and "row 3, column id" in err
    assert "topics.csv, row 2, column direction" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_option_exits_2(tmp_path, capsys):
    assert main(["match", SAMPLE, "--out", str(tmp_path), "--top-share", "2"]) == 2
    assert "top_share" in capsys.readouterr().err


def test_unknown_period_exits_3(tmp_path, capsys):
    assert main(["match", SAMPLE, "--out", str(tmp_path), "--period", "1999"]) == 3
    assert "2023, 2024" in capsys.readouterr().err


def test_period_option(tmp_path, capsys):
    assert main(["match", SAMPLE, "--out", str(tmp_path), "--period", "2023", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 82


def test_locks_exclusions_and_previous(tmp_path, capsys):
    assert main(["match", SAMPLE, "--out", str(tmp_path / "first")]) == 0
    pairs = read_csv(tmp_path / "first" / "pairs.csv")
    header, first = pairs[0], dict(zip(pairs[0], pairs[1]))
    lock = tmp_path / "lock.csv"
    lock.write_text("mentee_id,topic_id,mentor_id\n"
                    f"{first['mentee_id']},{first['topic_id']},{first['mentor_id']}\n"
                    "kibuye_hospital,readmission,kibuye_hospital\n")
    exclude = tmp_path / "exclude.csv"
    exclude.write_text(f"mentee_id,mentor_id\n{first['mentee_id']},{first['mentor_id']}\n")
    # A lock and an exclusion of the same pair: the exclusion wins, the lock is rejected.
    assert main(["match", SAMPLE, "--out", str(tmp_path / "second"), "--lock", str(lock),
                 "--exclude", str(exclude), "--previous",
                 str(tmp_path / "first" / "pairs.csv")]) == 0
    rejected = read_csv(tmp_path / "second" / "rejected_locks.csv")
    assert len(rejected) == 3
    assert any("exclusion list" in r[3] for r in rejected[1:])
    assert any("cannot mentor itself" in r[3] for r in rejected[1:])
    second = read_csv(tmp_path / "second" / "pairs.csv")
    assert "yes" in {dict(zip(header, row))["continued"] for row in second[1:]}


def test_bad_lock_file_is_reported(tmp_path, capsys):
    lock = tmp_path / "lock.csv"
    lock.write_text("mentee_id,topic_id,mentor_id\nnobody,acc,kabgayi_hospital\n")
    assert main(["match", SAMPLE, "--out", str(tmp_path), "--lock", str(lock)]) == 2
    assert "lock.csv, row 2, column mentee_id" in capsys.readouterr().err


def test_auto_focus_when_no_focus_sheet(tmp_path, capsys):
    assert main(["generate", "--institutions", "60", "--seed", "4", "--out",
                 str(tmp_path / "net")]) == 0
    (tmp_path / "net" / "focus.csv").unlink()
    assert main(["match", str(tmp_path / "net"), "--out", str(tmp_path / "o")]) == 2
    assert "--auto-focus" in capsys.readouterr().err
    assert main(["match", str(tmp_path / "net"), "--out", str(tmp_path / "o"),
                 "--auto-focus", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] > 60


def test_focus_suggest_writes_an_editable_focus_sheet(tmp_path, capsys):
    out = tmp_path / "focus.csv"
    assert main(["focus", "suggest", SAMPLE, "--per-institution", "1", "--out", str(out)]) == 0
    rows = read_csv(out)
    assert rows[0][:3] == ["institution_id", "topic_id", "priority"]
    # One row for each institution that is outside the top 30 % of its kind on some topic.
    from math import floor
    from tpn.tabular import read_network
    net = read_network(SAMPLE)
    snap = net.snapshot()
    kind = {i.id: i.kind for i in net.institutions}
    below = set()
    for t in net.topics:
        vals = {i: t.orient(v) for (i, tid), v in snap.scores.items() if tid == t.id}
        for i, v in vals.items():
            peers = [w for j, w in vals.items() if kind[j] == kind[i]]
            if sum(w > v for w in peers) >= max(1, floor(0.3 * len(peers) + 1e-9)):
                below.add(i)
    assert sorted(r[0] for r in rows[1:]) == sorted(below)


def test_progress_stages_are_reported(rwanda):
    from tpn.matching import MatchOptions, solve
    from tpn.models import MatchProblem

    seen = []
    solve(MatchProblem.from_network(rwanda), MatchOptions(), lambda s, f=None: seen.append((s, f)))
    stages = [s for s, _f in seen]
    assert stages[0] == "finding candidate mentors" and "solving, round 1" in stages
    assert seen[-1] == ("explaining", 1.0)


def test_json_and_pipes_stay_quiet(tmp_path, capsys):
    assert main(["match", SAMPLE, "--out", str(tmp_path), "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_every_option_of_every_command_states_its_default():
    import argparse

    from tpn.cli import build_parser

    def parsers(p):
        yield p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    for parser in parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.required or \
                    isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if action.dest in ("json", "explain"):      # plain switches that print more
                continue
            assert "(default:" in (action.help or ""), f"{parser.prog} {action.option_strings}"


def test_a_bug_in_tpn_is_exit_70_and_says_to_report_it(tmp_path, capsys, monkeypatch):
    import tpn.matching.flow as flow
    from tpn.errors import TpnBug

    def broken(*args, **kwargs):
        raise TpnBug("min-cost flow ended with status 5")

    monkeypatch.setattr(flow, "_solve", broken)
    assert main(["match", SAMPLE, "--out", str(tmp_path)]) == 70
    err = capsys.readouterr().err
    assert "this is a bug in tpn, please report it" in err and "Traceback" in err


def test_output_piped_into_a_reader_that_stops_ends_quietly(tmp_path):
    import subprocess
    import sys

    assert main(["generate", "--institutions", "400", "--out", str(tmp_path / "net")]) == 0
    # Far more than a pipe holds: the writer meets the closed pipe.
    done = subprocess.run(f"{sys.executable} -m tpn.cli match {tmp_path / 'net'} --out "
                          f"{tmp_path / 'out'} --explain | head -1", shell=True,
                          capture_output=True, text=True, cwd=REPO)
    assert " pairs, " in done.stdout and "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr


def test_match_files_neutralise_formulas_like_every_export(tmp_path):
    """Hostile names and ids reach pairs.csv and unmatched.csv through names and the
    explanations; no cell there may start a formula a spreadsheet would run."""
    from tpn.samples import data_dir

    sample = data_dir() / "rwanda"
    net = tmp_path / "net"
    net.mkdir()
    hostile = {"Kabgayi Hospital": '"=HYPERLINK(""http://x"",""Kabgayi"")"',
               "Bugesera District": "@SUM(1+1)", "Gisagara District": "+cmd|' /C calc'!A0"}
    for file in sample.glob("*.csv"):
        text = file.read_text()
        if file.stem == "institutions":
            for name, bad in hostile.items():
                text = text.replace(name, bad)
        (net / file.name).write_text(text)
    assert main(["match", str(net), "--out", str(tmp_path / "out")]) == 0
    seen = 0
    for name in ("pairs.csv", "unmatched.csv"):
        with open(tmp_path / "out" / name, newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "@")), (name, cell)
                    seen += cell.startswith(("'=", "'+", "'@"))
    assert seen >= 3
