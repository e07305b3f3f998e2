"""Sign-in, sessions and share links as a server on a network must hold them: throttled
guesses, sign-outs that end the session on the server, nothing cached, files for the owner
only, share links that expire, show only what was published and keep contacts private."""

from __future__ import annotations

import datetime as dt
import io
import re
import statistics
import time

from tpn import services
from tpn.cli import main
from tpn.samples import data_dir
from tpn.storage import schema

from webclient import PASSWORDS, csrf_token, login, post


def sign_in(client, username: str, password: str):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def test_guessing_a_password_is_throttled_per_account(app):
    client = app.test_client()
    for _ in range(10):
        assert sign_in(client, "facilitator", "wrong-guess").status_code == 401
    refused = sign_in(client, "facilitator", PASSWORDS["facilitator"])
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    # Another account from the same address still signs in.
    assert sign_in(app.test_client(), "viewer", PASSWORDS["viewer"]).status_code == 302
    # The API's Basic auth counts against the same limit.
    import base64
    raw = base64.b64encode(f"facilitator:{PASSWORDS['facilitator']}".encode()).decode()
    api = client.get("/api/v1/networks", headers={"Authorization": f"Basic {raw}"})
    assert api.status_code == 429 and "Retry-After" in api.headers


def test_unknown_names_take_as_long_as_known_ones(app):
    db = app.extensions["tpn_db"]

    def seconds(name):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            services.authenticate(db, name, "wrong-password")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known, unknown = seconds("facilitator"), seconds("nobody-at-all")
    assert unknown > 0.5 * known, (unknown, known)


def test_sign_out_ends_the_session_on_the_server(app):
    client = login(app.test_client(), "facilitator")
    copied = client.get_cookie("session").value
    post(client, "/logout")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/networks/rwanda").status_code == 302       # to the sign-in page


def test_a_new_password_ends_every_session_of_the_account(app, db):
    client = login(app.test_client(), "facilitator")
    assert client.get("/networks/rwanda").status_code == 200
    services.set_password(db, "facilitator", "a-new-password-1")
    assert client.get("/networks/rwanda").status_code == 302


def test_signed_in_pages_are_not_cached(as_facilitator):
    page = as_facilitator.get("/networks/rwanda")
    assert page.headers["Cache-Control"] == "no-store"
    style = as_facilitator.get("/static/tpn.css")
    assert style.status_code == 200 and "no-store" not in style.headers.get("Cache-Control", "")


def test_the_database_and_uploads_are_the_owners_only(app, as_facilitator, tmp_path):
    database = tmp_path / "instance" / "tpn.sqlite"
    assert database.stat().st_mode & 0o077 == 0
    book = (data_dir() / "rwanda")
    from tpn.tabular import read_network, write_network

    path = write_network(read_network(book), tmp_path / "net.xlsx")
    response = post(as_facilitator, "/networks/rwanda/import",
                    {"file": (io.BytesIO(path.read_bytes()), "net.xlsx")},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    uploads = app.extensions["tpn_uploads"]
    kept = [p for p in uploads.rglob("*")]
    assert kept and all(p.stat().st_mode & 0o077 == 0 for p in [uploads, *kept])


def test_the_debug_server_never_listens_beyond_this_computer(tmp_path, capsys):
    code = main(["serve", "--debug", "--host", "0.0.0.0", "--instance", str(tmp_path)])
    assert code == 2 and "the debug server runs only on this computer" in capsys.readouterr().err


def test_behind_an_https_proxy_cookies_are_secure(tmp_path, app):
    from web import create_app

    secure = create_app({"INSTANCE": app.instance_path, "PUBLIC_URL": "https://tpn.example.org"})
    client = secure.test_client()
    # The proxy speaks HTTPS to the browser and plain HTTP to tpn.
    behind = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tpn.example.org",
              "Referer": "https://tpn.example.org/login"}
    page = client.get("/login", base_url="https://tpn.example.org", headers=behind)
    assert "Secure" in page.headers["Set-Cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", base_url="https://tpn.example.org", headers=behind,
                           data={"username": "facilitator", "csrf_token": token,
                                 "password": PASSWORDS["facilitator"]})
    assert response.status_code == 302, response.text
    assert "Secure" in response.headers["Set-Cookie"]


# --- share links ---------------------------------------------------------------------------------


def share(as_facilitator, db, **fields) -> str:
    post(as_facilitator, "/networks/rwanda/share", fields)
    return services.share_links(db, "rwanda")[-1].token


