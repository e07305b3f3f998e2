"""`tpn serve`, `tpn demo` and `tpn user`: the app behind a production server, the demo
that `make demo` opens, and the first admin."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

from tpn import services
from tpn.cli import main
from tpn.storage import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_user_add_reads_the_password_and_keeps_only_its_hash(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'tpn.sqlite'}"
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert main(["user", "add", "amina", "--role", "admin", "--password-stdin",
                 "--db", url]) == 0
    assert "user amina added (admin)" in capsys.readouterr().out
    db = Database.open(url)
    found = services.authenticate(db, "amina", "a-long-password")
    assert (found.username, found.role) == ("amina", "admin")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["user", "add", "bo", "--password-stdin", "--db", url]) == 2
    assert "shorter than 8 characters" in capsys.readouterr().err
    assert main(["user", "list", "--db", url]) == 0
    assert re.search(r"amina\s+admin", capsys.readouterr().out)


def test_user_give_and_take_networks(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'tpn.sqlite'}"
    db = Database.open(url)
    services.create_network(db, "north")
    services.create_network(db, "south")
    services.add_user(db, "bo", "a-long-password", "facilitator")
    assert main(["user", "give", "bo", "north", "--db", url]) == 0
    assert main(["user", "give", "bo", "south", "--role", "viewer", "--db", url]) == 0
    assert "bo works on: north (facilitator), south (viewer)" in capsys.readouterr().out
    assert main(["user", "list", "--db", url]) == 0
    assert re.search(r"bo\s+facilitator of north; viewer of south", capsys.readouterr().out)
    assert main(["user", "take", "bo", "north", "--db", url]) == 0
    assert main(["user", "take", "bo", "south", "--db", url]) == 0
    assert "bo works on: every network, as facilitator" in capsys.readouterr().out
    assert main(["user", "give", "bo", "west", "--db", url]) == 3
    assert "no network named 'west'" in capsys.readouterr().err


def test_demo_sets_up_the_sample_and_prints_a_working_account(tmp_path, capsys):
    assert main(["demo", "--no-serve", "--instance", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    password = re.search(r"sign in as demo with password (\S+)", out).group(1)
    assert "run 1 has 58 pairs" in out
    db = Database.open(f"sqlite:///{tmp_path / 'tpn.sqlite'}")
    assert services.authenticate(db, "demo", password).role == "facilitator"
    # Again: the network and run are kept, the password is new.
    assert main(["demo", "--no-serve", "--instance", str(tmp_path)]) == 0
    second = re.search(r"password (\S+)", capsys.readouterr().out).group(1)
    assert second != password and services.authenticate(db, "demo", password) is None
    assert len(services.runs(db, "rwanda")) == 1 and services.networks(db) == ["rwanda"]


def test_serve_runs_the_app_on_waitress(tmp_path):
    port = free_port()
    env = {**os.environ, "TPN_INSTANCE": str(tmp_path)}
    env.pop("TPN_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "tpn.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                response = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.time() < deadline, "the server did not start"
                time.sleep(0.2)
        assert response.status == 200
        assert response.headers["Server"] == "tpn"        # waitress, with tpn's ident
        assert b"Sign in" in response.read()
        assert (tmp_path / "secret_key").exists() and (tmp_path / "tpn.sqlite").exists()
    finally:
        proc.terminate()
        proc.wait(10)


def test_debug_uses_flasks_development_server(tmp_path, monkeypatch, capsys):
    from flask import Flask

    calls = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: calls.append(kw))
    assert main(["serve", "--debug", "--instance", str(tmp_path), "--port", "5099"]) == 0
    assert calls == [{"host": "127.0.0.1", "port": 5099, "debug": True,
                      "use_reloader": False}]
    assert "not for a workshop" in capsys.readouterr().out
