import importlib.util
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

from helpers import SHARED_DATA  # noqa: E402


settings.register_profile("default", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@pytest.fixture(scope="session")
def rwanda():
    from tpn.samples import rwanda as load

    return load()


@pytest.fixture(scope="session")
def sierra_leone_dir() -> Path:
    """The real DHIS2 responses in ../shared/data; in CI their absence is a failure."""
    path = SHARED_DATA / "dhis2-sierra-leone"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the shared DHIS2 data is missing at {path}")
        pytest.skip(f"shared DHIS2 data not found at {path} (set TPN_SHARED_DATA)")
    return path


# --- the database, for storage and service tests --------------------------------------

from sqlalchemy import text  # noqa: E402

from tpn.storage import Database  # noqa: E402



@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """Each storage test runs on SQLite and on PostgreSQL (TPN_TEST_POSTGRES_URL, set by
    .ci/run; in CI its absence is a failure)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tpn.sqlite'}"
    else:
        url = os.environ.get("TPN_TEST_POSTGRES_URL")
        if not url:
            if os.environ.get("CI"):
                pytest.fail("TPN_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL")
            pytest.skip("no PostgreSQL (set TPN_TEST_POSTGRES_URL)")
        from sqlalchemy import create_engine

        from tpn.storage.schema import metadata

        engine = create_engine(url)
        with engine.begin() as conn:        # a clean database for every test
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    database = Database.open(url)
    yield database
    database.engine.dispose()


# --- the browser tests' browser -------------------------------------------------------

CHROMIUM = Path(os.environ.get("TPN_CHROMIUM", "/usr/bin/chromium"))


def _require_browser():
    if importlib.util.find_spec("playwright") is None:
        missing = "the playwright package"
    else:
        missing = None if CHROMIUM.exists() else f"Chromium at {CHROMIUM}"
    if missing:
        if os.environ.get("TPN_REQUIRE_BROWSER"):
            pytest.fail(f"{missing} is missing and TPN_REQUIRE_BROWSER is set "
                        "(.ci/run installs it)")
        pytest.skip(f"{missing} is missing (set TPN_CHROMIUM, or install Debian's chromium)")


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            # Without these Chromium calls home at start, and this machine's closed network
            # refuses it many times over.
            args=["--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield chromium
        chromium.close()
