import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TPN_SHARED_DATA", REPO.parent / "shared" / "data"))

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
