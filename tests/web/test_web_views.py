"""Every page of the workshop app and its error paths, through Flask's test client."""

from __future__ import annotations

import csv
import html
import io
import re
import stat
import time
import zipfile

import pytest
from openpyxl import load_workbook

from helpers import REPO, dump
from tpn import services
from tpn.matching import MatchOptions
from tpn.services import programme
from tpn.samples import rwanda
from tpn.tabular import write_network
from webclient import PASSWORDS, csrf_token, login, post, workbook_with_other_headers


def run_id(db) -> int:
    return services.run_match(db, "rwanda", author="test").id


# --- signing in -----------------------------------------------------------------------------


def test_pages_need_a_signed_in_user(app):
    client = app.test_client()
    for path in ("/", "/networks/rwanda", "/networks/rwanda/gaps", "/runs/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")


def test_wrong_password_is_refused_and_right_one_goes_back_where_asked(app):
    client = app.test_client()
    token = csrf_token(client)
    bad = client.post("/login", data={"username": "facilitator", "password": "nope",
                                      "csrf_token": token})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    good = client.post("/login?next=/networks/rwanda/gaps",
                       data={"username": "facilitator", "password": PASSWORDS["facilitator"],
                             "csrf_token": token})
    assert good.status_code == 302 and good.location == "/networks/rwanda/gaps"


