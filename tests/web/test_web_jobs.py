"""A match or rerun of a large network runs as a job: in its own process, under a memory
ceiling, its progress on a page that can be left and found again, the app answering
everyone else meanwhile."""

from __future__ import annotations

import time

import pytest

from tpn import services

from webclient import login, post, workbook_with_other_headers


@pytest.fixture
def jobs_app(app):
    app.config["JOB_INSTITUTIONS"] = 0         # every network counts as large
    return app


def follow(client, location: str, seconds: float = 120):
    """The job's page until it sends us on (or says it failed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page = client.get(location)
        if page.status_code == 302 or "It did not work" in page.text:
            return page
        assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
        time.sleep(0.3)
    raise AssertionError("the job did not finish")


def test_a_match_runs_as_a_job_and_ends_on_its_results(jobs_app, db):
    client = login(jobs_app.test_client(), "facilitator")
    started = post(client, "/networks/rwanda/match", {"period": "2024"})
    assert started.status_code == 302 and started.location.startswith("/jobs/")
    # Meanwhile the app answers, and the network's page lists the job.
    overview = client.get("/networks/rwanda")
    assert overview.status_code == 200 and "Matching rwanda" in overview.text
    done = follow(client, started.location)
    assert done.location.startswith("/runs/")
    run_id = int(done.location.rsplit("/", 1)[1])
    assert services.show_run(db, run_id).created_by == "facilitator"
    assert f"done — run {run_id}" in client.get("/networks/rwanda").text
    # A rerun of that draft is a job too.
    again = post(client, f"/runs/{run_id}/rerun")
    assert again.location.startswith("/jobs/")
    rerun = follow(client, again.location)
    assert services.show_run(db, int(rerun.location.rsplit("/", 1)[1])).parent_id == run_id


def test_a_job_beyond_its_memory_fails_alone(jobs_app, db, tmp_path):
    from tpn.samples import generate
    from tpn.tabular import write_network

    write_network(generate(4000, seed=1), tmp_path / "big")
    services.import_file(db, tmp_path / "big", "big")
    jobs_app.config["JOB_MEMORY_MB"] = 64       # less than the process has already
    client = login(jobs_app.test_client(), "facilitator")
    started = post(client, "/networks/big/match", {})
    failed = follow(client, started.location)
    assert "needed more than 64 MB of memory (TPN_JOB_MEMORY_MB)" in failed.text
    assert services.runs(db, "big") == []
    assert client.get("/networks/big").status_code == 200


def test_a_job_is_seen_only_by_its_network(jobs_app, db):
    client = login(jobs_app.test_client(), "facilitator")
    started = post(client, "/networks/rwanda/match", {"period": "2024"})
    follow(client, started.location)
    token = services.create_share_link(db, "rwanda")
    services.create_network(db, "other")
    other = services.create_share_link(db, "other")
    participant = jobs_app.test_client()
    participant.get(f"/s/{other}")
    assert participant.get(started.location).status_code == 403
    assert jobs_app.test_client().get("/jobs/unknown").status_code == 302   # sign in first
    assert client.get("/jobs/unknown").status_code == 404
    assert token


def test_a_large_upload_is_read_and_imported_as_jobs(jobs_app, db, tmp_path):
    from helpers import dump

    jobs_app.config["JOB_UPLOAD_BYTES"] = 0         # every upload counts as large
    book = workbook_with_other_headers(tmp_path / "net.xlsx")
    client = login(jobs_app.test_client(), "facilitator")
    post(client, "/networks", {"name": "fresh"})
    before = dump(db)
    with open(book, "rb") as f:
        uploaded = post(client, "/networks/fresh/import", {"file": (f, "net.xlsx")},
                        content_type="multipart/form-data")
    preview = uploaded.location
    reading = client.get(preview)
    assert reading.status_code == 302 and reading.location.startswith("/jobs/")
    assert "Reading net.xlsx" in client.get("/networks/fresh").text
    back = follow(client, reading.location)
    assert back.location == preview
    page = client.get(preview)                  # read once: the preview comes from the job
    assert page.status_code == 422 and "the required column name is missing" in page.text
    mapped = preview + "?col-institutions-name=Facility+name"
    back = follow(client, client.get(mapped).location)
    page = client.get(back.location)
    assert page.status_code == 200 and "40 institutions" in page.text
    assert dump(db) == before                   # nothing saved by reading
    importing = post(client, preview, {"action": "import",
                                       "col-institutions-name": "Facility name"})
    assert importing.location.startswith("/jobs/")
    done = follow(client, importing.location)
    assert done.location == "/networks/fresh"
    assert "Imported 40 institutions" in client.get(done.location).text
    assert services.overview(db, "fresh")["institutions"] == 40
    assert "Kibuye Referral Hospital" in {i.name for i in services.load(db, "fresh").institutions}
    assert client.get(preview).status_code == 302        # the upload is gone
    # A second import of the same periods fails in its job, with the reason, saving nothing.
    with open(book, "rb") as f:
        again = post(client, "/networks/fresh/import", {"file": (f, "net.xlsx")},
                     content_type="multipart/form-data").location
    follow(client, client.get(again + "?col-institutions-name=Facility+name").location)
    before = dump(db)
    failed = follow(client, post(client, again, {"action": "import",
                                                 "col-institutions-name": "Facility name"}).location)
    assert "It did not work" in failed.text and "already in this network" in failed.text
    assert dump(db) == before
