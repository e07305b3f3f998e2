"""The facilitator's day in French, in a real Chromium against waitress: the language switch
(remembered), a workbook imported, the gap analysis and an institution, the focus topics,
a match and its explanations, a lock, publishing, the pair cards, a partnership's agreement,
the evaluation, the data-quality report and the invitations. Every page is read for English
words outside the names of institutions, topics and people (and the codes written as
code), and numbers are written the French way. Screenshots go with the workshop's.
"""

from __future__ import annotations

import re

import pytest

from tpn import services
from tpn.samples import rwanda
from tpn.tabular import write_network

from chromium import offline_context, served, sign_in
from test_workshop_browser import PASSWORD, Workshop, shot

NET = "atelier-kigali"
# Words that only English uses: one of them on a French page is a text left untranslated.
ENGLISH = set("""the and of to is in for with by from not be it its this that as at or an was were
has have will can which who what when where why how all any each more most only than then
there their they these those must should would could your you we our mentee mentees network
networks topic topics partnership partnerships request requests saved choose show yes no run
runs step steps without between""".split())
# The visible text of a page with what is not prose left out (code, scripts), then the words
# people read in attributes.
VISIBLE = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('code, kbd, script, style, textarea, input, select, option')
      .forEach(e => e.remove());
  const said = [...document.querySelectorAll('[title], [aria-label], [placeholder], [alt]')]
      .flatMap(e => ['title', 'aria-label', 'placeholder', 'alt'].map(a => e.getAttribute(a)))
      .filter(Boolean);
  return body.textContent + '\\n' + said.join('\\n');
}"""


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    from web import create_app

    app = create_app({"INSTANCE": tmp_path_factory.mktemp("instance")})
    db = app.extensions["tpn_db"]
    services.add_user(db, "facilitator", PASSWORD, "facilitator")
    with served(app) as server:
        yield server, db


@pytest.fixture(scope="module")
def walk(browser):
    context, left = offline_context(browser)       # the browser asks for English
    yield Workshop(context.new_page(), left)
    context.close()


def proper_nouns() -> list[str]:
    net = rwanda()
    names = {i.name for i in net.institutions} | {t.label for t in net.topics}
    names |= {i.region for i in net.institutions if i.region} | {i.kind for i in net.institutions}
    # The network, the account, the language switch (each language named in itself).
    names |= {NET, "facilitator", "English"}
    return sorted((n for n in names if re.search("[A-Za-z]", n)), key=len, reverse=True)


def open_step(page, server: str, link: str) -> None:
    """The network's page, then one link of its menu."""
    page.goto(f"{server}/networks/{NET}")
    page.get_by_role("navigation").get_by_role("link", name=link).click()


def in_french(page) -> str:
    """The page's text, after checking it is French: no English word outside proper nouns."""
    assert page.locator("html").get_attribute("lang") == "fr", page.url
    text = page.evaluate(VISIBLE)
    for name in proper_nouns():
        text = text.replace(name, " ")
    left = sorted({line.strip() for line in text.splitlines()
                   if ENGLISH & {w.lower() for w in re.findall(r"[A-Za-z]+", line)}})
    assert left == [], f"English on {page.url}: {left[:10]}"
    return text


def test_the_facilitator_chooses_french(app_server, walk):
    from playwright.sync_api import expect

    server, _db = app_server
    page = walk.page
    sign_in(page, server, "facilitator", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="français").click()
    expect(page.get_by_role("heading", name="Réseaux")).to_be_visible()
    page.goto(server)                      # remembered on the next page
    in_french(page)
    shot(page, "50-fr-networks")
    walk.passed("french")


def test_import_a_workbook_in_french(app_server, walk, tmp_path):
    from playwright.sync_api import expect

    server, _db = app_server
    page = walk.after("french")
    page.goto(server)
    page.get_by_label("Nom").fill(NET)
    page.get_by_role("button", name="Créer").click()
    expect(page.get_by_role("heading", name=f"Importer dans {NET}")).to_be_visible()
    in_french(page)
    page.get_by_label("Fichier").set_input_files(str(write_network(rwanda(), tmp_path / "r.xlsx")))
    page.get_by_role("button", name="Téléverser et prévisualiser").click()
    expect(page.get_by_text("40 établissements")).to_be_visible()
    in_french(page)
    shot(page, "51-fr-import-preview")
    page.get_by_role("button", name=f"Importer dans {NET}").click()
    expect(page.get_by_text(re.compile(r"40 établissements, \d+ thèmes et \d+ scores importés"))
           ).to_be_visible()
    in_french(page)
    shot(page, "52-fr-overview")
    walk.passed("import")


