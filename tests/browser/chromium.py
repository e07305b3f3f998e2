"""Helpers of the browser tests (the ``browser`` fixture is in tests/conftest.py)."""

from __future__ import annotations

import threading
from contextlib import contextmanager


def offline_context(browser, viewport=None):
    """A browser context that records every request leaving the machine: all assets are
    local, so any such request is a defect."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    left = []
    context.on("request", lambda r: left.append(r.url)
               if not r.url.startswith(("http://127.0.0.1", "data:", "about:")) else None)
    return context, left


@contextmanager
def served(app):
    """The app on waitress, as ``tpn serve`` serves it, on a free local port: its address."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()


def sign_in(page, server: str, username: str, password: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
