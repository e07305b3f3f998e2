"""The kickoff workshop in a real Chromium (Debian's, driven by Playwright), against
the app served by waitress as ``tpn serve`` serves it: sign in, create a network, import a
workbook whose headers differ (column mapping), gap analysis, one institution, focus by
keyboard, match, lock, rerun, publish, print the pair cards, projector mode, and a
participant's share link, one test per step on one facilitator's page (a failed step
skips the steps that need it, naming it). Every page is saved as a screenshot under the test run's output
folder (TPN_TEST_OUTPUT, default out/test-run/screenshots).

Without a browser the test skips, unless TPN_REQUIRE_BROWSER is set (as .ci/run does):
then a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tpn import services
from tpn.samples import rwanda
from tpn.tabular import write_network

from chromium import offline_context

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("TPN_TEST_OUTPUT", REPO / "out" / "test-run")) / "screenshots"
PASSWORD = "workshop-2026"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from waitress.server import create_server

    from web import create_app

    app = create_app({"INSTANCE": tmp_path_factory.mktemp("instance")})
    services.add_user(app.extensions["tpn_db"], "facilitator", PASSWORD, "facilitator")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.fixture
def page(browser):
    context, left = offline_context(browser)
    yield context.new_page()
    context.close()
    assert left == [], f"requests left the machine: {left}"


@pytest.fixture(scope="module")
def workshop(browser):
    """One facilitator's page for the whole walk-through: each step starts where the one
    before left the workshop (and is skipped, naming it, when that step failed)."""
    context, left = offline_context(browser)
    page = context.new_page()
    yield Workshop(page, left)
    context.close()


class Workshop:
    def __init__(self, page, left: list[str]):
        self.page, self.left, self.done = page, left, set()
        self.runs: dict[int, str] = {}       # run number → its page's address

    def after(self, *steps: str):
        missing = [step for step in steps if step not in self.done]
        if missing:
            pytest.skip(f"needs the step(s) {', '.join(missing)}, which did not pass")
        return self.page

    def passed(self, step: str) -> None:
        assert self.left == [], f"requests left the machine: {self.left}"
        self.done.add(step)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def workbook_with_other_headers(folder: Path) -> Path:
    """The sample network as Excel, with the institutions' name column headed 'Facility'."""
    path = write_network(rwanda(), folder / "rwanda.xlsx")
    book = load_workbook(path)
    sheet = book["institutions"]
    for cell in sheet[1]:
        if cell.value == "name":
            cell.value = "Facility"
    book.save(path)
    return path


def test_sign_in(server, workshop):
    from playwright.sync_api import expect

    page = workshop.page
    page.goto(server)
    expect(page).to_have_url(re.compile(r"/login"))
    shot(page, "01-login")
    page.get_by_label("User name").fill("facilitator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Networks")).to_be_visible()
    workshop.passed("sign in")


def test_import_a_workbook_with_other_headers(server, workshop, tmp_path):
    from playwright.sync_api import expect

    page = workshop.after("sign in")
    page.goto(server)
    page.get_by_label("Name").fill("kigali-workshop")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Import into kigali-workshop")).to_be_visible()
    shot(page, "02-import")
    page.get_by_label("File").set_input_files(str(workbook_with_other_headers(tmp_path)))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    expect(page.get_by_text("the required column name is missing")).to_be_visible()
    shot(page, "03-import-mapping")
    page.locator("#col-institutions-name").select_option("Facility")
    page.get_by_role("button", name="Apply the mapping").click()
    expect(page.get_by_text("40 institutions")).to_be_visible()
    shot(page, "04-import-preview")
    page.get_by_role("button", name="Import into kigali-workshop").click()
    expect(page.get_by_text("Imported 40 institutions")).to_be_visible()
    shot(page, "05-overview")
    workshop.passed("import")


def test_gap_analysis_and_one_institution(server, workshop):
    from playwright.sync_api import expect

    page = workshop.after("import")
    page.goto(f"{server}/networks/kigali-workshop")
    page.get_by_role("navigation").get_by_role("link", name="Gap analysis").click()
    expect(page.locator("table.heatmap tbody tr")).to_have_count(40)
    shot(page, "06-gap-analysis")
    page.get_by_role("link", name="Kibuye Referral Hospital").click()
    expect(page.get_by_role("heading", name="Suggested focus topics")).to_be_visible()
    expect(page.locator("svg.strip").first).to_be_visible()
    shot(page, "07-institution")
    workshop.passed("gap analysis")


