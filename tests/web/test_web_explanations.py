"""The explanations the app and the API show are the engine's, word for word: the same
checked fixes and exact eligible counts as tpn match --explain and unmatched.csv."""

from __future__ import annotations

from html import escape

from tpn import services
from tpn.matching import solve
from tpn.models import MatchProblem
from tpn.tabular.results import unmatched_rows


def test_page_api_and_csv_say_the_same(as_viewer, db):
    run = services.run_match(db, "rwanda", author="test").id
    stored = services.show_run(db, run).unmatched
    data = services.load(db, "rwanda")
    result = solve(MatchProblem.from_network(data))
    expected = [r for r in unmatched_rows(result, data)]
    assert [[str(u[k]) for k in u] for u in stored] == expected
    page = as_viewer.get(f"/runs/{run}").text
    api = as_viewer.get(f"/api/v1/runs/{run}/pairs").get_json()["unmatched"]
    assert api == stored
    for u in stored:
        assert escape(u["fix"], quote=False) in page or escape(u["fix"]) in page
        assert u["eligible_mentors"] != ""
    csv_text = as_viewer.get(f"/runs/{run}/export/unmatched.csv").text
    assert csv_text.splitlines()[0].split(",")[5] == "eligible_mentors"
