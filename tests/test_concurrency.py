"""Facilitators acting at the same moment, on SQLite and PostgreSQL: each action succeeds
or ends with one clear message, one run is published, and the history tells the truth."""

from __future__ import annotations

import threading

from tpn import services
from tpn.errors import TpnError
from tpn.samples import data_dir
from tpn.services.runs import published

SAMPLE = data_dir() / "rwanda"
TIMES = 6


def at_once(jobs) -> list:
    """Run the jobs in threads released together; each one's result or the error it raised."""
    start = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def worker(k, job):
        start.wait()
        try:
            out[k] = job()
        except Exception as exc:        # noqa: BLE001 — the test looks at what each raised
            out[k] = exc

    threads = [threading.Thread(target=worker, args=(k, job)) for k, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_concurrent_publishes_leave_one_published_run(db):
    services.import_file(db, SAMPLE, "rwanda")
    drafts = [services.run_match(db, "rwanda").id for _ in range(TIMES)]
    results = at_once([lambda r=r: services.publish(db, r) for r in drafts])
    assert all(not isinstance(r, Exception) for r in results), results
    statuses = [r.status for r in services.runs(db, "rwanda")]
    assert statuses.count("published") == 1 and statuses.count("superseded") == TIMES - 1
    # The partnerships are those of the run published last, each pair once.
    last = services.show_run(db, published(services.runs(db, "rwanda")))
    current = services.programme.pairs(db, "rwanda")
    keys = [(p["mentee_id"], p["topic_id"], p["mentor_id"]) for p in current]
    assert sorted(keys) == sorted((p["mentee_id"], p["topic_id"], p["mentor_id"])
                                  for p in last.pairs)


def test_concurrent_imports_into_one_new_name_never_collide(db):
    results = at_once([lambda: services.import_file(db, SAMPLE, "fresh")] * 4)
    done = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(done) == 1, results
    assert all(isinstance(e, TpnError) and "period 2024 is already in this network" in str(e)
               for e in failed), failed
    assert services.networks(db) == ["fresh"]
    assert services.overview(db, "fresh")["institutions"] == 40


def test_concurrent_focus_edits_and_field_changes_all_land_in_order(db):
    services.import_file(db, SAMPLE, "rwanda")
    run = services.run_match(db, "rwanda").id
    pair = services.show_run(db, run).pairs[0]
    results = at_once(
        [lambda k=k: services.set_focus(db, "rwanda", "bugesera", "cbhi", k + 1, author=f"u{k}")
         for k in range(TIMES)]
        + [lambda k=k: services.edit_draft(db, run, "lock", pair["mentee_id"], pair["topic_id"],
                                           pair["mentor_id"], author=f"u{k}")
           for k in range(TIMES)]
        + [lambda k=k: services.set_fields(db, "rwanda", "institution", "bugesera",
                                           {"region": f"zone {k}"}, author=f"u{k}")
           for k in range(TIMES)])
    assert not [r for r in results if isinstance(r, Exception)], results
    # Every edit got its own version, one after the other.
    assert sorted(results[TIMES:2 * TIMES]) == list(range(2, TIMES + 2))
    assert len(services.run_edits(db, run)) == TIMES
    # Each change's old value is the value the change before it left.
    changes = [h for h in services.history(db, "rwanda", "bugesera") if h.field == "region"]
    assert len(changes) == TIMES
    for before, after in zip(changes, changes[1:]):
        assert after.old == before.new
    focus = [f for f in services.focus(db, "rwanda")
             if (f.institution_id, f.topic_id) == ("bugesera", "cbhi")]
    assert len(focus) == 1
