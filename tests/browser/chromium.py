"""Helpers of the browser tests (the ``browser`` fixture is in tests/conftest.py)."""

from __future__ import annotations


def offline_context(browser, viewport=None):
    """A browser context that records every request leaving the machine: all assets are
    local, so any such request is a defect."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    left = []
    context.on("request", lambda r: left.append(r.url)
               if not r.url.startswith(("http://127.0.0.1", "data:", "about:")) else None)
    return context, left
