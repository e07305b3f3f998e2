"""The language of each page: the reader's switch (remembered), the browser's languages, the
network's own; invitation pages follow the network; explanations made in English are read
in French; exports keep their ids and add labels in the language."""

from __future__ import annotations

import base64
import csv
import io
import zipfile

from openpyxl import load_workbook

from tpn import services
from tpn.services import invitations as inv

from webclient import PASSWORDS, post


def lang(page) -> str:
    return page.text.split('<html lang="', 1)[1].split('"', 1)[0]


def test_the_switch_is_remembered_and_comes_first(app, as_facilitator):
    assert lang(as_facilitator.get("/networks/rwanda")) == "en"
    switched = as_facilitator.get("/language/fr?next=/networks/rwanda/gaps")
    assert switched.status_code == 302 and switched.location == "/networks/rwanda/gaps"
    assert "tpn_language=fr" in switched.headers["Set-Cookie"]
    page = as_facilitator.get("/networks/rwanda", headers={"Accept-Language": "en-GB,en"})
    assert lang(page) == "fr" and "Analyse des écarts" in page.text
    assert 'hreflang="en">English</a>' in page.text        # the way back
    as_facilitator.get("/language/en")
    assert lang(as_facilitator.get("/networks/rwanda")) == "en"


def test_the_switch_goes_back_only_to_this_site(as_facilitator):
    for away in ("https://evil.example/", "//evil.example/x", "/\\evil.example/x",
                 "javascript:alert(1)"):
        response = as_facilitator.get("/language/fr", query_string={"next": away})
        assert response.location == "/", away
    unknown = as_facilitator.get("/language/xx?next=/")
    assert unknown.status_code == 302
    assert "tpn_language" not in unknown.headers.get("Set-Cookie", "")


