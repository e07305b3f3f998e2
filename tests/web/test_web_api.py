"""The JSON API: the same services as the pages, the same errors, described by OpenAPI."""

from __future__ import annotations

import base64
import re

from helpers import dump
from tpn import services
from webclient import PASSWORDS, csrf_token


def basic(role: str) -> dict:
    raw = f"{role}:{PASSWORDS[role]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_reading_needs_a_user(app):
    client = app.test_client()
    assert client.get("/api/v1/networks").status_code == 401
    wrong = client.get("/api/v1/networks", headers={"Authorization": "Basic " + base64.b64encode(
        b"viewer:nope").decode()})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")


def test_read_networks_institutions_topics_snapshots_focus(app):
    client = app.test_client()
    h = basic("viewer")
    assert client.get("/api/v1/networks", headers=h).get_json()["networks"][0]["name"] == "rwanda"
    net = client.get("/api/v1/networks/rwanda", headers=h).get_json()
    assert net["institutions"] == 40 and net["periods"] == ["2023", "2024"]
    insts = client.get("/api/v1/networks/rwanda/institutions", headers=h).get_json()
    assert len(insts["institutions"]) == 40
    topics = client.get("/api/v1/networks/rwanda/topics", headers=h).get_json()["topics"]
    assert {t["id"] for t in topics} >= {"readmission", "anc4"}
    snaps = client.get("/api/v1/networks/rwanda/snapshots", headers=h).get_json()
    assert [s["period"] for s in snaps["snapshots"]] == ["2023", "2024"]
    scores = client.get("/api/v1/networks/rwanda/snapshots/2024", headers=h).get_json()
    assert scores["scores"] and set(scores["scores"][0]) == {"institution_id", "topic_id",
                                                               "value"}
    focus = client.get("/api/v1/networks/rwanda/focus", headers=h).get_json()
    assert len(focus["focus"]) == len(services.focus(app.extensions["tpn_db"], "rwanda"))
    missing = client.get("/api/v1/networks/nowhere", headers=h)
    assert missing.status_code == 404 and "no network named" in missing.get_json()["error"]


def test_run_publish_and_read_pairs(app):
    client = app.test_client()
    h = basic("facilitator")
    created = client.post("/api/v1/networks/rwanda/runs", headers=h,
                          json={"period": "2024", "options": {"mentor_capacity": 1}})
    assert created.status_code == 201, created.get_json()
    rid = created.get_json()["run"]
    run = client.get(f"/api/v1/runs/{rid}", headers=h).get_json()
    assert run["options"]["mentor_capacity"] == 1 and run["status"] == "draft"
    pairs = client.get(f"/api/v1/runs/{rid}/pairs", headers=h).get_json()
    assert len(pairs["pairs"]) == created.get_json()["matched"]
    listed = client.get("/api/v1/networks/rwanda/runs", headers=h).get_json()["runs"]
    assert [r["id"] for r in listed] == [rid]
    published = client.post(f"/api/v1/runs/{rid}/publish", headers=h,
                            json={"version": run["version"]})
    assert published.status_code == 200 and published.get_json()["partnerships"] == \
        len(pairs["pairs"])
    again = client.post(f"/api/v1/runs/{rid}/publish", headers=h, json={})
    assert again.status_code == 409


def test_bad_options_come_back_as_problems(app):
    client = app.test_client()
    db = app.extensions["tpn_db"]
    before = dump(db)
    response = client.post("/api/v1/networks/rwanda/runs", headers=basic("facilitator"),
                           json={"options": {"top_share": 3, "no_such_option": 1}})
    assert response.status_code == 400
    assert "unknown option(s): no_such_option" in response.get_json()["problems"][0]["message"]
    assert dump(db) == before


