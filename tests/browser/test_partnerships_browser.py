"""After the workshop, in a real Chromium against the app served by waitress: an external
partner offered on a topic and matched, partnerships of two institutions (one with two
topics and one agreement), a network learning event attended by three partnerships, reviews
that close one partnership and continue another, and a rerun that keeps a partnership whose
agreement was just signed. One test per step on one facilitator's page; a failed step skips
the steps that need it. Screenshots go with the workshop's (TPN_TEST_OUTPUT).
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from tpn import services
from tpn.models import Institution
from tpn.samples import rwanda
from tpn.tabular import write_network

from chromium import offline_context, served, sign_in
from test_workshop_browser import PASSWORD, Workshop, shot

NET = "kigali-programme"
PARTNER = Institution("overseas", "Overseas Teaching Hospital", "partner", capacity=3)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    from web import create_app

    app = create_app({"INSTANCE": tmp_path_factory.mktemp("instance")})
    db = app.extensions["tpn_db"]
    services.add_user(db, "facilitator", PASSWORD, "facilitator")
    net = dataclasses.replace(rwanda(), institutions=rwanda().institutions + (PARTNER,))
    services.import_file(db, write_network(net, tmp_path_factory.mktemp("net") / "n.xlsx"), NET)
    with served(app) as server:
        yield server, db


@pytest.fixture(scope="module")
def walk(browser):
    context, left = offline_context(browser)
    page = context.new_page()
    yield Workshop(page, left)
    context.close()


def partnership_rows(page):
    return page.locator("table.programme tbody tr")


def test_sign_in_and_offer_an_external_partner(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.page
    sign_in(page, server, "facilitator", PASSWORD)
    page.goto(f"{server}/networks/{NET}/institutions/overseas")
    page.get_by_text("Change its details").click()
    page.get_by_label(re.compile(r"an external partner")).check()
    page.get_by_label("Community-based health insurance coverage", exact=True).check()
    shot(page, "30-external-partner-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(re.compile(r"external partner offered as a mentor on "
                                       r"Community-based health insurance"))).to_be_visible()
    shot(page, "31-external-partner")
    walk.passed("partner")


def test_match_with_the_partner_and_publish(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("partner")
    page.goto(f"{server}/networks/{NET}")
    page.get_by_role("navigation").get_by_role("link", name="Match").click()
    page.get_by_role("button", name="Run the match").click()
    expect(page.get_by_role("heading", name=re.compile(rf"Run 1 of {NET}"))).to_be_visible()
    page.locator("#f-q").fill("Overseas")
    page.get_by_role("button", name="Show").click()
    row = page.locator("table.pairs tbody tr", has_text="Overseas Teaching Hospital").first
    row.get_by_text("why").click()
    expect(row.get_by_text(re.compile(r"is an external partner the facilitator offered as a "
                                      r"mentor on"))).to_be_visible()
    expect(row.get_by_text("the mentor is an external partner, without scores")).to_be_visible()
    shot(page, "32-results-with-partner")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(re.compile(r"Run 1 published: \d+ pairs in \d+ partnerships"))
           ).to_be_visible()
    walk.passed("publish")


def test_a_partnership_on_two_topics_has_one_agreement(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("publish")
    two = [p for p in services.programme.partnerships(db, NET) if len(p["topics"]) == 2]
    assert two, "the 2024 match pairs one mentee with one mentor on two topics"
    p = two[0]
    page.goto(f"{server}/networks/{NET}/programme")
    page.locator("#f-q").fill(p["mentee_name"])
    page.get_by_role("button", name="Show").click()
    partnership_rows(page).filter(has_text=p["topics_text"]).first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"{p['mentee_name']} learns from "
                                            f"{p['mentor_name']}")).to_be_visible()
    expect(page.get_by_text(f"Topics: {p['topics_text']}")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"1 · Partnership agreement")).click()
    page.get_by_label("Date signed").fill("2026-01-15")
    page.get_by_label("What the two institutions agree to work on").fill(p["topics_text"])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Partnership agreement saved.")).to_be_visible()
    # One agreement for both topics: no second one is offered; an action plan per topic is.
    expect(page.get_by_role("link", name=re.compile(r"1 · Partnership agreement"))).to_have_count(0)
    page.get_by_role("link", name=re.compile(r"4 · Action plan")).click()
    page.get_by_label("Topic", exact=True).select_option(p["topics"][0])
    page.get_by_label("Objectives").fill("Raise the first topic")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(re.compile(r"moved to step 4: action planning"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(rf"Action plan · {p['topic_names'][0]}"))
           ).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"4 · Action plan"))).to_have_count(1)
    expect(page.get_by_role("heading", name=f"Scores on {p['topic_names'][1]}")).to_be_visible()
    shot(page, "33-two-topic-partnership")
    walk.two_topic = p
    walk.passed("two topics")


def test_a_network_event_attended_by_three_partnerships(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("publish")
    three = services.programme.partnerships(db, NET)[:3]
    page.goto(f"{server}/networks/{NET}/programme")
    page.get_by_role("link", name="Add a learning event").click()
    page.get_by_label("Date").fill("2026-04-10")
    page.get_by_label("Type").select_option("in-person learning session")
    page.get_by_label("Title").fill("Maternal health learning day")
    page.get_by_label("Place").fill("Huye")
    page.get_by_label("ANC4 coverage", exact=True).check()
    for p in three:
        page.locator(f"input[name='partnership'][value='{p['id']}']").check()
    page.get_by_label("Other institutions attending").fill("Gasabo District")
    shot(page, "34-event-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(re.compile(r"Learning event saved: Maternal health learning day, "
                                       r"2026-04-10, \d+ institutions and 3 partnerships"))
           ).to_be_visible()
    expect(page.locator("table.events")).to_contain_text("Maternal health learning day")
    shot(page, "35-programme-events")
    page.goto(f"{server}/networks/{NET}/partnerships/{three[1]['id']}")
    expect(page.locator("#events + ul")).to_contain_text("Maternal health learning day")
    page.goto(f"{server}/networks/{NET}/institutions/gasabo")
    expect(page.get_by_text("Network learning events attended:")).to_be_visible()
    walk.passed("event")


def review(page, decision: str) -> None:
    page.get_by_role("link", name=re.compile(r"6 · Evaluation and review")).click()
    page.get_by_label("Date of the review").fill("2026-06-30")
    page.get_by_label("Decision").select_option(decision)
    page.get_by_role("button", name="Save").click()


def test_reviews_close_one_partnership_and_continue_another(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("publish")
    two = getattr(walk, "two_topic", {}).get("id")
    closing, going = [p for p in services.programme.partnerships(db, NET)[3:]
                      if p["id"] != two][:2]
    page.goto(f"{server}/networks/{NET}/partnerships/{closing['id']}")
    review(page, "close")
    expect(page.get_by_text(re.compile(r"the partnership is closed"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"ended .* \(closed by its review\)"))).to_be_visible()
    shot(page, "36-closed-by-review")
    page.goto(f"{server}/networks/{NET}/partnerships/{going['id']}")
    review(page, "continue")
    expect(page.get_by_text(re.compile(r"moved to step 4: action planning"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"4 · Action plan"))).to_be_visible()
    walk.closed = closing
    walk.passed("reviews")


def test_a_rerun_keeps_a_partnership_whose_agreement_is_signed(app_server, walk):
    from playwright.sync_api import expect

    server, db = app_server
    page = walk.after("reviews")
    signed = next(p for p in services.programme.partnerships(db, NET)[3:] if p["step"] == 1)
    page.goto(f"{server}/networks/{NET}/partnerships/{signed['id']}")
    page.get_by_role("link", name=re.compile(r"1 · Partnership agreement")).click()
    page.get_by_label("Date signed").fill("2026-02-01")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Partnership agreement saved.")).to_be_visible()
    page.goto(f"{server}/networks/{NET}/programme")
    page.locator("#rerun-period").select_option("2023")
    expect(page.locator("#keep_from_step")).to_have_value("1")
    page.get_by_role("button", name="Rerun, keeping partnerships stable").click()
    expect(page.get_by_text(re.compile(r"pairs of partnerships locked \(from step 1, "
                                       r"agreement\)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"\d+ closed by their review left out"))).to_be_visible()
    page.locator("#f-q").fill(signed["mentee_name"])
    page.get_by_role("button", name="Show").click()
    for topic in signed["topic_names"]:
        kept = page.locator("table.pairs tbody tr", has_text=signed["mentee_name"]).filter(
            has_text=topic).first
        expect(kept.locator(".badge", has_text="locked")).to_be_visible()
        expect(kept).to_contain_text(signed["mentor_name"])
    shot(page, "37-rerun-keeps-signed")
    walk.passed("rerun")
