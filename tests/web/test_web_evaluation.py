"""The evaluation page and API: the same adjusted figures as tpn evaluate, the unadjusted
difference labelled beside them, and what the figures cannot tell."""

from __future__ import annotations

from tpn import services


def test_the_page_shows_the_adjusted_effect_first(as_viewer, db):
    page = as_viewer.get("/networks/rwanda/evaluation").text
    assert "Adjusted effect" in page and "Unadjusted difference" in page
    assert "What these figures cannot tell" in page and "<svg" in page
    cbhi = next(e for e in services.evaluate_network(db, "rwanda", "2023", "2024").effects
                if e.topic_id == "cbhi")
    assert f"<strong>{cbhi.estimate:+.2f}</strong>" in page
    report = as_viewer.get("/networks/rwanda/evaluation/report.html?from=2023&to=2024")
    assert report.status_code == 200 and "attachment" in report.headers["Content-Disposition"]
    assert f"<strong>{cbhi.estimate:+.2f}</strong>" in report.text
    regional = as_viewer.get("/networks/rwanda/evaluation?from=2023&to=2024&by_region=1").text
    assert "checked" in regional


def test_the_api_returns_the_same_figures(as_viewer, db):
    body = as_viewer.get("/api/v1/networks/rwanda/evaluation?from=2023&to=2024").get_json()
    expected = services.evaluate_network(db, "rwanda", "2023", "2024")
    assert body["effects"] == [e.as_dict() for e in expected.effects]
    assert all(e["method"] == "ancova" for e in body["effects"])
    missing = as_viewer.get("/api/v1/networks/rwanda/evaluation")
    assert missing.status_code == 400
    assert "?from=BASELINE&to=FOLLOW_UP" in missing.get_json()["problems"][0]["message"]
    quality = as_viewer.get("/api/v1/networks/rwanda/quality").get_json()
    assert quality["summary"] == "no score flagged" and quality["flags"] == []


def test_one_period_says_what_is_needed(as_facilitator, db, tmp_path):
    from tpn.samples import rwanda
    from tpn.tabular import write_network
    import dataclasses

    one = dataclasses.replace(rwanda(), snapshots=rwanda().snapshots[:1])
    write_network(one, tmp_path / "one")
    services.import_file(db, tmp_path / "one", "single")
    page = as_facilitator.get("/networks/single/evaluation").text
    assert "import the follow-up scores first" in page
