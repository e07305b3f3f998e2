"""Inputs that once gave a 500 page or a traceback: each is now a clear 4xx with the
problem, or exit 2 in the CLI, and changes nothing."""

from __future__ import annotations

import base64
import json

import pytest

from tpn import services
from tpn.cli import main
from tpn.samples import data_dir

from helpers import dump
from webclient import PASSWORDS, post


def basic(role: str) -> dict:
    raw = f"{role}:{PASSWORDS[role]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("path", ["/runs/9223372036854775808", "/api/v1/runs/99999999999",
                                  "/networks/rwanda/partnerships/2147483648"])
def test_an_id_beyond_the_database_is_not_found(as_facilitator, path):
    response = as_facilitator.get(path, headers=basic("facilitator"))
    assert response.status_code == 404


@pytest.mark.parametrize("field, value, message", [
    ("region_level", "²", "region_level"),
    ("kind_pattern", "(", "is not a regular expression"),
    ("region_level", "0", "is not a level of the organisation unit tree"),
])
def test_bad_dhis2_mapping_fields_are_problems(as_facilitator, db, sierra_leone_dir, field,
                                               value, message):
    before = dump(db)
    with open(sierra_leone_dir / "analytics_anc_facilities.json", "rb") as f:
        response = post(as_facilitator, "/networks/rwanda/import",
                        {"file": (f, "export.json"), field: value},
                        content_type="multipart/form-data")
    if response.status_code == 302:
        response = as_facilitator.get(response.location)
    assert response.status_code in (400, 422) and message in response.text
    assert dump(db) == before


def test_a_focus_form_with_foreign_fields_saves_the_rows_it_knows(as_facilitator, db):
    before = services.focus(db, "rwanda")
    response = post(as_facilitator, "/networks/rwanda/focus",
                    {"inst-abc": "kibuye_hospital", "inst-²": "x", "focus-abc-1": "cbhi"})
    assert response.status_code == 302
    assert services.focus(db, "rwanda") == before


@pytest.mark.parametrize("priority", [1e30, 10 ** 30, True, 2.5, "1e30"])
def test_api_focus_priorities_must_be_sensible_whole_numbers(app, db, priority):
    before = dump(db)
    response = app.test_client().put(
        "/api/v1/networks/rwanda/focus", headers=basic("facilitator"),
        json={"choices": {"kibuye_hospital": [{"topic_id": "cbhi", "priority": priority}]}})
    assert response.status_code == 400, response.text
    assert "priority" in response.text
    assert dump(db) == before


@pytest.mark.parametrize("activities", [5, "audit", [1, 2], {"what": "x"}])
def test_api_record_activities_must_be_a_list_of_objects(app, db, activities):
    services.publish(db, services.run_match(db, "rwanda", "2023", author="test").id)
    partnership = services.programme.partnerships(db, "rwanda")[0]
    response = app.test_client().post(
        f"/api/v1/networks/rwanda/partnerships/{partnership['id']}/records",
        headers=basic("facilitator"),
        json={"kind": "action_plan", "fields": {"agreed_on": "2026-02-01",
                                                 "objectives": "x", "activities": activities}})
    assert response.status_code == 400 and "activities" in response.text


def test_cli_restore_of_a_cut_or_edited_backup_is_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["import", str(data_dir() / "rwanda"), "--network", "rwanda", "--db", url]) == 0
    assert main(["backup", "rwanda", str(tmp_path / "b.json"), "--db", url]) == 0
    doc = json.loads((tmp_path / "b.json").read_text())
    capsys.readouterr()
    for name, broken in [("no-runs", {k: v for k, v in doc.items() if k != "runs"}),
                         ("bad-focus", {**doc, "focus": [{"round": "1"}]}),
                         ("null-name", {**doc, "institutions": [
                             {**doc["institutions"][0], "name": None}]})]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(broken))
        assert main(["restore", str(path), "--network", name, "--db", url]) == 2, name
        err = capsys.readouterr().err
        assert "the backup is incomplete or damaged" in err and "Traceback" not in err
    assert main(["restore", str(tmp_path / "b.json"), "--network", "copy", "--db", url]) == 0


def test_cli_convert_with_a_bad_kind_pattern_is_exit_2(tmp_path, capsys, sierra_leone_dir):
    code = main(["convert", str(sierra_leone_dir / "analytics_anc_facilities.json"),
                 "--out", str(tmp_path / "net.xlsx"), "--kind-pattern", "("])
    assert code == 2
    assert "'(' is not a regular expression" in capsys.readouterr().err


def test_a_utf16_csv_reads_as_text(tmp_path):
    from tpn.tabular import read_network

    for file in (data_dir() / "rwanda").glob("*.csv"):
        text = file.read_text(encoding="utf-8")
        if file.stem == "institutions":
            (tmp_path / file.name).write_bytes(text.replace(",", "\t").encode("utf-16"))
        else:
            (tmp_path / file.name).write_text(text)
    assert len(read_network(tmp_path).institutions) == 40


def test_an_empty_secret_key_left_by_a_kill_is_replaced(tmp_path):
    from tpn.settings import Settings

    settings = Settings.read(instance=tmp_path)
    (tmp_path / "secret_key").write_text("")
    key = settings.secret_key()
    assert len(key) == 64 and settings.secret_key() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
