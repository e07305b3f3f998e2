"""A DHIS2 server's Web API as a source: the analytics of chosen data items, periods and
organisation units, and the units' names, hierarchy, geometry and groups — the same
responses someone would export by hand, read by the same reader (``read_dhis2``).

Credentials come from the environment, never the command line: ``TPN_DHIS2_TOKEN`` (a
personal access token) or ``TPN_DHIS2_USER`` and ``TPN_DHIS2_PASSWORD``. Requests time out
(``timeout``), are retried with backoff when the server is busy or failing (429, 5xx), and
each failure is one line: unreachable or refusing servers are a ``SourceError`` (exit 5),
a request the server finds wrong (409, 400) is an ``InputError`` (exit 2).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError, Problem, SourceError
from ..i18n import _

ORG_UNIT_FIELDS = "id,name,path,level,geometry,organisationUnitGroups[id,name,groupSets[id]]"


@dataclass(frozen=True)
class Dhis2Server:
    """Where the server is, and how to sign in to it."""

    url: str
    token: str | None = None
    user: str | None = None
    password: str | None = None
    timeout: float = 60.0
    retries: int = 3
    page_size: int = 500

    @classmethod
    def from_environ(cls, url: str, **kwargs) -> "Dhis2Server":
        return cls(url.rstrip("/"), os.environ.get("TPN_DHIS2_TOKEN") or None,
                   os.environ.get("TPN_DHIS2_USER") or None,
                   os.environ.get("TPN_DHIS2_PASSWORD") or None, **kwargs)


class Dhis2Client:
    """GETs against one server, with its credentials, timeouts and retries."""

    def __init__(self, server: Dhis2Server):
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        if not server.url.startswith(("http://", "https://")):
            raise InputError(Problem("", None, None, "--server",
                                     _("{url!r} is not a web address", url=server.url),
                                     _("give the server's base address, e.g. "
                                       "https://dhis2.example.org")))
        self.server = server
        self.session = requests.Session()
        retry = Retry(total=server.retries, backoff_factor=0.5,
                      status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",),
                      raise_on_status=False, respect_retry_after_header=True)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if server.token:
            self.session.headers["Authorization"] = f"ApiToken {server.token}"
        elif server.user:
            self.session.auth = (server.user, server.password or "")
        self.session.headers["Accept"] = "application/json"

    def get(self, path: str, params: list[tuple[str, str]] | None = None) -> dict:
        import requests

        url = f"{self.server.url}/api/{path}"
        try:
            response = self.session.get(url, params=params, timeout=self.server.timeout)
        except requests.exceptions.Timeout:
            raise SourceError(_("{url} did not answer within {timeout:g} s ({path}); try again "
                                "later, or give --timeout more seconds", url=self.server.url,
                                timeout=self.server.timeout, path=path)) from None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc):     # a read timeout, after the retries
                raise SourceError(_("{url} did not answer within {timeout:g} s ({path}); try "
                                    "again later, or give --timeout more seconds",
                                    url=self.server.url, timeout=self.server.timeout,
                                    path=path)) from None
            raise SourceError(_("cannot reach {url} ({reason}); check the address and the network",
                                url=self.server.url, reason=_reason(exc))) from None
        return self._answer(response, path)

    def _answer(self, response, path: str) -> dict:
        status = response.status_code
        if status == 401:
            raise SourceError(_("{url} refused the credentials (HTTP 401): set TPN_DHIS2_TOKEN "
                                "to a personal access token, or TPN_DHIS2_USER and "
                                "TPN_DHIS2_PASSWORD", url=self.server.url))
        if status == 403:
            raise SourceError(_("the account may not read {path} on {url} (HTTP 403): ask the "
                                "DHIS2 administrator for access", path=path, url=self.server.url))
        if status == 404:
            raise SourceError(_("{url}/api/{path} does not exist (HTTP 404): is {url} the base "
                                "address of a DHIS2 server?", url=self.server.url, path=path))
        if status in (400, 409):
            raise InputError(Problem("", None, None, None,
                                     _("the server refused the request (HTTP {status}): {message}",
                                       status=status, message=_message(response)),
                                     _("check the data items, periods and organisation units")))
        if status >= 400:
            said = dict(url=self.server.url, status=status, path=path, message=_message(response))
            if status in (429, 500, 502, 503, 504):
                raise SourceError(_("{url} failed (HTTP {status}) on {path}, also after {retries} "
                                    "retries: {message}", retries=self.server.retries, **said))
            raise SourceError(_("{url} failed (HTTP {status}) on {path}: {message}", **said))
        try:
            return response.json()
        except ValueError:
            raise SourceError(_("{url} is not a DHIS2 server: its answer to {path} is not JSON",
                                url=self.server.url, path=path)) from None

    def check(self) -> str:
        """The server's DHIS2 version, or a SourceError when it is not DHIS2."""
        info = self.get("system/info.json")
        if not isinstance(info, dict) or "version" not in info:
            raise SourceError(_("{url} is not a DHIS2 server (no version in /api/system/info)",
                                url=self.server.url))
        return str(info["version"])

    def analytics(self, items: list[str], periods: list[str], root: str, level: int) -> dict:
        return self.get("analytics.json", [
            ("dimension", "dx:" + ";".join(items)), ("dimension", "pe:" + ";".join(periods)),
            ("dimension", f"ou:{root};LEVEL-{level}"), ("hierarchyMeta", "true"),
            ("outputIdScheme", "UID")])

    def org_units(self, root: str, level: int,
                  progress: Callable[[str, float | None], None] | None = None) -> dict:
        """Every unit at ``level`` under ``root``, page by page, with names, paths,
        geometry and groups, as one organisationUnits response."""
        units, page, pages = [], 1, 1
        while page <= pages:
            answer = self.get("organisationUnits.json", [
                ("fields", ORG_UNIT_FIELDS), ("filter", f"path:like:{root}"),
                ("filter", f"level:eq:{level}"), ("paging", "true"),
                ("pageSize", str(self.server.page_size)), ("page", str(page))])
            units += answer.get("organisationUnits") or []
            pages = int((answer.get("pager") or {}).get("pageCount") or 1)
            if progress:
                progress(_("organisation units, page {page} of {pages}", page=page, pages=pages),
                         page / pages)
            page += 1
        return {"organisationUnits": units}


def pull(server: Dhis2Server, items: list[str], periods: list[str], root: str, level: int,
         folder: Path, progress: Callable[[str, float | None], None] | None = None
         ) -> tuple[Path, Path]:
    """The analytics and the organisation units, saved in ``folder`` as the files
    ``tpn convert`` reads (analytics.json, organisationUnits.json)."""
    report = progress or (lambda stage, share: None)
    client = Dhis2Client(server)
    report(_("DHIS2 {check} at {url}", check=client.check(), url=server.url), None)
    report(_("analytics"), None)
    analytics = client.analytics(items, periods, root, level)
    units = client.org_units(root, level, report)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "analytics.json", folder / "organisationUnits.json"
    paths[0].write_text(json.dumps(analytics))
    paths[1].write_text(json.dumps(units))
    return paths


def _message(response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body)[:300]
    except ValueError:
        return (response.text or response.reason or "").strip()[:300]


def _reason(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text.split(": ")[-1][:200] if text else type(exc).__name__
