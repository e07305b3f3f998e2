"""Time the workshop app's pages on the sample network (mean of 5 requests after a warm-up),
through Flask's test client, so the server and network are not part of the figure.

    .venv/bin/python benchmarks/pages.py
"""

import re
import tempfile
import time

from tpn import services
from tpn.services import programme
from tpn.samples import data_dir
from web import create_app


def main() -> None:
    app = create_app({"INSTANCE": tempfile.mkdtemp()})
    db = app.extensions["tpn_db"]
    services.import_file(db, data_dir() / "rwanda", "rwanda")
    services.add_user(db, "bench", "bench-password", "facilitator")
    run = services.run_match(db, "rwanda")["run"]
    services.publish(db, run)
    first = programme.partnerships(db, "rwanda")[0]["id"]
    programme.add_record(db, first, "action_plan", {
        "agreed_on": "2026-02-01", "objectives": "Deliveries to 90%",
        "activity-0-what": "Audit registers", "activity-0-due": "2026-03-01"})
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password",
                                "csrf_token": token})
    print(f"{'page':45s} {'ms':>7s}  size")
    for url in ["/networks/rwanda", "/networks/rwanda/gaps",
                "/networks/rwanda/institutions/gasabo", "/networks/rwanda/focus",
                f"/runs/{run}", f"/runs/{run}/cards", f"/runs/{run}/export/run.xlsx",
                "/networks/rwanda/programme", f"/networks/rwanda/partnerships/{first}",
                "/networks/rwanda/programme/records.xlsx"]:
        client.get(url)
        start, n = time.perf_counter(), 5
        for _ in range(n):
            response = client.get(url)
        print(f"{url:45s} {1000 * (time.perf_counter() - start) / n:7.1f}  "
              f"{len(response.data) // 1024} KB")


if __name__ == "__main__":
    main()
