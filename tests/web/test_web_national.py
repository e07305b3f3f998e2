"""The app on a national network (3,055 institutions, 6 topics): every page the room uses
stays under 1 MB, whatever the network's size (server times: benchmarks/web_pages.py)."""

from __future__ import annotations

import pytest

from tpn import services
from tpn.samples import generate
from tpn.tabular import write_network

from webclient import PASSWORDS, login, post

MB = 1_000_000


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    from web import create_app

    folder = tmp_path_factory.mktemp("national")
    app = create_app({"INSTANCE": folder / "instance"})
    db = app.extensions["tpn_db"]
    write_network(generate(3055, seed=3, topics=6), folder / "net")
    services.import_file(db, folder / "net", "national")
    services.add_user(db, "facilitator", PASSWORDS["facilitator"], "facilitator")
    published = services.run_match(db, "national").id
    services.publish(db, published)
    draft = services.rerun(db, published).id
    return app, db, published, draft


def test_every_page_of_a_national_network_is_under_a_megabyte(national):
    app, db, published, draft = national
    client = login(app.test_client(), "facilitator")
    run = services.show_run(db, draft)
    someone = run.pairs[0]
    services.invitations.create(db, "national")
    link = next(i.token for i in services.invitations.invitations(db, "national")
                if i.institution_id == someone["mentee_id"])
    pages = ["/networks/national", "/networks/national/gaps", "/networks/national/focus",
             f"/runs/{draft}", f"/runs/{draft}?topic={someone['topic_id']}&sort=cost&desc=1",
             f"/runs/{draft}?q={someone['mentee_name'].split()[0]}", f"/runs/{draft}/cards",
             f"/runs/{published}", "/networks/national/programme",
             f"/networks/national/institutions/{someone['mentee_id']}",
             "/networks/national/quality", "/networks/national/invitations",
             "/networks/national/invitations/cards", f"/i/{link}"]
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        assert len(page.data) < MB, (path, len(page.data))
    assert len(run.pairs) > 2000


def test_a_review_edit_answers_with_a_redirect_to_a_page_under_a_megabyte(national):
    app, db, _published, draft = national
    client = login(app.test_client(), "facilitator")
    pair = services.show_run(db, draft).pairs[10]
    edited = post(client, f"/runs/{draft}/edit", {"action": "lock", "mentee": pair["mentee_id"],
                                                  "topic": pair["topic_id"],
                                                  "current": pair["mentor_id"]})
    assert edited.status_code == 302
    assert len(client.get(edited.location).data) < MB


def test_a_thousand_pairs_are_shown_as_region_flows_not_drawn(national):
    app, db, _published, draft = national
    client = login(app.test_client(), "facilitator")
    page = client.get(f"/runs/{draft}?per=1000").text
    assert "too many to draw: where they go, region to region" in page
    assert '<svg class="network"' not in page and len(page.encode()) < 3 * MB
    assert '<svg class="network"' in client.get(f"/runs/{draft}?per=100").text
