"""Acting on advice in place: a fix line's capacity raise applied and the draft rerun, an
institution's details changed from its page, the last review edit undone, messages that
name institutions and topics rather than ids."""

from __future__ import annotations

from tpn import services

from webclient import post


def draft(db) -> int:
    return services.run_match(db, "rwanda", "2024", author="test").id


def test_a_capacity_fix_applied_from_its_line_serves_the_request(as_facilitator, db):
    run = draft(db)
    page = as_facilitator.get(f"/runs/{run}").text
    link = f"/runs/{run}/fix?institution=gatsibo&amp;topic=stockout"
    assert link in page
    asked = as_facilitator.get(link.replace("&amp;", "&"))
    assert asked.status_code == 200 and "Raise the capacity of Musanze District?" in asked.text
    assert services.institution_profile(db, "rwanda", "musanze")["institution"].capacity != 3
    done = post(as_facilitator, f"/runs/{run}/fix", {"institution": "gatsibo",
                                                     "topic": "stockout", "confirm": "yes"})
    assert done.status_code == 302 and done.location != f"/runs/{run}"
    new = services.show_run(db, int(done.location.rsplit("/", 1)[1]))
    assert new.parent_id == run
    served = [p for p in new.pairs if (p["mentee_id"], p["topic_id"]) == ("gatsibo", "stockout")]
    assert served and served[0]["mentor_id"] == "musanze"
    assert services.institution_profile(db, "rwanda", "musanze")["institution"].capacity == 3
    history = [h for h in services.history(db, "rwanda", "musanze") if h.field == "capacity"]
    assert history and history[-1].new == "3" and history[-1].author == "facilitator"
    # A request whose fix is not a plain capacity raise offers nothing to apply.
    refused = as_facilitator.get(f"/runs/{run}/fix?institution=burera&topic=anc4")
    assert refused.status_code in (400, 422)


def test_an_institution_is_changed_from_its_page(as_facilitator, as_viewer, db):
    page = as_facilitator.get("/networks/rwanda/institutions/musanze").text
    assert "Change its details" in page
    assert "Change its details" not in as_viewer.get("/networks/rwanda/institutions/musanze").text
    form = {"name": "Musanze District", "kind": "district", "region": "North",
            "capacity": "4", "size": ""}
    profile = services.institution_profile(db, "rwanda", "musanze")["institution"]
    form.update(kind=profile.kind, region=profile.region or "",
                size="" if profile.size is None else f"{profile.size:g}")
    saved = post(as_facilitator, "/networks/rwanda/institutions/musanze", form)
    assert saved.status_code == 302
    after = services.institution_profile(db, "rwanda", "musanze")["institution"]
    assert after.capacity == 4 and after.size == profile.size and after.kind == profile.kind
    changes = services.history(db, "rwanda", "musanze")
    assert [(h.field, h.new) for h in changes if h.field != "created"] == [("capacity", "4")]
    bad = post(as_facilitator, "/networks/rwanda/institutions/musanze", {**form, "capacity": "-1"})
    assert bad.status_code in (400, 422) and "must not be negative" in bad.text
    assert post(as_viewer, "/networks/rwanda/institutions/musanze", form).status_code == 403


def test_the_last_review_edit_can_be_undone(as_facilitator, db):
    run = draft(db)
    pair = services.show_run(db, run).pairs[0]
    post(as_facilitator, f"/runs/{run}/edit", {"action": "exclude", "mentee": pair["mentee_id"],
                                               "topic": pair["topic_id"],
                                               "current": pair["mentor_id"]})
    flashed = as_facilitator.get(f"/runs/{run}").text
    assert f"Excluded {pair['mentor_name']} for {pair['mentee_name']}" in flashed
    assert "Undo the last edit" in flashed and "Rerun with <span data-edit-count>1</span> edit(s)" in flashed
    undone = post(as_facilitator, f"/runs/{run}/undo")
    assert undone.status_code == 302
    page = as_facilitator.get(f"/runs/{run}").text
    assert "Undone: the exclude of" in page and "(undone)" in page
    assert "Rerun with <span data-edit-count>0</span> edit(s)" in page and "Undo the last edit" not in page
    edits = services.run_edits(db, run)
    assert [e.action for e in edits] == ["exclude", "undo"]      # the trail stays whole
    rerun = services.show_run(db, services.rerun(db, run).id)     # the pair is back
    key = lambda p: (p["mentee_id"], p["topic_id"], p["mentor_id"])
    assert key(pair) in {key(p) for p in rerun.pairs}
    assert post(as_facilitator, f"/runs/{run}/undo").status_code in (400, 422)