def test_focus_by_keyboard(server, workshop):
    from playwright.sync_api import expect

    page = workshop.after("import")
    page.goto(f"{server}/networks/kigali-workshop")
    page.get_by_role("navigation").get_by_role("link", name="Focus").click()
    first = page.locator("input[name='focus-0-3']")
    topics = page.locator(f"#{first.get_attribute('list')} option")
    label = topics.nth(1).get_attribute("value")
    first.focus()
    page.keyboard.type(label)
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Save this page").first.click()
    expect(page.get_by_text(re.compile(r"Focus saved for 40 institutions"))).to_be_visible()
    shot(page, "08-focus")
    workshop.passed("focus")


def test_match_with_the_defaults(server, workshop):
    from playwright.sync_api import expect

    page = workshop.after("focus")
    page.goto(f"{server}/networks/kigali-workshop")
    page.get_by_role("navigation").get_by_role("link", name="Match").click()
    expect(page.get_by_label("How many mentees one mentor takes")).to_have_value("2")
    expect(page.get_by_label("weight_size")).to_be_hidden()        # under "Advanced options"
    shot(page, "09-match-setup")
    page.get_by_role("button", name="Run the match").click()
    expect(page.get_by_role("heading", name=re.compile(r"Run 1 of kigali-workshop"))).to_be_visible()
    pairs = page.locator("table.pairs tbody tr")
    expect(pairs.first).to_be_visible()
    pairs.first.get_by_text("why").click()
    expect(pairs.first.locator("details p").first).to_be_visible()
    shot(page, "10-results")
    workshop.runs[1] = page.url
    workshop.passed("match")


def test_lock_a_pair_and_rerun(workshop):
    from playwright.sync_api import expect

    page = workshop.after("match")
    page.goto(workshop.runs[1])
    pairs = page.locator("table.pairs tbody tr")
    mentor = pairs.first.locator("td").nth(2).inner_text().strip()
    pairs.first.get_by_role("button", name="Lock").click()
    expect(page.get_by_text(re.compile(r"^Locked "))).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Rerun with 1 edit")).click()
    expect(page.get_by_role("heading", name=re.compile(r"Run 2 of kigali-workshop"))).to_be_visible()
    expect(page.locator("table.pairs tbody tr").first.locator("td").nth(2)).to_contain_text(
        mentor)
    expect(page.locator("table.pairs .badge", has_text="locked")).to_have_count(1)
    shot(page, "11-rerun")
    workshop.runs[2] = page.url
    workshop.passed("rerun")


def test_publish_and_print_the_cards(workshop):
    from playwright.sync_api import expect

    page = workshop.after("rerun")
    page.goto(workshop.runs[2])
    pair_count = page.locator("table.pairs tbody tr").count()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(re.compile(r"Run 2 published"))).to_be_visible()
    shot(page, "12-published")
    page.get_by_role("link", name="Pair cards").click()
    cards = page.locator("article.pair-card")
    expect(cards).to_have_count(pair_count)
    expect(cards.first.get_by_text("First visit date")).to_be_visible()
    shot(page, "13-pair-cards")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    shot(page, "14-pair-cards-print")
    page.emulate_media(media="screen")
    page.get_by_role("link", name="Projector mode").click()
    # Waits for the page the link loads (reading the style at once raced the navigation).
    expect(page.locator("body")).to_have_css("font-size", "24px")
    shot(page, "15-projector")
    page.get_by_role("link", name="Normal type").click()
    expect(page.locator("body")).not_to_have_css("font-size", "24px")
    workshop.passed("publish")


