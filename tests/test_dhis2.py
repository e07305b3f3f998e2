"""DHIS2 analytics exports, on the real Sierra Leone responses in ../shared/data."""

from __future__ import annotations

import csv
import json

import pytest

from tpn.cli import main
from tpn.errors import InputError
from tpn.tabular import Dhis2Mapping, read_dhis2, read_network
from tpn.tabular.dhis2 import parse_derived

PATTERN = r"(Hospital|CHC|CHP|MCHP|Clinic)$"
RETENTION = "anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100"


def mapping(sl, **kw) -> Dhis2Mapping:
    base = dict(org_units=str(sl / "organisation_units.json"), kind_pattern=PATTERN,
                kind_default="other", derive=(RETENTION,))
    base.update(kw)
    return Dhis2Mapping(**base)


def test_sierra_leone_json(sierra_leone_dir):
    net = read_dhis2(sierra_leone_dir / "analytics_anc_facilities.json", mapping(sierra_leone_dir))
    assert len(net.institutions) == 1099
    regions = {i.region for i in net.institutions}
    assert len(regions) == 13 and "Bo" in regions and "Western Area" in regions
    kinds = {}
    for i in net.institutions:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    assert kinds["MCHP"] == 595 and kinds["Hospital"] == 10 and kinds["Clinic"] == 34
    assert [t.id for t in net.topics] == ["anc_retention"]
    assert net.periods == ["2022", "2023"]
    # Recompute one facility's retention by hand from the raw rows.
    raw = json.loads((sierra_leone_dir / "analytics_anc_facilities.json").read_text())
    values = {(r[0], r[1], r[2]): float(r[3]) for r in raw["rows"]}
    ou = "BedE3DKQDFf"
    expected = values[("cYeuwXTCPkU", "2023", ou)] / values[("fbfJHSPpUQD", "2023", ou)] * 100
    assert net.snapshot("2023").value(ou, "anc_retention") == pytest.approx(expected)


def test_items_become_topics_without_derive(sierra_leone_dir):
    net = read_network(sierra_leone_dir / "analytics_anc_facilities.json")
    assert {t.name for t in net.topics} == {"ANC 1st visit", "ANC 2nd visit"}
    assert {i.kind for i in net.institutions} == {"facility"}


def test_csv_export_gives_the_same_network(sierra_leone_dir, tmp_path):
    raw = json.loads((sierra_leone_dir / "analytics_anc_facilities.json").read_text())
    path = tmp_path / "analytics.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Data", "Period", "Organisation unit", "Value"])
        w.writerows(raw["rows"])
    paths = tmp_path / "ou.json"
    units = json.loads((sierra_leone_dir / "organisation_units.json").read_text())
    hierarchy = raw["metaData"]["ouHierarchy"]
    for u in units["organisationUnits"]:
        if u["id"] in hierarchy:
            u["path"] = "/" + hierarchy[u["id"]] + "/" + u["id"]
    paths.write_text(json.dumps(units))
    from_csv = read_dhis2(path, mapping(sierra_leone_dir, org_units=str(paths)))
    from_json = read_dhis2(sierra_leone_dir / "analytics_anc_facilities.json",
                           mapping(sierra_leone_dir))
    assert from_csv == from_json


