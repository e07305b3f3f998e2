"""Network learning events in the workshop app and the API: the form, its problems, the
programme's list, the pages of partnerships and institutions, and who may change them."""

from __future__ import annotations

import re

from tpn import services
from tpn.samples import data_dir
from tpn.services import events, programme
from webclient import post

FORM = {"held_on": "2026-04-10", "kind": "exchange visit", "title": "Visit to Kabgayi",
        "place": "Kabgayi", "organiser": "District", "agenda": "", "outputs": ""}


def published(db):
    services.publish(db, services.run_match(db, "rwanda", "2024").id)
    return programme.partnerships(db, "rwanda")


def test_a_facilitator_records_an_event_that_pages_then_show(db, as_facilitator, as_viewer):
    rows = published(db)
    form = as_facilitator.get("/networks/rwanda/events/new").text
    assert 'name="partnership"' in form and 'name="topic" value="anc4"' in form
    response = post(as_facilitator, "/networks/rwanda/events/new",
                    {**FORM, "partnership": [str(p["id"]) for p in rows[:3]],
                     "topic": ["anc4"], "institutions": "Gasabo\n"})
    assert response.status_code == 302, response.text
    saved = events.events(db, "rwanda")[0]
    assert saved.partnerships == sorted(p["id"] for p in rows[:3]) and "gasabo" in saved.institutions
    board = as_viewer.get("/networks/rwanda/programme").text
    assert "Visit to Kabgayi" in board and "1 network learning events" in board
    page = as_viewer.get(f"/networks/rwanda/partnerships/{rows[0]['id']}").text
    assert "Network learning events attended" in page and "Visit to Kabgayi" in page
    institution = as_viewer.get("/networks/rwanda/institutions/gasabo").text
    assert "Network learning events attended" in institution and "Visit to Kabgayi" in institution
    mentee = as_viewer.get(f"/networks/rwanda/institutions/{rows[0]['mentee_id']}").text
    assert f"learns {rows[0]['topics_text']} from" in mentee
    # A viewer reads the form but cannot change the event.
    assert post(as_viewer, f"/networks/rwanda/events/{saved.id}/edit", FORM).status_code == 403
    assert post(as_viewer, f"/networks/rwanda/events/{saved.id}/delete",
                {"confirm": "yes"}).status_code == 403
    # Edited, then deleted only once confirmed.
    edit = as_facilitator.get(f"/networks/rwanda/events/{saved.id}/edit").text
    assert re.search(r'value="%d" checked' % rows[0]["id"], edit) and ">gasabo</textarea>" in edit
    post(as_facilitator, f"/networks/rwanda/events/{saved.id}/edit",
         {**FORM, "title": "Visit to Kabgayi hospital", "partnership": [str(rows[0]["id"])]})
    assert events.events(db, "rwanda")[0].partnerships == [rows[0]["id"]]
    post(as_facilitator, f"/networks/rwanda/events/{saved.id}/delete", {})
    assert events.events(db, "rwanda")
    post(as_facilitator, f"/networks/rwanda/events/{saved.id}/delete", {"confirm": "yes"})
    assert events.events(db, "rwanda") == []


def test_a_bad_event_form_comes_back_as_typed_with_every_problem(db, as_facilitator):
    published(db)
    response = post(as_facilitator, "/networks/rwanda/events/new",
                    {**FORM, "held_on": "soon", "title": "", "institutions": "Atlantis"})
    assert response.status_code == 400
    page = response.text
    assert "3 problems found; nothing was saved." in page
    assert "&#39;soon&#39; is not a date" in page and "Title is required" in page
    assert "&#39;Atlantis&#39; is not an institution of the network" in page
    assert 'value="soon"' in page and ">Atlantis</textarea>" in page
    assert events.events(db, "rwanda") == []


def test_an_event_of_another_network_is_not_found(app, db, as_facilitator):
    published(db)
    saved = events.save_event(db, "rwanda", FORM)
    services.import_file(db, data_dir() / "rwanda", "other")
    assert as_facilitator.get(f"/networks/other/events/{saved.id}/edit").status_code == 404
    assert post(as_facilitator, f"/networks/other/events/{saved.id}/delete",
                {"confirm": "yes"}).status_code == 404
    assert events.events(db, "rwanda")


def test_the_api_lists_and_adds_events(app, db):
    from test_web_api import basic

    rows = published(db)
    client = app.test_client()
    added = client.post("/api/v1/networks/rwanda/events", headers=basic("facilitator"),
                        json={**FORM, "partnerships": [rows[0]["id"]], "topics": ["anc4"],
                              "institutions": ["gasabo"]})
    assert added.status_code == 201, added.text
    listed = client.get("/api/v1/networks/rwanda/events", headers=basic("viewer")).get_json()
    assert [e["title"] for e in listed["events"]] == ["Visit to Kabgayi"]
    assert {a["partnership"] for a in listed["events"][0]["attendance"]} == {rows[0]["id"], None}
    board = client.get("/api/v1/networks/rwanda/programme", headers=basic("viewer")).get_json()
    assert board["network_events"][0]["id"] == added.get_json()["id"]
    bad = client.post("/api/v1/networks/rwanda/events", headers=basic("facilitator"),
                      json={**FORM, "partnerships": ["one"]})
    assert bad.status_code == 400 and bad.get_json()["problems"][0]["column"] == "partnerships"
    assert client.post("/api/v1/networks/rwanda/events", headers=basic("viewer"),
                       json=FORM).status_code == 403
