"""tpn pull against a local DHIS2 server speaking real HTTP (tests/dhis2_server.py): the
same workbook as tpn convert on the same responses, with coordinates and kinds from the
units' geometry and group sets; every failure one line and exit 2 or 5."""

from __future__ import annotations

import pytest

from tpn import services
from tpn.cli import main
from tpn.tabular import read_network

from dhis2_server import GROUP_SET, TOKEN, Dhis2Server

DERIVE = "anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100"
ROOT = "ImspTQPwCqd"


@pytest.fixture
def dhis2(sierra_leone_dir, monkeypatch):
    server = Dhis2Server(sierra_leone_dir)
    monkeypatch.setenv("TPN_DHIS2_TOKEN", TOKEN)
    yield server
    server.close()


def pull(server, *extra) -> int:
    return main(["pull", "--server", server.url, "--dx", "fbfJHSPpUQD;cYeuwXTCPkU",
                 "--pe", "THIS_YEAR;LAST_YEAR", "--ou", ROOT, "--level", "4",
                 "--derive", DERIVE, "--range", "anc_retention=0:100",
                 "--kind-groupset", GROUP_SET, "--kind-default", "other", *extra])


def test_pull_gives_the_workbook_convert_gives_on_the_same_answers(dhis2, tmp_path, capsys):
    assert pull(dhis2, "--out", str(tmp_path / "pulled.xlsx"), "--keep",
                str(tmp_path / "answers")) == 0
    pulled = read_network(tmp_path / "pulled.xlsx")
    assert main(["convert", str(tmp_path / "answers" / "analytics.json"), "--out",
                 str(tmp_path / "converted.xlsx"), "--derive", DERIVE,
                 "--range", "anc_retention=0:100", "--org-units",
                 str(tmp_path / "answers" / "organisationUnits.json"),
                 "--kind-groupset", GROUP_SET, "--kind-default", "other"]) == 0
    assert pulled == read_network(tmp_path / "converted.xlsx")
    assert len(pulled.institutions) > 1000
    assert all(i.has_coordinates for i in pulled.institutions)
    assert {"Hospital", "CHC", "CHP", "MCHP", "Clinic"} <= {i.kind for i in pulled.institutions}
    # The units came in pages of 500.
    pages = [r for r in dhis2.requests if r.startswith("/api/organisationUnits.json")]
    assert len(pages) == 3 and "page=3" in pages[-1]


def test_pull_into_a_stored_network(dhis2, tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert pull(dhis2, "--network", "sierra-leone", "--db", url) == 0
    from tpn.storage import Database

    data = services.load(Database.open(url), "sierra-leone")
    assert data.periods == ["2022", "2023"] and len(data.institutions) > 1000
    assert pull(dhis2, "--network", "sierra-leone", "--db", url) == 2   # periods held: --replace
    assert pull(dhis2, "--network", "sierra-leone", "--db", url, "--replace") == 0


def test_a_busy_server_is_retried(dhis2, tmp_path):
    dhis2.busy = 2
    assert pull(dhis2, "--out", str(tmp_path / "pulled.xlsx")) == 0
    assert dhis2.requests[:3] == [dhis2.requests[0]] * 3      # the same request, three times


@pytest.mark.parametrize("case, code, message", [
    ("token", 5, "refused the credentials (HTTP 401): set TPN_DHIS2_TOKEN"),
    ("busy", 5, "failed (HTTP 503) on system/info.json, also after 3 retries: busy"),
    ("slow", 5, "did not answer within 0.3 s"),
    ("analytics", 2, "the server refused the request (HTTP 409): Dimension dx is present"),
    ("address", 5, "cannot reach http://127.0.0.1:9"),
    ("not dhis2", 5, "/api/system/info.json does not exist (HTTP 404)"),
    ("scheme", 2, "is not a web address"),
])
def test_every_failure_is_one_line_and_an_exit_code(dhis2, tmp_path, capsys, monkeypatch,
                                                     case, code, message):
    server = dhis2.url
    extra = []
    if case == "token":
        monkeypatch.setenv("TPN_DHIS2_TOKEN", "wrong")
    elif case == "busy":
        dhis2.busy = 10
    elif case == "slow":
        dhis2.slow = 1.0
        extra = ["--timeout", "0.3"]
    elif case == "analytics":
        dhis2.analytics_error = "Dimension dx is present in query without any valid dimension option"
    elif case == "address":
        server = "http://127.0.0.1:9"
    elif case == "not dhis2":
        server = dhis2.url + "/not-dhis2"
    elif case == "scheme":
        server = "dhis2.example.org"
    dhis2.url, real = server, dhis2.url
    try:
        assert pull(dhis2, "--out", str(tmp_path / "x.xlsx"), *extra) == code
    finally:
        dhis2.url = real
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.xlsx").exists()