def test_gap_analysis_institution_and_focus(app_server, walk):
    from playwright.sync_api import expect

    server, _db = app_server
    page = walk.after("import")
    open_step(page, server, "Analyse des écarts")
    expect(page.locator("table.heatmap tbody tr")).to_have_count(40)
    in_french(page)
    page.get_by_role("link", name="Kibuye Referral Hospital").click()
    expect(page.get_by_role("heading", name="Thèmes prioritaires suggérés")).to_be_visible()
    text = in_french(page)
    assert re.search(r"Score \d+,\d", text), "a score with a decimal comma"
    shot(page, "53-fr-institution")
    page.get_by_role("navigation").get_by_role("link", name="Priorités").click()
    expect(page.get_by_role("heading", name="Thèmes prioritaires")).to_be_visible()
    in_french(page)
    walk.passed("gaps")


def test_match_explained_in_french(app_server, walk):
    from playwright.sync_api import expect

    server, _db = app_server
    page = walk.after("gaps")
    open_step(page, server, "Appariement")
    expect(page.get_by_label("Combien de mentorés un mentor accueille")).to_have_value("2")
    in_french(page)
    page.get_by_role("button", name="Lancer l'appariement").click()
    expect(page.get_by_role("heading", name=re.compile(rf"Appariement 1 de {NET}"))
           ).to_be_visible()
    pairs = page.locator("table.pairs tbody tr")
    pairs.first.get_by_text("pourquoi").click()
    why = pairs.first.locator("details p").first
    expect(why).to_contain_text("fait partie des plus performants")
    expect(why).to_contain_text(re.compile(r"score \d+,\d"))
    text = in_french(page)
    # Numbers the French way everywhere: no decimal point in the page's prose.
    assert not re.search(r"\d\.\d", text), re.search(r".{30}\d\.\d.{30}", text)
    assert "Demandes sans mentor" in text and "Ce qui le réglerait (vérifié)" in text
    shot(page, "54-fr-results")
    walk.runs[1] = page.url
    walk.passed("match")


def test_lock_and_publish_in_french(walk):
    from playwright.sync_api import expect

    page = walk.after("match")
    page.goto(walk.runs[1])
    pairs = page.locator("table.pairs tbody tr")
    pairs.first.get_by_role("button", name="Verrouiller").click()
    expect(page.get_by_text(re.compile(r"verrouillé pour .* Relancez pour appliquer"))
           ).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Relancer avec 1 modification")).click()
    expect(page.get_by_role("heading", name=re.compile(r"Appariement 2 de"))).to_be_visible()
    in_french(page)
    page.get_by_role("button", name="Publier").click()
    expect(page.get_by_text(re.compile(r"Appariement 2 publié"))).to_be_visible()
    in_french(page)
    page.get_by_role("link", name="Cartes des paires").click()
    expect(page.locator("article.pair-card").first.get_by_text("Date de la première visite")
           ).to_be_visible()
    in_french(page)
    shot(page, "55-fr-pair-cards")
    walk.passed("publish")


def test_a_partnership_agreement_in_french(app_server, walk):
    from playwright.sync_api import expect

    server, _db = app_server
    page = walk.after("publish")
    open_step(page, server, "Programme")
    expect(page.get_by_role("heading", name="Jumelages par étape")).to_be_visible()
    in_french(page)
    page.locator("table.programme tbody tr").first.get_by_role("link").click()
    page.get_by_role("link", name=re.compile(r"1 · Accord de jumelage")).click()
    in_french(page)
    page.get_by_label("Date de signature").fill("2026-03-01")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text(re.compile(r"Accord de jumelage enregistré"))).to_be_visible()
    text = in_french(page)
    # Dates the French way too: "commencé le 5 déc. 2026".
    assert re.search(r"commencé le \d{1,2} \w+\.? \d{4}", text), "a date the French way"
    shot(page, "56-fr-partnership")
    walk.passed("programme")


def test_evaluation_quality_and_invitations_in_french(app_server, walk):
    from playwright.sync_api import expect

    server, _db = app_server
    page = walk.after("import")
    open_step(page, server, "Évaluation")
    expect(page.get_by_role("heading", name="Ce que ces chiffres ne peuvent pas dire")
           ).to_be_visible()
    text = in_french(page)
    assert re.search(r"[+−-]\d+,\d\d", text), "effects with a decimal comma"
    assert re.search(r"95\s%", text), re.search(r"intervalle de.{20}", text)
    shot(page, "57-fr-evaluation")
    page.goto(f"{server}/networks/{NET}/quality")
    expect(page.get_by_role("heading", name="Qualité des données")).to_be_visible()
    in_french(page)
    page.get_by_role("navigation").get_by_role("link", name="Invitations").click()
    page.get_by_role("button", name="Créer les liens manquants").click()
    expect(page.get_by_text(re.compile(r"40 établissements ont un lien d'invitation actif"))
           ).to_be_visible()
    in_french(page)
    shot(page, "58-fr-invitations")
