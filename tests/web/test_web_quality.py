"""The data-quality page: flagged scores listed and marked on the gap analysis, accepted by
a facilitator (never by a viewer), and exported for the district's data officer."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tpn import services
from tpn.models import FocusRequest, Network, Snapshot, Topic
from tpn.tabular import write_network

from helpers import inst
from webclient import post


def _flagged_network(db, tmp_path) -> None:
    topic = Topic("anc", "ANC retention", unit="%", minimum=0, maximum=100)
    values = [55.0, 60, 62, 65, 70, 72, 75, 80, 85, 90, 150, 240]
    insts = [inst(f"c{k:02d}", "clinic", region="north" if k % 2 else "south")
             for k in range(len(values))]
    scores = {(f"c{k:02d}", "anc"): v for k, v in enumerate(values)}
    network = Network(tuple(insts), (topic,), (Snapshot("2024", scores),),
                      (FocusRequest("c00", "anc"),))
    write_network(network, tmp_path / "sl")
    services.import_file(db, tmp_path / "sl", "sl", author="setup")


def test_the_report_lists_flags_and_the_gap_analysis_marks_them(as_facilitator, db, tmp_path):
    _flagged_network(db, tmp_path)
    page = as_facilitator.get("/networks/sl/quality").text
    assert "2 score(s) flagged (2 out of range, 0 outlier(s), 0 jump(s))" in page
    assert "240 % is outside the plausible range 0–100 %" in page
    overview = as_facilitator.get("/networks/sl").text
    assert "2 flagged score(s)" in overview
    gaps = as_facilitator.get("/networks/sl/gaps").text
    assert gaps.count('class="flagged"') == 2
    assert 'title="150 % is outside the plausible range 0–100 %"' in gaps
    profile = as_facilitator.get("/networks/sl/institutions/c11").text
    assert "not considered as a mentor on this topic" in profile


def test_a_facilitator_accepts_a_checked_value_and_a_viewer_cannot(as_facilitator, as_viewer,
                                                                   db, tmp_path):
    _flagged_network(db, tmp_path)
    key = {"institution": "c10", "topic": "anc", "period": "2024"}
    denied = post(as_viewer, "/networks/sl/quality/accept", {**key, "action": "accept"})
    assert denied.status_code == 403
    assert services.quality_report(db, "sl").untrusted == 2
    done = post(as_facilitator, "/networks/sl/quality/accept",
                {**key, "action": "accept", "note": "register checked"},
                follow_redirects=True)
    assert "Accepted: 150 % is outside the plausible range" in done.text
    assert "accepted by facilitator" in done.text
    assert as_facilitator.get("/networks/sl/gaps").text.count('class="flagged"') == 1
    history = services.history(db, "sl", "c10")
    assert history[-1].author == "facilitator" and "accepted" in history[-1].field
    post(as_facilitator, "/networks/sl/quality/accept", {**key, "action": "withdraw"})
    assert services.quality_report(db, "sl").untrusted == 2
    # Accepting a score that is not flagged is a clear 400, not a 500.
    wrong = post(as_facilitator, "/networks/sl/quality/accept",
                 {"institution": "c00", "topic": "anc", "period": "2024", "action": "accept"})
    assert wrong.status_code == 400 and "is not flagged" in wrong.text


def test_the_report_downloads_as_excel_and_csv(as_viewer, db, tmp_path):
    _flagged_network(db, tmp_path)
    book = as_viewer.get("/networks/sl/quality/quality.xlsx")
    assert book.status_code == 200
    sheets = load_workbook(io.BytesIO(book.data))
    assert sheets.sheetnames == ["summary", "by_region", "flagged"]
    assert sheets["flagged"].max_row == 3
    flagged = as_viewer.get("/networks/sl/quality/flagged.csv").text.splitlines()
    assert flagged[0].startswith("institution_id,institution_name,kind,region,topic_id")
    assert len(flagged) == 3 and flagged[1].startswith("c10,C10,clinic,south,anc")
    assert as_viewer.get("/networks/sl/quality/other.txt").status_code == 404
