"""Sending forms to the app as its pages would: signed in, with the session's CSRF token."""

from __future__ import annotations

import re

PASSWORDS = {"admin": "admin-pass-1", "facilitator": "facil-pass-1", "viewer": "viewer-pass-1"}


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client, role: str):
    token = csrf_token(client)
    response = client.post("/login", data={"username": role, "password": PASSWORDS[role],
                                           "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


def post(client, path: str, data: dict | None = None, **kwargs):
    """A form post with the session's CSRF token, as a page of the app would send it."""
    token = csrf_token(client, "/")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def workbook_with_other_headers(path):
    """The sample network as a workbook whose institutions' "name" column is headed
    "Facility name" (an import must map it)."""
    from openpyxl import load_workbook

    from tpn.samples import rwanda
    from tpn.tabular import write_network

    book = write_network(rwanda(), path)
    wb = load_workbook(book)
    for cell in wb["institutions"][1]:
        if cell.value == "name":
            cell.value = "Facility name"
    wb.save(book)
    return book
