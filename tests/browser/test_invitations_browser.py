"""A round in which the institutions take part, in a real Chromium against waitress: the
facilitator creates the invitation links, three institutions answer on a phone-sized screen
(focus topics and a preferred mentor), the facilitator uses the answers, the match honours
a preference, a mentor declines on its phone, the rerun leaves that pair out, and the draft
is published after confirming. One test per step; screenshots with the workshop's.
"""

from __future__ import annotations

import re

import pytest

from tpn import services
from tpn.samples import data_dir
from tpn.services import invitations

from chromium import offline_context, served, sign_in
from test_workshop_browser import PASSWORD, Workshop, shot

NET = "kigali-round"
PHONE = {"width": 390, "height": 844}
ANSWERING = ("huye", "nyaruguru", "kicukiro")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    from web import create_app

    app = create_app({"INSTANCE": tmp_path_factory.mktemp("instance")})
    db = app.extensions["tpn_db"]
    services.add_user(db, "facilitator", PASSWORD, "facilitator")
    services.import_file(db, data_dir() / "rwanda", NET)
    with served(app) as server:
        yield server, db


@pytest.fixture(scope="module")
def walk(browser):
    context, left = offline_context(browser)
    yield Workshop(context.new_page(), left)
    context.close()


@pytest.fixture
def phone(browser):
    context, left = offline_context(browser, viewport=PHONE)
    yield context.new_page()
    context.close()
    assert left == [], f"requests left the machine: {left}"


def test_the_facilitator_creates_the_links(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.page
    sign_in(page, server, "facilitator", PASSWORD)
    page.goto(f"{server}/networks/{NET}")
    page.get_by_role("navigation").get_by_role("link", name="Invitations").click()
    page.get_by_role("button", name="Create the missing links").click()
    expect(page.get_by_text("40 institutions have a live invitation link.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"0 of 40"))).to_be_visible()
    page.get_by_role("link", name="Print QR cards").click()
    expect(page.locator("article.invitation-card svg")).to_have_count(40)
    shot(page, "40-invitation-cards")
    walk.passed("links")


def test_three_institutions_answer_on_a_phone(app_server, walk, phone):
    from playwright.sync_api import expect

    server, db = app_server
    walk.after("links")
    walk.preferred = {}
    for institution in ANSWERING:
        token = next(i.token for i in invitations.invitations(db, NET)
                     if i.institution_id == institution)
        phone.goto(f"{server}/i/{token}")
        # Mentors are grouped by topic: take the first topic that lists some, and its first.
        group = phone.locator("#mentor-1-1 optgroup").first
        label = group.get_attribute("label")
        mentor = group.locator("option").first.get_attribute("value")
        topic = phone.locator("#topic-1 option", has_text=label).first.get_attribute("value")
        phone.locator("#topic-1").select_option(topic)
        phone.locator("#mentor-1-1").select_option(mentor)
        phone.get_by_label("How many institutions could you mentor this round?").fill("1")
        shot(phone, f"41-answer-{institution}")
        phone.get_by_role("button", name="Save my answer").click()
        expect(phone.get_by_text("Thank you: your answer is saved.")).to_be_visible()
        # Nothing wider than the phone's screen.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        walk.preferred[institution] = (topic, mentor)
    walk.passed("answers")


def test_the_facilitator_uses_the_answers_and_the_match_honours_a_preference(app_server,
                                                                            walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("answers")
    page.goto(f"{server}/networks/{NET}/invitations")
    expect(page.get_by_text(re.compile(r"3 of 40"))).to_be_visible()
    shot(page, "42-answers")
    page.get_by_role("button", name="Use these answers").click()
    expect(page.get_by_text(re.compile(r"The answers of 3 institutions are the round's focus"))
           ).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Match").click()
    page.get_by_role("button", name="Run the match").click()
    expect(page.get_by_role("heading", name=re.compile(rf"Run 1 of {NET}"))).to_be_visible()
    expect(page.locator("table.pairs .badge", has_text="asked for (1st choice)").first
           ).to_be_visible()
    walk.runs[1] = page.url
    page.get_by_role("button", name="Ask the mentors to accept").click()
    expect(page.get_by_text(re.compile(r"Shared with the mentors: 0 pair\(s\) accepted"))
           ).to_be_visible()
    shot(page, "43-draft-shared")
    walk.passed("match")


def test_a_mentor_declines_on_its_phone(app_server, walk, phone):
    from playwright.sync_api import expect

    server, db = app_server
    walk.after("match")
    run_id = int(walk.runs[1].rsplit("/", 1)[1])
    pair = services.show_run(db, run_id).pairs[0]
    token = next(i.token for i in invitations.invitations(db, NET)
                 if i.institution_id == pair["mentor_id"])
    phone.goto(f"{server}/i/{token}")
    card = phone.locator("section.proposal", has_text=pair["mentee_name"]).first
    expect(card).to_be_visible()
    card.get_by_label("Reason to decline").fill("our team is away in June")
    card.get_by_role("button", name="Decline").click()
    expect(phone.get_by_text("Declined: thank you.")).to_be_visible()
    shot(phone, "44-mentor-declined")
    walk.declined = pair
    walk.passed("decline")


def test_the_rerun_leaves_the_declined_pair_out_and_the_draft_is_published(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("decline")
    pair = walk.declined
    page.goto(walk.runs[1])
    expect(page.get_by_text(re.compile(r"declined .*: our team is away in June"))).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Rerun with 1 edit")).click()
    expect(page.get_by_role("heading", name=re.compile(rf"Run 2 of {NET}"))).to_be_visible()
    rerun = int(page.url.rsplit("/", 1)[1])
    assert (pair["mentee_id"], pair["topic_id"], pair["mentor_id"]) not in {
        (p["mentee_id"], p["topic_id"], p["mentor_id"])
        for p in services.show_run(db, rerun).pairs}
    page.get_by_role("button", name="Ask the mentors to accept").click()
    page.get_by_label(re.compile(r"publish although")).check()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(re.compile(r"Run 2 published"))).to_be_visible()
    shot(page, "45-published-after-confirming")
    walk.passed("publish")
