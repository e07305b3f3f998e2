"""Reviewing drafts (edits with an audit trail, rerun), diffs, and backup/restore."""

from __future__ import annotations

import pytest

from tpn import services
from tpn.cli import main
from tpn.errors import InputError, TpnError
from tpn.storage import Database

from helpers import dump
from test_storage import SAMPLE


@pytest.fixture
def drafted(db):
    services.import_file(db, SAMPLE, "rwanda")
    return db, services.run_match(db, "rwanda").id


def pair_of(run, mentee, topic):
    return next((p for p in run.pairs if (p["mentee_id"], p["topic_id"]) == (mentee, topic)),
                None)


def test_edits_are_applied_by_rerun_and_kept_as_an_audit_trail(drafted):
    db, run = drafted
    first = services.show_run(db, run)
    old = pair_of(first, "bugesera", "facility_delivery")["mentor_id"]
    alternative = "gisagara" if old != "gisagara" else "rubavu"
    services.edit_draft(db, run, "swap", "bugesera", "facility_delivery", alternative,
                        author="amina", note="closer partner")
    excluded = pair_of(first, "bugesera", "stockout")["mentor_id"]
    version = services.edit_draft(db, run, "exclude", "bugesera", "stockout", excluded,
                                  author="jean")
    assert version == 3
    new = services.rerun(db, run, author="amina").id
    second = services.show_run(db, new)
    swapped = pair_of(second, "bugesera", "facility_delivery")
    assert swapped["mentor_id"] == alternative and swapped["locked"] == "yes"
    assert (pair_of(second, "bugesera", "stockout") or {}).get("mentor_id") != excluded
    assert second.parent_id == run
    with db.connect() as conn:
        from tpn.storage import repository as repo
        trail = repo.edits(conn, run)
        carried = repo.edits(conn, new)
    assert [(e.action, e.author, e.note) for e in trail] == [
        ("swap", "amina", "closer partner"), ("exclude", "jean", "")]
    assert [e.action for e in carried] == ["swap", "exclude"]
    # Reruns keep the constraints: a rerun of the rerun gives the same pairs (now all
    # continuing the draft they were rerun from).
    third = services.show_run(db, services.rerun(db, new).id)
    matching = lambda run: [(p["mentee_id"], p["topic_id"], p["mentor_id"], p["locked"])
                            for p in run.pairs]
    assert matching(third) == matching(second)
    assert {p["continued"] for p in third.pairs} == {"yes"}


def test_a_second_editor_with_an_old_version_gets_a_conflict(drafted):
    db, run = drafted
    services.edit_draft(db, run, "lock", "bugesera", "stockout", "rubavu", expected_version=1)
    before = dump(db)
    with pytest.raises(TpnError, match="changed by someone else"):
        services.edit_draft(db, run, "lock", "burera", "cbhi", "nyabihu", expected_version=1)
    assert dump(db) == before


def test_published_runs_cannot_be_edited_and_bad_edits_are_reported(drafted):
    db, run = drafted
    with pytest.raises(InputError) as info:
        services.edit_draft(db, run, "lock", "nobody", "cbhi", "nyabihu")
    assert "'nobody' is not an institution" in str(info.value)
    with pytest.raises(InputError, match="did not ask for help"):
        services.edit_draft(db, run, "lock", "burera", "accreditation", "nyabihu")
    with pytest.raises(InputError):
        services.edit_draft(db, run, "delete", "burera", "cbhi", "nyabihu")
    services.publish(db, run)
    with pytest.raises(TpnError, match="only a draft can be edited"):
        services.edit_draft(db, run, "lock", "burera", "cbhi", "nyabihu")


def test_a_lock_that_breaks_a_rule_is_reported_by_the_rerun(drafted):
    db, run = drafted
    services.edit_draft(db, run, "swap", "ruhengeri_hospital", "neonatal_mortality",
                        "gihundwe_hospital")
    info = services.rerun(db, run)
    [rejected] = info.rejected
    assert rejected.lock.mentee_id == "ruhengeri_hospital" and "breaks a rule" in rejected.reason


