"""A local DHIS2 server for the tests of ``tpn pull``: real HTTP on 127.0.0.1, answering
DHIS2's documented endpoints (/api/system/info, /api/analytics, /api/organisationUnits
with paging) from the recorded Sierra Leone responses, the units given geometry and
facility-type groups in DHIS2's own format. Failures on demand: a wrong token (401),
a busy server (503 for the next N requests), a slow one, an analytics error (409)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tpn.tabular.dhis2 import kind_from_name

TOKEN = "d2pat_local_test_token"
PATTERN = "(Hospital|CHC|CHP|MCHP|Clinic)$"
GROUP_SET = "facilityTyp"


def units_with_geometry_and_groups(sierra_leone_dir: Path) -> list[dict]:
    """The real units, each with a Point or Polygon and its facility-type group."""
    units = json.loads((sierra_leone_dir / "organisation_units.json").read_text())
    hierarchy = json.loads((sierra_leone_dir / "analytics_anc_facilities.json").read_text()
                           )["metaData"]["ouHierarchy"]
    out = []
    for k, unit in enumerate(units["organisationUnits"]):
        kind = kind_from_name(unit["name"], PATTERN)
        groups = [{"id": f"grp{kind}", "name": kind, "groupSets": [{"id": GROUP_SET}]}] \
            if kind else []
        lon, lat = -13.0 + k / 1000, 8.0 + k / 2000
        geometry = ({"type": "Point", "coordinates": [lon, lat]} if k % 2 else
                    {"type": "Polygon", "coordinates": [[[lon - .01, lat - .01],
                                                         [lon + .01, lat - .01],
                                                         [lon + .01, lat + .01],
                                                         [lon - .01, lat + .01],
                                                         [lon - .01, lat - .01]]]})
        path = hierarchy.get(unit["id"])
        out.append({**unit, "geometry": geometry, "organisationUnitGroups": groups,
                    **({"path": f"/{path}/{unit['id']}", "level": 4} if path else {"level": 3})})
    return out


class Dhis2Server:
    def __init__(self, sierra_leone_dir: Path):
        self.analytics = (sierra_leone_dir / "analytics_anc_facilities.json").read_bytes()
        self.units = units_with_geometry_and_groups(sierra_leone_dir)
        self.busy = 0               # answer 503 to this many next requests
        self.slow = 0.0             # seconds to wait before answering
        self.analytics_error = ""   # a 409 message for the analytics request
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                if server.slow:
                    time.sleep(server.slow)
                if server.busy > 0:
                    server.busy -= 1
                    return self._send(503, {"message": "busy"})
                if self.headers.get("Authorization") != f"ApiToken {TOKEN}":
                    return self._send(401, {"httpStatusCode": 401, "message": "Unauthorized"})
                url = urlsplit(self.path)
                query = parse_qsl(url.query)
                if url.path == "/api/system/info.json":
                    return self._send(200, {"version": "40.0.1", "serverDate": "2026-12-05"})
                if url.path == "/api/analytics.json":
                    if server.analytics_error:
                        return self._send(409, {"httpStatusCode": 409,
                                                "message": server.analytics_error})
                    dims = [v for k, v in query if k == "dimension"]
                    assert any(d.startswith("dx:") for d in dims), dims
                    return self._send(200, server.analytics, raw=True)
                if url.path == "/api/organisationUnits.json":
                    filters = [v for k, v in query if k == "filter"]
                    level = next(int(f.split(":")[2]) for f in filters if f.startswith("level"))
                    root = next(f.split(":")[2] for f in filters if f.startswith("path"))
                    chosen = [u for u in server.units
                              if u.get("level") == level and root in u.get("path", "")]
                    size = int(dict(query).get("pageSize", 50))
                    page = int(dict(query).get("page", 1))
                    pages = max(1, -(-len(chosen) // size))
                    return self._send(200, {
                        "pager": {"page": page, "pageCount": pages, "total": len(chosen),
                                  "pageSize": size},
                        "organisationUnits": chosen[(page - 1) * size:page * size]})
                return self._send(404, {"httpStatusCode": 404, "message": "Not found"})

            def _send(self, status, body, raw=False):
                data = body if raw else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass        # a client that gave up (a timeout test) is expected

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
