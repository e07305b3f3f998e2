"""The pages fit the screens they are used on: a 1280 px laptop on the projector and a
390 px phone. No page scrolls sideways (a wide table scrolls inside its own box), in
normal and projector mode; projector headings are at least as large as its text; pair
cards never overlap and their text stays inside them."""

from __future__ import annotations

import threading

import pytest

from tpn import services
from tpn.samples import data_dir
from tpn.services import programme

from chromium import offline_context

PASSWORD = "layout-2026"
SCREENS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LONG = ("Centre Hospitalier Universitaire de Référence de la Province du Nord-Ouest, "
        "Service de Néonatologie et de Pédiatrie")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from waitress.server import create_server

    from web import create_app

    folder = tmp_path_factory.mktemp("layout")
    net = folder / "net"
    net.mkdir()
    for file in (data_dir() / "rwanda").glob("*.csv"):       # one very long name
        (net / file.name).write_text(file.read_text().replace("Kibuye Referral Hospital", f'"{LONG}"'))
    app = create_app({"INSTANCE": folder / "instance"})
    db = app.extensions["tpn_db"]
    services.import_file(db, net, "rwanda")
    services.add_user(db, "facilitator", PASSWORD, "facilitator")
    run = services.run_match(db, "rwanda").id
    services.publish(db, run)
    draft = services.rerun(db, run).id
    first = programme.partnerships(db, "rwanda")[0]["id"]
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    yield base, {
        "overview": "/networks/rwanda", "gap analysis": "/networks/rwanda/gaps",
        "focus": "/networks/rwanda/focus", "results": f"/runs/{run}",
        "pair cards": f"/runs/{run}/cards", "programme": "/networks/rwanda/programme",
        "partnership": f"/networks/rwanda/partnerships/{first}",
        "draft": f"/runs/{draft}"}, db, draft
    server.close()


@pytest.fixture(scope="module", params=sorted(SCREENS))
def signed_in(request, browser, site):
    base, pages, _db, _draft = site
    context, left = offline_context(browser, SCREENS[request.param])
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "facilitator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    yield page, base, pages, request.param
    context.close()
    assert left == [], f"requests left the machine: {left}"


SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.mark.parametrize("mode", ["normal", "projector"])
def test_no_page_scrolls_sideways(signed_in, mode):
    page, base, pages, screen = signed_in
    page.goto(f"{base}/networks/rwanda?projector={'1' if mode == 'projector' else '0'}")
    too_wide = {}
    for name, path in pages.items():
        if name == "draft":
            continue
        page.goto(base + path)
        extra = page.evaluate(SIDEWAYS)
        if extra > 1:
            too_wide[name] = extra
    assert too_wide == {}, f"{screen}, {mode}: pages wider than the screen by px: {too_wide}"


def test_projector_headings_are_larger_than_its_text(signed_in):
    page, base, pages, _screen = signed_in
    page.goto(f"{base}{pages['results']}?projector=1")
    sizes = page.evaluate("""() => ['h1', 'h2', 'p'].map(tag =>
        parseFloat(getComputedStyle(document.querySelector('main ' + tag)).fontSize))""")
    h1, h2, text = sizes
    assert h1 > text and h2 >= text, sizes
    page.goto(f"{base}{pages['results']}?projector=0")


def test_pair_cards_never_overlap(signed_in):
    page, base, pages, screen = signed_in
    page.goto(base + pages["pair cards"])
    boxes = page.evaluate("""() => [...document.querySelectorAll('.pair-card')].map(c => {
        const r = c.getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom, c.scrollWidth > c.clientWidth + 1]; })""")
    assert len(boxes) > 10
    assert not [b for b in boxes if b[4]], f"{screen}: text spills out of a card"
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            overlap = min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1
            assert not overlap, (screen, a, b)




def test_review_edits_and_a_focus_row_are_saved_in_place(browser, site):
    """Lock one pair, exclude another, save one row of the focus form: each answer shows in
    its row, the page is not reloaded, and the next edit carries the new version."""
    from playwright.sync_api import expect

    base, pages, db, draft = site
    context, left = offline_context(browser, SCREENS["laptop"])
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "facilitator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(base + pages["draft"])
    page.evaluate("window.stillHere = true")
    rows = page.locator("table.pairs tbody tr")
    rows.nth(0).get_by_role("button", name="Lock").click()
    expect(rows.nth(0).locator(".inplace-status")).to_contain_text("Locked")
    rows.nth(1).get_by_role("button", name="Exclude").click()
    expect(rows.nth(1).locator(".inplace-status")).to_contain_text("Excluded")
    assert page.evaluate("window.stillHere") is True
    expect(page.locator("[data-edit-count]")).to_have_text("2")
    assert [e.action for e in services.run_edits(db, draft)] == ["lock", "exclude"]
    # One row of the focus form, saved by its own button.
    page.goto(base + pages["focus"])
    page.evaluate("window.stillHere = true")
    row = page.locator(".focus-form tbody tr").first
    institution = row.locator("input[type=hidden]").get_attribute("value")
    choice = row.locator("input.topic-choice").first
    label = page.locator(f"#{choice.get_attribute('list')} option").nth(1).get_attribute("value")
    topic = next(t.id for t in services.load(db, "rwanda").topics if t.label == label)
    choice.fill(label)
    row.get_by_role("button", name="Save", exact=False).first.click()
    expect(row.locator(".inplace-status")).to_contain_text("Saved for")
    assert page.evaluate("window.stillHere") is True
    chosen = [f for f in services.focus(db, "rwanda") if f.institution_id == institution]
    assert chosen and chosen[0].topic_id == topic and chosen[0].priority == 1
    context.close()
    assert left == [], f"requests left the machine: {left}"