def test_a_share_link_shows_published_runs_only(app, as_facilitator, db):
    published = services.run_match(db, "rwanda", author="test").id
    services.publish(db, published)
    draft = services.run_match(db, "rwanda", author="test").id
    participant = app.test_client()
    participant.get(f"/s/{share(as_facilitator, db)}")
    assert participant.get(f"/runs/{published}").status_code == 200
    for path in (f"/runs/{draft}", f"/runs/{draft}/cards", f"/runs/{draft}/export/pairs.csv",
                 f"/api/v1/runs/{draft}", f"/api/v1/runs/{draft}/pairs"):
        assert participant.get(path).status_code == 404, path
    listed = participant.get("/api/v1/networks/rwanda/runs").get_json()["runs"]
    assert [r["id"] for r in listed] == [published]
    assert f"run {draft}" not in participant.get("/networks/rwanda").text


def test_a_share_link_expires(app, as_facilitator, db):
    token = share(as_facilitator, db, days="3")
    [link] = services.share_links(db, "rwanda")
    left = link.expires_at - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=2, hours=23) < left <= dt.timedelta(days=3)
    participant = app.test_client()
    assert participant.get(f"/s/{token}").status_code == 302
    with db.transaction() as conn:      # three days later
        conn.execute(schema.share_link.update().values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
    assert participant.get("/networks/rwanda").status_code == 302     # to the sign-in page
    assert app.test_client().get(f"/s/{token}").status_code == 404
    assert services.share_links(db, "rwanda") == []
    assert post(as_facilitator, "/networks/rwanda/share", {"days": "400"}).status_code == 400


def test_contacts_stay_hidden_unless_the_link_allows_them(app, as_facilitator, db, tmp_path):
    folder = tmp_path / "contacts"
    folder.mkdir()
    for file in (data_dir() / "rwanda").glob("*.csv"):
        text = file.read_text()
        if file.stem == "institutions":
            lines = text.splitlines()
            text = "\n".join([lines[0] + ",email"] + [f"{line},head@{k}.example.org"
                                                       for k, line in enumerate(lines[1:])])
        (folder / file.name).write_text(text + "\n")
    services.import_file(db, folder, "contacts")
    run = services.run_match(db, "contacts", author="test").id
    services.publish(db, run)
    for allowed in (False, True):
        post(as_facilitator, "/networks/contacts/share",
             {"contacts": "yes"} if allowed else {})
        token = services.share_links(db, "contacts")[-1].token
        participant = app.test_client()
        participant.get(f"/s/{token}")
        cards = participant.get(f"/runs/{run}/cards").text
        insts = participant.get("/api/v1/networks/contacts/institutions").get_json()
        emails = [i["attributes"].get("email") for i in insts["institutions"]]
        assert ("example.org" in cards) is allowed
        assert all(emails) if allowed else not any(emails)
    assert "example.org" in as_facilitator.get(f"/runs/{run}/cards").text


def test_a_share_link_uses_the_address_participants_reach(app, as_facilitator, db):
    from web import create_app

    from web.networks import _lan_address, share_url

    token = share(as_facilitator, db)
    assert "listens on this" not in as_facilitator.get("/networks/rwanda").text

    def link(base: str) -> str:
        with app.test_request_context("/", base_url=base):
            return share_url(token)

    # Reached at an address: that address (a server started otherwise is taken at its word).
    assert link("http://10.1.2.3:5000") == f"http://10.1.2.3:5000/s/{token}"
    assert link("http://127.0.0.1:5000") == f"http://127.0.0.1:5000/s/{token}"
    # tpn serve on this computer only: the page says the link would reach no one.
    app.config["LISTEN_HOST"] = "127.0.0.1"
    assert "The app listens on this computer only" in as_facilitator.get("/networks/rwanda").text
    # tpn serve --host 0.0.0.0, opened on this computer: its address on the local network.
    app.config["LISTEN_HOST"] = "0.0.0.0"
    lan = _lan_address()
    assert link("http://127.0.0.1:5000") == f"http://{lan or '127.0.0.1'}:5000/s/{token}"
    assert "listens on this" not in as_facilitator.get("/networks/rwanda").text
    public = create_app({"INSTANCE": app.instance_path, "PUBLIC_URL": "https://tpn.example.org/"})
    page = login(public.test_client(), "facilitator").get("/networks/rwanda",
                                                          headers={"X-Forwarded-Proto": "https"})
    assert f'value="https://tpn.example.org/s/{token}"' in page.text


def test_a_signed_in_facilitator_opening_a_share_link_stays_signed_in(app, as_facilitator, db):
    token = share(as_facilitator, db)
    opened = as_facilitator.get(f"/s/{token}")
    assert opened.status_code == 302
    page = as_facilitator.get("/networks/rwanda").text
    assert "facilitator (facilitator)" in page or "Import" in page
    assert as_facilitator.get("/networks/rwanda/import").status_code == 200
