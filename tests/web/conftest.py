"""The workshop app over a temporary instance folder holding the sample network and one
account per role. CSRF protection stays on: tests send the token as a browser would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tpn import services
from tpn.samples import data_dir

sys.path.insert(0, str(Path(__file__).parent))

from webclient import PASSWORDS, login  # noqa: E402


@pytest.fixture
def app(tmp_path):
    from web import create_app

    app = create_app({"INSTANCE": tmp_path / "instance"})
    db = app.extensions["tpn_db"]
    services.import_file(db, data_dir() / "rwanda", "rwanda", author="setup")
    for role, password in PASSWORDS.items():
        services.add_user(db, role, password, role)
    return app


@pytest.fixture
def db(app):
    return app.extensions["tpn_db"]


@pytest.fixture
def as_facilitator(app):
    return login(app.test_client(), "facilitator")


@pytest.fixture
def as_viewer(app):
    return login(app.test_client(), "viewer")


@pytest.fixture
def as_admin(app):
    return login(app.test_client(), "admin")
