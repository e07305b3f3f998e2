"""The browser the browser tests share: Debian's Chromium, driven by Playwright, with every
request that would leave the machine recorded (all assets are local)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

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