def test_programme_and_an_action_plan(server, workshop):
    from playwright.sync_api import expect

    page = workshop.after("publish")
    page.goto(f"{server}/networks/kigali-workshop")
    page.get_by_role("navigation").get_by_role("link", name="Programme").click()
    expect(page.get_by_role("heading", name="Partnerships by step")).to_be_visible()
    page.locator("table.programme tbody tr").first.get_by_role("link").click()
    page.get_by_role("link", name=re.compile(r"4 · Action plan")).click()
    page.get_by_label("Objectives").fill("Raise facility deliveries to 90%")
    page.get_by_label("Activity 1: what").fill("Audit the delivery registers")
    page.get_by_label("Activity 1: owner").fill("Matron")
    page.get_by_label("Activity 1: due").fill("2020-03-01")     # long past: overdue
    page.get_by_label("Budget", exact=True).fill("1500")
    shot(page, "16-action-plan-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(re.compile(r"moved to step 4: action planning"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Overdue: Audit the delivery registers"))).to_be_visible()
    shot(page, "17-partnership")
    page.emulate_media(media="print")
    expect(page.get_by_role("link", name=re.compile(r"Action plan"))).to_have_count(0)
    shot(page, "18-partnership-print")
    page.emulate_media(media="screen")
    page.get_by_role("link", name="← Programme").click()
    expect(page.locator("#overdue + table")).to_contain_text("Audit the delivery registers")
    shot(page, "19-programme")
    workshop.passed("programme")


def test_a_participants_share_link(server, workshop, browser):
    from playwright.sync_api import expect

    page = workshop.after("focus")
    page.goto(f"{server}/networks/kigali-workshop")
    page.get_by_role("button", name="New share link").click()
    link = page.get_by_label("Share link").first.input_value()
    context, left = offline_context(browser)      # no account, no cookie
    participant = context.new_page()
    participant.goto(link)
    expect(participant.get_by_role("heading", name="kigali-workshop")).to_be_visible()
    expect(participant.get_by_role("link", name="Import")).to_have_count(0)
    participant.goto(f"{server}/networks/kigali-workshop/focus")
    expect(participant.get_by_role("button", name="Save this page")).to_have_count(0)
    shot(participant, "20-participant-focus")
    context.close()
    assert left == [], f"requests left the machine: {left}"
    workshop.passed("share link")


def test_flagged_scores_in_the_browser(server, page, tmp_path):
    """An import with impossible values: the one-line summary links to the data-quality
    report, the gap analysis marks the flagged cells, and accepting a checked value unmarks
    it."""
    from playwright.sync_api import expect

    from tpn.models import FocusRequest, Institution, Network, Snapshot, Topic

    topic = Topic("anc", "ANC retention", unit="%", minimum=0, maximum=100)
    values = [55.0, 60, 62, 65, 70, 72, 75, 80, 85, 90, 150, 240]
    insts = [Institution(f"c{k:02d}", f"Clinic {k:02d}", "clinic") for k in range(len(values))]
    network = Network(tuple(insts), (topic,),
                      (Snapshot("2024", {(f"c{k:02d}", "anc"): v
                                         for k, v in enumerate(values)}),),
                      (FocusRequest("c00", "anc"),))
    book = write_network(network, tmp_path / "retention.xlsx")

    page.goto(f"{server}/login")
    page.get_by_label("User name").fill("facilitator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Name").fill("retention")
    page.get_by_role("button", name="Create").click()
    page.get_by_label("File").set_input_files(str(book))
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("button", name="Import into retention").click()
    expect(page.get_by_text("Data quality: 2 score(s) flagged (2 out of range")).to_be_visible()
    page.get_by_role("link", name="See the data-quality report").click()
    expect(page.get_by_role("heading", name="Flagged scores", exact=True)).to_be_visible()
    expect(page.locator("table.flags tbody tr")).to_have_count(2)
    shot(page, "21-data-quality")

    page.goto(f"{server}/networks/retention/gaps")
    flagged = page.locator("table.heatmap td.flagged")
    expect(flagged).to_have_count(2)
    expect(flagged.first).to_have_attribute("title", re.compile(r"outside the plausible range"))
    shot(page, "22-gap-analysis-flags")

    page.goto(f"{server}/networks/retention/quality")
    row = page.locator("table.flags tbody tr", has_text="Clinic 10")
    row.get_by_label("How it was checked").fill("register recounted")
    row.get_by_role("button", name="Accept").click()
    expect(page.get_by_text(re.compile(r"^Accepted: 150 %"))).to_be_visible()
    page.goto(f"{server}/networks/retention/gaps")
    expect(page.locator("table.heatmap td.flagged")).to_have_count(1)