def test_convert_and_match_end_to_end(sierra_leone_dir, tmp_path):
    from tpn.cli import main

    out = tmp_path / "sl.xlsx"
    assert main(["convert", str(sierra_leone_dir / "analytics_anc_facilities.json"),
                 "--out", str(out), "--org-units", str(sierra_leone_dir / "organisation_units.json"),
                 "--kind-pattern", PATTERN, "--kind-default", "other", "--derive", RETENTION]) == 0
    net = read_network(out)
    assert len(net.institutions) == 1099 and len({i.region for i in net.institutions}) == 13
    assert main(["match", str(out), "--auto-focus", "1", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "pairs.csv").read_text().count("\n") > 300


def test_derived_formula_parsing():
    d = parse_derived("r=(#{a}+#{b.x})/#{a}")
    assert d.items == ("a", "b")
    for bad in ["noequals", "x=", "x=__import__('os')", "x=#{a}**2", "x=1+2", "x=#{a}+'s'"]:
        with pytest.raises(ValueError):
            parse_derived(bad)


def test_formula_naming_a_missing_item(sierra_leone_dir):
    with pytest.raises(InputError) as info:
        read_dhis2(sierra_leone_dir / "analytics_anc_facilities.json",
                   mapping(sierra_leone_dir, derive=("x=#{nope}/#{fbfJHSPpUQD}",)))
    assert "#{nope}" in str(info.value)


def test_division_by_zero_gives_no_score(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({
        "headers": [{"name": n} for n in ("dx", "pe", "ou", "value")],
        "rows": [["a", "2024", "u1", "3"], ["b", "2024", "u1", "0"],
                 ["a", "2024", "u2", "3"], ["b", "2024", "u2", "6"]],
        "metaData": {"items": {}, "ouHierarchy": {}},
    }))
    net = read_dhis2(path, Dhis2Mapping(derive=("r=#{a}/#{b}",)))
    assert net.snapshot().scores == {("u2", "r"): 0.5}


def test_bad_values_are_reported_with_their_row(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({
        "headers": [{"name": n} for n in ("dx", "pe", "ou", "value")],
        "rows": [["a", "2024", "u1", "3"], ["a", "2024", "u2", "many"], ["a", "", "u3", "1"]],
    }))
    with pytest.raises(InputError) as info:
        read_dhis2(path, Dhis2Mapping())
    assert {(p.row, p.column) for p in info.value.problems} == {(2, "value"), (3, "pe")}


@pytest.mark.parametrize("in_order", [
    ["20231231", "20240101", "20240109", "20240110"],                     # daily
    ["2023W52", "2024W1", "2024W9", "2024W10", "2024W53"],                # weekly
    ["2024WedW9", "2024WedW10"], ["2024ThuW9", "2024ThuW10"],             # weeks that start
    ["2024SatW9", "2024SatW10"], ["2024SunW9", "2024SunW10"],             # on other days
    ["2024BiW2", "2024BiW9", "2024BiW10"],                                # bi-weekly
    ["202312", "202401", "202409", "202410"],                             # monthly
    ["202401B", "202405B", "202501B"],                                    # bi-monthly
    ["2023Q4", "2024Q1", "2024Q4"],                                       # quarterly
    ["2023S2", "2024S1", "2024S2"], ["2024AprilS1", "2024AprilS2"],       # six-monthly
    ["2024NovS1", "2025NovS1"],
    ["2009", "2010", "2024"],                                             # yearly
    ["2023April", "2024April"], ["2023July", "2024July"],                 # financial years
    ["2023Oct", "2024Oct"], ["2023Nov", "2024Nov"],
    # across period types, by their first day
    ["2023", "2023NovS1", "2024", "2024Q1", "202402", "2024W10", "2024April", "2024AprilS1",
     "2024S2", "2024NovS2"],
])
def test_every_dhis2_period_type_sorts_in_time_order(in_order):
    from tpn.models import period_key

    assert sorted(reversed(in_order), key=period_key) == in_order
    assert sorted(in_order[::2] + in_order[1::2], key=period_key) == in_order


def test_geometry_and_group_sets_give_coordinates_and_kinds(sierra_leone_dir, tmp_path, capsys):
    """The real Sierra Leone units with geometry and facility-type groups added in DHIS2's
    own format (fields=id,name,geometry,organisationUnitGroups[id,name,groupSets[id]]): a
    Point gives the coordinates as they are, a Polygon its centroid (said in the
    ``location`` attribute), and the group in the chosen group set gives the kind."""
    from tpn.tabular.dhis2 import kind_from_name

    pattern = "(Hospital|CHC|CHP|MCHP|Clinic)$"
    units = json.loads((sierra_leone_dir / "organisation_units.json").read_text())
    types = {name: f"grp{name}" for name in ("Hospital", "CHC", "CHP", "MCHP", "Clinic")}
    for k, unit in enumerate(units["organisationUnits"]):
        kind = kind_from_name(unit["name"], pattern)
        unit["organisationUnitGroups"] = [{"id": "grpPublic", "name": "Public facilities",
                                           "groupSets": [{"id": "ownership01"}]}]
        if kind:
            unit["organisationUnitGroups"].append(
                {"id": types[kind], "name": kind, "groupSets": [{"id": "facilityTyp"}]})
        lon, lat = -13.0 + k / 1000, 8.0 + k / 2000
        unit["geometry"] = ({"type": "Point", "coordinates": [lon, lat]} if k % 2 else
                            {"type": "Polygon", "coordinates": [[[lon - .01, lat - .01],
                                                                 [lon + .01, lat - .01],
                                                                 [lon + .01, lat + .01],
                                                                 [lon - .01, lat + .01],
                                                                 [lon - .01, lat - .01]]]})
    org_file = tmp_path / "organisationUnits.json"
    org_file.write_text(json.dumps(units))
    out = tmp_path / "sl.xlsx"
    assert main(["convert", str(sierra_leone_dir / "analytics_anc_facilities.json"), "--out",
                 str(out), "--org-units", str(org_file), "--kind-groupset", "facilityTyp",
                 "--kind-default", "other"]) == 0
    network = read_network(out)
    by_id = {u["id"]: (k, u) for k, u in enumerate(units["organisationUnits"])}
    placed = [i for i in network.institutions if i.has_coordinates]
    assert len(placed) == len(network.institutions) > 1000
    for inst in network.institutions:
        k, unit = by_id[inst.id]
        assert inst.kind == (kind_from_name(unit["name"], pattern) or "other")
        assert abs(inst.longitude - (-13.0 + k / 1000)) < 1e-6
        assert abs(inst.latitude - (8.0 + k / 2000)) < 1e-6
        assert inst.attributes.get("location", "") == ("" if k % 2 else "polygon centroid")
    # A group set without the units' groups is a problem, not a silent default.
    assert main(["convert", str(sierra_leone_dir / "analytics_anc_facilities.json"), "--out",
                 str(tmp_path / "x.xlsx"), "--kind-groupset", "facilityTyp"]) == 2
    assert "a group set needs the organisation units' groups" in capsys.readouterr().err


def test_other_period_ids_come_after_dhis2_ones_in_text_order_and_are_named():
    from tpn.models import period_key, unknown_periods

    ids = ["round-10", "2024", "round-9", "2023Q4", "202413"]       # 202413: no month 13
    assert sorted(ids, key=period_key) == ["2023Q4", "2024", "202413", "round-9", "round-10"]
    assert unknown_periods(ids) == ["round-10", "round-9", "202413"]