def test_set_focus_through_the_api(app):
    client = app.test_client()
    db = app.extensions["tpn_db"]
    response = client.put("/api/v1/networks/rwanda/focus", headers=basic("facilitator"),
                          json={"choices": {"gasabo": [{"topic_id": "anc4", "priority": 1}]}})
    assert response.status_code == 200, response.get_json()
    assert [(f.topic_id, f.chosen_by) for f in services.focus(db, "rwanda")
            if f.institution_id == "gasabo"] == [("anc4", "facilitator")]
    bad = client.put("/api/v1/networks/rwanda/focus", headers=basic("facilitator"),
                     json={"choices": {"gasabo": [{"topic_id": "readmission"}]}})
    assert bad.status_code == 400
    assert "does not apply to district" in bad.get_json()["problems"][0]["message"]


def test_writes_need_the_right_role_json_and_for_sessions_the_csrf_header(app):
    client = app.test_client()
    db = app.extensions["tpn_db"]
    before = dump(db)
    viewer = client.post("/api/v1/networks/rwanda/runs", headers=basic("viewer"), json={})
    assert viewer.status_code == 403
    form = client.post("/api/v1/networks/rwanda/runs", headers=basic("facilitator"),
                       data="period=2024", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    assert dump(db) == before
    # A signed-in browser session must send the page's CSRF token as a header.
    token = csrf_token(client)
    client.post("/login", data={"username": "facilitator",
                                "password": PASSWORDS["facilitator"], "csrf_token": token})
    before = dump(db)                   # the sign-in itself is kept on the server
    token = csrf_token(client, "/")
    no_header = client.post("/api/v1/networks/rwanda/runs", json={})
    assert no_header.status_code == 400 and "X-CSRFToken" in no_header.get_json()["error"]
    assert dump(db) == before
    ok = client.post("/api/v1/networks/rwanda/runs", json={}, headers={"X-CSRFToken": token})
    assert ok.status_code == 201


def test_the_openapi_document_is_valid_and_covers_every_route(app):
    from openapi_spec_validator import validate

    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(doc)
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented


def test_partnerships_records_and_the_dashboard(app):
    client = app.test_client()
    h = basic("facilitator")
    db = app.extensions["tpn_db"]
    services.publish(db, services.run_match(db, "rwanda", "2023", author="test").id)
    listed = client.get("/api/v1/networks/rwanda/partnerships", headers=h).get_json()
    first = listed["partnerships"][0]
    assert first["step"] == 1 and first["ended_at"] is None and first["mentee_name"]
    written = client.post(f"/api/v1/networks/rwanda/partnerships/{first['id']}/records",
                          headers=h, json={"kind": "action_plan", "fields": {
                              "agreed_on": "2026-02-01", "objectives": "Deliveries to 90%",
                              "budget": 1500, "activities": [
                                  {"what": "Audit registers", "owner": "Matron",
                                   "due": "2026-03-01"}]}})
    assert written.status_code == 201 and written.get_json()["moved_to"] == 4
    detail = client.get(first["url"], headers=h).get_json()
    assert detail["step"] == 4 and detail["records"][0]["fields"]["budget"] == 1500.0
    assert [a["what"] for a in detail["overdue"]] == ["Audit registers"]
    bad = client.post(f"/api/v1/networks/rwanda/partnerships/{first['id']}/records",
                      headers=h, json={"kind": "visit", "fields": {"starts_on": "soon"}})
    assert bad.status_code == 400
    assert {p["column"] for p in bad.get_json()["problems"]} == {"visit_type", "purpose",
                                                                 "starts_on"}
    board = client.get("/api/v1/networks/rwanda/programme", headers=h).get_json()
    assert board["by_step"]["4"] == 1 and board["overdue"][0]["partnership"] == first["id"]
    viewer = client.post(f"/api/v1/networks/rwanda/partnerships/{first['id']}/records",
                         headers=basic("viewer"), json={"kind": "agreement", "fields": {}})
    assert viewer.status_code == 403
    assert client.get("/api/v1/networks/rwanda/partnerships/99999", headers=h).status_code == 404
