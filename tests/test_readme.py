"""The README's examples run, its walk-through is what tpn prints, its option table is complete."""

from __future__ import annotations

import re
import shlex

import pytest

from tpn.cli import main
from tpn.matching import MatchOptions

from helpers import REPO, SHARED_DATA

README = (REPO / "README.md").read_text()


def commands() -> list[str]:
    return [line[2:] for line in README.splitlines() if line.startswith("$ tpn ")]


def block_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", README, re.S)
    assert match, f"README has no block after <!-- {marker} -->"
    return match.group(1)


def test_readme_has_examples():
    assert len(commands()) >= 9


def test_readme_commands_run_in_order(tmp_path, monkeypatch, sierra_leone_dir, capsys):
    """Every `$ tpn` line, in README order, in one fresh folder (later ones use earlier ones'
    results, as a reader would)."""
    (tmp_path / "data").symlink_to(REPO / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TPN_DATABASE_URL", raising=False)
    monkeypatch.delenv("TPN_INSTANCE", raising=False)
    for command in commands():
        args = shlex.split(command.replace("../shared/data", str(SHARED_DATA)))[1:]
        assert main(args) == 0, command
        out = capsys.readouterr().out
        if args[0] == "convert":
            assert "1099 institutions in 13 regions" in out
    assert (tmp_path / "instance" / "tpn.sqlite").exists()
    assert (tmp_path / "rwanda-pairs.xlsx").exists()


def test_walkthrough_is_what_tpn_prints(capsys, tmp_path):
    assert main(["match", str(REPO / "data" / "rwanda"), "--out", str(tmp_path),
                 "--explain"]) == 0
    printed = capsys.readouterr().out.splitlines()
    for line in block_after("walkthrough").strip().splitlines():
        assert line in printed


def test_option_table_lists_every_option_with_its_default():
    table = README.split("<!-- options -->", 1)[1].split("Other flags", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `--([a-z-]+)` \| ([^|]+) \|",
                                                        table, re.M)}
    for f in MatchOptions.fields():
        flag = f.name.replace("_", "-")
        assert flag in rows, f"README option table lacks --{flag}"
        shown = rows[flag].strip()
        expected = {None: "none", False: "off", True: "on"}.get(f.default, str(f.default)) \
            if not isinstance(f.default, (int, float)) or isinstance(f.default, bool) \
            else str(f.default)
        assert shown == expected, f"--{flag}: README says {shown}, default is {f.default}"


def test_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["match", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in MatchOptions.fields():
        assert f"--{f.name.replace('_', '-')}" in text
        assert f"(default: {f.default})" in text


def test_evaluation_table_is_what_tpn_computes():
    from tpn.analysis.evaluation import evaluate
    from tpn.samples import rwanda

    effects = {e.topic_id: e for e in evaluate(rwanda(), "2023", "2024")}
    table = README.split("<!-- evaluation -->", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| (\w+) \| (\d+) / (\d+) \| ([^|]+) \| ([\d.]+) \| "
                      r"([^|]+) \|$", table, re.M)
    assert len(rows) == 3
    for topic, kind, chose, other, adjusted, mde, raw in rows:
        e = effects[topic]
        assert (e.kind, e.n_chose, e.n_other) == (kind, int(chose), int(other))
        assert adjusted == f"{e.estimate:+.2f} ({e.ci_low:+.2f} to {e.ci_high:+.2f})"
        assert mde == f"{e.mde:.2f}"
        flag = " ⚠" if e.regression_to_mean else ""
        assert raw.strip() == (f"{e.unadjusted_difference:+.2f} ({e.unadjusted_ci_low:+.2f} "
                               f"to {e.unadjusted_ci_high:+.2f}){flag}")