def test_diff(drafted):
    db, run = drafted
    services.edit_draft(db, run, "exclude", "bugesera", "stockout",
                        pair_of(services.show_run(db, run), "bugesera", "stockout")["mentor_id"])
    new = services.rerun(db, run).id
    d = services.diff_runs(db, run, new)
    assert d["changed"] + d["ended"] and all(c["was"] != c["mentor_id"] for c in d["changed"])
    excluded = [c for c in d["changed"] + d["ended"] if c["mentee_id"] == "bugesera"
                and c["topic_id"] == "stockout"]
    assert [c["reason"] for c in excluded] == ["excluded"]
    # Every other change is forced by the capacity the excluded pair's new mentor took; the
    # place the exclusion frees may serve a request left without a mentor before.
    assert all(c["reason"] in ("capacity", "excluded") for c in d["changed"] + d["ended"])
    assert all(c["reason"] == "served_now" for c in d["new"])
    assert all(r["reason"] == "kept" for r in d["kept"])
    assert len(d["kept"]) + len(d["changed"]) + len(d["ended"]) == \
        len(services.show_run(db, run).pairs)
    assert services.diff_runs(db, run, run)["kept"] and not services.diff_runs(db, run, run)["changed"]


def test_backup_restore_backup_is_byte_identical(drafted, tmp_path):
    db, run = drafted
    services.edit_draft(db, run, "lock", "bugesera", "stockout", "rubavu", note="ongoing")
    services.publish(db, services.rerun(db, run).id)
    first = services.backup(db, "rwanda")
    fresh = Database.open(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    services.restore(fresh, first)
    assert services.backup(fresh, "rwanda") == first
    assert services.load(fresh, "rwanda") == services.load(db, "rwanda")
    with pytest.raises(InputError, match="exists already"):
        services.restore(fresh, first)
    with pytest.raises(InputError, match="not a tpn backup"):
        services.restore(fresh, b"{}")


def test_review_commands(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    run = lambda *a: main([*a, "--db", url])
    assert run("import", str(SAMPLE), "--network", "rwanda") == 0
    assert run("run", "rwanda") == 0
    assert run("edit", "1", "exclude", "bugesera", "stockout", "rubavu", "--note", "far") == 0
    assert run("edit", "1", "lock", "burera", "cbhi", "nyabihu", "--version", "1") == 1
    assert "changed by someone else" in capsys.readouterr().err
    assert run("rerun", "1") == 0
    rerun = capsys.readouterr().out
    assert "since run 1: " in rerun and "bugesera on stockout with rubavu (excluded: " in rerun
    assert run("diff", "1", "2") == 0
    assert "from run 1 to run 2" in capsys.readouterr().out
    assert run("backup", "rwanda", str(tmp_path / "b.json")) == 0
    assert run("restore", str(tmp_path / "b.json"), "--network", "copy") == 0
    assert run("restore", str(tmp_path / "missing.json")) == 2


def test_changes_to_institutions_and_topics_keep_their_history(db, tmp_path):
    services.import_file(db, SAMPLE, "rwanda", author="amina")
    changed = tmp_path / "v2"
    changed.mkdir()
    for name in ("topics", "scores", "focus"):
        (changed / f"{name}.csv").write_text((SAMPLE / f"{name}.csv").read_text())
    (changed / "institutions.csv").write_text((SAMPLE / "institutions.csv").read_text()
                                              .replace("Butaro Hospital", "Butaro District Hospital"))
    services.import_file(db, changed, "rwanda", replace=True, author="jean")
    services.set_fields(db, "rwanda", "institution", "butaro_hospital",
                        {"capacity": "2", "size": "160"}, author="amina")
    services.set_fields(db, "rwanda", "topic", "ipc", {"direction": "lower"})
    log = services.history(db, "rwanda", "butaro_hospital")
    assert [(c.field, c.author, c.source) for c in log] == [
        ("created", "amina", "rwanda"), ("name", "jean", "v2"),
        ("capacity", "amina", "tpn institution set"), ("size", "amina", "tpn institution set")]
    assert (log[1].old, log[1].new) == ('"Butaro Hospital"', '"Butaro District Hospital"')
    net = services.load(db, "rwanda")
    butaro = next(i for i in net.institutions if i.id == "butaro_hospital")
    assert (butaro.capacity, butaro.size) == (2, 160.0)
    assert next(t for t in net.topics if t.id == "ipc").direction == "lower"
    before = dump(db)
    with pytest.raises(InputError) as info:
        services.set_fields(db, "rwanda", "institution", "butaro_hospital",
                            {"capacity": "-1", "latitude": "95", "colour": "red"})
    assert len(info.value.problems) == 3
    assert dump(db) == before
    # The history travels with a backup.
    fresh = Database.open(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    services.restore(fresh, services.backup(db, "rwanda"))
    assert len(services.history(fresh, "rwanda")) == len(services.history(db, "rwanda"))


def test_focus_in_the_database(db):
    services.import_file(db, SAMPLE, "rwanda")
    services.set_focus(db, "rwanda", "butaro_hospital", "ipc", 2, author="jean")
    rows = [f for f in services.focus(db, "rwanda") if f.institution_id == "butaro_hospital"]
    assert [(f.topic_id, f.priority, f.chosen_by) for f in rows][-1] == ("ipc", 2, "jean")
    with pytest.raises(InputError, match="does not apply"):
        services.set_focus(db, "rwanda", "butaro_hospital", "cbhi")
    run = services.show_run(db, services.run_match(db, "rwanda").id)
    requests = {(p["mentee_id"], p["topic_id"]) for p in run.pairs} | \
        {(u["institution_id"], u["topic_id"]) for u in run.unmatched}
    assert ("butaro_hospital", "ipc") in requests
    assert services.remove_focus(db, "rwanda", "butaro_hospital", "ipc") == 1
    assert ("butaro_hospital", "ipc") not in {(f.institution_id, f.topic_id)
                                             for f in services.focus(db, "rwanda")}


def test_rounds_keep_their_own_focus_and_suggestions_can_be_applied(db):
    services.import_file(db, SAMPLE, "rwanda")
    from tpn.matching import MatchOptions

    suggested = services.suggest_focus(db, "rwanda", 1, MatchOptions(), apply=True,
                                       author="facilitator", round_name="2")
    round_two = services.focus(db, "rwanda", round_name="2")
    assert sorted((f.institution_id, f.topic_id) for f in round_two) == \
        sorted((s.institution_id, s.topic_id) for s in suggested)
    assert {f.chosen_by for f in round_two} == {"facilitator"}
    assert len(services.focus(db, "rwanda")) == 82          # round 1 untouched
    run = services.run_match(db, "rwanda", round_name="2")
    assert run.requests == len(suggested)
    assert services.show_run(db, run.id).round == "2"
    # A rerun of a round-2 run uses round 2's focus.
    assert services.rerun(db, run.id).requests == len(suggested)


FORCED = {"excluded", "swapped", "capacity", "locked", "mentee_gap_closed"}


@pytest.mark.parametrize("seed", [2, 5])
def test_a_rerun_after_three_edits_moves_only_the_pairs_the_edits_force(db, tmp_path, seed):
    """The room has discussed the draft: after a swap, an exclusion and a lock, the rerun
    keeps every other pair unless a rule forces it to move, and names the reason of each
    change (on a network with many equal-cost ties, which once moved hundreds of pairs)."""
    from tpn.samples import generate
    from tpn.tabular import write_network

    write_network(generate(400, seed=seed, focus_per_institution=3), tmp_path / "net")
    services.import_file(db, tmp_path / "net", "gen")
    run = services.run_match(db, "gen").id
    first = services.show_run(db, run)
    pairs = sorted(first.pairs, key=lambda p: (p["mentee_id"], p["topic_id"]))
    with_alternatives = [p for p in pairs if p["alternatives"]]
    swap, exclude, lock = with_alternatives[3], pairs[len(pairs) // 2], pairs[-4]
    next_best = swap["alternatives"].split(":")[0]
    services.edit_draft(db, run, "swap", swap["mentee_id"], swap["topic_id"], next_best)
    services.edit_draft(db, run, "exclude", exclude["mentee_id"], exclude["topic_id"],
                        exclude["mentor_id"])
    services.edit_draft(db, run, "lock", lock["mentee_id"], lock["topic_id"], lock["mentor_id"])
    new = services.rerun(db, run)
    assert not new.rejected
    diff = services.diff_runs(db, run, new.id)
    moved = diff["changed"] + diff["ended"]
    assert {(c["mentee_id"], c["topic_id"], c["reason"]) for c in moved} >= {
        (swap["mentee_id"], swap["topic_id"], "swapped"),
        (exclude["mentee_id"], exclude["topic_id"], "excluded")}
    assert all(c["reason"] in FORCED and c["detail"] for c in moved), \
        [c for c in moved if c["reason"] not in FORCED]
    assert len(moved) <= 12 and len(diff["kept"]) >= len(pairs) - 12
    assert new.matched >= len(pairs) - 1      # the excluded request may find no one else
    # The same rerun again moves nothing: the draft's pairs are kept on every tie.
    again = services.diff_runs(db, new.id, services.rerun(db, new.id).id)
    assert not again["changed"] and not again["ended"] and not again["new"]