def test_login_never_redirects_to_another_site(app):
    client = app.test_client()
    token = csrf_token(client)
    for target in ("http://evil.example/", "//evil.example/x", "evil"):
        response = client.post(f"/login?next={target}", data={
            "username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token})
        assert response.location == "/", target
        token = csrf_token(client, "/")


def test_an_expired_session_asks_to_sign_in_again(app, as_facilitator):
    assert as_facilitator.get("/networks/rwanda").status_code == 200
    with as_facilitator.session_transaction() as session:
        session["login_at"] = time.time() - 13 * 3600
    response = as_facilitator.get("/networks/rwanda")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert "Your session has expired" in as_facilitator.get(response.location).text


def test_sign_out_ends_the_session(as_viewer):
    response = post(as_viewer, "/logout")
    assert response.status_code == 302
    assert as_viewer.get("/networks/rwanda").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(as_facilitator, db):
    before = dump(db)
    response = as_facilitator.post("/networks", data={"name": "sneaky"})
    assert response.status_code == 400
    assert "The form has expired" in response.text and "CSRF token is missing" in response.text
    wrong = as_facilitator.post("/networks", data={"name": "sneaky", "csrf_token": "forged"})
    assert wrong.status_code == 400
    assert dump(db) == before


@pytest.mark.parametrize("method,path", [
    ("post", "/networks"), ("post", "/networks/rwanda/import"),
    ("post", "/networks/rwanda/focus"), ("post", "/networks/rwanda/match"),
    ("post", "/networks/rwanda/share"), ("post", "/runs/1/edit"), ("post", "/runs/1/rerun"),
    ("post", "/runs/1/publish"), ("get", "/users"), ("get", "/networks/rwanda/import"),
])
def test_a_viewer_reads_and_changes_nothing(as_viewer, db, method, path):
    run_id(db)
    before = dump(db)
    response = post(as_viewer, path, {"name": "x"}) if method == "post" else as_viewer.get(path)
    assert response.status_code == 403
    assert "Your role does not allow this" in response.text
    assert dump(db) == before


def test_only_an_admin_manages_accounts(as_facilitator, as_admin, app):
    assert as_facilitator.get("/users").status_code == 403
    page = as_admin.get("/users")
    assert page.status_code == 200 and "facilitator" in page.text
    response = post(as_admin, "/users", {"username": "amina", "password": "long-enough-1",
                                         "role": "viewer"})
    assert response.status_code == 302
    found = services.authenticate(app.extensions["tpn_db"], "amina", "long-enough-1")
    assert (found.username, found.role) == ("amina", "viewer")
    short = post(as_admin, "/users", {"username": "bo", "password": "short", "role": "admin"})
    assert short.status_code == 400 and "shorter than 8" in short.text


def test_passwords_are_stored_hashed(db):
    from sqlalchemy import select

    from tpn.storage.schema import app_user

    with db.connect() as conn:
        hashes = conn.execute(select(app_user.c.password_hash)).scalars().all()
    assert hashes and all(h.startswith("scrypt:") for h in hashes)
    assert not any(p in h for h in hashes for p in PASSWORDS.values())


def test_the_secret_key_is_generated_once_and_kept_private(tmp_path):
    from web import create_app

    first = create_app({"INSTANCE": tmp_path})
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.secret_key) == 64
    assert create_app({"INSTANCE": tmp_path}).secret_key == first.secret_key
    assert create_app({"INSTANCE": tmp_path / "other"}).secret_key != first.secret_key


# --- pages ------------------------------------------------------------------------------------


def test_every_page_renders(as_facilitator, db):
    rid = run_id(db)
    pages = ["/", "/networks/rwanda", "/networks/rwanda/import", "/networks/rwanda/gaps",
             "/networks/rwanda/gaps?kind=hospital&period=2023",
             "/networks/rwanda/institutions/kibuye_hospital", "/networks/rwanda/focus",
             "/networks/rwanda/match", f"/runs/{rid}", f"/runs/{rid}?kind=hospital&sort=cost",
             f"/runs/{rid}/cards", "/networks/rwanda/quality",
             "/networks/rwanda/quality?check=range&page=2", "/networks/rwanda/evaluation",
             "/login"]
    for path in pages:
        response = as_facilitator.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert "<html" in response.text


def test_missing_things_are_404_with_a_page(as_facilitator, db):
    rid = run_id(db)
    for path in ("/networks/nowhere", "/networks/rwanda/institutions/nobody", "/runs/999",
                 f"/runs/{rid}/export/secrets.txt", "/no-such-page"):
        response = as_facilitator.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text


def test_pages_use_only_local_assets_and_a_strict_policy(as_facilitator, db):
    rid = run_id(db)
    for path in ("/networks/rwanda", "/networks/rwanda/gaps", f"/runs/{rid}"):
        response = as_facilitator.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        for url in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            assert not re.match(r"(https?:)?//", url), (path, url)
    assert as_facilitator.get("/static/tpn.css").status_code == 200


def test_institution_names_with_markup_are_shown_as_text(as_facilitator, db):
    services.set_fields(db, "rwanda", "institution", "kibuye_hospital",
                        {"name": "<script>alert('x')</script> Kibuye"})
    rid = run_id(db)
    for path in ("/networks/rwanda/gaps", "/networks/rwanda/focus", f"/runs/{rid}",
                 f"/runs/{rid}/cards", "/networks/rwanda/institutions/kibuye_hospital"):
        text = as_facilitator.get(path).text
        assert "<script>alert" not in text, path
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Kibuye" in text, path


def test_heatmap_shows_percentiles_within_kind(as_facilitator, db):
    table = services.gap_table(db, "rwanda")
    row = next(r for r in table["rows"] if r["institution"].id == "kibuye_hospital")
    cell = next(c for c in row["cells"] if c and c["percentile"] is not None)
    page = as_facilitator.get("/networks/rwanda/gaps?kind=hospital").text
    assert "Kibuye Referral Hospital" in page and "Bugesera District" not in page
    assert f">{round(cell['percentile'])}" in page


def test_institution_page_lists_suggestions_and_possible_mentors(as_facilitator, db):
    profile = services.institution_profile(db, "rwanda", "kibuye_hospital")
    page = as_facilitator.get("/networks/rwanda/institutions/kibuye_hospital").text
    assert page.count('<svg class="strip"') == len(profile["topics"])
    mentor = next(t["mentors"][0] for t in profile["topics"] if t["mentors"])
    assert mentor["institution"].name in page
    assert "Suggested focus topics" in page


# --- import -----------------------------------------------------------------------------------


def upload(client, path, name="rwanda", **fields):
    with open(path, "rb") as f:
        return post(client, f"/networks/{name}/import",
                    {"file": (f, path.name), **fields}, content_type="multipart/form-data")


def test_import_previews_and_saves_only_when_confirmed(as_facilitator, db, tmp_path):
    post(as_facilitator, "/networks", {"name": "fresh"})
    book = write_network(rwanda(), tmp_path / "net.xlsx")
    before = dump(db)
    response = upload(as_facilitator, book, "fresh")
    assert response.status_code == 302
    preview = as_facilitator.get(response.location)
    assert preview.status_code == 200 and "40 institutions" in preview.text
    assert dump(db) == before                       # nothing saved by the preview
    done = post(as_facilitator, response.location, {"action": "import"})
    assert done.status_code == 302
    assert services.overview(db, "fresh")["institutions"] == 40
    assert as_facilitator.get(response.location).status_code == 302   # upload is gone


def test_import_can_be_cancelled(as_facilitator, db, tmp_path, app):
    book = write_network(rwanda(), tmp_path / "net.xlsx")
    location = upload(as_facilitator, book).location
    before = dump(db)
    post(as_facilitator, location, {"action": "cancel"})
    assert dump(db) == before
    assert not any((app.extensions["tpn_uploads"]).iterdir())


def test_a_period_already_there_needs_replace(as_facilitator, db, tmp_path):
    book = write_network(rwanda(), tmp_path / "net.xlsx")
    location = upload(as_facilitator, book).location
    assert "Replace the scores of 2023, 2024" in as_facilitator.get(location).text
    before = dump(db)
    refused = post(as_facilitator, location, {"action": "import"})
    assert refused.status_code == 400 and "period 2023 is already in this network" in refused.text
    assert dump(db) == before
    assert post(as_facilitator, location, {"action": "import", "replace": "yes"}).status_code == 302


def test_headers_that_differ_are_mapped(as_facilitator, db, tmp_path):
    book = workbook_with_other_headers(tmp_path / "net.xlsx")
    post(as_facilitator, "/networks", {"name": "mapped"})
    location = upload(as_facilitator, book, "mapped").location
    page = as_facilitator.get(location)
    assert page.status_code == 422 and "Map the columns" in page.text
    assert "the required column name is missing" in page.text
    mapped = as_facilitator.get(location + "?col-institutions-name=Facility+name")
    assert mapped.status_code == 200 and "40 institutions" in mapped.text
    done = post(as_facilitator, location, {"action": "import",
                                           "col-institutions-name": "Facility name"})
    assert done.status_code == 302
    names = {i.name for i in services.load(db, "mapped").institutions}
    assert "Kibuye Referral Hospital" in names


def test_a_broken_workbook_lists_every_problem_and_saves_nothing(as_facilitator, db, tmp_path):
    book = write_network(rwanda(), tmp_path / "net.xlsx")
    wb = load_workbook(book)
    wb["institutions"]["G3"] = "big"          # size: not a number
    wb["scores"]["D2"] = "n/a?"               # a score that is not a number
    wb.save(book)
    before = dump(db)
    page = as_facilitator.get(upload(as_facilitator, book).location)
    assert page.status_code == 422
    assert "2 problems found; nothing was saved" in page.text
    assert re.search(r"<td>institutions</td><td>3</td><td>size</td>", page.text)
    assert re.search(r"<td>scores</td><td>2</td>", page.text)
    assert "Import into" not in page.text
    assert dump(db) == before


@pytest.mark.parametrize("filename,content,message", [
    ("notes.txt", b"hello", "tpn does not read .txt files"),
    ("net.xlsx", b"this is not a workbook", "this is not a .xlsx file"),
    ("export.json", b"{\x00\x01}", "contains binary data"),
    ("net.xlsx", b"", "the file is empty"),
])
def test_bad_uploads_are_refused_with_a_reason(as_facilitator, db, filename, content, message):
    before = dump(db)
    response = post(as_facilitator, "/networks/rwanda/import",
                    {"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert message in response.text
    assert dump(db) == before


def test_no_file_chosen(as_facilitator):
    response = post(as_facilitator, "/networks/rwanda/import", {},
                    content_type="multipart/form-data")
    assert response.status_code == 400 and "no file was chosen" in response.text


def test_uploads_above_the_limit_are_refused(app, tmp_path):
    from web import create_app

    small = create_app({"INSTANCE": app.instance_path, "MAX_CONTENT_LENGTH": 5_000})
    client = login(small.test_client(), "facilitator")
    big = write_network(rwanda(), tmp_path / "net.xlsx")
    assert big.stat().st_size > 5_000
    response = upload(client, big)
    assert response.status_code == 413 and "larger than" in response.text


def test_a_zip_of_csv_files_imports_without_paths_from_the_archive(as_facilitator, db,
                                                                   tmp_path, app):
    folder = write_network(rwanda(), tmp_path / "csv")
    archive = tmp_path / "net.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in folder.iterdir():
            z.write(f, f"../../{f.name}" if f.stem == "topics" else f"network/{f.name}")
    post(as_facilitator, "/networks", {"name": "zipped"})
    location = upload(as_facilitator, archive, "zipped").location
    assert "40 institutions" in as_facilitator.get(location).text
    assert post(as_facilitator, location, {"action": "import"}).status_code == 302
    assert services.overview(db, "zipped")["topics"] == len(rwanda().topics)
    assert not (tmp_path.parent / "topics.csv").exists()


def test_an_upload_is_private_to_who_sent_it(as_facilitator, app, tmp_path):
    book = write_network(rwanda(), tmp_path / "net.xlsx")
    location = upload(as_facilitator, book).location
    services.add_user(app.extensions["tpn_db"], "other", "other-pass-1", "facilitator")
    other = app.test_client()
    token = csrf_token(other)
    other.post("/login", data={"username": "other", "password": "other-pass-1",
                               "csrf_token": token})
    assert other.get(location).status_code == 404


def test_a_dhis2_export_imports_with_its_mapping(as_facilitator, db, sierra_leone_dir):
    post(as_facilitator, "/networks", {"name": "sierra-leone"})
    location = upload(as_facilitator, sierra_leone_dir / "analytics_anc_facilities.json",
                      "sierra-leone", kind_pattern="(Hospital|CHC|CHP|MCHP|Clinic)$",
                      kind_default="other").location
    page = as_facilitator.get(location)
    assert page.status_code == 200, page.text[:2000]
    assert post(as_facilitator, location, {"action": "import"}).status_code == 302
    info = services.overview(db, "sierra-leone")
    assert info["institutions"] > 1000 and "CHC" in info["kinds"]


# --- focus --------------------------------------------------------------------------------------


def focus_form(client) -> dict:
    """The focus form's fields as the page fills them."""
    page = client.get("/networks/rwanda/focus").text
    fields = dict(re.findall(r'name="(inst-\d+)" value="([^"]+)"', page))
    fields.update(re.findall(r'name="(focus-\d+-\d+)" value="([^"]*)"', page))
    return fields


def test_focus_form_saves_every_row_in_one_go(as_facilitator, db):
    fields = focus_form(as_facilitator)
    k = next(k for k, v in fields.items() if v == "kibuye_hospital").split("-")[1]
    fields.update({f"focus-{k}-1": "ipc", f"focus-{k}-2": "",
                   f"focus-{k}-3": "accreditation"})
    response = post(as_facilitator, "/networks/rwanda/focus", {**fields, "action": "save"})
    assert response.status_code == 302
    chosen = [(f.topic_id, f.priority) for f in services.focus(db, "rwanda")
              if f.institution_id == "kibuye_hospital"]
    assert sorted(chosen, key=lambda c: c[1]) == [("ipc", 1),
                                                  ("accreditation", 2)]
    # Who chose what is kept: the new choice is the facilitator's, the unchanged one
    # (accreditation at priority 2, from the imported workbook) keeps its author.
    authors = {f.topic_id: f.chosen_by for f in services.focus(db, "rwanda")
               if f.institution_id == "kibuye_hospital"}
    assert authors == {"ipc": "facilitator", "accreditation": "setup"}


def test_focus_boxes_search_full_topic_names_and_read_back_what_was_typed(as_facilitator, db):
    page = as_facilitator.get("/networks/rwanda/focus").text
    topics = services.load(db, "rwanda").topics
    lists = dict(re.findall(r'<datalist id="(topics-\d+)">(.*?)</datalist>', page))
    shown = {label for body in lists.values() for label in re.findall(r'value="([^"]+)"', body)}
    assert {t.label for t in topics if t.applies_to("hospital")} <= shown    # full names
    assert re.search(r'name="focus-0-1" value="[^"]*" list="topics-\d"', page)
    fields = focus_form(as_facilitator)
    k = next(k for k, v in fields.items() if v == "kibuye_hospital").split("-")[1]
    ipc = next(t for t in topics if t.id == "ipc")
    fields.update({f"focus-{k}-1": f"  {ipc.label.upper()} ", f"focus-{k}-2": "",
                   f"focus-{k}-3": ""})
    assert post(as_facilitator, "/networks/rwanda/focus",
                {**fields, "action": f"save-row-{k}"}).status_code == 302
    assert [f.topic_id for f in services.focus(db, "rwanda")
            if f.institution_id == "kibuye_hospital"] == ["ipc"]
    fields[f"focus-{k}-1"] = "hand washing"             # not a topic's name
    before = dump(db)
    refused = post(as_facilitator, "/networks/rwanda/focus", {**fields, "action": "save"})
    assert refused.status_code == 400
    said = html.unescape(refused.text)
    assert "'hand washing' is not a topic" in said and "Kibuye Referral Hospital" in said
    assert dump(db) == before


def test_topics_sharing_a_label_are_told_apart_by_their_id():
    from tpn.models import Topic
    from web.gaps import topic_of, topic_texts

    texts = topic_texts([Topic("a1", "Readmissions"), Topic("a2", "readmissions"),
                         Topic("b", "Hand hygiene")])
    assert texts == {"a1": "Readmissions (a1)", "a2": "readmissions (a2)", "b": "Hand hygiene"}
    by_text = {shown.casefold(): t for t, shown in texts.items()}
    assert topic_of("READMISSIONS (A2)", by_text) == "a2"
    assert topic_of("b", by_text) == "b" and topic_of("", by_text) == ""


def test_focus_that_does_not_apply_is_refused_and_nothing_saved(as_facilitator, db):
    fields = focus_form(as_facilitator)
    k = next(k for k, v in fields.items() if v == "kibuye_hospital").split("-")[1]
    fields[f"focus-{k}-1"] = "anc4"                    # a district topic
    before = dump(db)
    response = post(as_facilitator, "/networks/rwanda/focus", {**fields, "action": "save"})
    assert response.status_code == 400
    assert "ANC4 coverage does not apply to hospital institutions" in response.text
    assert dump(db) == before


def test_suggestions_are_accepted_in_bulk(as_facilitator, db):
    fields = focus_form(as_facilitator)
    cleared = {k: ("" if k.startswith("focus-") else v) for k, v in fields.items()}
    post(as_facilitator, "/networks/rwanda/focus", {**cleared, "action": "save"})
    assert services.focus(db, "rwanda") == []
    response = post(as_facilitator, "/networks/rwanda/focus",
                    {**cleared, "action": "suggest-empty"})
    assert response.status_code == 302
    suggested = services.suggest_focus(db, "rwanda", 3, MatchOptions())
    assert sorted((f.institution_id, f.topic_id, f.priority)
                  for f in services.focus(db, "rwanda")) == \
        sorted((s.institution_id, s.topic_id, s.rank) for s in suggested)


def test_suggestions_for_ticked_rows_only(as_facilitator, db):
    fields = focus_form(as_facilitator)
    k = next(k for k, v in fields.items() if v == "gasabo").split("-")[1]
    before = [f for f in services.focus(db, "rwanda") if f.institution_id != "gasabo"]
    post(as_facilitator, "/networks/rwanda/focus",
         {**fields, "action": "suggest-selected", f"accept-{k}": "yes"})
    after = services.focus(db, "rwanda")
    assert [f for f in after if f.institution_id != "gasabo"] == before
    assert [f.topic_id for f in after if f.institution_id == "gasabo"] == \
        ["cbhi", "facility_delivery", "stockout"]


# --- match, review, publish -----------------------------------------------------------------------


def test_match_setup_shows_every_option_with_default_and_help(as_facilitator):
    from tpn.matching import MatchOptions

    page = as_facilitator.get("/networks/rwanda/match").text
    for f in MatchOptions.fields():
        assert f'name="{f.name}"' in page, f.name
        assert f.metadata["help"].split("(")[0].strip()[:40] in page.replace("&#39;", "'")


def test_a_bad_option_is_reported_and_nothing_run(as_facilitator, db):
    before = dump(db)
    response = post(as_facilitator, "/networks/rwanda/match",
                    {"top_share": "2", "mentor_capacity": "two"})
    assert response.status_code == 400
    assert "mentor_capacity" in response.text
    assert dump(db) == before


def test_run_then_filter_and_sort_results(as_facilitator, db):
    response = post(as_facilitator, "/networks/rwanda/match", {"period": "2024"})
    assert response.status_code == 302
    rid = int(response.location.rsplit("/", 1)[1])
    run = services.show_run(db, rid)
    page = as_facilitator.get(f"/runs/{rid}?kind=hospital&sort=cost").text
    hospital_pairs = [p for p in run.pairs if p["mentee_id"].endswith("_hospital")]
    n = len(hospital_pairs)
    assert f"Pairs 1–{n} of the {n} that match (of {len(run.pairs)} in all)" in page
    costs = [float(c) for c in re.findall(r'<td class="n">([\d.]+)</td>\s*<td><details>', page)]
    assert costs == sorted(costs) and len(costs) == len(hospital_pairs)
    for u in run.unmatched:
        assert u["fix"].replace("'", "&#39;")[:30] in page


def test_results_come_in_pages_with_a_name_search(as_facilitator, db):
    rid = services.run_match(db, "rwanda", "2024", author="test").id
    run = services.show_run(db, rid)
    first = as_facilitator.get(f"/runs/{rid}?per=25").text
    assert f"Pairs 1–25 of the {len(run.pairs)} that match" in first
    assert first.count("<summary>why</summary>") == 25 and "page 1 of 3" in first
    last = as_facilitator.get(f"/runs/{rid}?per=25&page=3").text
    assert f"Pairs 51–{len(run.pairs)} of the" in last
    assert last.count("<summary>why</summary>") == len(run.pairs) - 50
    # The drawing shows the pairs of the page only.
    assert last.count("<line ") <= 2 * (len(run.pairs) - 50)
    found = as_facilitator.get(f"/runs/{rid}?q=kibuye").text
    kibuye = [p for p in run.pairs if "kibuye" in (p["mentee_name"] + p["mentor_name"]).lower()]
    assert kibuye and found.count("<summary>why</summary>") == len(kibuye)
    # A page beyond the last shows the last; a size not offered falls back to 100.
    assert "page 3 of 3" in as_facilitator.get(f"/runs/{rid}?per=25&page=99").text
    assert f"Pairs 1–{len(run.pairs)} of" in as_facilitator.get(f"/runs/{rid}?per=7").text


def test_review_lock_rerun_publish(as_facilitator, db):
    rid = run_id(db)
    run = services.show_run(db, rid)
    pair = run.pairs[0]
    fields = {"mentee": pair["mentee_id"], "topic": pair["topic_id"],
              "current": pair["mentor_id"], "version": run.version}
    assert post(as_facilitator, f"/runs/{rid}/edit", {**fields, "action": "lock"}
                ).status_code == 302
    stale = post(as_facilitator, f"/runs/{rid}/edit", {**fields, "action": "exclude"})
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    edits = services.run_edits(db, rid)
    assert [(e.action, e.author) for e in edits] == [("lock", "facilitator")]
    page = as_facilitator.get(f"/runs/{rid}").text
    assert "Rerun with <span data-edit-count>1</span> edit(s)" in page and "Edits of this draft" in page

    response = post(as_facilitator, f"/runs/{rid}/rerun")
    new = int(response.location.rsplit("/", 1)[1])
    locked = [p for p in services.show_run(db, new).pairs if p["locked"] == "yes"]
    assert [(p["mentee_id"], p["topic_id"], p["mentor_id"]) for p in locked] == \
        [(pair["mentee_id"], pair["topic_id"], pair["mentor_id"])]
    assert "Changes since run" in as_facilitator.get(f"/runs/{new}").text

    version = services.show_run(db, new).version
    assert post(as_facilitator, f"/runs/{new}/publish", {"version": version}).status_code == 302
    assert services.show_run(db, new).status == "published"
    again = post(as_facilitator, f"/runs/{new}/publish", {"version": version + 1})
    assert again.status_code == 409 and "only a draft can be published" in again.text
    late = post(as_facilitator, f"/runs/{new}/edit", {**fields, "action": "lock",
                                                       "version": ""})
    assert late.status_code == 409
    assert "Publish</button>" not in as_facilitator.get(f"/runs/{new}").text


def test_swap_to_an_alternative(as_facilitator, db):
    rid = run_id(db)
    run = services.show_run(db, rid)
    pair = next(p for p in run.pairs if p["alternatives"])
    other = pair["alternatives"].split(": ")[0]
    post(as_facilitator, f"/runs/{rid}/edit", {
        "mentee": pair["mentee_id"], "topic": pair["topic_id"], "current": pair["mentor_id"],
        "alternative": other, "action": "swap", "version": run.version})
    assert [(e.action, e.mentor_id) for e in services.run_edits(db, rid)] == \
        [("swap", other)]


def test_exports_neutralise_formulas(as_facilitator, db):
    services.set_fields(db, "rwanda", "institution", "kibuye_hospital",
                        {"name": "=HYPERLINK(\"http://x\")"})
    rid = run_id(db)
    text = as_facilitator.get(f"/runs/{rid}/export/pairs.csv").data.decode("utf-8-sig")
    names = [row[1] for row in csv.reader(io.StringIO(text))][1:]
    assert "'=HYPERLINK(\"http://x\")" in names and "=HYPERLINK(\"http://x\")" not in names
    book = load_workbook(io.BytesIO(as_facilitator.get(f"/runs/{rid}/export/run.xlsx").data))
    cells = [c.value for row in book["pairs"].iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert not any(isinstance(c, str) and c.startswith("=") for c in cells)
    data = as_facilitator.get(f"/runs/{rid}/export/run.json").get_json()
    assert data["id"] == rid and len(data["pairs"]) == len(services.show_run(db, rid).pairs)
    unmatched = as_facilitator.get(f"/runs/{rid}/export/unmatched.csv")
    assert unmatched.headers["Content-Disposition"].startswith("attachment")


def test_pair_cards_have_one_card_per_pair(as_facilitator, db):
    rid = run_id(db)
    page = as_facilitator.get(f"/runs/{rid}/cards").text
    assert page.count('<article class="pair-card">') == len(services.show_run(db, rid).pairs)
    assert page.count("First visit date") == page.count('<article class="pair-card">')


def test_projector_mode_is_remembered(as_viewer):
    assert 'class="projector"' in as_viewer.get("/networks/rwanda?projector=1").text
    assert 'class="projector"' in as_viewer.get("/networks/rwanda/gaps").text
    assert 'class="projector"' not in as_viewer.get("/networks/rwanda?projector=0").text


# --- share links ----------------------------------------------------------------------------------


def test_a_share_link_opens_one_network_read_only(as_facilitator, app, db):
    services.create_network(db, "other")
    post(as_facilitator, "/networks/rwanda/share")
    token = services.share_links(db, "rwanda")[0].token
    assert token in as_facilitator.get("/networks/rwanda").text
    participant = app.test_client()
    opened = participant.get(f"/s/{token}")
    assert opened.status_code == 302 and opened.location == "/networks/rwanda"
    page = participant.get("/networks/rwanda").text
    assert "participant (viewer)" in page and "/import" not in page
    assert participant.get("/networks/rwanda/gaps").status_code == 200
    assert participant.get("/networks/other").status_code == 403
    assert participant.get("/").location == "/networks/rwanda"
    before = dump(db)
    token_field = csrf_token(participant, "/networks/rwanda/focus")
    assert participant.post("/networks/rwanda/focus", data={"csrf_token": token_field}
                            ).status_code == 403
    assert dump(db) == before
    post(as_facilitator, "/networks/rwanda/share/revoke", {"token": token})
    assert participant.get("/networks/rwanda").status_code == 302
    assert participant.get(f"/s/{token}").status_code == 404


# --- after the workshop ----------------------------------------------------------------------------


def test_partnership_steps_and_a_rerun_on_new_scores(as_facilitator, as_viewer, db):
    rid = services.run_match(db, "rwanda", "2023", author="test").id
    services.publish(db, rid)
    first = programme.partnerships(db, "rwanda")[0]
    assert "programme dashboard" in as_facilitator.get("/networks/rwanda").text
    assert "Rerun, keeping partnerships stable" in \
        as_facilitator.get("/networks/rwanda/programme").text
    assert post(as_viewer, f"/networks/rwanda/partnerships/{first['id']}/step",
                {"step": "4"}).status_code == 403
    moved = post(as_facilitator, f"/networks/rwanda/partnerships/{first['id']}/step",
                 {"step": "4"})
    assert moved.status_code == 302
    assert programme.partnerships(db, "rwanda")[0]["step"] == 4
    bad = post(as_facilitator, f"/networks/rwanda/partnerships/{first['id']}/step",
               {"step": "9"})
    assert bad.status_code == 400 and "is not a step of the cycle" in bad.text
    assert post(as_facilitator, "/networks/rwanda/partnerships/99999/step",
                {"step": "2"}).status_code == 404
    response = post(as_facilitator, "/networks/rwanda/rerun", {"period": "2024"})
    new = int(response.location.rsplit("/", 1)[1])
    locked = [p for p in services.show_run(db, new).pairs if p["locked"] == "yes"]
    assert [(p["mentee_id"], p["topic_id"], p["mentor_id"]) for p in locked] == \
        [(first["mentee_id"], t, first["mentor_id"]) for t in first["topics"]]
    page = as_facilitator.get(f"/runs/{new}").text
    assert f"Changes since run {rid}" in page
    # From step 5 on, the partnership at step 4 is not kept; a step that is not one refused.
    form = as_facilitator.get("/networks/rwanda/programme").text
    assert '<option value="1" selected>step 1: agreement</option>' in form
    later = post(as_facilitator, "/networks/rwanda/rerun", {"period": "2024",
                                                            "keep_from_step": "5"})
    run = services.show_run(db, int(later.location.rsplit("/", 1)[1]))
    assert not [p for p in run.pairs if p["locked"] == "yes"]
    assert run.summary["partnerships"]["keep_from_step"] == 5
    bad = post(as_facilitator, "/networks/rwanda/rerun", {"period": "2024",
                                                          "keep_from_step": "x"})
    assert bad.status_code == 400 and "is not a step of the cycle" in bad.text


@pytest.fixture
def partnered(db):
    services.publish(db, services.run_match(db, "rwanda", "2023", author="test").id)
    return programme.partnerships(db, "rwanda")[0]


PLAN_FORM = {"kind": "action_plan", "agreed_on": "2026-02-01", "objectives": "Raise deliveries",
             "activity-0-what": "Audit registers", "activity-0-owner": "Dr U",
             "activity-0-due": "2026-03-01", "activity-1-what": "", "budget": "1500"}


def test_every_record_form_renders_with_a_label_for_each_field(as_facilitator, partnered):
    from tpn.cycle import RECORDS

    base = f"/networks/rwanda/partnerships/{partnered['id']}"
    page = as_facilitator.get(base).text
    assert "No records yet" in page
    for kind, spec in RECORDS.items():
        assert f"kind={kind}" in page
        form = as_facilitator.get(f"{base}/records/new?kind={kind}")
        assert form.status_code == 200 and spec.title in form.text
        for f in spec.fields:
            if f.type == "activities":
                assert 'aria-label="Activity 1: what"' in form.text
            else:
                assert f'<label for="{f.name}">' in form.text and f'id="{f.name}"' in form.text
    assert as_facilitator.get(f"{base}/records/new?kind=diary").status_code == 404


def test_a_review_that_closes_says_so_and_ends_the_partnership(as_facilitator, partnered, db):
    base = f"/networks/rwanda/partnerships/{partnered['id']}"
    saved = post(as_facilitator, f"{base}/records/new",
                 {"kind": "review", "reviewed_on": "2026-06-30", "decision": "close"})
    assert saved.status_code == 302
    page = as_facilitator.get(base).text
    assert "the partnership is closed (its records stay)" in page
    assert "(closed by its review)" in page and "run None" not in page
    assert partnered["id"] not in {p["id"] for p in programme.partnerships(db, "rwanda")}


def test_a_record_is_written_shown_edited_printed_and_deleted(as_facilitator, partnered, db):
    base = f"/networks/rwanda/partnerships/{partnered['id']}"
    saved = post(as_facilitator, f"{base}/records/new", PLAN_FORM)
    assert saved.status_code == 302 and "#record-" in saved.location
    page = as_facilitator.get(base).text
    assert "moved to step 4: action planning" in page           # the flash
    assert "Audit registers" in page and "1,500.00" in page and "Raise deliveries" in page
    assert "Overdue: Audit registers" in page                  # due 2026-03-01, long past
    record_id = programme.partnership(db, partnered["id"])["records"][0]["id"]
    form = as_facilitator.get(f"/networks/rwanda/records/{record_id}/edit").text
    assert 'value="Audit registers"' in form and 'name="activity-3-what"' in form
    edited = post(as_facilitator, f"/networks/rwanda/records/{record_id}/edit",
                  {**PLAN_FORM, "activity-0-done": "2026-02-27"})
    assert edited.status_code == 302
    assert "Overdue" not in as_facilitator.get(base).text
    # Deleting asks first: the page and a post without the confirmation delete nothing.
    asked = as_facilitator.get(f"/networks/rwanda/records/{record_id}/delete")
    assert asked.status_code == 200 and "This cannot be undone" in asked.text
    assert post(as_facilitator, f"/networks/rwanda/records/{record_id}/delete").status_code == 200
    assert len(programme.partnership(db, partnered["id"])["records"]) == 1
    assert post(as_facilitator, f"/networks/rwanda/records/{record_id}/delete",
                {"confirm": "yes"}).status_code == 302
    assert programme.partnership(db, partnered["id"])["records"] == []


def test_a_bad_record_lists_its_problems_and_saves_nothing(as_facilitator, partnered, db):
    base = f"/networks/rwanda/partnerships/{partnered['id']}"
    before = dump(db)
    response = post(as_facilitator, f"{base}/records/new",
                    {"kind": "visit", "visit_type": "holiday", "starts_on": "soon"})
    assert response.status_code == 400
    for field in ("visit_type", "purpose", "starts_on"):
        assert field in response.text
    assert dump(db) == before


def test_programme_dashboard_and_export(as_facilitator, as_viewer, partnered, db):
    post(as_facilitator, f"/networks/rwanda/partnerships/{partnered['id']}/records/new",
         PLAN_FORM)
    page = as_facilitator.get("/networks/rwanda/programme").text
    assert "Activities overdue" in page and "Audit registers" in page and "Dr U" in page
    assert "4 action planning" in page
    viewer_page = as_viewer.get("/networks/rwanda/programme").text
    assert "Audit registers" in viewer_page and "Rerun, keeping" not in viewer_page
    download = as_viewer.get("/networks/rwanda/programme/records.xlsx")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].endswith("rwanda-partnerships.xlsx")
    book = load_workbook(io.BytesIO(download.data))
    assert [r[7] for r in list(book["activities"].values)[1:]] == ["Audit registers"]  # after the record id


@pytest.mark.parametrize("path,data", [
    ("/networks/rwanda/partnerships/{id}/records/new", PLAN_FORM),
    ("/networks/rwanda/partnerships/{id}/step", {"step": "3"}),
    ("/networks/rwanda/rerun", {"period": "2024"}),
])
def test_a_viewer_writes_no_record(as_viewer, partnered, db, path, data):
    before = dump(db)
    response = post(as_viewer, path.format(id=partnered["id"]), data)
    assert response.status_code == 403
    assert dump(db) == before


def test_records_of_another_network_are_not_reachable(as_facilitator, partnered, db):
    services.import_file(db, REPO / "data" / "rwanda", "other")
    services.publish(db, services.run_match(db, "other", author="test").id)
    theirs = programme.partnerships(db, "other")[0]["id"]
    rid = programme.add_record(db, theirs, "agreement", {"signed_on": "2026-01-01"})["record"]
    assert as_facilitator.get(f"/networks/rwanda/partnerships/{theirs}").status_code == 404
    assert as_facilitator.get(f"/networks/rwanda/records/{rid}/edit").status_code == 404
    assert post(as_facilitator, f"/networks/rwanda/records/{rid}/delete",
                {"confirm": "yes"}).status_code == 404
    assert programme.record(db, rid)["fields"]["signed_on"] == "2026-01-01"


def test_a_rerun_with_a_cap_on_changes(as_facilitator, partnered, db):
    response = post(as_facilitator, "/networks/rwanda/rerun",
                    {"period": "2024", "weight_continuity": "0", "max_changes": "2"})
    assert response.status_code == 302
    run = services.show_run(db, int(response.location.rsplit("/", 1)[1]))
    assert run.options["max_changes"] == 2 and run.options["weight_continuity"] == 0
    previous = run.summary["previous"]
    assert previous["keepable"] - previous["kept"] <= 2 < previous["pairs"] - previous["kept"]
    bad = post(as_facilitator, "/networks/rwanda/rerun", {"period": "2024", "max_changes": "-1"})
    assert bad.status_code == 400 and "max_changes" in bad.text


def test_an_ended_partnership_stays_readable(as_facilitator, partnered, db):
    from tpn.matching import MatchOptions

    programme.add_record(db, partnered["id"], "agreement", {"signed_on": "2026-01-15"})
    services.publish(db, services.rerun_round(db, "rwanda", "2024",
                                              MatchOptions(weight_continuity=0.0)).id)
    ended = [p for p in programme.partnerships(db, "rwanda", ended=True) if p["ended_at"]]
    assert ended
    board = as_facilitator.get("/networks/rwanda/programme").text
    assert "Ended partnerships" in board
    for p in ended:
        page = as_facilitator.get(f"/networks/rwanda/partnerships/{p['id']}").text
        assert "ended" in page and "Write a record" not in page and "Move to step" not in page


def test_a_bug_in_tpn_is_a_500_page_with_a_reference(as_facilitator, db, monkeypatch):
    import tpn.matching.flow as flow
    from tpn.errors import TpnBug

    def broken(*args, **kwargs):
        raise TpnBug("min-cost flow ended with status 5")

    monkeypatch.setattr(flow, "_solve", broken)
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      as_facilitator.get("/networks/rwanda/match").text).group(1)
    response = as_facilitator.post("/networks/rwanda/match", data={"csrf_token": token})
    assert response.status_code == 500
    assert "this is a bug in tpn, please report it" in response.text
    assert re.search(r"reference [0-9a-f]{8}", response.text)


def test_results_page_and_show_give_the_network_figures(as_viewer, db, capsys):
    from tpn.cli import main

    rid = run_id(db)
    m = services.run_metrics(db, rid)
    page = as_viewer.get(f"/runs/{rid}").text
    assert f"<strong>{m.institutions_reached}</strong> of {m.institutions} institutions" in page
    assert "mutual pair" in page and "across regions" in page
    url = db.engine.url.render_as_string(hide_password=False)
    assert main(["show", str(rid), "--db", url]) == 0
    assert f"network: {m.institutions_reached} of {m.institutions} institutions reached" \
        in capsys.readouterr().out
    body = as_viewer.get(f"/api/v1/runs/{rid}").get_json()
    assert body["network_metrics"]["institutions_reached"] == m.institutions_reached


def test_a_scores_file_alone_imports_new_scores_through_the_app(as_facilitator, db, tmp_path):
    path = tmp_path / "scores_2025.csv"
    path.write_text("institution_id,topic_id,value\nkibuye_hospital,ipc,81.5\n")
    location = upload(as_facilitator, path, period="2025").location
    preview = as_facilitator.get(location)
    assert preview.status_code == 200, preview.text[:1500]
    assert post(as_facilitator, location, {"action": "import"}).status_code == 302
    assert services.load(db, "rwanda").snapshot().period == "2025"
