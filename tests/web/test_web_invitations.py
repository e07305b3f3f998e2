"""Invitations in the app and the API: links, QR cards and the mail-merge list; an
institution's own page (no account) that reaches its own data only; the facilitator's
board; mentors who accept or decline; publishing asks first."""

from __future__ import annotations

import re

from tpn import services
from tpn.services import invitations as inv

from helpers import shared_draft_elsewhere
from webclient import csrf_token, post


def link_of(db, institution: str, network: str = "rwanda") -> str:
    return "/i/" + next(i.token for i in inv.invitations(db, network)
                        if i.institution_id == institution)


def test_links_cards_and_the_mail_merge_list(app, db, as_facilitator, as_viewer):
    assert as_viewer.get("/networks/rwanda/invitations").status_code == 403
    assert post(as_facilitator, "/networks/rwanda/invitations/create",
                {"days": "14"}).status_code == 302
    board = as_facilitator.get("/networks/rwanda/invitations").text
    assert "<strong>0 of 40</strong>" in board and "Not answered yet (40)" in board
    cards = as_facilitator.get("/networks/rwanda/invitations/cards").text
    assert cards.count("<svg") == 40 and cards.count("article class=\"pair-card") == 40
    assert link_of(db, "huye") in cards
    export = as_facilitator.get("/networks/rwanda/invitations.csv")
    lines = export.data.decode().splitlines()
    assert lines[0].startswith("institution_id,name") and len(lines) == 41
    assert any(link_of(db, "huye") in line for line in lines)


def test_an_institution_answers_on_its_own_page_and_the_facilitator_applies(
        app, db, as_facilitator):
    inv.create(db, "rwanda")
    visitor = app.test_client()             # no account
    page = visitor.get(link_of(db, "huye"))
    assert page.status_code == 200 and "<h1>Huye District</h1>" in page.text
    assert "Where you stand" in page.text
    token = csrf_token(visitor, link_of(db, "huye"))
    choices = inv.page(db, link_of(db, "huye")[3:])
    topic = next(iter(choices.eligible))
    mentor = choices.eligible[topic][0].id
    # A mentor that cannot mentor Huye (itself, or another kind) is refused, as typed.
    bad = visitor.post(link_of(db, "huye"), data={"csrf_token": token, "topic-1": topic,
                                                  "mentor-1-1": "kabgayi", "capacity": "x"})
    assert bad.status_code == 400 and "nothing was saved" in bad.text
    assert "cannot mentor Huye District" in bad.text and "is not a number of mentees" in bad.text
    saved = visitor.post(link_of(db, "huye"), data={
        "csrf_token": token, "topic-1": topic, "mentor-1-1": mentor, "capacity": "1",
        "note": "we have a quality officer"})
    assert saved.status_code == 302
    again = visitor.get(link_of(db, "huye")).text
    assert "your answer is saved" in again and f'value="{mentor}" selected' in again
    board = as_facilitator.get("/networks/rwanda/invitations").text
    assert "<strong>1 of 40</strong>" in board and "we have a quality officer" in board
    assert post(as_facilitator, "/networks/rwanda/answers/huye",
                {"decision": "accepted"}).status_code == 302
    post(as_facilitator, "/networks/rwanda/answers/apply")
    focus = [f for f in services.load(db, "rwanda").focus if f.institution_id == "huye"]
    assert [(f.topic_id, f.preferred) for f in focus] == [(topic, (mentor,))]
    # Closed: the page shows the answer and offers no save button.
    post(as_facilitator, "/networks/rwanda/answers/close", {"closed": "yes"})
    closed = visitor.get(link_of(db, "huye")).text
    assert "has closed this round" in closed and "Save my answer" not in closed


