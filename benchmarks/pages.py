"""Time the workshop app's pages (mean of 5 requests after a warm-up) through Flask's test
client, so the server and network are not part of the figure: on the sample network, or
on a generated national one (3,055 institutions, 6 topics, as issue 24 measured).

    .venv/bin/python benchmarks/pages.py
    .venv/bin/python benchmarks/pages.py --national
"""

import argparse
import re
import tempfile
import time
from pathlib import Path

from tpn import services
from tpn.services import programme
from tpn.samples import data_dir, generate
from tpn.tabular import write_network
from web import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--national", action="store_true",
                        help="a generated network of 3,055 institutions instead of the sample")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    app = create_app({"INSTANCE": folder / "instance"})
    db = app.extensions["tpn_db"]
    name = "national" if args.national else "rwanda"
    if args.national:
        write_network(generate(3055, seed=3, topics=6), folder / "net")
        services.import_file(db, folder / "net", name)
    else:
        services.import_file(db, data_dir() / "rwanda", name)
    services.add_user(db, "bench", "bench-password", "facilitator")
    run = services.run_match(db, name).id
    services.publish(db, run)
    draft = services.rerun(db, run).id
    first = programme.partnerships(db, name)[0]
    programme.add_record(db, first["id"], "action_plan", {
        "agreed_on": "2026-02-01", "objectives": "Deliveries to 90%",
        "activity-0-what": "Audit registers", "activity-0-due": "2026-03-01"})
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password",
                                "csrf_token": token})
    pair = services.show_run(db, draft).pairs[0]
    print(f"{'page':55s} {'ms':>7s}  size")
    for url in [f"/networks/{name}", f"/networks/{name}/gaps",
                f"/networks/{name}/institutions/{first['mentee_id']}", f"/networks/{name}/focus",
                f"/runs/{draft}", f"/runs/{draft}?topic={pair['topic_id']}&sort=cost",
                f"/runs/{run}/cards", f"/runs/{run}/export/run.xlsx",
                f"/networks/{name}/programme", f"/networks/{name}/partnerships/{first['id']}",
                f"/networks/{name}/programme/records.xlsx"]:
        client.get(url)
        start, n = time.perf_counter(), 5
        for _ in range(n):
            response = client.get(url)
        print(f"{url:55s} {1000 * (time.perf_counter() - start) / n:7.1f}  "
              f"{len(response.data) // 1024} KB")
    # A review edit: the lock, then the page it sends back to.
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    start = time.perf_counter()
    edited = client.post(f"/runs/{draft}/edit", data={
        "action": "lock", "mentee": pair["mentee_id"], "topic": pair["topic_id"],
        "current": pair["mentor_id"], "csrf_token": token})
    page = client.get(edited.location)
    print(f"{'a review edit, and the page it returns to':55s} "
          f"{1000 * (time.perf_counter() - start):7.1f}  {len(page.data) // 1024} KB")


if __name__ == "__main__":
    main()