def test_the_browser_language_then_the_networks(app, db, as_facilitator):
    page = as_facilitator.get("/networks/rwanda", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert lang(page) == "fr"
    # A browser asking for a language tpn does not speak: the network's language.
    services.set_network_language(db, "rwanda", "fr", "test")
    page = as_facilitator.get("/networks/rwanda", headers={"Accept-Language": "sw"})
    assert lang(page) == "fr" and "Vue d'ensemble" in page.text
    assert lang(as_facilitator.get("/networks/rwanda", headers={"Accept-Language": "en"})) == "en"


def test_a_facilitator_sets_the_networks_language(db, as_facilitator, as_viewer):
    page = as_facilitator.get("/networks/rwanda").text
    assert 'name="language"' in page and '<option value="fr" >français</option>' in page
    saved = post(as_facilitator, "/networks/rwanda/language", {"language": "fr"})
    assert saved.status_code == 302 and services.network_language(db, "rwanda") == "fr"
    history = services.history(db, "rwanda", "rwanda")
    assert [(c.field, c.new) for c in history][-1:] == [("language", '"fr"')]
    bad = post(as_facilitator, "/networks/rwanda/language", {"language": "xx"})
    # The network's pages are French now (the test client asks for no language).
    assert bad.status_code == 400 and lang(bad) == "fr"
    assert "&#39;xx&#39; n&#39;est pas une langue que tpn parle" in bad.text
    assert post(as_viewer, "/networks/rwanda/language", {"language": "en"}).status_code == 403
    assert services.network_language(db, "rwanda") == "fr"


def test_invitation_pages_follow_the_networks_language(app, db):
    inv.create(db, "rwanda")
    link = "/i/" + next(i.token for i in inv.invitations(db, "rwanda")
                        if i.institution_id == "huye")
    visitor = app.test_client()
    # The browser asks for English, but the page follows its network...
    assert lang(visitor.get(link, headers={"Accept-Language": "en"})) == "en"
    services.set_network_language(db, "rwanda", "fr", "test")
    page = visitor.get(link, headers={"Accept-Language": "en"})
    assert lang(page) == "fr" and "Où vous vous situez" in page.text
    # ...until its reader chooses.
    visitor.get("/language/en")
    assert lang(visitor.get(link)) == "en"


def test_share_links_follow_the_networks_language(app, db):
    token = services.create_share_link(db, "rwanda", "test")
    services.set_network_language(db, "rwanda", "fr", "test")
    participant = app.test_client()
    opened = participant.get(f"/s/{token}", headers={"Accept-Language": "en"})
    page = participant.get(opened.location, headers={"Accept-Language": "en"})
    assert lang(page) == "fr" and "Vue d'ensemble" in page.text
    participant.get("/language/en")
    assert lang(participant.get(opened.location)) == "en"


def test_explanations_made_in_english_read_in_french(app, db, as_facilitator):
    run = services.run_match(db, "rwanda", author="test")
    stored = services.show_run(db, run.id)
    english = stored.pairs[0]["why"]
    assert "is a high performer among" in english
    page = as_facilitator.get(f"/runs/{run.id}").text
    assert english.replace("'", "&#39;") in page
    as_facilitator.get("/language/fr")
    page = as_facilitator.get(f"/runs/{run.id}").text
    assert english not in page
    assert "fait partie des plus performants parmi les établissements de type" in page
    # Numbers the French way in the explanation: "score 85,6".
    said = stored.pairs[0]["why"].say("fr")
    assert said in page.replace("&#39;", "'") and "," in said.split("score ", 1)[1][:8]
    unmatched = next(u for u in stored.unmatched)
    assert unmatched["fix"].say("fr") != unmatched["fix"]


def test_exports_keep_their_ids_and_add_labels_in_the_language(app, db, tmp_path):
    run = services.run_match(db, "rwanda", author="test")
    english = services.export_run(db, run.id, "xlsx", tmp_path / "en.xlsx")
    french = services.export_run(db, run.id, "xlsx", tmp_path / "fr.xlsx", "fr")
    en_book, fr_book = load_workbook(english), load_workbook(french)
    assert en_book.sheetnames == ["pairs", "unmatched"]
    assert fr_book.sheetnames == ["pairs", "unmatched", "labels"]
    header = [c.value for c in fr_book["pairs"][1]]
    assert header == [c.value for c in en_book["pairs"][1]]          # ids, not words
    labels = {(r[0], r[1]): r[2] for r in fr_book["labels"].iter_rows(min_row=2,
                                                                      values_only=True)}
    assert labels[("pairs", "mentee_name")] == "Mentoré"
    assert labels[("unmatched", "fix")] == "Ce qui le réglerait"
    why = header.index("why")
    assert "fait partie des plus performants" in fr_book["pairs"][2][why].value
    assert "is a high performer" in en_book["pairs"][2][why].value
    folder = services.export_run(db, run.id, "csv", tmp_path / "fr", "fr")
    assert sorted(p.name for p in folder.iterdir()) == ["labels.csv", "pairs.csv",
                                                        "unmatched.csv"]
    with open(folder / "pairs.csv", encoding="utf-8-sig") as f:
        assert next(csv.reader(f))[:3] == ["mentee_id", "mentee_name", "mentor_id"]


def test_the_apps_csv_export_follows_the_page(app, db, as_facilitator):
    run = services.run_match(db, "rwanda", author="test")
    as_facilitator.get("/language/fr")
    data = as_facilitator.get(f"/runs/{run.id}/export/pairs.csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[0][0] == "mentee_id" and "fait partie des plus performants" in rows[1][-1]
    book = as_facilitator.get(f"/runs/{run.id}/export/run.xlsx").data
    assert "labels" in load_workbook(io.BytesIO(book)).sheetnames
    assert zipfile.is_zipfile(io.BytesIO(book))


def test_the_printable_report_and_the_api_stay_in_their_languages(app, db, as_facilitator):
    as_facilitator.get("/language/fr")
    report = as_facilitator.get("/networks/rwanda/evaluation/report.html?from=2023&to=2024").text
    assert '<html lang="fr">' in report and "Ce que ces chiffres ne peuvent pas dire" in report
    # The API keeps English, whatever the browser asks: its texts are for programs too.
    raw = f"facilitator:{PASSWORDS['facilitator']}".encode()
    problem = app.test_client().post(
        "/api/v1/networks/rwanda/runs", json={"options": {"x": 1}},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode(),
                 "Accept-Language": "fr"})
    assert problem.status_code == 400
    assert problem.json["problems"][0]["message"] == "unknown option(s): x"


def test_every_workbook_of_the_app_has_labels_in_the_page_language(app, db, as_facilitator):
    run = services.run_match(db, "rwanda", author="test")
    services.publish(db, run.id, "test")
    first = services.programme.partnerships(db, "rwanda")[0]["id"]
    services.programme.add_record(db, first, "agreement", {"signed_on": "2026-03-01"}, "test")
    inv.create(db, "rwanda")
    as_facilitator.get("/language/fr")
    for path, sheet, column, label in (
            ("/networks/rwanda/programme/records.xlsx", "agreement", "signed_on",
             "Date de signature"),
            ("/networks/rwanda/programme/records.xlsx", "partnerships", "mentee_id",
             "Mentoré (identifiant)"),
            ("/networks/rwanda/quality/quality.xlsx", "flagged", "reason", "Motif"),
            ("/networks/rwanda/invitations.xlsx", "invitations", "link", "Lien")):
        book = load_workbook(io.BytesIO(as_facilitator.get(path).data))
        labels = {(r[0], r[1]): r[2] for r in book["labels"].iter_rows(min_row=2,
                                                                       values_only=True)}
        assert labels[(sheet, column)] == label, path
        assert column in [c.value for c in book[sheet][1]], path      # the header: the id
    # Read back, the records workbook with its labels sheet changes nothing.
    records = as_facilitator.get("/networks/rwanda/programme/records.xlsx").data
    path = app.instance_path + "/records.xlsx"
    with open(path, "wb") as f:
        f.write(records)
    assert services.programme.import_records(db, "rwanda", path, "test") == {
        "updated": 0, "added": 0, "unchanged": 1}