def test_an_invitation_reaches_nothing_else(app, db):
    run_id, pair = shared_draft_elsewhere(db)
    visitor = app.test_client()
    # The network's pages stay closed to a visitor with a link.
    assert visitor.get(link_of(db, "huye")).status_code == 200
    assert visitor.get("/networks/rwanda").status_code == 302           # to the login
    assert visitor.get("/networks/rwanda/institutions/gasabo").status_code == 302
    # Answering for another network's pair with rwanda's link of that mentor: not found.
    own = link_of(db, pair["mentor_id"], "rwanda")
    token = csrf_token(visitor, own)
    tampered = visitor.post(own + "/respond", data={
        "csrf_token": token, "run": str(run_id), "mentee": pair["mentee_id"],
        "topic": pair["topic_id"], "response": "accept"})
    assert tampered.status_code == 404
    api = visitor.post(f"/api/v1{own.replace('/i/', '/invitations/')}/responses", json={
        "run": run_id, "mentee_id": pair["mentee_id"], "topic_id": pair["topic_id"],
        "response": "accept"})
    assert api.status_code == 404
    assert inv.acceptance(db, run_id).accepted == ()
    # Its own link, with the CSRF token missing: refused.
    mine = link_of(db, pair["mentor_id"], "other")
    assert visitor.post(mine + "/respond", data={"run": str(run_id)}).status_code == 400
    # Revoked and unknown links are not found; guessing is throttled.
    huye = link_of(db, "huye")
    assert visitor.get(huye).status_code == 200
    inv.revoke(db, "rwanda", "huye")
    assert visitor.get(huye).status_code == 404
    codes = [visitor.get(f"/i/guess-{n}").status_code for n in range(25)]
    assert codes[0] == 404 and codes[-1] == 429


def test_the_api_lists_links_and_answers_and_takes_an_answer(app, db):
    from test_web_api import basic

    client = app.test_client()
    made = client.post("/api/v1/networks/rwanda/invitations", headers=basic("facilitator"),
                       json={"institutions": ["huye", "gasabo"], "days": 7})
    assert made.status_code == 201 and len(made.get_json()["invitations"]) == 2
    assert client.get("/api/v1/networks/rwanda/invitations",
                      headers=basic("viewer")).status_code == 403
    token = next(i.token for i in inv.invitations(db, "rwanda") if i.institution_id == "huye")
    mine = client.get(f"/api/v1/invitations/{token}").get_json()
    assert mine["institution"]["id"] == "huye" and mine["answer"] is None
    topic = next(iter(mine["eligible_mentors"]))
    saved = client.post(f"/api/v1/invitations/{token}/answer", json={
        "focus": [{"topic_id": topic, "preferred": mine["eligible_mentors"][topic][:1]}],
        "capacity": 2})
    assert saved.status_code == 201, saved.text
    answers = client.get("/api/v1/networks/rwanda/answers", headers=basic("facilitator"))
    assert [a["institution_id"] for a in answers.get_json()["answers"]] == ["huye"]
    assert answers.get_json()["waiting"] == ["gasabo"]
    applied = client.post("/api/v1/networks/rwanda/answers/apply",
                          headers=basic("facilitator"), json={})
    assert applied.get_json()["institutions"] == 1


def test_mentors_decline_and_publishing_asks_first(app, db, as_facilitator):
    inv.create(db, "rwanda")
    run = services.run_match(db, "rwanda", "2024")
    page = as_facilitator.get(f"/runs/{run.id}").text
    assert "Ask the mentors to accept" in page
    post(as_facilitator, f"/runs/{run.id}/ask-mentors")
    page = as_facilitator.get(f"/runs/{run.id}").text
    assert "Shared with the mentors: 0 pair(s) accepted" in page
    pair = services.show_run(db, run.id).pairs[0]
    visitor = app.test_client()
    mine = link_of(db, pair["mentor_id"])
    assert "Institutions proposed to learn from you" in visitor.get(mine).text
    token = csrf_token(visitor, mine)
    declined = visitor.post(mine + "/respond", data={
        "csrf_token": token, "run": str(run.id), "mentee": pair["mentee_id"],
        "topic": pair["topic_id"], "response": "decline", "reason": "no staff in June"})
    assert declined.status_code == 302
    page = as_facilitator.get(f"/runs/{run.id}").text
    assert re.search(r"declined .*: no staff in June", page)
    assert 'name="confirm" value="yes" required' in page
    refused = post(as_facilitator, f"/runs/{run.id}/publish")
    assert refused.status_code == 400 and "were declined" in refused.text
    published = post(as_facilitator, f"/runs/{run.id}/publish", {"confirm": "yes"})
    assert published.status_code == 302
    assert services.show_run(db, run.id).status == "published"
